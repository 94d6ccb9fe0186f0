"""Walk an APFS container through pyfsapfs (pytsk3 has no APFS pool support).

Every volume of the container is walked; a locked (encrypted) volume is reported, not opened. pyfsapfs lists
only allocated entries, so deleted-file recovery on APFS is not done: the volume notes say so.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from triage.defaults import MAX_DEPTH, walk_time_budget
from triage.errors import ReadError, VolumeError, one_line
from triage.model.record import FileRecord, Locator, stream_locator
from triage.model.times import iso_ns
from triage.sources.containers.readers import Reader
from triage.sources.filesystems.walking import record_limit
from triage.sources.signatures import APFS_MAGIC
from triage.sources.volumes.media import MediaSlice
from triage.sources.volumes.secrets import held

__all__ = ["APFS_MAGIC", "ApfsFileSystem"]
RESOURCE_FORK = "com.apple.ResourceFork"
CHUNK = 1 << 20
_S_IFMT = 0o170000
_S_IFREG = 0o100000
_S_IFDIR = 0o040000


_LOCKED = "locked: no password or recovery key given, or none opened it"


def _unlock(vol: Any) -> str | None:
    """Unlock an encrypted APFS volume with the held secrets; how it opened, or None."""
    secrets = held()
    for how, values, setter in (("password", secrets.passwords, vol.set_password),
                                ("recovery key", secrets.recovery_keys, vol.set_recovery_password)):
        for index, value in enumerate(values):
            try:
                setter(value)
                if vol.unlock() and not vol.is_locked():
                    return f"{how} {index + 1}"
            except (OSError, ValueError, TypeError):
                continue
    return None


def _times(entry: Any) -> dict[str, str | None]:
    def get(name: str) -> int | None:
        try:
            return getattr(entry, f"get_{name}_as_integer")()
        except (OSError, AttributeError):
            return None

    return {
        "modified": iso_ns(get("modification_time")),
        "accessed": iso_ns(get("access_time")),
        "changed": iso_ns(get("inode_change_time")),
        "created": iso_ns(get("creation_time")),
    }


class ApfsFileSystem:
    """An APFS container at a byte offset of the media; every volume is walked."""

    kind = "apfs"
    name = "apfs"

    def __init__(
        self, reader: Reader, offset: int, size: int, volume: int | None, time_budget: float | None = None
    ) -> None:
        import pyfsapfs

        self._slice = MediaSlice(reader, offset, size)
        self.container = pyfsapfs.container()
        try:
            self.container.open_file_object(self._slice)
        except (OSError, ValueError) as exc:
            raise VolumeError(f"APFS container could not be opened ({one_line(exc, last=True)})") from None
        self.offset = offset
        self.size = size
        self.volume = volume
        self.label: str | None = None
        self.notes: list[str] = ["APFS: deleted files are not recovered (only allocated entries are listed)"]
        self.locator: Locator | None = None  # this file system as a node (set by whoever opened it)
        self.limits: list[dict[str, Any]] = []  # what a bound stopped (summary.json ``limits``)
        self.time_budget = walk_time_budget() if time_budget is None else time_budget
        self.encryption: list[dict[str, Any]] = []  # encrypted APFS volumes, unlocked or not (summary ``encryption``)
        self._volumes: dict[int, Any] = {}
        self._names: dict[int, str] = {}
        names = []
        try:
            count = self.container.get_number_of_volumes()
        except OSError as exc:
            raise VolumeError(f"APFS container volumes could not be listed ({one_line(exc, last=True)})") from None
        self._multi = count > 1
        for index in range(count):
            try:  # a damaged volume superblock fails here: note it, open the others
                vol = self.container.get_volume(index)
                name = vol.name or f"volume{index}"
                locked = vol.is_locked()
            except OSError as exc:
                self.notes.append(f"APFS volume {index} could not be opened: {one_line(exc, last=True)}")
                continue
            names.append(name)
            if locked:
                how = _unlock(vol)
                self.encryption.append({"volume": volume, "scheme": "APFS (FileVault)", "apfs_volume": name,
                                        "unlocked": how is not None, "how": how or _LOCKED})
                if how is None:
                    self.notes.append(f"APFS volume {name!r} is encrypted (locked); not opened")
                    continue
            self._volumes[index], self._names[index] = vol, name
        self.label = ", ".join(names) or None

    def walk(self) -> Iterator[FileRecord]:
        """Yield every data fork and resource fork, volume by volume, paths as ``/<volume name>/...``.

        libfsapfs checks every B-tree node and raises on damage anywhere (a volume's root, a directory, one
        entry's attributes): each failure becomes a note or an error on that record, and the walk goes on. The
        time budget is checked between entries; when spent, the walk stops and the cut is in notes and limits.
        """
        deadline = time.monotonic() + self.time_budget
        for index, vol in sorted(self._volumes.items()):
            prefix = f"/{self._names[index]}" if self._multi else ""
            try:
                root = vol.get_root_directory()
            except OSError as exc:
                why = one_line(exc, last=True)
                self.notes.append(f"APFS volume {prefix or index}: root directory unreadable: {why}")
                continue
            if root is None:  # libfsapfs gives None, not an error, when the root entry is missing
                self.notes.append(f"APFS volume {prefix or index}: root directory missing")
                continue
            seen: set[int] = set()
            stack: list[tuple[Any, str, int]] = [(root, prefix, 0)]
            while stack:
                directory, path, depth = stack.pop()
                try:
                    ident = int(directory.identifier)
                    entries = list(directory.sub_file_entries)
                except OSError as exc:
                    self.notes.append(f"directory {path or '/'} could not be read: {one_line(exc, last=True)}")
                    continue
                if ident in seen:
                    continue
                seen.add(ident)
                subdirs = []
                for position, entry in enumerate(entries):
                    if time.monotonic() > deadline:
                        self.notes.append(f"walk time budget of {self.time_budget:g} s exceeded; walk stopped "
                                          "(later streams not listed)")
                        self._limit("walk time budget", self.time_budget, "walk stopped: later streams not listed")
                        return
                    if entry is None:
                        self.notes.append(f"entry {position} of directory {path or '/'} missing")
                        continue
                    try:
                        child = f"{path}/{entry.name}"
                        mode = int(entry.file_mode or 0) & _S_IFMT
                    except OSError as exc:
                        why = one_line(exc, last=True)
                        self.notes.append(f"entry {position} of directory {path or '/'} unreadable: {why}")
                        continue
                    if mode == _S_IFDIR:
                        if depth < MAX_DEPTH:
                            subdirs.append((entry, child, depth + 1))
                        else:
                            self.notes.append(f"directory depth cap {MAX_DEPTH} reached at {child[:200]}...; "
                                              "not entered")
                            self._limit("directory depth cap", MAX_DEPTH, "directories this deep are not entered")
                    elif mode == _S_IFREG:
                        yield from self._streams(index, entry, child)
                stack.extend(reversed(subdirs))

    def _limit(self, limit: str, value: int | float, effect: str) -> None:
        record_limit(self.limits, self.volume, self.name, limit, value, effect)

    def _streams(self, index: int, entry: Any, path: str) -> Iterator[FileRecord]:
        try:
            inode = int(entry.identifier)
            times = _times(entry)
            size = int(entry.size)
        except OSError as exc:
            yield FileRecord(path, self.volume, self.name, None, 0, True,
                             errors=[f"metadata unreadable ({one_line(exc, last=True)}); content not read"])
            return
        yield FileRecord(path, self.volume, self.name, inode, size, True, times=times,
                         locator=stream_locator("apfs", self.offset, inode, volume_index=index, parent=self.locator))
        try:
            has_fork = entry.has_extended_attribute_by_name(RESOURCE_FORK)
            fork_size = int(entry.get_extended_attribute_by_name(RESOURCE_FORK).size) if has_fork else 0
        except OSError as exc:
            self.notes.append(f"{path}: extended attributes unreadable: {one_line(exc, last=True)}")
            has_fork = False
        if has_fork:
            yield FileRecord(f"{path}:rsrc", self.volume, self.name, inode, fork_size, True,
                             times=dict(times),
                             locator=stream_locator("apfs", self.offset, inode, volume_index=index, parent=self.locator,
                                             stream=RESOURCE_FORK))

    def read_stream(self, locator: Locator, size: int) -> Iterator[bytes]:
        """Yield the content in chunks; a short read is an error, as for TSK."""
        try:
            entry = self._volumes[locator.volume_index or 0].get_file_entry_by_identifier(locator.inode)
            source = entry.get_extended_attribute_by_name(locator.stream) if locator.stream and entry else entry
        except (OSError, KeyError) as exc:
            raise ReadError(f"cannot open APFS entry {locator.inode}: {one_line(exc, last=True)}") from None
        if source is None:
            raise ReadError(f"cannot open APFS entry {locator.inode}: not found")
        offset = 0
        while offset < size:
            want = min(CHUNK, size - offset)
            try:
                data = source.read_buffer_at_offset(want, offset)
            except OSError as exc:
                raise ReadError(f"read failed at offset {offset} of {size}: {one_line(exc, last=True)}") from None
            if not data:
                raise ReadError(f"short read: {offset} of {size} bytes")
            offset += len(data)
            yield data

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.container.close()
