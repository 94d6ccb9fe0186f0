"""Which streams are archives this package expands.

Why a sniffer of its own for tar: ``triage.analysis.typesniff`` looks at the first 64 bytes and tar's only mark is the
header checksum (and the optional "ustar" magic at byte 257), so a 512-byte head is needed. Every other format
is taken as ``triage.analysis.typesniff.sniff`` reports it, so the scan and this package agree on the type strings.
"""

from __future__ import annotations

from triage.analysis.typesniff import ARCHIVE_TYPES, TAR_BLOCK, looks_like_tar, sniff

ZIP = "application/zip"
SEVEN_ZIP = "application/x-7z-compressed"
GZIP = "application/gzip"
BZIP2 = "application/x-bzip2"
XZ = "application/x-xz"
TAR = "application/x-tar"
RAR = "application/vnd.rar"

COMPRESSED_TYPES: frozenset[str] = frozenset({GZIP, BZIP2, XZ})  # single file, or a compressed tar
FS_NAMES = {ZIP: "zip", SEVEN_ZIP: "7z", GZIP: "gzip", BZIP2: "bzip2", XZ: "xz", TAR: "tar", RAR: "rar"}
def sniff_archive(head: bytes) -> str | None:
    """The archive MIME type of a stream from its first bytes (512 for tar), or None when it is not one."""
    mime = sniff(head)
    if mime in ARCHIVE_TYPES:
        return mime
    if mime is None and looks_like_tar(head[:TAR_BLOCK]):
        return TAR
    return None


def is_archive(mime: str | None, head: bytes = b"") -> bool:
    """True when ``expand()`` handles this stream: by its sniffed type, else by its head (tar)."""
    if mime in ARCHIVE_TYPES:
        return True
    return bool(head) and sniff_archive(head) is not None
