"""Tar extractions (Android full-file-system dumps): plain, gzip, bzip2 and xz.

Why headers one at a time: ``TarFile.getmembers()`` keeps every member (about 1 KB each) for the life of the
archive; a phone tar of a million files would hold a gigabyte of headers. The walk calls ``next()`` and drops
each member, keeping only the 8-byte header offset of plain tars so a worker can seek straight to a member.
Compressed tars cannot seek (reaching member n means decompressing everything before it), so their walk reads
each member's data once, in order, and fills the digests itself (``digests_in_walk``).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import tarfile
import zlib
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from triage.errors import EvidenceError, ReadError, one_line
from triage.model.record import FileRecord, Locator
from triage.model.times import iso_utc

from .common import (
    digest_in_walk,
    locator,
    new_record,
    open_readonly,
    read_chunks,
    rooted,
    special_record,
    symlink_record,
    times,
)

BLOCK = tarfile.BLOCKSIZE
# What a damaged or truncated archive raises while being listed or read; the listing stops, the scan goes on.
TAR_ERRORS = (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError, ValueError)
DECOMPRESSORS: dict[str, Any] = {  # kind -> decompressing file object over the raw file
    "tar.gz": lambda raw: gzip.GzipFile(fileobj=raw, mode="rb"),
    "tar.bz2": lambda raw: bz2.BZ2File(raw, mode="rb"),
    "tar.xz": lambda raw: lzma.LZMAFile(raw, mode="rb"),  # noqa: SIM115
}
_SPECIAL = {tarfile.CHRTYPE: "character device", tarfile.BLKTYPE: "block device", tarfile.FIFOTYPE: "fifo"}


class _LastRead:
    """A file proxy that remembers what the last read returned.

    Why: ``TarFile.next()`` ends the listing silently on a bad header past the first one; the block it last
    read tells a proper end-of-archive (zeros) from damage (anything else) or a truncated file (short).
    """

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.last = b""

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.last = data[-BLOCK:]
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()


class TarSource:
    """One tar extraction; see the package docstring for the contract."""

    def __init__(self, path: Path, kind: str, max_members: int) -> None:
        self.path = path
        self.kind = kind
        self.compressed = kind != "tar"
        self.max_members = max_members
        self.errors: list[str] = []
        self.limits: list[str] = []
        self._offsets = array("Q")  # plain tar: header offset of member i, filled by the walk or on demand
        self._index_done = False
        self._reader: tuple[BinaryIO, tarfile.TarFile] | None = None
        raw, tar = self._open()  # an archive whose first header cannot be read is not usable evidence
        self._close(raw, tar)

    # -- opening ---------------------------------------------------------------------------------------------
    def _open(self) -> tuple[BinaryIO, tarfile.TarFile]:
        try:
            raw: BinaryIO = open(open_readonly(self.path), "rb", buffering=1 << 16)  # noqa: SIM115
        except OSError as exc:
            raise EvidenceError(f"cannot open {self.path}: {one_line(exc, typed=True)}") from exc
        try:
            stream = DECOMPRESSORS[self.kind](raw) if self.compressed else raw
            tar = tarfile.TarFile(fileobj=_LastRead(stream), mode="r", encoding="utf-8", errors="surrogateescape")
        except TAR_ERRORS as exc:
            raw.close()
            why = one_line(exc, typed=True)
            raise EvidenceError(f"{self.path}: not a readable {self.kind} archive: {why}") from exc
        return raw, tar

    @staticmethod
    def _close(raw: BinaryIO, tar: tarfile.TarFile) -> None:
        try:
            tar.close()
        finally:
            raw.close()

    @staticmethod
    def _next(tar: tarfile.TarFile) -> tarfile.TarInfo | None:
        member = tar.next()
        tar.members.clear()  # tarfile appends every header it reads; we keep none
        return member

    # -- walking ---------------------------------------------------------------------------------------------
    def walk(self) -> Iterator[FileRecord]:
        raw, tar = self._open()
        pending: list[tuple[int, FileRecord, str]] = []  # hard links, resolved by a second pass
        try:
            index = 0
            while True:
                try:
                    member = self._next(tar)
                except TAR_ERRORS as exc:
                    self.errors.append(f"tar listing stopped after {index} members: {one_line(exc, typed=True)}")
                    break
                if member is None:
                    self._check_end(tar, index)
                    break
                if index >= self.max_members:
                    self.limits.append(f"member count limit {self.max_members} reached: the rest of the archive "
                                       "was not listed")
                    break
                if not self.compressed and len(self._offsets) == index:
                    self._offsets.append(member.offset)
                record = self._record(tar, member, index)
                if record is not None:
                    if member.islnk():
                        pending.append((index, record, member.linkname))
                    else:
                        yield record
                index += 1
        finally:
            self._close(raw, tar)
        if not self.compressed and not self.errors and not self.limits:
            self._index_done = True
        if pending:
            yield from self._resolve_links(pending)

    def _record(self, tar: tarfile.TarFile, member: tarfile.TarInfo, index: int) -> FileRecord | None:
        path = rooted(member.name)
        pax = member.pax_headers
        when = times(iso_utc(member.mtime), _pax_time(pax, "atime"), _pax_time(pax, "ctime"))
        if member.isdir():
            return None
        if member.issym():
            return symlink_record(path, self.kind, member.linkname, when)
        if member.islnk():
            record = new_record(path, self.kind, 0, when, None)
            record.notes.append(f"hard link to {rooted(member.linkname)}")
            return record
        if member.type in _SPECIAL:
            what = _SPECIAL[member.type]
            if member.type != tarfile.FIFOTYPE:
                what += f" {member.devmajor},{member.devminor}"
            return special_record(path, self.kind, what, when)
        record = new_record(path, self.kind, member.size, when, locator(index, member.name))
        if not member.isreg():
            record.notes.append(f"tar member type {member.type!r} read as a regular file")
        if self.compressed:
            digest_in_walk(record, self._member_chunks(tar, member))
        return record

    def _member_chunks(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> Iterator[bytes]:
        handle = tar.extractfile(member)
        if handle is None:
            raise ReadError(f"tar member {member.name!r} has no data")
        yield from read_chunks(handle, member.size, f"tar member {member.name!r}")

    def _check_end(self, tar: tarfile.TarFile, listed: int) -> None:
        """Tell a proper end-of-archive from a listing that tarfile stopped silently."""
        last = tar.fileobj.last  # type: ignore[union-attr]
        where = f"offset {tar.offset}" if not self.compressed else f"offset {tar.offset} of the decompressed data"
        if len(last) < BLOCK:
            self.errors.append(f"tar ends at {where} without its end-of-archive marker after {listed} members: "
                               "truncated")
        elif last.count(0) != BLOCK:
            self.errors.append(f"invalid tar header at {where} after {listed} members: the rest of the archive "
                               "was not listed")

    def _resolve_links(self, pending: list[tuple[int, FileRecord, str]]) -> Iterator[FileRecord]:
        """Give each hard link its target's content: the last member of that name before the link.

        A second pass over the archive, run only when there are hard links: headers only for a plain tar (the
        link gets a locator to its target), headers and the targets' data for a compressed one (digested here).
        """
        wanted = {target for _, _, target in pending}
        by_index = {index: (record, target) for index, record, target in pending}
        latest: dict[str, tuple[int, str, int, FileRecord | None]] = {}
        raw, tar = self._open()
        try:
            index = 0
            while by_index:
                member = self._next(tar)
                if member is None:
                    break
                if index in by_index:
                    record, target = by_index.pop(index)
                    found = latest.get(target)
                    if found is None:
                        record.errors.append(f"hard link target {rooted(target)} not found before it in the archive")
                    else:
                        _fill_link(record, found)
                        if member.name in wanted:
                            latest[member.name] = found
                    yield record
                elif member.name in wanted and not member.isdir() and not member.issym() and not member.islnk():
                    digested = None
                    if self.compressed:
                        digested = new_record(rooted(member.name), self.kind, member.size, times(), None)
                        digest_in_walk(digested, self._member_chunks(tar, member))
                    latest[member.name] = (index, member.name, member.size, digested)
                index += 1
        except TAR_ERRORS as exc:
            self.errors.append(f"hard links not resolved: {one_line(exc, typed=True)}")
        finally:
            self._close(raw, tar)
        for record, target in by_index.values():
            record.errors.append(f"hard link target {rooted(target)} not resolved")
            yield record

    # -- reading ---------------------------------------------------------------------------------------------
    def read_stream(self, where: Locator, size: int) -> Iterator[bytes]:
        what = f"tar member {where.stream!r}"
        if self.compressed:
            yield from self._read_compressed(where, size, what)
            return
        if self._reader is None:
            self._reader = self._open()
        tar = self._reader[1]
        try:
            self._index_to(where.inode)
            if where.inode >= len(self._offsets):
                raise ReadError(f"{what}: member {where.inode} not in the archive")
            offset = self._offsets[where.inode]
            tar.fileobj.seek(offset)  # type: ignore[union-attr]
            tar.offset, tar.firstmember = offset, None
            member = self._next(tar)
        except TAR_ERRORS as exc:
            raise ReadError(f"{what}: {one_line(exc, typed=True)}") from exc
        if member is None or member.name != where.stream:
            raise ReadError(f"{what}: member {where.inode} is {member.name if member else None!r} now")
        yield from self._member_chunks(tar, member)

    def _index_to(self, wanted: int) -> None:
        """Extend the header-offset index until it covers member ``wanted`` (a worker that did not walk)."""
        if wanted < len(self._offsets) or self._index_done:
            return
        tar = self._reader[1]  # type: ignore[index]
        if self._offsets:
            start = self._offsets[-1]
            tar.fileobj.seek(start)  # type: ignore[union-attr]
            tar.offset, tar.firstmember = start, None
            self._next(tar)  # the last known member again, to stand after it
        else:
            tar.fileobj.seek(0)  # type: ignore[union-attr]
            tar.offset, tar.firstmember = 0, None
        while len(self._offsets) <= wanted:
            member = self._next(tar)
            if member is None:
                self._index_done = True
                return
            self._offsets.append(member.offset)

    def _read_compressed(self, where: Locator, size: int, what: str) -> Iterator[bytes]:
        """Decompress from the start up to the member: O(archive) per member, hence ``digests_in_walk``."""
        raw, tar = self._open()
        try:
            member = None
            try:
                for _ in range(where.inode + 1):
                    member = self._next(tar)
                    if member is None:
                        break
            except TAR_ERRORS as exc:
                raise ReadError(f"{what}: {one_line(exc, typed=True)}") from exc
            if member is None or member.name != where.stream:
                raise ReadError(f"{what}: member {where.inode} is {member.name if member else None!r} now")
            yield from self._member_chunks(tar, member)
        finally:
            self._close(raw, tar)

    def close(self) -> None:
        if self._reader is not None:
            self._close(*self._reader)
            self._reader = None


def _pax_time(pax: dict[str, str], key: str) -> str | None:
    value = pax.get(key)
    if value is None:
        return None
    try:
        return iso_utc(float(value))
    except ValueError:
        return None


def _fill_link(record: FileRecord, found: tuple[int, str, int, FileRecord | None]) -> None:
    index, name, size, digested = found
    record.size = size
    record.locator = locator(index, name)  # the target's bytes; a compressed tar's link is digested already
    if digested is None:
        return
    for key in ("md5", "sha1", "sha256", "type", "ext_mismatch", "pdq", "pdq_quality", "phash", "pdq_dihedral"):
        setattr(record, key, getattr(digested, key))
    record.errors.extend(digested.errors)
