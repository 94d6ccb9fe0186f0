"""Volumes: MBR with an extended partition, and no table at all."""

from __future__ import annotations

from tests.conftest import realdata
from triage.sources.containers import open_evidence
from triage.sources.volumes import find_volumes


def test_mbr_with_logical_partition() -> None:
    # mmls mbr.raw:
    # 002:  000:000   0000000001   0000000129   0000000129   Linux (0x83)
    # 003:  Meta      0000000130   0000008191   0000008062   DOS Extended (0x05)
    # 004:  Meta      0000000130   0000000130   0000000001   Extended Table (#1)
    # 006:  001:000   0000000131   0000000259   0000000129   Linux (0x83)
    # 007:  -------   0000000260   0000008191   0000007932   Unallocated
    layout = find_volumes(open_evidence(realdata("mbr.raw")))
    assert layout.scheme == "mbr"
    assert [(v.index, v.offset, v.size) for v in layout.partitions] == [(2, 512, 129 * 512), (6, 131 * 512, 129 * 512)]
    roles = {v.index: v.role for v in layout.slots}
    assert roles[3] == "table" and roles[7] == "unallocated"


def test_no_table_is_one_volume_at_zero() -> None:
    layout = find_volumes(open_evidence(realdata("ext2.raw")))
    assert layout.scheme == "none"
    assert [(v.index, v.offset, v.size) for v in layout.partitions] == [(None, 0, 4194304)]
