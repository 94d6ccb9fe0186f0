"""Child records: the members of an archive found in a stream, back on the scan's queue as records of their own.

Why a second read of the archive: the first read (media pass or by inode) hashes the archive like any stream and
learns its type; only then is it known to hold members. The archive is read again through its locator, on a
worker process when there are workers, spooled to a bounded temporary file (archives need to seek) and expanded
by ``triage.sources.archives.expand``, which hashes every member as a stream. The children come back filled
(digests, type, PDQ/pHash) with ids under the archive's id, so files.jsonl places them right after it whatever
order workers finish in.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from triage.errors import ReadError, TriageError
from triage.model.record import FileRecord
from triage.reading.embedded import adopt, picture_record
from triage.sources import registry
from triage.sources.archives import CHAIN_SEPARATOR, Limits, expand
from triage.sources.archives.limits import SPOOL_MEMORY
from triage.sources.embedded import Finder, finder_for


@dataclass
class Expanded:
    """What expanding one archive stream gave: its members, new errors on the archive, bounds that stopped it."""

    children: list[FileRecord] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    limits: list[dict[str, Any]] = field(default_factory=list)
    origin: str = "archive"  # "archive", or "embedded" for pictures found inside another stream
    notes: list[str] = field(default_factory=list)  # facts about the parent (a cache entry with no picture)
    video: Any = None  # a video's analysis (``triage.analysis.video.VideoResult``) when origin is "video"


def _spool(chunks: Iterable[bytes], limit: int) -> Any:
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115 - returned open, closed by caller
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > limit:
            spool.close()
            raise ReadError(f"archive larger than the spool limit ({limit} bytes): not expanded")
        spool.write(chunk)
    spool.seek(0)
    return spool


def stream_of(record: FileRecord, fs: Any = None) -> Iterable[bytes]:
    """The record's bytes read again through ``fs`` (the caller's handle), else through its locator's parent."""
    assert record.locator is not None
    if fs is not None:
        return fs.read_stream(record.locator, record.size)
    return registry.read_stream(record.locator, record.size)


def _finder(record: FileRecord) -> Finder | None:
    return finder_for(record.path.rsplit("/", 1)[-1], record.type)


def wants_expanding(record: FileRecord) -> bool:
    """An archive, a video, or a stream a finder of embedded pictures wants (a thumbnail cache), read and typed."""
    if record.sha256 is None or record.locator is None:
        return False
    return record.is_archive or record.is_video or _finder(record) is not None


def _embedded(record: FileRecord, fs: Any, finder: Finder) -> Expanded:
    """The pictures a thumbnail cache (or another finder's format) holds, as child records of ``record``."""


    out = Expanded(origin="embedded")
    if record.size > finder.max_size:
        out.limits.append({"limit": f"{finder.name} size", "value": finder.max_size,
                           "effect": f"not read for embedded pictures ({record.location or record.path})"})
        out.errors.append(f"{finder.name}: larger than {finder.max_size} bytes, not read for embedded pictures")
        return out
    try:
        chunks = stream_of(record, fs)
        with _spool(chunks, finder.max_size) as source:
            found = finder.find(source, record.size)
    except TriageError as exc:
        out.errors.append(f"{finder.name}: not read ({exc})")
        return out
    children = [picture_record(item.name, item.data, finder.origin, item.offset, item.identifier, item.notes)
                for item in found.items]
    out.children = adopt(record, children)
    out.notes.extend(found.problems)  # the parent was read and hashed: what its structure lacked is a fact
    return out


def expand_record(record: FileRecord, fs: Any = None, limits: Limits | None = None) -> Expanded:
    """Expand the archive ``record`` (read through ``fs``, else its locator's parent) into child records.

    Runs in whichever process holds or can open the stream; never raises for a bad archive: the problem is an
    error on the archive record (``errors``) and the scan goes on.
    """
    limits = limits or Limits()
    out = Expanded()
    if record.locator is None or record.type is None:
        return out
    if not record.is_archive:
        finder = _finder(record)
        return _embedded(record, fs, finder) if finder is not None else out
    parent = FileRecord(record.path, record.volume, record.fs, record.inode, record.size, record.allocated,
                        sha256=record.sha256)
    try:
        chunks = stream_of(record, fs)
        with _spool(chunks, limits.spool_limit) as source:
            children = list(expand(source, record.type, parent, limits=limits, limits_hit=out.limits))
    except TriageError as exc:
        out.errors.append(f"archive not expanded: {exc}")
        return out
    base = record.location or record.path
    for number, child in enumerate(children, start=1):
        member = child.record
        member.id = f"{record.id}.{number}"
        member.parent = record.id if child.parent_index is None else children[child.parent_index].record.id
        member.origin = "archive"
        member.location = CHAIN_SEPARATOR.join([base, *(link.lstrip("/") for link in child.chain)])
        out.children.append(member)
        if member.embedded:  # a member picture's EXIF thumbnail, right after it
            inner, member.embedded = member.embedded, None
            out.children.extend(adopt(member, inner))
    out.errors.extend(parent.errors)
    return out


def expand_batch(record: FileRecord) -> Expanded:
    """Worker entry point: expand one archive, opening its file system through the registry."""
    return expand_record(record)
