"""Evidence: open a seized device image, whatever its container, as one read-only stream of media bytes.

``open_evidence(path)`` detects the format from content, finds every segment of the set, checks the set is
whole (probing the first and last bytes, looking for orphaned segments), and returns an ``Evidence`` whose
``reader`` serves media bytes and whose ``img`` is the same thing as a pytsk3 image.
"""

from __future__ import annotations

import errno
import os
import stat
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytsk3

from triage.errors import EvidenceError, one_line
from triage.model.locator import Locator
from triage.sources.containers import apple, detect
from triage.sources.containers.ewf_integrity import foreign_segments
from triage.sources.containers.readers import (
    Reader,
    SegmentedFileReader,
    open_ewf,
    open_qcow,
    open_vhd,
    open_vmdk,
)
from triage.sources.registry import register

MAX_MEDIA_SIZE = 1 << 60  # 1 EiB: far beyond any seized device, far below what a 64-bit offset can hold

FORMAT_NAMES = {
    "ewf": "EWF (E01)",
    "raw": "raw",
    "split_raw": "split raw",
    "vmdk": "VMDK",
    "vhd": "VHD",
    "vhdx": "VHDX",
    "qcow": "QCOW2",
    "udif": "UDIF (Apple .dmg)",
    "sparseimage": "Apple sparse image",
    "sparsebundle": "Apple sparse bundle",
}


class TskImage(pytsk3.Img_Info):
    """pytsk3 image served by one of our readers.

    Why: ``pytsk3.Img_Info("x.E01")`` silently reads the E01 container as raw bytes; TSK must instead see the
    media that pyewf (or pyvmdk, …) decodes.

    A read error of the evidence (a failing disk under a raw image) is salvaged sector by sector: only the
    sectors that fail are given as zeros, as imagers do, and remembered, so that ``damage_in`` can refuse every
    stream lying on them. Why not let the error through: TSK reads 64 KiB cache pages, so one bad sector would
    fail every neighbouring file and, near the superblock, the whole file system.

    Reads of up to a TSK cache page are served from chunk-sized blocks kept here (the last 16 MiB used). Why:
    TSK's own 64 KiB pages start wherever a read fell and it keeps few of them, so walking an NTFS volume read
    the same MFT and index bytes again and again, each read inflating EWF chunks anew: most of the walk's time
    (figures in bench/RESULTS.md). Larger reads (file content) go straight
    to the reader. Like every pytsk3 object, an image is used by one thread at a time.
    """

    SECTOR = 512
    CACHED_READ = 64 << 10  # TSK's cache page: larger reads (file content) go straight to the reader
    BLOCK = 32 << 10  # EWF's usual chunk size
    BLOCKS_KEPT = 512  # 16 MiB

    def __init__(self, reader: Reader) -> None:
        self._reader = reader
        self._damaged: list[tuple[int, int, str]] = []  # (start, end, reason), merged when adjacent
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        super().__init__(url="", type=pytsk3.TSK_IMG_TYPE_EXTERNAL)

    def read(self, offset: int, size: int) -> bytes:
        if size > self.CACHED_READ or size <= 0:
            return self._read(offset, size)
        parts = []
        position, end = offset, offset + size
        while position < end:
            start = position - position % self.BLOCK
            block = self._block(start)
            parts.append(block[position - start : end - start])
            if len(block) < self.BLOCK:
                break  # a short block is the end of what the reader has
            position = start + self.BLOCK
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _block(self, start: int) -> bytes:
        block = self._blocks.get(start)
        if block is None:
            block = self._blocks[start] = self._read(start, self.BLOCK)
            if len(self._blocks) > self.BLOCKS_KEPT:
                self._blocks.popitem(last=False)
        else:
            self._blocks.move_to_end(start)
        return block

    def _read(self, offset: int, size: int) -> bytes:
        try:
            return self._reader.read(offset, size)
        except OSError:
            return self._salvage(offset, size)

    def _salvage(self, offset: int, size: int) -> bytes:
        parts = []
        position, end = offset, min(offset + size, self._reader.size)
        while position < end:
            step = min(self.SECTOR - position % self.SECTOR, end - position)
            try:
                data = self._reader.read(position, step)
            except OSError as exc:
                data = bytes(step)
                self._note(position, position + step, one_line(exc, last=True))
            parts.append(data)
            if len(data) < step:
                break
            position += step
        return b"".join(parts)

    def _note(self, start: int, end: int, reason: str) -> None:
        if self._damaged and self._damaged[-1][1] == start and self._damaged[-1][2] == reason:
            self._damaged[-1] = (self._damaged[-1][0], end, reason)
        elif (start, end, reason) not in self._damaged:
            self._damaged.append((start, end, reason))

    def get_size(self) -> int:
        return self._reader.size

    def close(self) -> None:
        pass

    def damage_in(self, start: int, end: int) -> list[str]:
        """Known damage overlapping media bytes [start, end): failed reads, EWF chunks with checksum errors."""
        found = [f"evidence read error at bytes {lo}-{hi - 1}: {reason}"
                 for lo, hi, reason in self._damaged if lo < end and hi > start]
        check = getattr(self._reader, "damage_in", None)
        return found + (check(start, end) if check else [])


class MediaOfReader:
    """What every media handle offers over its ``reader``: its size, plain reads, and a pytsk3 image made once.

    Shared by ``Evidence`` and a storage layer's media (``volumes.media.LayerMedia``), so that partition tables
    and file systems open on either alike.
    """

    reader: Reader
    _img: TskImage | None

    @property
    def media_size(self) -> int:
        return self.reader.size

    @property
    def img(self) -> TskImage:
        """The media as a pytsk3 image (made once per handle)."""
        if self._img is None:
            self._img = TskImage(self.reader)
        return self._img

    def read(self, offset: int, size: int) -> bytes:
        return self.reader.read(offset, size)


@dataclass
class Evidence(MediaOfReader):
    """An opened evidence set."""

    paths: list[Path]
    format: str
    reader: Reader
    stored_hashes: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    _img: TskImage | None = None

    @property
    def stored_bytes(self) -> int:
        """Bytes of data the evidence files hold (holes left out), with a VMDK's extent files.

        Why: a sparse container (a 1 PB QCOW2 of 200 KB, a raw file made with ``truncate``) stores far less
        than its media size; what was never stored need not be read to be known as zeros. A block device
        counts as its whole media.
        """
        total = 0
        for path in dict.fromkeys([*self.paths, *getattr(self.reader, "data_paths", [])]):
            try:
                st = os.stat(path)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                continue  # a sparse bundle's folder: its band files are the data paths
            if not stat.S_ISREG(st.st_mode):
                return self.media_size
            total += data_bytes(path, st)
        return total

    def close(self) -> None:
        self.reader.close()

    def describe(self) -> dict[str, Any]:
        """The ``evidence`` block of summary.json (computed hashes are added by the scan)."""
        return {
            "paths": [str(p) for p in self.paths],
            "format": detect.qcow_label(self.paths[0]) if self.format == "qcow" else FORMAT_NAMES.get(self.format,
                                                                                                   self.format),
            "media_size": self.media_size,
            "stored_hashes": dict(sorted(self.stored_hashes.items())),
            "acquisition": dict(self.metadata),
        }


def data_bytes(path: Path, st: os.stat_result, max_extents: int = 1 << 16) -> int:
    """Bytes of ``path`` that are data, not holes (``SEEK_DATA``/``SEEK_HOLE``).

    Why not ``st_blocks``: a compressing file system (btrfs, ZFS) or a network share reports fewer blocks than
    the data; where holes cannot be asked for, the whole file counts as data. Past ``max_extents`` data runs
    (a hostile file of alternating holes) the rest is estimated from its allocated blocks.
    """
    if not hasattr(os, "SEEK_DATA"):
        return st.st_size
    total = offset = 0
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return st.st_size
    try:
        for _ in range(max_extents):
            start = os.lseek(fd, offset, os.SEEK_DATA)
            offset = os.lseek(fd, start, os.SEEK_HOLE)
            total += offset - start
            if offset >= st.st_size:
                return total
        return max(total, min(st.st_size, st.st_blocks * 512))
    except OSError as exc:
        return total if exc.errno == errno.ENXIO else st.st_size  # ENXIO: no data past ``offset``
    finally:
        os.close(fd)


def open_evidence(path: Path) -> Evidence:
    """Open the evidence set whose first file is ``path``; raises EvidenceError when it is unusable."""
    path = Path(path)
    fmt = detect.detect_format(path)
    if fmt == "ewf":
        evidence = _open_ewf(path)
    elif fmt in ("raw", "split_raw"):
        paths = detect.split_raw_segments(path) if fmt == "split_raw" else [path]
        detect.check_segments(paths)
        evidence = Evidence(paths, fmt, SegmentedFileReader(paths))
    elif fmt == "vmdk":
        evidence = Evidence([path], fmt, open_vmdk(path))
    elif fmt in ("vhd", "vhdx"):
        evidence = Evidence([path], fmt, open_vhd(path))
    elif fmt == "qcow":
        evidence = Evidence([path], fmt, open_qcow(path))
    elif fmt in ("udif", "sparseimage"):
        reader, metadata = apple.open_modi(path, fmt)
        evidence = Evidence([path], fmt, reader, metadata=metadata)
    elif fmt == "sparsebundle":
        bundle = apple.SparseBundleReader(path)
        evidence = Evidence([path], fmt, bundle, metadata={"band_size": bundle.band_size,
                                                           "bands_stored": len(bundle.data_paths)})
    else:  # pragma: no cover - detect_format names only the formats above
        raise EvidenceError(f"{path}: unsupported format {fmt}")
    parents = getattr(evidence.reader, "parent_paths", [])
    if parents:  # a differencing disk: the examiner must see which other files its media came from
        evidence.metadata["parent_images"] = [str(p) for p in parents]
    try:
        _probe(evidence)
    except EvidenceError:
        evidence.close()
        raise
    return evidence


def reopen(paths: list[str], fmt: str) -> Evidence:
    """Open an already-checked set again in another process (skips discovery, keeps the same files)."""
    first = Path(paths[0])
    if fmt == "ewf":
        return _open_ewf(first, [Path(p) for p in paths])
    if fmt in ("raw", "split_raw"):
        return Evidence([Path(p) for p in paths], fmt, SegmentedFileReader([Path(p) for p in paths]))
    return open_evidence(first)


def _open_ewf(path: Path, segments: list[Path] | None = None) -> Evidence:
    import pyewf

    if segments is None:
        try:
            segments = [Path(p) for p in pyewf.glob(str(path))]
        except (OSError, ValueError):
            # A renamed single segment (``disk.bin``): libewf only globs E01-style names.
            segments = [path]
        detect.check_segments(segments)
        orphans = detect.ewf_orphans(segments)
        if orphans:
            raise EvidenceError(
                f"{path}: EWF set is incomplete: found {len(segments)} segment(s) but {orphans[0].name} "
                "exists after a missing segment"
            )
        foreign = foreign_segments(segments)
        if foreign:
            other, theirs, ours = foreign[0]
            raise EvidenceError(
                f"{path}: segment {other.name} belongs to another acquisition (set identifier {theirs}, "
                f"expected {ours})"
            )
    reader, handle = open_ewf(segments)
    stored = {}
    try:
        for key, value in (handle.get_hash_values() or {}).items():
            if value and key.upper() in ("MD5", "SHA1", "SHA256"):
                stored[key.lower()] = value.lower()
        headers = {k: v for k, v in (handle.get_header_values() or {}).items() if v}
    except (OSError, ValueError):
        headers = {}
    metadata = {k: headers[k] for k in sorted(headers)}
    metadata["bytes_per_sector"] = handle.get_bytes_per_sector()
    metadata["chunk_size"] = handle.get_chunk_size()
    metadata["segments"] = len(segments)
    return Evidence(segments, "ewf", reader, stored, metadata)


def _probe(evidence: Evidence) -> None:
    """Read the first and the last bytes of the media so that a truncated set fails now, not mid-scan."""
    size = evidence.media_size
    name = evidence.paths[0]
    if size <= 0:
        raise EvidenceError(f"{name}: media size is 0")
    if size > MAX_MEDIA_SIZE:
        # A container header claiming exabytes is damaged; libyal readers cannot even address such offsets.
        raise EvidenceError(f"{name}: media size {size} bytes is not plausible (damaged container header)")
    chunk = min(int(evidence.metadata.get("chunk_size") or 32768), 1 << 20)  # a forged chunk size: no huge read
    for offset in (0, max(0, size - chunk)):
        want = min(chunk, size - offset)
        try:
            data = evidence.read(offset, want)
        except (OSError, ValueError, OverflowError) as exc:
            raise EvidenceError(
                f"{name}: cannot read media at offset {offset} (truncated or damaged: {one_line(exc, last=True)})"
            ) from None
        if len(data) != want:
            raise EvidenceError(f"{name}: media ends early at offset {offset} (truncated)")


def evidence_locator(evidence: Evidence) -> Locator:
    """The evidence as the root node of every locator under it: its files and format."""
    return Locator("evidence", (tuple(str(p) for p in evidence.paths), evidence.format))


register("evidence", lambda locator, _parent: reopen(list(locator.args[0]), str(locator.args[1])))
