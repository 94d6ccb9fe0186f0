"""Space outside any partition: the media minus every partition and minus the partition table's own sectors.

Why the table sectors are left out: they hold the table (MBR and extended boot records, the GPT protective MBR,
headers and entry arrays, primary and backup), never user data; everything else not inside a partition — the
gap before the first partition, gaps between partitions, the space after the last one and inside an extended
partition around its logical ones — is carved. TSK does not list the backup GPT, so it is found here from the
primary header (alternate LBA, entry count and size) and, failing that, assumed at the end as the UEFI
specification places it.
"""

from __future__ import annotations

from collections.abc import Callable

from triage.sources.carving.unallocated import Extents
from triage.sources.volumes import Volume, VolumeLayout

Read = Callable[[int, int], bytes]
_GPT_SIGNATURE = b"EFI PART"


def outside_extents(layout: VolumeLayout, media_size: int, read: Read | None = None) -> Extents:
    """The media byte ranges not inside any partition nor the partition table, in media order.

    ``layout`` comes from ``find_volumes``; ``read(offset, size)`` (the evidence's ``read``) lets a GPT's backup
    table be found from its primary header. A media without a partition table is one volume: nothing is outside.
    """
    block = layout.block_size or 512
    notes: list[str] = []
    taken = [(v.offset, v.offset + v.size) for v in layout.partitions]
    taken += [(v.offset, v.offset + v.size) for v in layout.slots if _is_table(v, layout)]
    if layout.scheme == "gpt":
        taken.append(_gpt_backup(layout, media_size, read, notes))
    ranges: list[tuple[int, int]] = []
    position = 0
    for start, end in sorted((max(0, s), min(e, media_size)) for s, e in taken if e > s):
        if start > position:
            ranges.append((position, start - position))
        position = max(position, end)
    if position < media_size:
        ranges.append((position, media_size - position))
    return Extents(ranges, block, sum(length for _, length in ranges), None, notes)


def _is_table(slot: Volume, layout: VolumeLayout) -> bool:
    """A slot holding the table itself; an extended partition (also a TSK meta slot) only contains logical ones."""
    if slot.role != "table":
        return False
    if "Extended (0x" in slot.description:  # TSK's "DOS Extended (0x05)", "Win95 Extended (0x0F)", ...
        return False
    end = slot.offset + slot.size
    return not any(slot.offset <= p.offset < end and p is not slot for p in layout.partitions)


def _gpt_backup(layout: VolumeLayout, media_size: int, read: Read | None, notes: list[str]) -> tuple[int, int]:
    """(start, end) of the backup GPT: its entry array, then its header, normally the media's last sectors."""
    block = layout.block_size
    end = media_size // block * block
    primary = _gpt_header(read, block)
    if primary is not None:
        alternate = primary[0]
        backup = _gpt_header(read, alternate * block) if (alternate + 1) * block <= media_size else None
        if backup is not None:
            _, count, size, entries = backup
            if not 0 < entries < alternate:
                entries = alternate - -(-count * size // block)
            return entries * block, (alternate + 1) * block
        notes.append(f"backup GPT header not found at LBA {alternate}; the last sectors are taken to hold it")
    length = next((v.size for v in layout.slots if v.role == "table" and v.offset == 2 * block), 128 * 128)
    return end - block - length, end


def _gpt_header(read: Read | None, offset: int) -> tuple[int, int, int, int] | None:
    """(alternate LBA, entry count, entry size, entries LBA) of a GPT header at ``offset``, or None."""
    if read is None:
        return None
    try:
        data = read(offset, 92)
    except OSError:
        return None
    if len(data) < 92 or data[:8] != _GPT_SIGNATURE:
        return None
    count, size = int.from_bytes(data[80:84], "little"), int.from_bytes(data[84:88], "little")
    if not 0 < size <= 4096 or count > 1 << 16:
        return None
    return int.from_bytes(data[32:40], "little"), count, size, int.from_bytes(data[72:80], "little")
