"""Where a stream's bytes lie on the media, for the one sequential read of the media (``triage.reading.mediapass``).

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
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

import pytsk3

from triage.errors import ReadError
from triage.model.record import Locator

if TYPE_CHECKING:
    from triage.sources.filesystems.tsk import TskFileSystem

Run = tuple[int, int, int]  # (offset in the stream, offset in the media, length), bytes
Piece = tuple[int, int | None, int]  # (offset in the stream, offset in the media or None for a hole, length)

# exFAT: TSK (4.11) reads a stream's whole data length from its clusters whatever its ValidDataLength (checked
# with `icat` on camera.raw with one entry's ValidDataLength lowered to 1,000), so raw runs equal TSK's read.
MAPPED_FS = ("ntfs", "fat12", "fat16", "fat32", "exfat", "ext2", "ext3", "ext4", "hfs+", "iso9660")
NONRES = int(pytsk3.TSK_FS_ATTR_NONRES)  # an attribute stored in runs on the media (not in its record)
_REFUSED = int(pytsk3.TSK_FS_ATTR_COMP) | int(pytsk3.TSK_FS_ATTR_ENC) | int(pytsk3.TSK_FS_ATTR_SPARSE)
_RUN_REFUSED = (int(pytsk3.TSK_FS_ATTR_RUN_FLAG_SPARSE) | int(pytsk3.TSK_FS_ATTR_RUN_FLAG_FILLER)
                | int(pytsk3.TSK_FS_ATTR_RUN_FLAG_ENCRYPTED))
HOLE = int(pytsk3.TSK_FS_ATTR_RUN_FLAG_SPARSE) | int(pytsk3.TSK_FS_ATTR_RUN_FLAG_FILLER)  # a run with nothing stored
_NOT_PLAIN = int(pytsk3.TSK_FS_ATTR_COMP) | int(pytsk3.TSK_FS_ATTR_ENC)
_DEFAULT = int(pytsk3.TSK_FS_ATTR_TYPE_DEFAULT)
_ERRORS = (OSError, RuntimeError, ValueError, struct.error)
_ZEROS = bytes(1 << 20)  # holes of sparse streams are fed from this one buffer, never allocated per hole
_NTFS_GEOMETRY: WeakKeyDictionary[TskFileSystem, tuple[int, int, Any]] = WeakKeyDictionary()


def stream_runs(fs: TskFileSystem, locator: Locator, size: int, handle: Any = None) -> list[Run] | None:
    """The stream's runs on the media, or None when it must be read through TSK. ``handle``: the file as the
    walk opened it (opening it again cost a fifth of the walk on a device of small files)."""
    if fs.name not in MAPPED_FS or size <= 0:
        return None
    try:
        if handle is None:
            handle = fs.fs.open_meta(inode=locator.inode)
        attr = _attribute(handle, locator)
        if attr is None:
            return None
        runs = _runs(attr, fs.block_size, fs.offset, size)
        if runs is None:
            return None
        low, high = fs.offset, fs.offset + fs.size
        for _, start, length in runs:
            if start < low or start + length > high:
                return None
        if fs.name == "ntfs" and _ntfs_initialised_size(fs, locator) != size:
            return None
    except _ERRORS:
        return None
    return runs


def sparse_layout(fs: TskFileSystem, locator: Locator, size: int, handle: Any = None) -> list[Piece] | None:
    """The stream as data pieces on the media and holes, when it has at least one hole; else None.

    Why: a legitimately sparse file may be far larger than its volume, and TSK (4.x) fails to read an ext4 hole
    longer than the volume ("Invalid address in run (too large)": it checks the filler run's block numbers
    against the volume's last block). Holes are known from the file system, so they are hashed as zeros
    without reading. None when anything is unusual (resident, compressed or encrypted data, runs out of order,
    not covering the size, a data run outside the volume): the stream is then judged and read as before.
    ``handle``: the file already open (loading a damaged inode's block map again can take TSK seconds).
    """
    if size <= 0:
        return None
    try:
        attr = _attribute(handle if handle is not None else fs.fs.open_meta(inode=locator.inode), locator)
        if attr is None:
            return None
        flags = int(attr.info.flags)
        if not flags & NONRES or flags & _NOT_PLAIN or int(attr.info.size) != size:
            return None
        return _pieces(attr, fs.block_size, fs.offset, fs.size, size)
    except _ERRORS:
        return None


def _pieces(attr: Any, block: int, fs_offset: int, fs_size: int, size: int) -> list[Piece] | None:
    pieces: list[Piece] = []
    covered = 0
    holes = False
    for run in attr:
        if covered >= size:
            break  # ext2/3 list sparse runs past the end (the unused direct block pointers)
        if int(run.offset) * block != covered:
            return None
        length = min(int(run.len) * block, size - covered)
        if length <= 0:
            return None
        if int(run.flags) & HOLE:
            holes = True
            pieces.append((covered, None, length))
        elif int(run.flags):
            return None  # encrypted or unknown run flags
        else:
            start = fs_offset + int(run.addr) * block
            if start < fs_offset or start + length > fs_offset + fs_size:
                return None
            pieces.append((covered, start, length))
        covered += length
    return pieces if holes and covered == size else None


def stored_bytes(pieces: list[Piece]) -> int:
    """Bytes of the stream that lie on the media (the rest are holes)."""
    return sum(length for _, start, length in pieces if start is not None)


def read_pieces(img: Any, pieces: list[Piece], chunk: int) -> Iterator[bytes]:
    """A sparse stream's content: data pieces read from the media image, holes given as zeros without reading.

    Raises ReadError on a short read; the image's own errors (OSError, RuntimeError) are left to the caller.
    """
    chunk = min(chunk, len(_ZEROS))
    for offset, start, length in pieces:
        done = 0
        while done < length:
            want = min(chunk, length - done)
            if start is None:
                yield _ZEROS if want == len(_ZEROS) else _ZEROS[:want]
            else:
                data = bytes(img.read(start + done, want))
                if len(data) != want:
                    raise ReadError(f"short read at offset {offset + done}: {len(data)} of {want} bytes")
                yield data
            done += want


def _attribute(handle: Any, locator: Locator) -> Any:
    """The stream's one attribute (None when there is none, or more than one: not mapped)."""
    want_type, want_id = locator.attr_type, locator.attr_id
    found = None
    for attr in handle:
        info = attr.info  # pytsk3 builds a new wrapper at every ``.info``: once per attribute
        kind = int(info.type)
        if (kind == _DEFAULT if want_type is None else kind == want_type and int(info.id) == want_id):
            if found is not None:
                return None
            found = attr
    return found


def _runs(attr: Any, block: int, fs_offset: int, size: int) -> list[Run] | None:
    info = attr.info
    flags = int(info.flags)
    if not flags & NONRES or flags & _REFUSED or int(info.size) != size:
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
