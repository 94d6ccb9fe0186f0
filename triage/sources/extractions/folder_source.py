"""Folder extractions: a phone's file system copied into a folder, read without changing anything in it.

Why file descriptors and lstat only: a folder on the examiner's machine can hold symlinks that point anywhere on
that machine (``/etc``, ``/``) or at each other (loops); the walk never follows one. Each folder is opened with
O_NOFOLLOW and listed through its descriptor, every entry is lstat'ed relative to it, and folders and files are
opened with O_NOATIME where the OS allows, so that neither listing nor reading moves an access time. Folders are
visited with an explicit stack (depth is unbounded in the evidence, recursion is not), in byte order of the names
so the listing is the same on every run. The walk stays on the folder's own file system, as ``find -xdev`` does:
a mount point inside (``/proc``, a network share) is listed under ``limits`` and not entered.

One thing cannot be read untouched on Linux: ``readlink`` updates a symlink's own atime (relatime: when it is not
after the mtime, or a day old) and has no O_NOATIME. The record keeps the atime that lstat saw before; an examiner
who needs every atime intact mounts the evidence read-only or noatime.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from triage.errors import EvidenceError, ReadError, one_line
from triage.model.record import FileRecord, Locator, decode_name, stream_locator
from triage.model.times import iso_ns, iso_utc

from .common import (
    LOCATOR_KIND,
    new_record,
    open_readonly,
    read_chunks,
    rooted,
    special_record,
    symlink_record,
    times,
)

_SPECIAL = {stat.S_IFIFO: "fifo", stat.S_IFSOCK: "socket", stat.S_IFCHR: "character device",
            stat.S_IFBLK: "block device"}


class FolderSource:
    """One folder extraction; see the package docstring for the contract."""

    def __init__(self, path: Path, kind: str, max_members: int) -> None:
        self.root = os.fspath(path)
        self.kind = kind
        self.compressed = False
        self.max_members = max_members
        self.errors: list[str] = []
        self.limits: list[str] = []
        try:
            self._device = os.stat(self.root).st_dev
        except OSError as exc:
            raise EvidenceError(f"cannot open {path}: {one_line(exc, typed=True)}") from exc

    def walk(self) -> Iterator[FileRecord]:
        stack = [""]  # folders still to list, relative to the root ("" is the root)
        listed = 0
        while stack:
            folder = stack.pop()
            try:
                fd = open_readonly(os.path.join(self.root, folder) if folder else self.root,
                                   os.O_DIRECTORY | (os.O_NOFOLLOW if folder else 0))
            except OSError as exc:
                self.errors.append(f"cannot list {rooted(folder)}: {one_line(exc, typed=True)}")
                continue
            subfolders: list[str] = []
            try:
                try:
                    with os.scandir(fd) as entries:
                        names = sorted((os.fsencode(entry.name), entry.name) for entry in entries)
                except OSError as exc:
                    self.errors.append(f"cannot list {rooted(folder)}: {one_line(exc, typed=True)}")
                    continue
                for _raw, name in names:
                    relative = f"{folder}/{name}" if folder else name
                    path = rooted(decode_name(os.fsencode(relative)))
                    try:
                        info = os.lstat(name, dir_fd=fd)
                    except OSError as exc:
                        record = new_record(path, self.kind, 0, times(), None)
                        record.errors.append(f"cannot stat: {one_line(exc, typed=True)}")
                        yield record
                        continue
                    if stat.S_ISDIR(info.st_mode):
                        if info.st_dev != self._device:
                            self.limits.append(f"{path}: another file system is mounted here: not entered")
                        else:
                            subfolders.append(relative)
                        continue
                    if listed >= self.max_members:
                        self.limits.append(f"file count limit {self.max_members} reached: the rest of the folder "
                                           "was not listed")
                        return
                    listed += 1
                    yield self._record(fd, name, relative, path, info)
            finally:
                os.close(fd)
            stack.extend(reversed(subfolders))

    def _record(self, fd: int, name: str, relative: str, path: str, info: os.stat_result) -> FileRecord:
        birth = getattr(info, "st_birthtime", None)
        when = times(iso_ns(info.st_mtime_ns), iso_ns(info.st_atime_ns), iso_ns(info.st_ctime_ns),
                     iso_utc(birth) if birth else None)
        kind = stat.S_IFMT(info.st_mode)
        if kind == stat.S_IFLNK:
            try:
                target = os.readlink(name, dir_fd=fd)
            except OSError as exc:
                record = new_record(path, self.kind, 0, when, None)
                record.errors.append(f"symlink target unreadable: {one_line(exc, typed=True)}")
                return record
            return symlink_record(path, self.kind, target, when)
        if kind != stat.S_IFREG:
            return special_record(path, self.kind, _SPECIAL.get(kind, f"file of mode {info.st_mode:o}"), when)
        # The locator's inode is the file's inode on the examiner's copy: read_stream checks that it still opens
        # the file that was listed (a file replaced, or a folder swapped for a symlink, is a read error).
        where = stream_locator(LOCATOR_KIND, 0, info.st_ino, stream=relative)
        return new_record(path, self.kind, info.st_size, when, where)

    def read_stream(self, where: Locator, size: int) -> Iterator[bytes]:
        what = rooted(decode_name(os.fsencode(where.stream or "")))
        try:
            fd = open_readonly(os.path.join(self.root, where.stream or ""), os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as exc:  # EACCES for a mode-000 file when not root, ELOOP for a symlink now
            raise ReadError(f"cannot open {what}: {one_line(exc, typed=True)}") from exc
        with os.fdopen(fd, "rb", buffering=0) as handle:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_ino != where.inode:
                raise ReadError(f"{what} is not the file that was listed (replaced since)")
            yield from read_chunks(handle, size, what)
            if handle.read(1):
                raise ReadError(f"{what}: longer than its listed size {size} (changed since)")

    def close(self) -> None:
        """Nothing stays open between calls."""
