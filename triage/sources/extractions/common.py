"""What every kind of logical extraction shares: record building, times, symlink notes, chunked reads.

Why one module: a tar, a zip and a folder must give the same record for the same file (path rooted the same
way, the same symlink notes, the same time format), so that an examiner comparing a phone delivered as a tar
with the same phone delivered as a folder sees the same listing.
"""

from __future__ import annotations

import dataclasses
import errno
import os
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from triage.analysis.digests import Digester
from triage.analysis.pictures import is_picture_type, perceptual_hashes
from triage.errors import ReadError, one_line
from triage.model.record import TIME_KEYS, FileRecord, Locator, stream_locator

CHUNK = 1 << 20
ORIGIN = "extraction"
LOCATOR_KIND = "extraction"
SYMLINK_TARGET_LIMIT = 4096  # PATH_MAX: a longer "target" stored in a zip is not a link target
_HAS_ORIGIN_FIELD = any(f.name == "origin" for f in dataclasses.fields(FileRecord))


def times(modified: str | None = None, accessed: str | None = None, changed: str | None = None,
          created: str | None = None) -> dict[str, str | None]:
    return dict(zip(TIME_KEYS, (modified, accessed, changed, created), strict=True))


def rooted(name: str) -> str:
    """The record path of an entry name: "/"-rooted, one leading "./" dropped, otherwise as stored."""
    if name.startswith("./"):
        name = name[2:]
    return name if name.startswith("/") else "/" + name


def new_record(path: str, fs: str, size: int, record_times: dict[str, str | None],
               locator: Locator | None) -> FileRecord:
    """A record of one extraction entry: no volume, no inode (an archive index is not an inode), allocated."""
    kwargs = {"origin": ORIGIN} if _HAS_ORIGIN_FIELD else {}
    record = FileRecord(path=path, volume=None, fs=fs, inode=None, size=size, allocated=True,
                        times=record_times, locator=locator, **kwargs)
    if not _HAS_ORIGIN_FIELD:
        record.origin = ORIGIN  # type: ignore[attr-defined]  # until the node model adds the field
    return record


def locator(index: int, name: str) -> Locator:
    return stream_locator(LOCATOR_KIND, 0, index, stream=name)


def symlink_notes(path: str, target: str) -> list[str]:
    """Notes for a symlink record: its target, and whether the target leaves the extraction.

    Links are never followed. An absolute target names a path on the original device; resolved on the
    examiner's machine it would leave the evidence. A relative target is resolved lexically against the link's
    folder: climbing above the extraction's root is noted.
    """
    notes = [f"symlink to {target}"]
    if target.startswith("/"):
        notes.append("symlink target is absolute (a path on the original device): not followed")
        return notes
    depth = path.strip("/").count("/")  # folders above the link inside the extraction
    for part in target.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                notes.append("symlink points outside the extraction: not followed")
                break
        elif part not in ("", "."):
            depth += 1
    return notes


def symlink_record(path: str, fs: str, target: str, record_times: dict[str, str | None]) -> FileRecord:
    record = new_record(path, fs, 0, record_times, None)
    record.notes.extend(symlink_notes(path, target))
    return record


def special_record(path: str, fs: str, what: str, record_times: dict[str, str | None]) -> FileRecord:
    """A FIFO, socket or device node: listed with a note, never opened."""
    record = new_record(path, fs, 0, record_times, None)
    record.notes.append(f"{what}: not read")
    return record


def read_chunks(handle: BinaryIO, size: int, what: str) -> Iterator[bytes]:
    """Exactly ``size`` bytes of a member in chunks of 1 MiB; ReadError when fewer come."""
    left = size
    while left > 0:
        try:
            chunk = handle.read(min(CHUNK, left))
        except ReadError:
            raise
        except Exception as exc:  # zlib/lzma/bz2/CRC/OS errors of one member are that member's error
            raise ReadError(f"{what}: {one_line(exc, typed=True)}") from exc
        if not chunk:
            raise ReadError(f"{what}: short read, {size - left} of {size} bytes")
        left -= len(chunk)
        yield chunk


def digest_in_walk(record: FileRecord, chunks: Iterable[bytes]) -> None:
    """Digests, type and perceptual hashes of a member read once during the walk (compressed tars)."""
    digester = Digester(record)
    try:
        for chunk in chunks:
            digester.update(chunk)
    except ReadError as exc:
        digester.fail(str(exc))
        return
    picture = digester.finish()
    if picture is not None and is_picture_type(record.type):
        result = perceptual_hashes(picture, mime=record.type)
        record.pdq, record.pdq_quality, record.phash = result.pdq, result.pdq_quality, result.phash
        record.pdq_dihedral = result.pdq_dihedral
        if result.error:
            record.errors.append(f"picture: {result.error}")


def open_readonly(path: str | os.PathLike[str], flags: int = 0, dir_fd: int | None = None) -> int:
    """Open for reading without updating the access time where the OS allows (O_NOATIME needs ownership or
    CAP_FOWNER: EPERM falls back silently to a plain read-only open)."""
    base = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | flags
    noatime = getattr(os, "O_NOATIME", 0)
    if noatime:
        try:
            return os.open(path, base | noatime, dir_fd=dir_fd)
        except PermissionError as exc:
            if exc.errno != errno.EPERM:  # EPERM: not the owner; EACCES is a real refusal
                raise
    return os.open(path, base, dir_fd=dir_fd)
