"""Member readers: each archive format as one iterator of ``Member`` in archive order.

Why iterators over one pass: tar (and compressed tar) is read as a stream (``r|*``), so a ``.tar.gz`` is
decompressed once; every reader hands out a member's data as a stream that the expander reads in chunks, and only
then asks for the next member. Anything a format cannot give (encrypted, unsupported method) is the member's
``error``; only a failure to read the archive's own structure raises.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import posixpath
import shutil
import struct
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from triage.model.record import TIME_KEYS
from triage.model.times import dos_time, iso_datetime, iso_utc
from triage.sources.archives.limits import SYMLINK_TARGET_BYTES
from triage.sources.archives.sniff import BZIP2, GZIP, TAR_BLOCK, XZ, looks_like_tar

try:  # deflate64 (zip method 9): zipfile-deflate64 (Apache-2.0) teaches the stdlib zipfile to read it
    import zipfile_deflate64  # noqa: F401

    DEFLATE64 = True
except ImportError:  # pragma: no cover - the dependency is declared; this keeps a broken install scanning
    DEFLATE64 = False

ENCRYPTED = "encrypted member: not decrypted"


@dataclass
class Member:
    """One entry of an archive as the expander needs it; ``open`` is None when there is no data to read."""

    path: str
    size: int | None  # None: known only once read (single-file gzip/bz2/xz)
    compressed: int | None = None  # packed size when the format states it per member
    times: dict[str, str | None] = field(default_factory=lambda: dict.fromkeys(TIME_KEYS))
    open: Callable[[], BinaryIO] | None = None
    symlink: str | None = None
    error: str | None = None
    note: str | None = None


class CountingReader(io.IOBase):
    """A read-only view of a stream that counts the bytes taken from it (compressed bytes, for the ratio)."""

    def __init__(self, raw: BinaryIO) -> None:
        super().__init__()
        self.raw = raw
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.count += len(data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self.raw.seekable()


def member_path(name: str) -> str:
    """A "/"-rooted member path: leading "./" and "/" dropped, backslashes kept (they are name bytes on Unix)."""
    while name.startswith("./"):
        name = name[2:]
    return "/" + name.lstrip("/")


def _times(modified: str | None = None, accessed: str | None = None, created: str | None = None,
           changed: str | None = None) -> dict[str, str | None]:
    return {"modified": modified, "accessed": accessed, "changed": changed, "created": created}


# zip


def _zip_mtime(info: zipfile.ZipInfo) -> str | None:
    """The UTC mtime of the extended-timestamp extra field (0x5455) when present, else the DOS time.

    DOS times are the archiver's local time without a zone: written without "Z" (as extractions write them).
    """
    extra = info.extra
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + length]
        if tag == 0x5455 and len(body) >= 5 and body[0] & 1:
            return iso_utc(struct.unpack_from("<i", body, 1)[0])
        pos += 4 + length
    return dos_time(info.date_time)


def zip_members(source: BinaryIO) -> Iterator[Member]:
    """Members of a zip, from its central directory (read now: a broken directory raises here)."""
    archive = zipfile.ZipFile(source)
    infos = archive.infolist()

    def members() -> Iterator[Member]:
        with archive:
            for info in infos:
                if info.is_dir():
                    continue
                member = Member(member_path(info.filename), info.file_size, info.compress_size,
                                _times(modified=_zip_mtime(info)))
                mode = info.external_attr >> 16
                if info.flag_bits & 0x1:
                    member.error = ENCRYPTED
                elif info.compress_type == 9 and not DEFLATE64:
                    member.error = "deflate64 not supported"
                elif (mode & 0o170000) == 0o120000 and info.create_system == 3:
                    member.symlink = _zip_link(archive, info)
                else:
                    member.open = lambda info=info: archive.open(info)  # type: ignore[misc]
                yield member

    return members()


def _zip_link(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    try:
        with archive.open(info) as stream:
            return stream.read(SYMLINK_TARGET_BYTES).decode("utf-8", errors="surrogateescape")
    except Exception as exc:  # a link whose target cannot be read is still recorded as a link
        return f"? ({type(exc).__name__})"


# tar (plain or compressed), read once as a stream

_TAR_KINDS = {tarfile.CHRTYPE: "character device", tarfile.BLKTYPE: "block device", tarfile.FIFOTYPE: "fifo"}


def tar_members(source: BinaryIO) -> Iterator[Member]:
    """Members of a tar, plain or gzip/bzip2/xz-compressed, in one streaming read (``r|*``)."""
    archive = tarfile.open(fileobj=source, mode="r|*")  # noqa: SIM115 - closed when the iterator ends

    def members() -> Iterator[Member]:
        with archive:
            for info in archive:
                if info.isdir():
                    continue
                pax = info.pax_headers
                times = _times(modified=iso_utc(info.mtime), accessed=_pax_time(pax, "atime"),
                               changed=_pax_time(pax, "ctime"))
                member = Member(member_path(info.name), info.size if info.isreg() else 0, None, times)
                if info.issym():
                    member.symlink = info.linkname
                elif info.islnk():
                    member.note = f"hard link to {member_path(info.linkname)}"
                elif info.isreg():
                    member.open = lambda info=info: archive.extractfile(info)  # type: ignore[misc]
                else:
                    member.note = f"{_TAR_KINDS.get(info.type, 'special file')}: no content"
                yield member

    return members()


def _pax_time(pax: dict[str, str], key: str) -> str | None:
    try:
        return iso_utc(float(pax[key])) if key in pax else None
    except ValueError:
        return None


# single-file gzip / bzip2 / xz, or a compressed tar

_OPENERS: dict[str, Callable[[BinaryIO], BinaryIO]] = {
    GZIP: lambda raw: gzip.GzipFile(fileobj=raw, mode="rb"),  # type: ignore[dict-item]
    BZIP2: lambda raw: bz2.BZ2File(raw),  # type: ignore[dict-item]
    XZ: lambda raw: lzma.LZMAFile(raw),  # type: ignore[dict-item]  # noqa: SIM115
}
_SUFFIXES = {GZIP: (".gz", ".gzip", ".z"), BZIP2: (".bz2", ".bz", ".bzip2"), XZ: (".xz",)}
_TAR_SUFFIXES = {".tgz": ".tar", ".tbz": ".tar", ".tbz2": ".tar", ".txz": ".tar"}


def compressed_is_tar(source: BinaryIO, mime: str) -> bool:
    """Peek at the first decompressed block: a tar header means a compressed tar. The source is rewound."""
    start = source.tell()
    try:
        with _OPENERS[mime](source) as stream:
            block = stream.read(TAR_BLOCK)
        return looks_like_tar(block)
    except Exception:  # a damaged stream is not a tar; the single-file reader records the error
        return False
    finally:
        source.seek(start)


def _gzip_header(source: BinaryIO) -> tuple[str | None, int]:
    """The original name (FNAME) and mtime of a gzip header; the source is rewound."""
    start = source.tell()
    try:
        head = source.read(10)
        if len(head) < 10 or head[:2] != b"\x1f\x8b":
            return None, 0
        flags, mtime = head[3], struct.unpack_from("<I", head, 4)[0]
        if flags & 0x04:
            (extra,) = struct.unpack("<H", source.read(2) or b"\0\0")
            source.read(extra)
        name = None
        if flags & 0x08:
            raw = bytearray()
            while len(raw) < 4096 and (byte := source.read(1)) not in (b"", b"\x00"):
                raw += byte
            name = bytes(raw).decode("latin-1") or None  # RFC 1952: ISO 8859-1
        return name, mtime
    finally:
        source.seek(start)


def single_members(source: BinaryIO, mime: str, archive_name: str) -> Iterator[Member]:
    """The one member of a gzip/bz2/xz file: named from the gzip header, else the archive name less its suffix."""
    name, mtime = _gzip_header(source) if mime == GZIP else (None, 0)
    if name:
        name = posixpath.basename(name.replace("\\", "/")) or name
    else:
        base = posixpath.basename(archive_name) or "member"
        stem, suffix = os.path.splitext(base)
        if suffix.lower() in _TAR_SUFFIXES:
            name = stem + _TAR_SUFFIXES[suffix.lower()]
        elif suffix.lower() in _SUFFIXES[mime]:
            name = stem
        else:
            name = base
    member = Member(member_path(name), None, None, _times(modified=iso_utc(mtime)))
    member.open = lambda: _OPENERS[mime](source)
    return iter([member])


# rar v4 / v5


def rar_members(source: BinaryIO) -> Iterator[Member]:
    """Members of a rar through rarfile: stored members are read directly, compressed ones through ``unar``.

    A compressed member of an in-memory archive makes rarfile copy the whole archive to a temporary file for every
    member; the archive is copied once instead, when it has any compressed member.
    """
    import rarfile

    archive = rarfile.RarFile(source)
    infos = archive.infolist()
    copy = None
    if any(i.compress_type != rarfile.RAR_M0 and not i.is_dir() for i in infos):
        copy = tempfile.NamedTemporaryFile(suffix=".rar")  # noqa: SIM115 - closed when the iterator ends
        source.seek(0)
        shutil.copyfileobj(source, copy, 1 << 20)
        copy.flush()
        archive.close()
        archive = rarfile.RarFile(copy.name)
        infos = archive.infolist()

    def members() -> Iterator[Member]:
        try:
            for info in infos:
                if info.is_dir():
                    continue
                # RAR 5 times are UTC (aware datetimes); RAR 4's are DOS local times (naive): no "Z" for those
                modified = iso_datetime(info.mtime) if info.mtime else dos_time(getattr(info, "date_time", None))
                times = _times(modified=modified, accessed=iso_datetime(getattr(info, "atime", None)),
                               changed=iso_datetime(getattr(info, "ctime", None)))
                member = Member(member_path(info.filename), info.file_size, info.compress_size, times)
                if info.needs_password():
                    member.error = ENCRYPTED
                elif info.is_symlink():
                    member.symlink = _rar_link(archive, info)
                else:
                    member.open = lambda info=info: archive.open(info)  # type: ignore[misc]
                yield member
        finally:
            archive.close()
            if copy is not None:
                copy.close()

    return members()


def _rar_link(archive, info) -> str:
    if info.file_redir:
        return str(info.file_redir[2])
    try:
        with archive.open(info) as stream:
            return stream.read(SYMLINK_TARGET_BYTES).decode("utf-8", errors="surrogateescape")
    except Exception as exc:  # a link whose target cannot be read is still recorded as a link
        return f"? ({type(exc).__name__})"
