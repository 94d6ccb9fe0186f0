"""Which evidence format a file holds, judged by its bytes, and which files belong to the set.

Why content and not extension: seized evidence arrives renamed (``disk.bin`` that is an E01, ``image.001`` that is
a single raw file). The extension is only used to find the sibling segments of a set.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

from triage.errors import EvidenceError
from triage.sources.containers import apple

EWF1_SIGNATURE = b"EVF\x09\x0d\x0a\xff\x00"
EWF2_SIGNATURE = b"EVF2\x0d\x0a\x81\x00"
LEF_SIGNATURES = (b"LVF\x09\x0d\x0a\xff\x00", b"LEF2\x0d\x0a\x81\x00")
QCOW_SIGNATURE = b"QFI\xfb"
VHDX_SIGNATURE = b"vhdxfile"
VHD_SIGNATURE = b"conectix"
VMDK_SPARSE_SIGNATURE = b"KDMV"
VMDK_COWD_SIGNATURE = b"COWD"
VMDK_DESCRIPTOR = b"# Disk DescriptorFile"

_SPLIT_RAW = re.compile(r"^(?P<stem>.*)\.(?P<num>\d{3})$")

# Containers that are not disk images but often hold one: named in the error so the examiner knows to extract.
ARCHIVES: list[tuple[int, bytes, str]] = [
    (0, b"PK\x03\x04", "ZIP archive"),
    (0, b"\x1f\x8b", "gzip-compressed file"),
    (0, b"7z\xbc\xaf\x27\x1c", "7-Zip archive"),
    (0, b"Rar!\x1a\x07", "RAR archive"),
    (0, b"\xfd7zXZ\x00", "xz-compressed file"),
    (0, b"BZh", "bzip2-compressed file"),
    (0, b"\x28\xb5\x2f\xfd", "zstd-compressed file"),
    (257, b"ustar", "tar archive"),
]


def archive_kind(head: bytes) -> str | None:
    """Name the archive or compression format ``head`` starts with, if any."""
    for offset, magic, label in ARCHIVES:
        if head[offset : offset + len(magic)] == magic:
            return label
    return None


def check_readable(path: Path) -> int:
    """Refuse what cannot be evidence before any library sees it; returns the file size.

    Why here: pyewf and friends give vague messages for a missing file, a directory or a zero-length file; the
    examiner needs the name and the reason on one line. Only regular files and block devices (a write-blocked
    disk) are evidence: a FIFO would block the first ``open`` forever, and a character device (``/dev/zero``)
    or a socket has no end, so they are refused from ``stat`` alone, before anything opens them.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise EvidenceError(f"{path}: broken symlink (its target does not exist)") from None
        raise EvidenceError(f"{path}: no such file") from None
    except PermissionError:
        raise EvidenceError(f"{path}: permission denied") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise EvidenceError(f"{path}: symlink loop (too many levels of symbolic links)") from None
        raise EvidenceError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise EvidenceError(f"{path}: is a directory, not an evidence file")
    if not stat.S_ISREG(st.st_mode) and not stat.S_ISBLK(st.st_mode):
        raise EvidenceError(f"{path}: is {special_kind(st.st_mode)}, not an evidence file")
    if not os.access(path, os.R_OK):
        raise EvidenceError(f"{path}: permission denied")
    if st.st_size == 0 and stat.S_ISREG(st.st_mode):
        raise EvidenceError(f"{path}: empty file")
    return st.st_size


def check_segments(paths: list[Path]) -> None:
    """``check_readable`` for every file of a set: a FIFO named ``x.002`` or ``x.E02`` would block its ``open``."""
    for path in paths:
        check_readable(path)


def special_kind(mode: int) -> str:
    """Name a file type that is not evidence, for the one-line refusal."""
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "an unknown file type"


def read_head(path: Path, size: int = 512) -> bytes:
    """First bytes of a file, opened read-only."""
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except OSError as exc:
        raise EvidenceError(f"{path}: cannot read ({exc.strerror or exc})") from None


def read_tail(path: Path, size: int = 512) -> bytes:
    """Last bytes of a file (VHD keeps its footer there)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            end = fh.tell()
            fh.seek(max(0, end - size))
            return fh.read(size)
    except OSError as exc:
        raise EvidenceError(f"{path}: cannot read ({exc.strerror or exc})") from None


def detect_format(path: Path) -> str:
    """Name the container format of ``path``: ewf, qcow, vhdx, vhd, vmdk, udif, sparseimage, sparsebundle,
    split_raw or raw."""
    if apple.is_sparse_bundle(path):
        return "sparsebundle"
    check_readable(path)
    head = read_head(path, 512)
    if head.startswith((EWF1_SIGNATURE, EWF2_SIGNATURE)):
        return "ewf"
    if head.startswith(LEF_SIGNATURES):
        raise EvidenceError(f"{path}: logical evidence file (L01/Lx01) is not a disk image; not supported")
    if head.startswith(QCOW_SIGNATURE):
        return "qcow"
    if head.startswith(VHDX_SIGNATURE):
        return "vhdx"
    tail = read_tail(path, 512)
    if head.startswith(VHD_SIGNATURE) or fixed_vhd_footer(path, tail):
        return "vhd"
    if head.startswith((VMDK_SPARSE_SIGNATURE, VMDK_COWD_SIGNATURE, VMDK_DESCRIPTOR)):
        return "vmdk"
    if apple.udif_trailer(tail):
        return "udif"
    if head.startswith(apple.SPARSE_IMAGE):
        return "sparseimage"
    apple.refuse_unreadable(path, head, tail)
    if _SPLIT_RAW.match(path.name) and len(split_raw_segments(path)) > 1:
        return "split_raw"
    if head.startswith(b"PK\x03\x04") and is_aff4(path):
        raise EvidenceError(f"{path}: AFF4 image: not supported (convert it to E01 or raw first)")
    return "raw"


def fixed_vhd_footer(path: Path, tail: bytes) -> bool:
    """A VHD footer at the end counts only when it describes this file: a fixed disk of file size - 512 bytes.

    Why: a partition cut out of a fixed VHD still ends in the VHD's footer, which describes the whole disk; read as
    a VHD it would be refused, read as raw it is the volume it is (dynamic and differencing VHDs carry a copy of
    the footer at the start, found by the head check).
    """
    if not tail.startswith(VHD_SIGNATURE) or len(tail) < 0x40:
        return False
    current_size = int.from_bytes(tail[0x30:0x38], "big")
    disk_type = int.from_bytes(tail[0x3C:0x40], "big")
    return disk_type == 2 and current_size + 512 == path.stat().st_size


def qcow_label(path: Path) -> str:
    """"QCOW1" or "QCOW2" from the header's version (3 is QCOW2 with compat 1.1); libqcow opens them all."""
    version = int.from_bytes(read_head(path, 8)[4:8], "big")
    return {1: "QCOW1", 2: "QCOW2", 3: "QCOW2"}.get(version, f"QCOW (version {version})")


def is_aff4(path: Path) -> bool:
    """An AFF4 image is a zip whose members describe streams ("information.turtle"): not an extraction.

    Why not ``zipfile``: listing a 100,000-member phone extraction builds 100 MB of entries just to say "no".
    The central directory's bytes are searched for the two names in 1 MiB pieces instead (the end record gives
    where it is; a zip64 or damaged end record: the last 64 KiB are searched).
    """
    names = (b"information.turtle", b"container.description")
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - (64 << 10)))
            tail = fh.read()
            end = tail.rfind(b"PK\x05\x06")
            if end < 0 or len(tail) < end + 22:
                return any(name in tail for name in names)
            cd_size = int.from_bytes(tail[end + 12 : end + 16], "little")
            cd_offset = int.from_bytes(tail[end + 16 : end + 20], "little")
            if cd_offset == 0xFFFFFFFF or cd_size == 0xFFFFFFFF or cd_offset + cd_size > size:
                return any(name in tail for name in names)
            fh.seek(cd_offset)
            left, carry = min(cd_size, 256 << 20), b""
            while left > 0:
                piece = carry + fh.read(min(left, 1 << 20))
                if any(name in piece for name in names):
                    return True
                left -= len(piece) - len(carry)
                carry = piece[-32:]
                if len(piece) == len(carry):
                    break
    except OSError:
        return False
    return False


def split_raw_segments(first: Path) -> list[Path]:
    """The segments of a split raw set, starting from ``first`` (``.000`` or ``.001``).

    A gap (``.001``, ``.003`` present, ``.002`` missing) is an error: the set would silently lose media, and so
    is a truncated segment (``check_segment_sizes``).
    """
    match = _SPLIT_RAW.match(first.name)
    if not match:
        return [first]
    stem, num = match.group("stem"), match.group("num")
    start = int(num)
    width = len(num)
    segments = []
    index = start
    while True:
        candidate = first.with_name(f"{stem}.{index:0{width}d}")
        if not candidate.exists():
            break
        segments.append(candidate)
        index += 1
    later = sorted(
        p for p in first.parent.glob(f"{glob_escape(stem)}.[0-9][0-9][0-9]")
        if _SPLIT_RAW.match(p.name) and int(p.suffix[1:]) > index
    )
    if later:
        raise EvidenceError(
            f"{first}: split raw set has a gap: {first.with_name(f'{stem}.{index:0{width}d}').name} is missing "
            f"but {later[0].name} exists"
        )
    check_segment_sizes(first, segments)
    return segments


def check_segment_sizes(first: Path, segments: list[Path]) -> None:
    """Refuse a split raw set with a segment shorter than the others; only the last one may be shorter.

    Why: splitting tools (``split``, dd-based imagers, FTK) cut equal pieces, so a short piece before the last
    is a truncated copy; read back to back it would shift every later byte and give wrong files without error.
    """
    if len(segments) < 2:
        return
    sizes = []
    for segment in segments:
        try:
            sizes.append(segment.stat().st_size)
        except OSError as exc:
            raise EvidenceError(f"{segment}: cannot read ({exc.strerror or exc})") from None
    expected = max(sizes[:-1])
    model = segments[sizes.index(expected)]
    for segment, size in zip(segments[:-1], sizes[:-1], strict=True):
        if size < expected:
            raise EvidenceError(
                f"{first}: split raw set is truncated: segment {segment.name} is {size:,} bytes, expected "
                f"{expected:,} like {model.name} (only the last segment may be shorter)"
            )


def glob_escape(text: str) -> str:
    """Escape glob metacharacters in a file name stem."""
    return re.sub(r"([*?\[\]])", r"[\1]", text)


_EWF_EXT = re.compile(r"^[EeLs]([0-9]{2}|[A-Za-z]{2})$|^[Ee]x([0-9]{2}|[A-Za-z]{2})$")


def ewf_orphans(found: list[Path]) -> list[Path]:
    """EWF segment files beside the set that the set does not include.

    Why: ``pyewf.glob`` stops at the first missing segment, so ``x.E01, x.E03`` opens as a short set without any
    complaint; a later segment on disk means the set is incomplete.
    """
    if not found:
        return []
    first = found[0]
    stem = first.stem
    known = {p.name for p in found}
    orphans = []
    for candidate in first.parent.glob(f"{glob_escape(stem)}.*"):
        ext = candidate.suffix[1:]
        if candidate.stem != stem or candidate.name in known or not _EWF_EXT.match(ext):
            continue
        if candidate.is_file():
            head = read_head(candidate, 8)
            if head.startswith((EWF1_SIGNATURE, EWF2_SIGNATURE)):
                orphans.append(candidate)
    return sorted(orphans)
