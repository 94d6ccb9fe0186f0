"""Expand an archive into child records, depth first, within bounds.

Why one loop with an explicit stack: nesting depth comes from the evidence (42.zip, quines), so it must never
become Python recursion; each open archive is a frame on the stack, its members are read one at a time, and a
member that is itself an archive is spooled (while it is digested, in the same read) and pushed as a new frame.
Every member is hashed as a stream in chunks; only a picture small enough for PDQ is held in memory. Whatever a
bound stops is recorded on the record and in ``limits_hit``; a bad member is an error on its record, never a
crash, and the archives after it go on.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import IO, BinaryIO

from triage.analysis.digests import Digester
from triage.analysis.pictures import is_picture_type
from triage.defaults import ARCHIVE_RATIO_FLOOR, PICTURE_BYTES
from triage.errors import one_line
from triage.model.record import FileRecord
from triage.sources.archives.formats import (
    CountingReader,
    Member,
    compressed_is_tar,
    rar_members,
    single_members,
    tar_members,
    zip_members,
)
from triage.sources.archives.limits import CHUNK, SPOOL_MEMORY, Limits
from triage.sources.archives.sevenzip import seven_zip_members
from triage.sources.archives.sniff import (
    COMPRESSED_TYPES,
    FS_NAMES,
    RAR,
    SEVEN_ZIP,
    TAR,
    TAR_BLOCK,
    ZIP,
    sniff_archive,
)
from triage.sources.embedded.records import analyse_picture

CHAIN_SEPARATOR = " » "


@dataclass
class Child:
    """One member record and where it came from (see the package docstring)."""

    record: FileRecord
    chain: tuple[str, ...]
    depth: int
    parent_index: int | None


@dataclass
class _Frame:
    """One open archive on the stack."""

    members: Iterator[Member]
    fs: str
    chain: tuple[str, ...]  # member paths down to this archive (empty for the top one)
    depth: int  # depth of this archive's members
    index: int | None  # the Child index of this archive, None for the top one
    record: FileRecord
    counter: CountingReader | None
    spool: IO[bytes] | None = None
    count: int = 0

    def close(self) -> None:
        close = getattr(self.members, "close", None)
        if close is not None:
            close()
        if self.spool is not None:
            self.spool.close()


@dataclass
class _Run:
    """What one expand() call shares across its frames."""

    parent: FileRecord
    limits: Limits
    keep_pictures: bool
    hits: list[dict]
    archive_errors: list[dict] | None
    origin: str | None
    total: int = 0
    stop_all: bool = False
    stop_frame: bool = False

    def label(self, chain: tuple[str, ...]) -> str:
        return CHAIN_SEPARATOR.join((self.parent.path, *(c.lstrip("/") for c in chain)))

    def hit(self, limit: str, value: int, chain: tuple[str, ...], effect: str) -> None:
        self.hits.append({"limit": limit, "value": value, "archive": self.label(chain), "effect": effect})

    def archive_error(self, record: FileRecord, chain: tuple[str, ...], error: str) -> None:
        record.errors.append(error)
        if self.archive_errors is not None:
            self.archive_errors.append({"archive": self.label(chain), "error": error})


def _open(source: BinaryIO, mime: str, name: str) -> tuple[str, Iterator[Member], CountingReader | None]:
    """The member iterator of one archive; raises when its structure cannot be read at all."""
    if mime == RAR:
        return "rar", rar_members(source), None
    counter = CountingReader(source)
    if mime == ZIP:
        return "zip", zip_members(counter), counter
    if mime == SEVEN_ZIP:
        return "7z", seven_zip_members(counter), counter
    if mime == TAR or (mime in COMPRESSED_TYPES and compressed_is_tar(source, mime)):
        return "tar", tar_members(counter), counter
    if mime in COMPRESSED_TYPES:
        return FS_NAMES[mime], single_members(counter, mime, name), counter
    raise ValueError(f"not an archive type this scan expands: {mime}")


def expand(
    source: BinaryIO,
    archive_mime: str,
    parent: FileRecord,
    *,
    limits: Limits = Limits(),  # noqa: B008 - frozen, shared safely
    depth: int = 1,
    origin: str = "archive",
    keep_pictures: bool = True,
    limits_hit: list[dict] | None = None,
    archive_errors: list[dict] | None = None,
) -> Iterator[Child]:
    """Yield a Child per member of the archive in ``source`` (seekable, positioned at the archive's start).

    ``depth`` is the depth of the top archive's members. Archive-level problems (cannot be opened, stream broken
    between members) are appended to the archive's own record: ``parent`` for the top one, the nested archive's
    Child.record otherwise (possibly after it was yielded) and, when given, to ``archive_errors``.
    ``origin`` is set on each child record when FileRecord has an ``origin`` field.
    """
    run = _Run(parent, limits, keep_pictures, limits_hit if limits_hit is not None else [], archive_errors,
               origin if "origin" in {f.name for f in fields(FileRecord)} else None)
    try:
        fs, members, counter = _open(source, archive_mime, parent.path)
    except Exception as exc:
        run.archive_error(parent, (), f"archive not expanded: {one_line(exc, typed=True)}")
        return
    stack = [_Frame(members, fs, (), depth, None, parent, counter)]
    index = 0
    try:
        while stack and not run.stop_all:
            frame = stack[-1]
            if run.stop_frame:
                run.stop_frame = False
                stack.pop().close()
                continue
            try:
                member = next(frame.members)
            except StopIteration:
                stack.pop().close()
                continue
            except Exception as exc:  # the archive's structure broke between members
                run.archive_error(frame.record, frame.chain, f"archive read stopped: {one_line(exc, typed=True)}")
                stack.pop().close()
                continue
            if frame.count >= run.limits.max_members:
                run.hit("max_members", run.limits.max_members, frame.chain,
                        "the members after this many were not listed")
                frame.record.notes.append(f"expansion stopped after {run.limits.max_members} members")
                stack.pop().close()
                continue
            frame.count += 1
            child, nested = _member(run, frame, stack, member)
            yield child
            if nested is not None:
                nested.index = index
                stack.append(nested)
            index += 1
    finally:
        while stack:
            stack.pop().close()


def _member(run: _Run, frame: _Frame, stack: list[_Frame], member: Member) -> tuple[Child, _Frame | None]:
    """Read one member into its record; return its Child and, for an archive to expand, its frame."""
    parent = run.parent
    record = FileRecord(path=member.path, volume=parent.volume, fs=frame.fs, inode=parent.inode,
                        size=member.size or 0, allocated=True, times=dict(member.times))
    if run.origin is not None:
        record.origin = run.origin  # type: ignore[attr-defined]
    chain = (*frame.chain, member.path)
    child = Child(record, chain, frame.depth, frame.index)
    if member.note:
        record.notes.append(member.note)
    if member.symlink is not None:
        record.notes.append(f"symlink to {member.symlink}")
        return child, None
    if member.error or member.open is None:
        if member.error:
            record.errors.append(member.error)
        return child, None
    digester = Digester(record, keep_pictures=False)  # pictures are kept here, bounded, also for unknown sizes
    try:
        stream = member.open()
    except Exception as exc:
        digester.fail(one_line(exc, typed=True))
        return child, None
    try:
        spool, mime = _read(run, frame, stack, member, record, digester, stream, chain)
    finally:
        with contextlib.suppress(Exception):  # closing a broken stream must not hide the error recorded
            stream.close()
    if spool is None or mime is None:
        return child, None
    ancestors = {f.record.sha256 for f in stack} | {parent.sha256}
    if record.sha256 is not None and record.sha256 in ancestors:
        record.notes.append("archive contains itself: not expanded")
        run.hit("self_contained", 1, chain, "the archive holds a copy of itself; that copy was not expanded")
        spool.close()
        return child, None
    spool.seek(0)
    try:
        fs, members, counter = _open(spool, mime, member.path)
    except Exception as exc:
        record.errors.append(f"archive not expanded: {one_line(exc, typed=True)}")
        spool.close()
        return child, None
    return child, _Frame(members, fs, chain, frame.depth + 1, None, record, counter, spool)


def _read(run: _Run, frame: _Frame, stack: list[_Frame], member: Member, record: FileRecord,
          digester: Digester, stream: BinaryIO, chain: tuple[str, ...]) -> tuple[IO[bytes] | None, str | None]:
    """Stream the member through the digester (and a spool when it is an archive to expand), within bounds."""
    limits = run.limits
    start = frame.counter.count if frame.counter is not None else 0
    head: list[bytes] = []  # chunks read before the type is decided (at least TAR_BLOCK bytes)
    head_size = 0
    decided = False
    spool: IO[bytes] | None = None
    mime: str | None = None
    keep: list[bytes] | None = [] if run.keep_pictures else None
    read = 0
    try:
        while True:
            chunk = stream.read(CHUNK)
            if not chunk:
                break
            read += len(chunk)
            run.total += len(chunk)
            if run.total > limits.max_total:
                run.hit("max_total", limits.max_total, (), "expansion of the whole archive stopped")
                run.stop_all = True
                raise _Stopped(f"expansion stopped: more than {limits.max_total} bytes expanded from this archive")
            if read > ARCHIVE_RATIO_FLOOR:
                ratio = _ratio(member, read, frame.counter.count - start if frame.counter is not None else None)
                if ratio is not None and ratio > limits.max_ratio:
                    run.hit("max_ratio", limits.max_ratio, frame.chain, "expansion of this archive stopped")
                    run.stop_frame = True
                    raise _Stopped(f"expansion stopped: compression ratio over {limits.max_ratio}:1")
            digester.update(chunk)
            if keep is not None:
                keep.append(chunk)
                if read > PICTURE_BYTES or (record.type is not None and not is_picture_type(record.type)):
                    keep = None
            if not decided:
                head.append(chunk)
                head_size += len(chunk)
                if head_size >= TAR_BLOCK:
                    decided = True
                    spool, mime = _decide(run, frame, stack, member, record, b"".join(head), chain)
                    chunk = b"".join(head)
                    head = []
                else:
                    continue
            if spool is not None:
                if read > limits.spool_limit:
                    run.hit("spool_limit", limits.spool_limit, chain, "this nested archive was not expanded")
                    record.notes.append(f"nested archive larger than {limits.spool_limit} bytes: not expanded")
                    spool.close()
                    spool = None
                else:
                    spool.write(chunk)
        if not decided and head:
            spool, mime = _decide(run, frame, stack, member, record, b"".join(head), chain)
            if spool is not None:
                spool.write(b"".join(head))
    except _Stopped as stop:
        digester.fail(str(stop))
        _drop(spool)
        return None, None
    except Exception as exc:  # corrupt data, bad CRC, truncated member, unsupported method
        digester.fail(one_line(exc, typed=True))
        _drop(spool)
        return None, None
    if member.size is None:
        record.size = read
    digester.finish()  # returns no bytes (keep_pictures=False): the bytes kept above are used instead
    if record.md5 is None:
        _drop(spool)
        return None, None
    if keep is not None and run.keep_pictures and is_picture_type(record.type):
        result = analyse_picture(b"".join(keep), record.type)
        record.pdq, record.pdq_quality, record.phash = result.pdq, result.pdq_quality, result.phash
        record.pdq_dihedral = result.pdq_dihedral
        if result.error:
            record.errors.append(f"picture: {result.error}")
        record.notes.extend(result.notes)
        record.embedded = list(result.embedded) or None  # its EXIF thumbnail: placed by reading.children
    return spool, mime


def _ratio(member: Member, read: int, consumed: int | None) -> float | None:
    """Expanded/compressed of a member: from its declared sizes (zip, rar: the reader stops at the declared size),
    else from the compressed bytes taken from the archive so far (streams; read-ahead makes it err low)."""
    if member.compressed is not None and member.size is not None:
        return member.size / max(member.compressed, 1)
    if consumed is not None:
        return read / max(consumed, 1)
    return None


class _Stopped(Exception):
    """A bound stopped reading this member."""


def _drop(spool: IO[bytes] | None) -> None:
    if spool is not None:
        spool.close()


def _decide(run: _Run, frame: _Frame, stack: list[_Frame], member: Member, record: FileRecord, head: bytes,
            chain: tuple[str, ...]) -> tuple[IO[bytes] | None, str | None]:
    """Whether the member is an archive to expand: then a spool to copy it into, and its type."""
    mime = sniff_archive(head)
    if mime is None:
        return None, None
    limits = run.limits
    if frame.depth + 1 > limits.max_depth:
        run.hit("max_depth", limits.max_depth, chain, "this nested archive was not expanded")
        record.notes.append(f"nested archive at depth {frame.depth}: not expanded (limit {limits.max_depth})")
        return None, None
    if member.size is not None and member.size > limits.spool_limit:
        run.hit("spool_limit", limits.spool_limit, chain, "this nested archive was not expanded")
        record.notes.append(f"nested archive larger than {limits.spool_limit} bytes: not expanded")
        return None, None
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY), mime
