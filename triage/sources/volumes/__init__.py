"""Volumes: where the file systems of a device start, from its partition table (MBR, GPT) or none.

No partition table means one volume at offset 0. Allocated partitions become volumes to open; unallocated gaps
and the table's own entries are kept so that the summary can list them, but they are never walked as file
systems.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytsk3

from triage.sources.containers import Evidence

VS_TYPES = {
    int(pytsk3.TSK_VS_TYPE_DOS): "mbr",
    int(pytsk3.TSK_VS_TYPE_GPT): "gpt",
    int(pytsk3.TSK_VS_TYPE_MAC): "mac",
    int(pytsk3.TSK_VS_TYPE_BSD): "bsd",
    int(pytsk3.TSK_VS_TYPE_SUN): "sun",
}


@dataclass(frozen=True)
class Volume:
    """One slot of the partition table, or the whole media when there is none.

    ``index`` is TSK's slot address (the first column of ``mmls``) or None for the whole media; ``role`` is
    "partition" (to be opened), "unallocated" (a gap) or "table" (the partition table's own sectors).
    """

    index: int | None
    offset: int
    size: int
    description: str
    role: str

    def describe(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "offset": self.offset,
            "size": self.size,
            "description": self.description,
            "role": self.role,
        }


@dataclass
class VolumeLayout:
    """The partition table of a device: its kind and every slot in table order."""

    scheme: str
    block_size: int
    slots: list[Volume]

    @property
    def partitions(self) -> list[Volume]:
        return [v for v in self.slots if v.role == "partition"]


def find_volumes(evidence: Evidence) -> VolumeLayout:
    """Read the partition table; a disk without one is a single volume at offset 0.

    Why catch OSError broadly: ``pytsk3.Volume_Info`` raises IOError both for "no table" and for a damaged one;
    either way the media may still hold a file system at offset 0, so that is what is tried next.
    """
    try:
        vs = pytsk3.Volume_Info(evidence.img)
    except (OSError, RuntimeError):  # RuntimeError: the image read itself failed (damaged EWF chunk)
        return VolumeLayout("none", 512, [Volume(None, 0, evidence.media_size, "whole media", "partition")])
    block = int(vs.info.block_size)
    scheme = VS_TYPES.get(int(vs.info.vstype), "other")
    slots = []
    for part in vs:
        flags = int(part.flags)
        offset = int(part.start) * block
        size = int(part.len) * block
        desc = part.desc.decode("utf-8", "replace") if isinstance(part.desc, bytes) else str(part.desc)
        if flags & int(pytsk3.TSK_VS_PART_FLAG_ALLOC):
            role = "partition"
        elif flags & int(pytsk3.TSK_VS_PART_FLAG_UNALLOC):
            role = "unallocated"
        else:
            role = "table"
        if role == "partition" and offset + size > evidence.media_size:
            desc = f"{desc} (extends past end of media by {offset + size - evidence.media_size} bytes)"
        slots.append(Volume(int(part.addr), offset, size, desc, role))
    if not any(s.role == "partition" for s in slots):
        slots.append(Volume(None, 0, evidence.media_size, "whole media (partition table lists no partition)",
                            "partition"))
    return VolumeLayout(scheme, block, slots)
