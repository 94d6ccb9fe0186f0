"""Which streams are archives this package expands.

Why a sniffer of its own for tar: ``triage.analysis.typesniff`` looks at the first 64 bytes and tar's only mark is the
header checksum (and the optional "ustar" magic at byte 257), so a 512-byte head is needed. Every other format
is taken as ``triage.analysis.typesniff.sniff`` reports it, so the scan and this package agree on the type strings.
"""

from __future__ import annotations

from triage.analysis.typesniff import sniff

ZIP = "application/zip"
SEVEN_ZIP = "application/x-7z-compressed"
GZIP = "application/gzip"
BZIP2 = "application/x-bzip2"
XZ = "application/x-xz"
TAR = "application/x-tar"
RAR = "application/vnd.rar"

ARCHIVE_TYPES: frozenset[str] = frozenset({ZIP, SEVEN_ZIP, GZIP, BZIP2, XZ, TAR, RAR})
COMPRESSED_TYPES: frozenset[str] = frozenset({GZIP, BZIP2, XZ})  # single file, or a compressed tar
FS_NAMES = {ZIP: "zip", SEVEN_ZIP: "7z", GZIP: "gzip", BZIP2: "bzip2", XZ: "xz", TAR: "tar", RAR: "rar"}
TAR_BLOCK = 512


def looks_like_tar(block: bytes) -> bool:
    """A tar header block: the stored octal checksum matches the sum of the block with the field as spaces."""
    if len(block) < TAR_BLOCK or block[:1] == b"\x00":
        return False
    field = block[148:156].replace(b"\x00", b" ").strip()
    if not field or any(c not in b"01234567" for c in field):
        return False
    stored = int(field, 8)
    unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:TAR_BLOCK])
    return stored == unsigned


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
