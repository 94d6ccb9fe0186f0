"""Walk a file system through The Sleuth Kit: every data stream, deleted and orphan files included.

The walk only lists (names, metadata, where each stream lives); reading content is ``tsk_read``'s job so
that the listing and the hashing can run in different processes. Each process opens its own ``FS_Info``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytsk3

from triage.defaults import (
    MAX_DEPTH,
    MAX_ENTRIES,
    MAX_PATH_CHARS,
    MAX_SIZE_FACTOR,
    MAX_SPARSE_SIZE,
    walk_time_budget,
)
from triage.errors import VolumeError
from triage.model.record import FileRecord, Locator, decode_name, stream_locator
from triage.model.times import iso_utc
from triage.sources.filesystems.tsk_read import TSK_ERRORS, last_line, read_stream
from triage.sources.filesystems.tsk_runs import HOLE, NONRES, sparse_layout, stored_bytes, stream_runs
from triage.sources.filesystems.walking import PathNode, path_of, record_limit

Pending = tuple[int, PathNode, bool, int]  # a directory still to walk: (inode, path node, allocated, depth)

FS_NAMES = {
    int(pytsk3.TSK_FS_TYPE_NTFS): "ntfs",
    int(pytsk3.TSK_FS_TYPE_FAT12): "fat12",
    int(pytsk3.TSK_FS_TYPE_FAT16): "fat16",
    int(pytsk3.TSK_FS_TYPE_FAT32): "fat32",
    int(pytsk3.TSK_FS_TYPE_EXFAT): "exfat",
    int(pytsk3.TSK_FS_TYPE_EXT2): "ext2",
    int(pytsk3.TSK_FS_TYPE_EXT3): "ext3",
    int(pytsk3.TSK_FS_TYPE_EXT4): "ext4",
    int(pytsk3.TSK_FS_TYPE_HFS): "hfs+",
    int(pytsk3.TSK_FS_TYPE_ISO9660): "iso9660",
    int(pytsk3.TSK_FS_TYPE_FFS1): "ufs1",
    int(pytsk3.TSK_FS_TYPE_FFS2): "ufs2",
    int(pytsk3.TSK_FS_TYPE_YAFFS2): "yaffs2",
}

_REG = int(pytsk3.TSK_FS_META_TYPE_REG)
_DIR = int(pytsk3.TSK_FS_META_TYPE_DIR)
_VIRT = int(pytsk3.TSK_FS_META_TYPE_VIRT)
_VIRT_DIR = int(pytsk3.TSK_FS_META_TYPE_VIRT_DIR)
_UNDEF = int(pytsk3.TSK_FS_META_TYPE_UNDEF)
_NAME_DIR = int(pytsk3.TSK_FS_NAME_TYPE_DIR)
_NAME_VIRT = (int(pytsk3.TSK_FS_NAME_TYPE_VIRT), int(pytsk3.TSK_FS_NAME_TYPE_VIRT_DIR))
_NAME_ALLOC = int(pytsk3.TSK_FS_NAME_FLAG_ALLOC)
_META_ALLOC = int(pytsk3.TSK_FS_META_FLAG_ALLOC)
_NTFS_DATA = int(pytsk3.TSK_FS_ATTR_TYPE_NTFS_DATA)
_HFS_DATA = int(pytsk3.TSK_FS_ATTR_TYPE_HFS_DATA)
_HFS_RSRC = int(pytsk3.TSK_FS_ATTR_TYPE_HFS_RSRC)
_ORPHAN_DIR = b"$OrphanFiles"


def meta_times(meta: Any) -> dict[str, str | None]:
    return {
        "modified": iso_utc(meta.mtime, meta.mtime_nano),
        "accessed": iso_utc(meta.atime, meta.atime_nano),
        "changed": iso_utc(meta.ctime, meta.ctime_nano),
        "created": iso_utc(meta.crtime, meta.crtime_nano),
    }


class TskFileSystem:
    """A file system opened through pytsk3 at a byte offset of the media."""

    kind = "tsk"
    on_media = True  # False on a storage layer's media: its offsets are not the evidence's, so no byte runs

    def __init__(
        self, img: pytsk3.Img_Info, offset: int, volume: int | None, size: int = 0, time_budget: float | None = None
    ) -> None:
        try:
            self.fs = pytsk3.FS_Info(img, offset=offset)
        except TSK_ERRORS as exc:
            raise VolumeError(f"no file system recognised by The Sleuth Kit ({last_line(exc)})") from None
        self.image = img  # the media under this file system (read for runs, carving and damage lookups)
        self.offset = offset
        self.block_size = int(self.fs.info.block_size)
        self.size = size or int(self.fs.info.block_count) * self.block_size
        self.volume = volume
        self.name = FS_NAMES.get(int(self.fs.info.ftype), f"tsk-{int(self.fs.info.ftype)}")
        self.label: str | None = None
        self.notes: list[str] = []
        self.locator: Locator | None = None  # this file system as a node (set by whoever opened it)
        self.limits: list[dict[str, Any]] = []  # what a bound stopped (summary.json ``limits``)
        self.time_budget = walk_time_budget() if time_budget is None else time_budget
        # Inodes with more than one name (hard links; on NTFS also a DOS 8.3 name): read once for all their names
        # after the listing (``Reading.share``), never as each name is listed (``reading.intake``).
        self.linked: set[int] = set()
        self._current: tuple[int | None, Any] = (None, None)  # the file the walk is at: (inode, its open handle)

    def limit(self, limit: str, value: int | float, effect: str) -> None:
        record_limit(self.limits, self.volume, self.name, limit, value, effect)

    def walk(self) -> Iterator[FileRecord]:
        """Yield one record per data stream, depth first, in directory order (TSK's order is stable).

        Iterative by inode, never TSK's own recursive walk (it stops near 130 levels). Directory loops are
        guarded by remembering every directory inode entered (a second visit is noted); TSK's virtual entries
        ($MBR, $FAT1, $OrphanFiles itself) are not user files and are left out, but the orphans are walked. The
        walk stops, and says so in the notes and ``limits``, at the enumeration cap, the path-text cap or the
        time budget (checked between directory entries: one slow TSK call, such as loading a damaged inode's
        block map, is not interrupted).
        """
        seen_dirs: set[int] = set()
        listed = path_chars = 0
        deadline = time.monotonic() + self.time_budget
        root = int(self.fs.info.root_inum)
        orphans = int(self.fs.info.last_inum)  # TSK's virtual $OrphanFiles directory
        stack: list[Pending] = [(root, None, True, 0)]
        last: tuple[PathNode, str] = (None, "")
        while stack:
            if time.monotonic() > deadline:
                self._out_of_time(len(stack))
                return
            inode, node, parent_alloc, depth = stack.pop()
            parent = path_of(node, last)
            last = (node, parent)
            if inode in seen_dirs:
                self.notes.append(f"directory {parent} (inode {inode}) was already walked (directory loop or "
                                  "hard link); not entered again")
                continue
            seen_dirs.add(inode)
            try:
                entries = iter(self.fs.open_dir(inode=inode))
            except TSK_ERRORS as exc:
                self.notes.append(f"directory {parent or '/'} (inode {inode}) could not be read: {last_line(exc)}")
                continue
            subdirs: list[Pending] = []
            dot = False
            position = 0
            while True:
                if time.monotonic() > deadline:
                    self._out_of_time(len(stack) + len(subdirs) + 1)
                    return
                try:
                    entry = next(entries, None)
                except TSK_ERRORS as exc:
                    self.notes.append(f"directory {parent or '/'} (inode {inode}) could not be read past entry "
                                      f"{position}: {last_line(exc)}")
                    break
                if entry is None:
                    break
                position += 1
                dot = dot or _is_dot(entry)
                for item in self._entry(entry, node, parent, parent_alloc, depth):
                    if isinstance(item, tuple):
                        subdirs.append(item)
                        continue
                    listed += 1
                    path_chars += len(item.path)
                    if listed > MAX_ENTRIES:
                        self.notes.append(f"enumeration cap of {MAX_ENTRIES} streams reached; walk stopped")
                        self.limit("enumeration cap", MAX_ENTRIES, "walk stopped: later streams not listed")
                        return
                    if path_chars > MAX_PATH_CHARS:
                        self.notes.append(f"path text cap of {MAX_PATH_CHARS} characters reached at {item.path[:200]}"
                                          "...; walk stopped")
                        self.limit("path text cap", MAX_PATH_CHARS, "walk stopped: later streams not listed")
                        return
                    yield item
            if self.name.startswith("ext") and inode != orphans and not dot:
                # Every ext directory block 0 starts with "." and "..": without them it was overwritten.
                self.notes.append(f"directory {parent or '/'} (inode {inode}): first block overwritten or damaged "
                                  "(no '.' entry); its entries may be missing")
            stack.extend(reversed(subdirs))

    def _out_of_time(self, pending: int) -> None:
        self.notes.append(f"walk time budget of {self.time_budget:g} s exceeded; walk stopped with {pending} "
                          "directories not walked (later streams not listed)")
        self.limit("walk time budget", self.time_budget,
                   f"walk stopped with {pending} directories not walked: later streams not listed")

    def _sane(self, record: FileRecord, source: Any) -> FileRecord:
        """Refuse to read a stream whose recorded size cannot be true for this volume (damaged metadata).

        A stream larger than ``MAX_SIZE_FACTOR`` x its volume is read only when the file system shows it sparse:
        its holes are known, the bytes it stores fit in the volume, and its size is at most ``MAX_SPARSE_SIZE``
        (hashing the holes as zeros is then bounded). A forged size has no such layout and is refused.
        ``source``: the file as the walk opened it.
        """
        limit = self.size * MAX_SIZE_FACTOR
        if record.locator is None or not self.size or record.size <= limit:
            return record
        pieces = sparse_layout(self, record.locator, record.size, source)
        stored = stored_bytes(pieces) if pieces is not None else 0
        if pieces is not None and stored <= self.size and record.size <= MAX_SPARSE_SIZE:
            record.notes.append(f"sparse stream: {stored} bytes stored, holes read as zeros")
            return record
        record.errors.append(f"recorded size {record.size} exceeds {MAX_SIZE_FACTOR}x the volume "
                             f"({self.size} bytes); content not read")
        record.locator = None
        if pieces is not None and stored <= self.size:
            self.limit("sparse stream size", MAX_SPARSE_SIZE,
                       "sparse streams larger than this are not hashed (error on the record)")
        else:
            self.limit("recorded size over volume", MAX_SIZE_FACTOR,
                       "streams recorded larger than this many times their volume, with no sparse layout, are "
                       "not read (error on the record)")
        return record

    def _entry(
        self, entry: Any, node: PathNode, parent: str, parent_alloc: bool, depth: int
    ) -> Iterator[FileRecord | Pending]:
        name_info = entry.info.name
        raw = name_info.name or b""
        if raw in (b".", b".."):
            return
        name = decode_name(raw)
        path = f"{parent}/{name}"
        meta_addr = int(name_info.meta_addr)
        name_alloc = bool(int(name_info.flags) & _NAME_ALLOC)
        meta = entry.info.meta
        source = entry
        why = "no metadata"
        if meta is None and meta_addr:
            try:
                source = self.fs.open_meta(inode=meta_addr)
                meta = source.info.meta
            except TSK_ERRORS as exc:
                meta, why = None, last_line(exc)
        if meta is None or (int(meta.type) == _UNDEF and name_alloc):
            if not name_alloc:
                yield FileRecord(path, self.volume, self.name, meta_addr or None, 0, False,
                                 notes=["deleted name without recoverable metadata"])
            else:
                yield from self._lost_metadata(name_info, path, meta_addr, why if meta is None else "inode is empty")
            return
        meta_type = int(meta.type)
        if meta_type in (_VIRT_DIR, _VIRT) or int(name_info.type) in _NAME_VIRT:
            if meta_type == _VIRT_DIR and raw == _ORPHAN_DIR:
                yield (meta_addr, (node, name), False, depth + 1)
            return
        allocated = name_alloc and bool(int(meta.flags) & _META_ALLOC) and parent_alloc
        if allocated and self.name == "ntfs" and int(name_info.meta_seq) != int(meta.seq):
            allocated = False
        if not name_alloc and bool(int(meta.flags) & _META_ALLOC):
            # A deleted name whose inode now belongs to another file: the content is not this name's.
            yield FileRecord(path, self.volume, self.name, meta_addr, 0, False, times=meta_times(meta),
                             notes=["deleted name points to a reallocated inode; content not attributed"])
            return
        if meta_type == _DIR:
            yield from self._streams(source, meta, path, meta_addr, allocated, named_only=True)
            if depth >= MAX_DEPTH:
                self.notes.append(f"directory depth cap {MAX_DEPTH} reached at {path[:200]}...; not entered")
                self.limit("directory depth cap", MAX_DEPTH, "directories this deep are not entered")
            else:
                yield (meta_addr, (node, name), allocated, depth + 1)
            return
        if meta_type == _REG:
            yield from self._streams(source, meta, path, meta_addr, allocated, named_only=False)

    def _lost_metadata(self, name_info: Any, path: str, inode: int, why: str) -> Iterator[FileRecord]:
        """An allocated name whose metadata is gone (overwritten inode table or MFT record).

        Why not skip it: the name proves a file existed here; dropping it silently would make a damaged volume
        look complete. A file becomes a record carrying the error; a directory becomes a volume note, since
        what it held cannot be listed.
        """
        if int(name_info.type) == _NAME_DIR:
            self.notes.append(f"directory {path} (inode {inode}): metadata unreadable ({why}); contents not listed")
            return
        yield FileRecord(path, self.volume, self.name, inode or None, 0, True,
                         errors=[f"metadata of inode {inode} unreadable ({why}); content not read"])

    def _streams(
        self, source: Any, meta: Any, path: str, inode: int, allocated: bool, named_only: bool
    ) -> Iterator[FileRecord]:
        """The data streams of one file: NTFS $DATA attributes (ADS as ``path:name``), HFS+ forks, or one."""
        times = meta_times(meta)
        self._current = (inode, source)  # for ``runs``, asked right after the walk yields this file's streams
        if int(meta.nlink) > 1:
            self.linked.add(inode)
        if self.name not in ("ntfs", "hfs+"):
            if not named_only:
                yield self._sane(FileRecord(path, self.volume, self.name, inode, int(meta.size), allocated,
                                            times=times, locator=self._stream(inode)), source)
            return
        found = False
        try:
            attrs = list(source)
        except TSK_ERRORS:
            attrs = []
        for attr in attrs:
            atype = int(attr.info.type)
            if atype not in (_NTFS_DATA, _HFS_DATA, _HFS_RSRC):
                continue
            raw_name = attr.info.name or b""
            if atype == _HFS_RSRC:
                stream = "rsrc"
            elif atype == _NTFS_DATA and raw_name not in (b"", b"$Data"):
                stream = decode_name(raw_name)
            else:
                stream = ""
            if named_only and not stream:
                continue
            if atype == _HFS_RSRC and int(attr.info.size) == 0:
                continue
            found = True
            record = FileRecord(
                f"{path}:{stream}" if stream else path, self.volume, self.name, inode, int(attr.info.size),
                allocated, times=dict(times),
                locator=stream_locator("tsk", self.offset, inode, atype, int(attr.info.id), parent=self.locator),
            )
            if _stores_nothing(attr):
                # e.g. NTFS $BadClus:$Bad: a volume-sized, entirely sparse stream with no data on disk.
                record.locator = None
                record.notes.append("sparse stream: no data stored on disk (not hashed)")
            yield self._sane(record, source)
        # An NTFS file with no $DATA attribute (system index files, unused reserved MFT entries) has no data
        # stream to list; HFS+ files always have a data fork, even when TSK lists no attribute for it.
        if not found and not named_only and self.name == "hfs+":
            yield self._sane(FileRecord(path, self.volume, self.name, inode, int(meta.size), allocated,
                                        times=times, locator=self._stream(inode)), source)

    def _stream(self, inode: int) -> Locator:
        return stream_locator("tsk", self.offset, inode, parent=self.locator)

    def read_media(self, offset: int, size: int) -> bytes:
        """Bytes of the media under this file system (the image pytsk3 reads)."""
        return bytes(self.image.read(offset, size))

    def runs(self, locator: Locator, size: int) -> list[tuple[int, int, int]] | None:
        """Where the stream lies on the media, when reading it there equals reading it through TSK."""
        if not self.on_media:
            return None
        inode, handle = self._current
        return stream_runs(self, locator, size, handle if inode == locator.inode else None)

    def read_stream(self, locator: Locator, size: int) -> Iterator[bytes]:
        """Yield the stream's content in chunks (``tsk_read.read_stream``: ReadError when fewer bytes come)."""
        return read_stream(self, locator, size)

    def close(self) -> None:
        self.fs = None


def _is_dot(entry: Any) -> bool:
    return (entry.info.name.name or b"") == b"."


def _stores_nothing(attr: Any) -> bool:
    """A non-resident attribute with a size but not one run: there is nothing on disk to read."""
    flags = int(attr.info.flags)
    if not flags & NONRES or int(attr.info.size) == 0:
        return False
    try:
        return not any(int(run.len) and not int(run.flags) & HOLE for run in attr)
    except TSK_ERRORS:
        return False


