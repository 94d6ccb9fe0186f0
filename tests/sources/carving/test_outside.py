"""Space outside any partition against ``mmls``: its unallocated slots, minus the partition-table sectors."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import fixture_image, realdata
from triage.sources.carving.outside import outside_extents
from triage.sources.carving.unallocated import Extents
from triage.sources.containers import open_evidence
from triage.sources.volumes import find_volumes


def outside(image: Path, with_read: bool = True) -> Extents:
    evidence = open_evidence(image)
    try:
        return outside_extents(find_volumes(evidence), evidence.media_size, evidence.read if with_read else None)
    finally:
        evidence.close()


def test_gpt_gap_before_the_first_partition_without_the_tables() -> None:
    # $ mmls laptop.raw
    # 000:  Meta      0000000000   0000000000   0000000001   Safety Table
    # 001:  -------   0000000000   0000002047   0000002048   Unallocated
    # 002:  Meta      0000000001   0000000001   0000000001   GPT Header
    # 003:  Meta      0000000002   0000000033   0000000032   Partition Table
    # 004:  000       0000002048   0000069631   0000067584   LAPTOP_FAT
    # 005:  001       0000069632   0000075775   0000006144   LAPTOP_EXT4
    # 006:  002       0000075776   0000083934   0000008159   LAPTOP_NTFS
    # 007:  -------   0000083935   0000083967   0000000033   Unallocated
    # $ sgdisk -p laptop.raw
    # Disk laptop.raw: 83968 sectors, 41.0 MiB
    # Main partition table begins at sector 2 and ends at sector 33
    # First usable sector is 34, last usable sector is 83934
    # Total free space is 2014 sectors (1007.0 KiB)
    # TSK's last "Unallocated" slot (83935-83967) is the backup GPT (entries, then the header at LBA 83967).
    image = fixture_image("laptop.raw")
    extents = outside(image)
    assert extents.ranges == [(34 * 512, (2048 - 34) * 512)]
    assert extents.total_free == 2014 * 512 and extents.unit == 512 and extents.notes == []
    assert outside(image, with_read=False).ranges == extents.ranges  # backup assumed at the end: same answer


def test_gpt_missing_backup_header_is_noted() -> None:
    evidence = open_evidence(fixture_image("laptop.raw"))
    try:
        backup = 83967 * 512

        def read(offset: int, size: int) -> bytes:  # the evidence with its backup GPT header blanked
            data = evidence.read(offset, size)
            return bytes(size) if offset == backup else data

        extents = outside_extents(find_volumes(evidence), evidence.media_size, read)
    finally:
        evidence.close()
    assert extents.ranges == [(34 * 512, 2014 * 512)]
    assert extents.notes == ["backup GPT header not found at LBA 83967; the last sectors are taken to hold it"]


def test_mbr_gaps_including_inside_the_extended_partition() -> None:
    # $ mmls phone.raw
    # 000:  Meta      0000000000   0000000000   0000000001   Primary Table (#0)
    # 001:  -------   0000000000   0000002047   0000002048   Unallocated
    # 002:  000:000   0000002048   0000008191   0000006144   DOS FAT16 (0x06)
    # 003:  Meta      0000008192   0000016383   0000008192   DOS Extended (0x05)
    # 004:  Meta      0000008192   0000008192   0000000001   Extended Table (#1)
    # 005:  -------   0000008192   0000010239   0000002048   Unallocated
    # 006:  001:000   0000010240   0000016383   0000006144   Linux (0x83)
    extents = outside(fixture_image("phone.raw"))
    assert extents.ranges == [(1 * 512, 2047 * 512), (8193 * 512, 2047 * 512)]


def test_real_mbr_space_after_the_last_partition() -> None:
    # $ mmls mbr.raw
    # 000:  Meta      0000000000   0000000000   0000000001   Primary Table (#0)
    # 001:  -------   0000000000   0000000000   0000000001   Unallocated
    # 002:  000:000   0000000001   0000000129   0000000129   Linux (0x83)
    # 003:  Meta      0000000130   0000008191   0000008062   DOS Extended (0x05)
    # 004:  Meta      0000000130   0000000130   0000000001   Extended Table (#1)
    # 005:  -------   0000000130   0000000130   0000000001   Unallocated
    # 006:  001:000   0000000131   0000000259   0000000129   Linux (0x83)
    # 007:  -------   0000000260   0000008191   0000007932   Unallocated
    extents = outside(realdata("mbr.raw"))
    assert extents.ranges == [(260 * 512, 7932 * 512)]


def test_no_partition_table_leaves_nothing_outside() -> None:
    # $ mmls usb.raw  -> exit 1, no output (FAT16 at sector 0, no table)
    extents = outside(fixture_image("usb.raw"))
    assert extents.ranges == [] and extents.total_free == 0 and extents.reason is None
