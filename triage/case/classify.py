"""What one file in a case directory is, judged by its bytes: an evidence container, raw media, or not evidence.

Why a module of its own: the rules are the part an examiner will question ("why was this file skipped?"), so
each outcome carries a one-line reason that ends up in case.json.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from triage.analysis.typesniff import kind_of, looks_like_tar, sniff
from triage.sources.containers import detect
from triage.sources.extractions import detect_extraction
from triage.sources.signatures import SIGNATURE_SPAN, volume_signature

HEAD_SIZE = SIGNATURE_SPAN
SECTOR = 512
GPT_SIGNATURE = b"EFI PART"
_HASH_LIST_EXT = {"md5", "sha1", "sha256", "sha512", "hash", "hashes", "sfv"}
_ACQUISITION_WORDS = ("ewfacquire", "acquiry information", "created by accessdata", "ftk imager", "guymager",
                      "dc3dd", "dcfldd", "image verification results")
_HASH_LINE = re.compile(r"^\s*(?:[0-9a-fA-F]{32,128}(?:\s|,|$)|(?:MD5|SHA\d*) \(.*\) = [0-9a-fA-F]{32,128})")
_VMDK_EXTENT = re.compile(r'^\s*(?:RW|RDONLY|NOACCESS)\s+\d+\s+(?P<type>\w+)(?:\s+"(?P<file>[^"]+)")?', re.M)


@dataclass
class Kind:
    """The verdict on one file.

    ``name`` is one of: ewf, qcow, vhd, vhdx, vmdk, vmdk-descriptor, raw (a disk signature was seen), raw-weak
    (no signature, but binary and sector-sized), extraction (a tar or zip holding a logical extraction),
    unsupported (evidence we cannot open, e.g. L01), unreadable, other (not evidence; ``detail`` says why).
    """

    name: str
    detail: str = ""
    segment: int = 0
    extents: list[str] = field(default_factory=list)


def classify(path: Path, size: int) -> Kind:
    """Judge one file by content; never raises (an unreadable file is a verdict too)."""
    if size == 0:
        return Kind("other", "not evidence: empty file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEAD_SIZE)
            fh.seek(max(0, size - SECTOR))
            tail = fh.read(SECTOR)
    except OSError as exc:
        return Kind("unreadable", f"cannot read ({exc.strerror or exc})")
    if head.startswith(detect.EWF1_SIGNATURE):
        return Kind("ewf", "ewf1", segment=struct.unpack_from("<H", head, 9)[0] if len(head) >= 11 else 0)
    if head.startswith(detect.EWF2_SIGNATURE):
        return Kind("ewf", "ewf2", segment=struct.unpack_from("<I", head, 12)[0] if len(head) >= 16 else 0)
    if head.startswith(detect.LEF_SIGNATURES):
        return Kind("unsupported", "logical evidence file (L01/Lx01), not a disk image: not supported")
    if head.startswith(detect.QCOW_SIGNATURE):
        return Kind("qcow", "QCOW")
    if head.startswith(detect.VHDX_SIGNATURE):
        return Kind("vhdx", "VHDX")
    if head.startswith(detect.VHD_SIGNATURE) or tail.startswith(detect.VHD_SIGNATURE):
        return Kind("vhd", "VHD")
    if head.startswith((detect.VMDK_SPARSE_SIGNATURE, detect.VMDK_COWD_SIGNATURE)):
        return Kind("vmdk", "VMDK")
    if head.startswith(detect.VMDK_DESCRIPTOR):
        return _vmdk_descriptor(head)
    return _raw_or_not(path, size, head)


def _vmdk_descriptor(head: bytes) -> Kind:
    """A VMDK text descriptor names its extent files; those belong to this device, not to devices of their own."""
    text = head.decode("utf-8", "replace")
    extents = [m.group("file") for m in _VMDK_EXTENT.finditer(text) if m.group("file")]
    return Kind("vmdk-descriptor", "VMDK descriptor", extents=extents)


def disk_signature(head: bytes) -> str | None:
    """Name the partition table or file system that starts this media, or None."""
    label = volume_signature(head)
    if label:
        return label
    for sector in (512, 4096):
        if head[sector : sector + 8] == GPT_SIGNATURE:
            return "GPT"
    return None


def plausible_mbr(head: bytes) -> bool:
    """A boot signature plus four partition entries whose status bytes are valid and one of which is in use."""
    if len(head) < SECTOR or head[510:512] != b"\x55\xaa":
        return False
    entries = [head[446 + 16 * i : 446 + 16 * (i + 1)] for i in range(4)]
    if any(e[0] not in (0x00, 0x80) for e in entries):
        return False
    return any(e[4] != 0 and struct.unpack_from("<I", e, 12)[0] > 0 for e in entries)


def is_text(head: bytes) -> bool:
    """Notes, hash lists and logs: no NUL bytes, valid UTF-8 (or UTF-16 with a BOM), mostly printable."""
    sample = head[:8192]
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            decoded = sample[: len(sample) // 2 * 2].decode("utf-16")
        except UnicodeDecodeError:
            return False
    else:
        if b"\x00" in sample:
            return False
        try:
            decoded = sample.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(sample) - 4:
                return False
            decoded = sample[: exc.start].decode("utf-8")
    if not decoded:
        return False
    printable = sum(1 for c in decoded if c.isprintable() or c in "\r\n\t\f")
    return printable / len(decoded) >= 0.95


def _text_reason(path: Path, head: bytes) -> str:
    ext = path.suffix[1:].lower()
    lowered = head[:8192].decode("utf-8", "replace").lower()
    lines = [line for line in lowered.splitlines()[:50] if line.strip() and not line.startswith("#")]
    if ext in _HASH_LIST_EXT or (lines and sum(1 for x in lines if _HASH_LINE.match(x)) >= 0.8 * len(lines)):
        return "not evidence: hash list"
    if any(word in lowered for word in _ACQUISITION_WORDS):
        return "not evidence: acquisition log"
    if ext == "log":
        return "not evidence: log file"
    return "not evidence: text document"


def _raw_or_not(path: Path, size: int, head: bytes) -> Kind:
    signature = disk_signature(head)
    if signature:
        return Kind("raw", signature)
    mime = sniff(head)
    if kind_of(mime) == "archive" or looks_like_tar(head[:512]):
        extraction = detect_extraction(path)  # a phone or logical extraction delivered as tar/zip
        if extraction is not None:
            return Kind("extraction", f"{extraction} extraction")
    if mime is not None:
        return Kind("other", f"not evidence: {mime} by signature")
    if plausible_mbr(head):
        return Kind("raw", "MBR")
    if is_text(head):
        return Kind("other", _text_reason(path, head))
    if size % SECTOR == 0:
        return Kind("raw-weak", "no signature; binary and a whole number of sectors")
    return Kind("other", "not evidence: no disk signature and size is not a multiple of 512")

