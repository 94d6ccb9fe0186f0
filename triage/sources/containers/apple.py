"""Apple disk images as evidence: UDIF ``.dmg`` and ``.sparseimage`` through libmodi, ``.sparsebundle`` folders here.

A UDIF image has no header: it is known by the 512-byte ``koly`` trailer in its last bytes, which points at an XML
plist whose ``blkx`` tables map the media onto chunks (zlib, bzip2, ADC, LZFSE, raw or zero-fill). A sparse image
starts with ``sprs``. Why sparse bundles are not read through libmodi: libmodi 20260902 looks for band files named
with eight hex digits (``bands/00000000``) while macOS names them ``0``, ``1``, … ``a`` (as libyal's own format
notes say), so it reads a real bundle as zeros without any error; a bundle is only a folder of fixed-size band
files, read directly here.
"""

from __future__ import annotations

import base64
import contextlib
import os
import plistlib
import struct
from collections import OrderedDict
from pathlib import Path
from typing import Any
from xml.parsers.expat import ExpatError

from triage import defaults, errors
from triage.errors import EvidenceError
from triage.sources.containers.readers import LibReader

KOLY = b"koly"
SPARSE_IMAGE = b"sprs"
ENCRYPTED = (b"encrcdsa", b"cdsaencr")  # FileVault-style AES-encrypted images (v2 header first, v1 trailer last)
BUNDLE_TYPE = "com.apple.diskimage.sparsebundle"
CHUNK_KINDS = {0x00000000: "zero-fill", 0x00000001: "raw", 0x00000002: "zero-fill", 0x80000004: "ADC",
               0x80000005: "zlib", 0x80000006: "bzip2", 0x80000007: "LZFSE", 0x80000008: "LZMA"}
NOT_CHUNKS = (0x7FFFFFFE, 0xFFFFFFFF)  # comment, terminator


def udif_trailer(tail: bytes) -> bool:
    """The last 512 bytes are a UDIF ``koly`` trailer (signature and its own size, 512)."""
    return len(tail) >= 512 and tail[-512:-508] == KOLY and int.from_bytes(tail[-504:-500], "big") == 512


def is_sparse_bundle(path: Path) -> bool:
    """``path`` is a folder whose ``Info.plist`` says it is a sparse bundle (the folder name is not trusted)."""
    try:
        if not path.is_dir():
            return False
        with open(path / "Info.plist", "rb") as fh:
            info = plistlib.loads(fh.read(64 << 10))
    except (OSError, ValueError, ExpatError, plistlib.InvalidFileException):
        return False
    return isinstance(info, dict) and info.get("diskimage-bundle-type") == BUNDLE_TYPE


def refuse_unreadable(path: Path, head: bytes, tail: bytes) -> None:
    """Name the Apple images that cannot be read instead of letting them pass as raw media.

    An encrypted image is refused by name. A ``.dmg`` without its trailer whose first bytes are a compressed
    chunk is a truncated (or partly copied) UDIF image: read as raw it would only say "not a disk image". A
    ``.dmg`` starting with raw media (an uncompressed image or a renamed ``dd`` copy) still opens as raw.
    """
    if head.startswith(ENCRYPTED[0]) or tail[-8:] == ENCRYPTED[1]:
        raise EvidenceError(f"{path}: encrypted Apple disk image (AES, 'encrcdsa'): not supported")
    if path.suffix.lower() == ".dmg" and not udif_trailer(tail) and _compressed_chunk(head):
        raise EvidenceError(f"{path}: Apple disk image (UDIF) without its 'koly' trailer in the last 512 bytes: "
                            "truncated or damaged")


def _compressed_chunk(head: bytes) -> bool:
    """``head`` starts like a zlib, bzip2 or LZFSE stream (the chunk kinds hdiutil writes first)."""
    zlib_header = len(head) > 1 and head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0
    return zlib_header or head.startswith((b"BZh", b"bvx2", b"bvx1", b"bvxn", b"bvx-"))


def open_modi(path: Path, fmt: str) -> tuple[LibReader, dict[str, Any]]:
    """Open a UDIF or sparse image read-only; returns the reader and what the container records about itself."""
    import pymodi

    handle = pymodi.handle()
    try:
        handle.open(str(path), "r")
        size = handle.get_media_size()
    except (OSError, ValueError) as exc:
        with contextlib.suppress(Exception):
            handle.close()
        kind = "UDIF image" if fmt == "udif" else "sparse image"
        raise EvidenceError(f"{path}: cannot open Apple {kind} ({errors.one_line(exc, last=True)})") from None
    return LibReader(handle, size), (udif_metadata(path) if fmt == "udif" else sparse_image_metadata(path))


def udif_metadata(path: Path) -> dict[str, Any]:
    """The trailer's stored data-fork CRC-32 and the kinds of chunks the ``blkx`` tables use.

    The CRC-32 covers the data fork as stored (compressed chunks), not the media, so it is recorded for the
    examiner but is not a stored media hash: the scan's media md5/sha1 cannot be compared with it.
    """
    found: dict[str, Any] = {}
    try:
        with open(path, "rb") as fh:
            end = fh.seek(0, os.SEEK_END)
            fh.seek(end - 512)
            koly = fh.read(512)
            kind, bits = struct.unpack_from(">II", koly, 80)
            if kind == 2 and bits == 32:  # CRC-32
                found["stored_data_fork_crc32"] = koly[88:92].hex()
            xml_offset, xml_size = struct.unpack_from(">QQ", koly, 216)
            if 0 < xml_size <= defaults.UDIF_PLIST_MAX and xml_offset + xml_size <= end:
                fh.seek(xml_offset)
                kinds = chunk_kinds(plistlib.loads(fh.read(xml_size)))
                if kinds:
                    found["chunk_kinds"] = kinds
    except (OSError, ValueError, struct.error, ExpatError, plistlib.InvalidFileException):
        pass  # libmodi opened it: these details are only descriptive
    return found


def chunk_kinds(plist: Any) -> list[str]:
    """The distinct chunk kinds (zlib, raw, …) named by the ``blkx`` tables of a UDIF plist."""
    kinds: set[str] = set()
    tables = plist.get("resource-fork", {}).get("blkx", []) if isinstance(plist, dict) else []
    for table in tables if isinstance(tables, list) else []:
        data = table.get("Data", b"") if isinstance(table, dict) else b""
        if isinstance(data, str):
            data = base64.b64decode(data)
        if not isinstance(data, bytes) or data[:4] != b"mish" or len(data) < 204:
            continue
        count = int.from_bytes(data[200:204], "big")
        for offset in range(204, min(len(data), 204 + 40 * count), 40):
            kind = int.from_bytes(data[offset : offset + 4], "big")
            if kind not in NOT_CHUNKS:
                kinds.add(CHUNK_KINDS.get(kind, f"unknown 0x{kind:08x}"))
    return sorted(kinds)


def sparse_image_metadata(path: Path) -> dict[str, Any]:
    """The band size a ``.sparseimage`` header records."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
        return {"band_size": int.from_bytes(head[8:12], "big") * 512}
    except OSError:
        return {}


class SparseBundleReader:
    """A ``.sparsebundle`` folder: media bytes in ``bands/<hex index>`` files of ``band-size`` bytes each.

    A band file that does not exist was never written: zeros, as macOS reads it. A band that exists but cannot be
    read raises OSError (a damaged copy), which the scan records as damage. Band files are opened read-only, and
    at most ``OPEN_BANDS`` at a time (a 1 TB bundle holds over 100,000 of them).
    """

    OPEN_BANDS = 64

    def __init__(self, folder: Path) -> None:
        try:
            with open(folder / "Info.plist", "rb") as fh:
                info = plistlib.loads(fh.read(64 << 10))
            self.size = int(info["size"])
            self.band_size = int(info["band-size"])
        except (OSError, KeyError, TypeError, ValueError, ExpatError, plistlib.InvalidFileException) as exc:
            raise EvidenceError(f"{folder}: sparse bundle Info.plist unusable ({errors.one_line(exc)})") from None
        if self.size <= 0 or self.band_size <= 0:
            raise EvidenceError(f"{folder}: sparse bundle Info.plist gives size {self.size} and band size "
                                f"{self.band_size}")
        self._bands = folder / "bands"
        if not self._bands.is_dir():
            raise EvidenceError(f"{folder}: sparse bundle has no 'bands' folder (incomplete copy?)")
        self._fds: OrderedDict[int, int | None] = OrderedDict()
        count = -(-self.size // self.band_size)
        try:
            names = [(name, _band_index(name)) for name in os.listdir(self._bands)]
        except OSError as exc:
            raise EvidenceError(f"{folder}: cannot list its bands ({exc.strerror or exc})") from None
        self.data_paths = sorted(self._bands / name for name, index in names if index is not None and index < count)

    def _fd(self, index: int) -> int | None:
        if index in self._fds:
            self._fds.move_to_end(index)
            return self._fds[index]
        try:
            fd: int | None = os.open(self._bands / f"{index:x}", os.O_RDONLY | getattr(os, "O_BINARY", 0))
        except FileNotFoundError:
            fd = None
        self._fds[index] = fd
        if len(self._fds) > self.OPEN_BANDS:
            _, old = self._fds.popitem(last=False)
            if old is not None:
                os.close(old)
        return fd

    def read(self, offset: int, size: int) -> bytes:
        if offset >= self.size or size <= 0:
            return b""
        end = min(offset + size, self.size)
        parts = []
        while offset < end:
            index, inner = divmod(offset, self.band_size)
            take = min(end - offset, self.band_size - inner)
            fd = self._fd(index)
            data = os.pread(fd, take, inner) if fd is not None else b""
            parts.append(data + bytes(take - len(data)))  # a band shorter than band-size ends in zeros
            offset += take
        return b"".join(parts)

    def close(self) -> None:
        for fd in self._fds.values():
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._fds.clear()


def _band_index(name: str) -> int | None:
    try:
        return int(name, 16) if name.isalnum() else None
    except ValueError:
        return None
