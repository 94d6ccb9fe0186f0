"""Where a stream's bytes lie on the media, for the one sequential read of the media (``triage.mediapass``).

A stream is given runs only when reading those media bytes in file order gives exactly what The Sleuth Kit's
``read_random`` gives: one non-resident attribute, not compressed, encrypted or sparse, runs that start at file
offset 0 and follow each other with no sparse or filler run, inside the volume, covering the size. Anything else
(resident NTFS data, compressed files, ext4 unwritten extents, APFS, ...) returns None and is read through TSK as
before, so the shortcut can never change a digest.

NTFS needs one more check that pytsk3 does not expose: a stream whose initialised size is below its size reads
as zeros past that point, while the clusters hold whatever was there before. The initialised size is read from
the file's MFT record (fixups applied); when the attribute is not in the base record the stream is not mapped.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

import pytsk3

from triage.records import Locator

if TYPE_CHECKING:
    from triage.filesystems.tsk import TskFileSystem

Run = tuple[int, int, int]  # (offset in the stream, offset in the media, length), bytes

# exFAT: TSK (4.11) reads a stream's whole data length from its clusters whatever its ValidDataLength (checked
# with `icat` on camera.raw with one entry's ValidDataLength lowered to 1,000), so raw runs equal TSK's read.
MAPPED_FS = ("ntfs", "fat12", "fat16", "fat32", "exfat", "ext2", "ext3", "ext4", "hfs+", "iso9660")
_NONRES = int(pytsk3.TSK_FS_ATTR_NONRES)
_REFUSED = int(pytsk3.TSK_FS_ATTR_COMP) | int(pytsk3.TSK_FS_ATTR_ENC) | int(pytsk3.TSK_FS_ATTR_SPARSE)
_RUN_REFUSED = (int(pytsk3.TSK_FS_ATTR_RUN_FLAG_SPARSE) | int(pytsk3.TSK_FS_ATTR_RUN_FLAG_FILLER)
                | int(pytsk3.TSK_FS_ATTR_RUN_FLAG_ENCRYPTED))
_DEFAULT = int(pytsk3.TSK_FS_ATTR_TYPE_DEFAULT)
_ERRORS = (OSError, RuntimeError, ValueError, struct.error)
_NTFS_GEOMETRY: WeakKeyDictionary[TskFileSystem, tuple[int, int, Any]] = WeakKeyDictionary()


def stream_runs(fs: TskFileSystem, locator: Locator, size: int) -> list[Run] | None:
    """The stream's runs on the media, or None when it must be read through TSK."""
    if fs.name not in MAPPED_FS or size <= 0:
        return None
    try:
        handle = fs.fs.open_meta(inode=locator.inode)
        attr = _attribute(handle, locator)
        if attr is None:
            return None
        runs = _runs(attr, int(fs.fs.info.block_size), fs.offset, size)
        if runs is None or any(start < fs.offset or start + length > fs.offset + fs.size
                               for _, start, length in runs):
            return None
        if fs.name == "ntfs" and _ntfs_initialised_size(fs, locator) != size:
            return None
    except _ERRORS:
        return None
    return runs


def _attribute(handle: Any, locator: Locator) -> Any:
    wanted = [attr for attr in handle
              if (int(attr.info.type), int(attr.info.id)) == (locator.attr_type, locator.attr_id)
              or (locator.attr_type is None and int(attr.info.type) == _DEFAULT)]
    return wanted[0] if len(wanted) == 1 else None


def _runs(attr: Any, block: int, fs_offset: int, size: int) -> list[Run] | None:
    flags = int(attr.info.flags)
    if not flags & _NONRES or flags & _REFUSED or int(attr.info.size) != size:
        return None
    runs: list[Run] = []
    covered = 0
    for run in attr:
        if covered >= size:
            break  # ext2/3 list sparse runs past the end (the unused direct block pointers)
        if int(run.flags) & _RUN_REFUSED or int(run.offset) * block != covered:
            return None
        length = min(int(run.len) * block, size - covered)
        if length <= 0:
            break
        start = fs_offset + int(run.addr) * block
        if runs and runs[-1][1] + runs[-1][2] == start:
            runs[-1] = (runs[-1][0], runs[-1][1], runs[-1][2] + length)  # contiguous: one run
        else:
            runs.append((covered, start, length))
        covered += length
    return runs if covered == size else None


def _ntfs_initialised_size(fs: TskFileSystem, locator: Locator) -> int | None:
    """The initialised size of the stream's non-resident $DATA attribute, from its base MFT record."""
    geometry = _NTFS_GEOMETRY.get(fs)
    if geometry is None:
        boot = fs.read_media(fs.offset, 512)
        sector, per_cluster = struct.unpack_from("<HB", boot, 0x0B)
        per_record = struct.unpack_from("<b", boot, 0x40)[0]
        record = 1 << -per_record if per_record < 0 else per_record * sector * per_cluster
        if sector < 256 or record < sector or record > 1 << 16:
            return None
        geometry = _NTFS_GEOMETRY[fs] = (sector, record, fs.fs.open_meta(inode=0))
    sector, record_size, mft = geometry
    data = bytearray(mft.read_random(locator.inode * record_size, record_size))
    return _parse_initialised_size(data, sector, record_size, locator.attr_id)


def _parse_initialised_size(data: bytearray, sector: int, record_size: int, attr_id: int | None) -> int | None:
    """The initialised size of non-resident $DATA attribute ``attr_id`` in one raw MFT record (fixups applied).

    None for anything unexpected (not a FILE record, bad fixups, attribute not in this record, damage): the
    stream is then read through TSK, which knows best.
    """
    if len(data) != record_size or data[:4] != b"FILE":
        return None
    usa_offset, usa_count = struct.unpack_from("<HH", data, 4)
    if usa_count < 1 or usa_offset + 2 * usa_count > record_size:
        return None  # a damaged or hostile record
    check = data[usa_offset:usa_offset + 2]
    for i in range(1, usa_count):
        end = i * sector - 2
        if end + 2 > record_size or data[end:end + 2] != check:
            return None
        data[end:end + 2] = data[usa_offset + 2 * i:usa_offset + 2 * i + 2]
    position = struct.unpack_from("<H", data, 0x14)[0]
    while position + 16 <= record_size:
        kind, length = struct.unpack_from("<II", data, position)
        if kind == 0xFFFFFFFF or length < 16:
            return None
        if kind == 0x80 and data[position + 8] and struct.unpack_from("<H", data, position + 14)[0] == attr_id:
            return struct.unpack_from("<Q", data, position + 0x38)[0]
        position += length
    return None
