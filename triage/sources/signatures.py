"""Volume signatures: what a volume or raw medium probably holds, from magic bytes at fixed offsets.

One table serves two questions: "is this raw file in a case folder a disk?" (triage/case/classify.py) and "what
is this volume that no file system driver opened?" (triage/filesystems: an encrypted disk must never look empty).
"""

from __future__ import annotations

APFS_MAGIC = b"NXSB"

# (offset inside the volume, magic bytes, what it means); first match wins.
VOLUME_SIGNATURES: list[tuple[int, bytes, str]] = [
    (3, b"-FVE-FS-", "BitLocker encrypted volume"),
    (0, b"LUKS\xba\xbe", "LUKS encrypted volume"),
    (512, b"LABELONE", "LVM2 physical volume"),
    (32, APFS_MAGIC, "APFS container"),
    (3, b"EXFAT   ", "exFAT"),
    (3, b"NTFS    ", "NTFS"),
    (3, b"ReFS\x00\x00\x00\x00", "ReFS"),
    (54, b"FAT12   ", "FAT12"),
    (54, b"FAT16   ", "FAT16"),
    (82, b"FAT32   ", "FAT32"),
    (0x438, b"\x53\xef", "ext2/3/4"),
    (0x400, b"H+\x00\x04", "HFS+"),
    (0x400, b"HX\x00\x05", "HFSX"),
    (0x8001, b"CD001", "ISO9660"),
    (0x10040, b"_BHRfS_M", "Btrfs (not supported)"),
    (0, b"XFSB", "XFS (not supported)"),
    (0x400, b"\x10\x20\xf5\xf2", "F2FS (not supported)"),
    (0x410, b"\x7f\x13", "Minix v1 (not supported)"),
    (0x410, b"\x8f\x13", "Minix v1 (not supported)"),
    (0x410, b"\x68\x24", "Minix v2 (not supported)"),
    (0x410, b"\x78\x24", "Minix v2 (not supported)"),
    (0x418, b"\x5a\x4d", "Minix v3 (not supported)"),
    (0, b"hsqs", "squashfs"),
    (0, b"koly", "DMG trailer"),
]

# Bytes to read so that every signature above can be seen.
SIGNATURE_SPAN = 0x10200


def volume_signature(head: bytes) -> str | None:
    """Name the first signature found in ``head`` (the first bytes of a volume), or None."""
    for offset, magic, label in VOLUME_SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return label
    return None
