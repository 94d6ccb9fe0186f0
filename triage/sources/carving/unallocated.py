"""The unallocated space of a file system as media byte ranges, read from the file system's own allocation map.

Why not TSK: pytsk3 has no block walk, and asking TSK block by block from Python would be far too slow. Each
map (FAT, NTFS ``$Bitmap``, ext block bitmaps, exFAT allocation bitmap, HFS+ allocation file) is read in chunks
and turned into extents with numpy. The rules follow The Sleuth Kit's, so that the bytes of the extents equal
``blkls`` output (the tests' oracle); the one deliberate difference is ext4's BLOCK_UNINIT groups (see ``_ext``).
Nothing here raises: a map that cannot be read gives ``Extents`` with a ``reason`` for the caller's limits.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from triage.defaults import UNALLOC_DIR_MAX, UNALLOC_MAP_CHUNK, UNALLOC_MAX_EXTENTS
from triage.errors import one_line


@dataclass
class Extents:
    """Free space as ``(media offset, length)`` ranges in media order, adjacent ranges merged.

    ``unit`` is the allocation unit in bytes (cluster or block); ``total_free`` counts every free byte the map
    shows, so it exceeds the ranges' sum when the extent cap or the end of a truncated image cut the list
    (``notes`` then says how much). ``reason`` is set, and ``ranges`` empty, when the space is not mapped.
    Offsets are those of the image the file system was opened on (``fs.read_media``): the evidence's own
    media offsets unless the file system sits on a storage layer (``fs.on_media`` False).
    """

    ranges: list[tuple[int, int]]
    unit: int
    total_free: int
    reason: str | None = None
    notes: list[str] = field(default_factory=list)


class _Unmapped(Exception):
    """The allocation map cannot be read or makes no sense; its message becomes ``Extents.reason``."""


class _Collector:
    """Free byte ranges of one file system, made media offsets, merged when adjacent, clipped and capped."""

    def __init__(self, fs: Any, unit: int) -> None:
        self.base = int(fs.offset)
        self.media_size = int(fs.image.get_size())
        self.unit = unit
        self.ranges: list[tuple[int, int]] = []
        self.total = self.unlisted = self.clipped = 0
        self.notes: list[str] = []

    def runs(self, origin: int, unit: int, free: np.ndarray) -> None:
        """Add the runs of True in ``free``: element i is the unit at file-system byte ``origin + i * unit``."""
        if not free.size:
            return
        edges = np.diff(free.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
        starts = np.flatnonzero(edges == 1).astype(np.int64)
        ends = np.flatnonzero(edges == -1).astype(np.int64)
        for start, end in zip((origin + starts * unit).tolist(), (origin + ends * unit).tolist(), strict=True):
            self.add(start, end - start)

    def add(self, start: int, length: int) -> None:
        """Add ``length`` free bytes at file-system byte ``start``."""
        self.total += length
        start += self.base
        end = start + length
        if end > self.media_size:
            cut = end - max(start, self.media_size)
            self.clipped += cut
            end -= cut
            if end <= start:
                return
        if self.ranges and sum(self.ranges[-1]) == start:
            self.ranges[-1] = (self.ranges[-1][0], end - self.ranges[-1][0])
        elif len(self.ranges) >= UNALLOC_MAX_EXTENTS:
            self.unlisted += end - start
        else:
            self.ranges.append((start, end - start))

    def extents(self) -> Extents:
        if self.unlisted:
            self.notes.append(f"extent cap of {UNALLOC_MAX_EXTENTS} reached: {self.unlisted} free bytes not listed")
        if self.clipped:
            self.notes.append(f"{self.clipped} free bytes lie past the end of the image (truncated); not listed")
        return Extents(self.ranges, self.unit, self.total, None, self.notes)


def unallocated_extents(fs: Any) -> Extents:
    """The unallocated extents of one opened file system (``TskFileSystem``), or a reason why there are none.

    Read-only and bounded: maps are read ``UNALLOC_MAP_CHUNK`` bytes at a time, at most ``UNALLOC_MAX_EXTENTS``
    ranges are listed.
    """
    name = str(getattr(fs, "name", "unknown"))
    reader = _READERS.get(name)
    if reader is None or getattr(fs, "fs", None) is None or not hasattr(fs, "image"):
        return Extents([], 0, 0, f"unallocated space of {name} not mapped")
    try:
        return reader(fs)
    except (_Unmapped, OSError, RuntimeError, ValueError, struct.error) as exc:
        return Extents([], 0, 0, f"unallocated space of {name} not mapped: {one_line(exc, last=True)}")


def _read(fs: Any, offset: int, size: int) -> bytes:
    """``size`` bytes at file-system byte ``offset``; a short read is damage, never silently zero-filled."""
    data = fs.read_media(int(fs.offset) + offset, size)
    if len(data) < size:
        raise _Unmapped(f"short read of the allocation map at file-system byte {offset}")
    return data


def _u(data: bytes, offset: int, size: int) -> int:
    return int.from_bytes(data[offset : offset + size], "little")


def _bits(data: bytes, msb_first: bool = False) -> np.ndarray:
    """One element per bit, True = allocated."""
    return np.unpackbits(np.frombuffer(data, np.uint8), bitorder="big" if msb_first else "little").astype(bool)


def _bitmap_file(fs: Any, msb_first: bool) -> Extents:
    """NTFS ``$Bitmap`` and the HFS+ allocation file: both are file 6, one bit per cluster/allocation block."""
    info = fs.fs.info
    unit, count = int(info.block_size), int(info.block_count)
    handle = fs.fs.open_meta(inode=6)
    need = (count + 7) // 8
    size = int(handle.info.meta.size)
    col = _Collector(fs, unit)
    if size < need:
        col.notes.append(f"allocation map holds {size * 8} of {count} units; the rest is taken as allocated")
        need = size
    for offset in range(0, need, UNALLOC_MAP_CHUNK):
        want = min(UNALLOC_MAP_CHUNK, need - offset)
        data = handle.read_random(offset, want)
        if len(data) < want:
            raise _Unmapped(f"short read of the allocation map at byte {offset}")
        first = offset * 8
        col.runs(first * unit, unit, ~_bits(data, msb_first)[: count - first])
    return col.extents()


def _ntfs(fs: Any) -> Extents:
    return _bitmap_file(fs, msb_first=False)


def _hfs(fs: Any) -> Extents:
    return _bitmap_file(fs, msb_first=True)


_FAT_LIMIT = {12: 0xFF7, 16: 0xFFF7, 32: 0x0FFFFFF7}


def _fat_entries(fs: Any, fat: int, bits: int, first: int, last: int) -> np.ndarray:
    """FAT entries of clusters ``first`` to ``last - 1`` (``first`` even), FAT #1 at file-system byte ``fat``."""
    if bits == 12:
        start = first * 3 // 2
        data = _read(fs, fat + start, (last * 3 + 1) // 2 - start + 1)
        raw = np.frombuffer(data, np.uint8).astype(np.uint32)
        index = np.arange(first, last, dtype=np.int64)
        at = index * 3 // 2 - start
        value = raw[at] | (raw[at + 1] << 8)
        return np.where(index & 1, value >> 4, value & 0xFFF)
    width = bits // 8
    data = _read(fs, fat + first * width, (last - first) * width)
    return np.frombuffer(data, "<u2" if bits == 16 else "<u4").astype(np.uint32) & 0x0FFFFFFF


def _fat(fs: Any) -> Extents:
    """FAT12/16/32: a cluster is free when its FAT #1 entry is 0.

    As in TSK (fatfs_getFAT), an entry pointing past the last cluster that is no end/bad marker counts as 0,
    and the sectors after the last whole cluster (up to the boot sector's sector count) are free.
    """
    info = fs.fs.info
    ssize, sectors = int(info.block_size), int(info.block_count)
    boot = _read(fs, 0, 64)
    csize, reserved, fats, roots = boot[13], _u(boot, 14, 2), boot[16], _u(boot, 17, 2)
    per_fat = _u(boot, 22, 2) or _u(boot, 36, 4)
    first_sector = reserved + per_fat * fats + (roots * 32 + ssize - 1) // ssize
    if not csize or not reserved or first_sector > sectors:
        raise _Unmapped("boot sector geometry is damaged")
    count = (sectors - first_sector) // csize
    last_cluster = count + 1
    bits = int(fs.name[3:])
    cluster = csize * ssize
    col = _Collector(fs, cluster)
    step = max(2, UNALLOC_MAP_CHUNK // 8 * 2)  # entries per read: FAT12 packs two entries in 3 bytes
    for first in range(0, last_cluster + 1, step):
        last = min(first + step, last_cluster + 1)
        values = _fat_entries(fs, reserved * ssize, bits, first, last)
        low = max(first, 2)
        value = values[low - first :]
        free = (value == 0) | ((value > last_cluster) & (value < _FAT_LIMIT[bits]))
        col.runs((first_sector + (low - 2) * csize) * ssize, cluster, free)
    _tail(col, first_sector + count * csize, sectors, ssize)
    return col.extents()


def _tail(col: _Collector, first: int, sectors: int, ssize: int) -> None:
    """Sectors after the last whole cluster: TSK (fatfs_is_sectalloc) counts them unallocated."""
    if first < sectors:
        col.add(first * ssize, (sectors - first) * ssize)


def _exfat(fs: Any) -> Extents:
    """exFAT: the allocation bitmap named by the root directory's 0x81 entry, bit i for cluster i + 2."""
    boot = _read(fs, 0, 512)
    if boot[3:11] != b"EXFAT   ":
        raise _Unmapped("no exFAT boot sector")
    ssize = 1 << boot[108]
    csize = 1 << boot[109]
    fat, heap, count, root = _u(boot, 80, 4), _u(boot, 88, 4), _u(boot, 92, 4), _u(boot, 96, 4)
    cluster = ssize * csize

    def at(number: int) -> int:
        return heap * ssize + (number - 2) * cluster

    found = _exfat_bitmap_entry(fs, root, count, cluster, at, fat * ssize)
    if found is None:
        raise _Unmapped("no allocation bitmap entry in the root directory")
    first_cluster, length = found
    need = (count + 7) // 8
    if length < need or not 2 <= first_cluster <= count + 1:
        raise _Unmapped("allocation bitmap entry is damaged")
    col = _Collector(fs, cluster)
    # Read as one contiguous run from its first cluster, as TSK does (exfatfs_get_alloc_bitmap).
    for offset in range(0, need, UNALLOC_MAP_CHUNK):
        data = _read(fs, at(first_cluster) + offset, min(UNALLOC_MAP_CHUNK, need - offset))
        first = offset * 8
        col.runs(at(2 + first), cluster, ~_bits(data)[: count - first])
    _tail(col, heap + count * csize, int(fs.fs.info.block_count), ssize)
    return col.extents()


def _exfat_bitmap_entry(
    fs: Any, root: int, count: int, cluster: int, at: Callable[[int], int], fat: int
) -> tuple[int, int] | None:
    """(first cluster, length) of the first allocation bitmap, following the root directory's FAT chain."""
    number, searched = root, 0
    while 2 <= number <= count + 1 and searched < UNALLOC_DIR_MAX:
        data = _read(fs, at(number), cluster)
        for i in range(0, len(data), 32):
            if data[i] == 0:  # end of directory
                return None
            if data[i] == 0x81 and not data[i + 1] & 1:
                return _u(data, i + 20, 4), _u(data, i + 24, 8)
        searched += cluster
        number = _u(_read(fs, fat + number * 4, 4), 0, 4)
    return None


def _ext(fs: Any) -> Extents:
    """ext2/3/4: each group's block bitmap, found through the group descriptors (32- or 64-bit, meta_bg).

    A group flagged BLOCK_UNINIT (honoured only with the uninit_bg or metadata_csum feature, as by the kernel)
    has no bitmap on disk: it is free except its own metadata, computed as the kernel's
    ext4_init_block_bitmap does (superblock and descriptor backups, its bitmaps and inode table when inside
    it). TSK instead reads whatever the on-disk bitmap block holds, so ``blkls`` differs there: on a fresh
    file system it lists those backup superblock/descriptor blocks as free too; on a re-made one whose old
    bitmap blocks were left behind it may miss whole free groups.
    """
    sb = _read(fs, 1024, 1024)
    if _u(sb, 56, 2) != 0xEF53:
        raise _Unmapped("no ext superblock")
    geo = _ExtGeometry(sb, int(fs.fs.info.block_count))
    col = _Collector(fs, geo.block)
    on_image = (col.media_size - col.base) // geo.block  # blocks the image holds: later groups are not read
    groups = min(geo.groups, max(0, -(-(on_image - geo.first_data) // geo.per_group)))
    if groups < geo.groups:
        col.notes.append(f"{geo.groups - groups} block groups lie past the end of the image (truncated); not read")
    for group in range(groups):
        start = geo.first_data + group * geo.per_group
        size = min(geo.per_group, geo.count - start)
        block_bitmap, inode_bitmap, inode_table, flags = geo.descriptor(fs, group)
        if geo.csum and flags & 0x2:  # EXT4_BG_BLOCK_UNINIT
            used = np.zeros(size, dtype=bool)
            used[: geo.base_meta(group)] = True
            for where, length in ((block_bitmap, 1), (inode_bitmap, 1), (inode_table, geo.table_blocks)):
                low, high = max(where - start, 0), min(where + length - start, size)
                if low < high:
                    used[low:high] = True
        elif 0 < block_bitmap < geo.count:
            used = _bits(_read(fs, block_bitmap * geo.block, geo.block))[:size]
        else:
            col.notes.append(f"group {group}: block bitmap at block {block_bitmap} lies outside the file system; "
                             "its blocks are taken as allocated")
            continue
        col.runs(start * geo.block, geo.block, ~used)
    return col.extents()


class _ExtGeometry:
    """What an ext superblock says of its groups, and where their descriptors are (as the kernel finds them)."""

    def __init__(self, sb: bytes, count: int) -> None:
        self.block = 1024 << _u(sb, 24, 4)
        self.count = count
        self.first_data = _u(sb, 20, 4)
        self.per_group = _u(sb, 32, 4)
        compat, incompat, ro_compat = _u(sb, 92, 4), _u(sb, 96, 4), _u(sb, 100, 4)
        self.wide = bool(incompat & 0x80) and _u(sb, 254, 2) >= 64  # INCOMPAT_64BIT
        self.desc_size = _u(sb, 254, 2) if self.wide else 32
        if (not 0 < self.per_group <= 8 * self.block or self.block > 1 << 16 or count <= self.first_data
                or self.desc_size > self.block or self.desc_size & (self.desc_size - 1)):
            raise _Unmapped("superblock geometry is damaged")
        if ro_compat & 0x200:  # RO_COMPAT_BIGALLOC: bits count clusters (TSK 4.11 does not open it at all)
            raise _Unmapped("bigalloc block bitmaps not read")
        self.groups = (count - self.first_data + self.per_group - 1) // self.per_group
        self.per_block = self.block // self.desc_size
        self.meta_bg = bool(incompat & 0x10)
        self.first_meta_bg = _u(sb, 260, 4)
        self.csum = bool(ro_compat & 0x410)  # RO_COMPAT_GDT_CSUM (uninit_bg) or RO_COMPAT_METADATA_CSUM
        self.sparse = bool(ro_compat & 0x1)
        self.backups = (_u(sb, 588, 4), _u(sb, 592, 4)) if compat & 0x200 else None  # COMPAT_SPARSE_SUPER2
        self.reserved_gdt = _u(sb, 206, 2)
        self.gdt_blocks = (self.groups + self.per_block - 1) // self.per_block
        inode_size = _u(sb, 88, 2) if _u(sb, 76, 4) else 128
        self.table_blocks = (_u(sb, 40, 4) * inode_size + self.block - 1) // self.block
        self._cache: tuple[int, bytes] = (-1, b"")

    def has_super(self, group: int) -> bool:
        """ext4_bg_has_super: group 0, the sparse_super2 backups, or 0, 1 and powers of 3, 5, 7."""
        if group == 0:
            return True
        if self.backups is not None:
            return group in self.backups
        if group <= 1 or not self.sparse:
            return True
        return bool(group & 1) and any(_power_of(group, base) for base in (3, 5, 7))

    def base_meta(self, group: int) -> int:
        """ext4_num_base_meta_clusters: superblock, descriptor and reserved-descriptor blocks at the group start."""
        found = int(self.has_super(group))
        if not self.meta_bg or group < self.first_meta_bg * self.per_block:
            if found:
                found += (self.first_meta_bg if self.meta_bg else self.gdt_blocks) + self.reserved_gdt
            return found
        return found + int(group % self.per_block in (0, 1, self.per_block - 1))

    def descriptor(self, fs: Any, group: int) -> tuple[int, int, int, int]:
        """(block bitmap, inode bitmap, inode table, flags) of one group."""
        meta_group = group // self.per_block
        if not self.meta_bg or meta_group < self.first_meta_bg:
            number = self.first_data + 1 + meta_group
        else:
            first = meta_group * self.per_block
            number = self.first_data + first * self.per_group + int(self.has_super(first))
        if self._cache[0] != number:
            self._cache = (number, _read(fs, number * self.block, self.block))
        at = (group % self.per_block) * self.desc_size
        desc = self._cache[1][at : at + self.desc_size]
        values = [_u(desc, i, 4) for i in (0, 4, 8)]
        if self.wide:
            values = [low | _u(desc, i, 4) << 32 for low, i in zip(values, (32, 36, 40), strict=True)]
        return values[0], values[1], values[2], _u(desc, 18, 2)


def _power_of(number: int, base: int) -> bool:
    while number > 1 and number % base == 0:
        number //= base
    return number == 1


_READERS: dict[str, Callable[[Any], Extents]] = {
    "fat12": _fat,
    "fat16": _fat,
    "fat32": _fat,
    "exfat": _exfat,
    "ntfs": _ntfs,
    "hfs+": _hfs,
    "ext2": _ext,
    "ext3": _ext,
    "ext4": _ext,
}
