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
from triage.sources import registry
from triage.sources.archives import CHAIN_SEPARATOR, Limits, expand
from triage.sources.archives.limits import SPOOL_MEMORY


@dataclass
class Expanded:
    """What expanding one archive stream gave: its members, new errors on the archive, bounds that stopped it."""

    children: list[FileRecord] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    limits: list[dict[str, Any]] = field(default_factory=list)


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


def expand_record(record: FileRecord, fs: Any = None, limits: Limits | None = None) -> Expanded:
    """Expand the archive ``record`` (read through ``fs``, else its locator's parent) into child records.

    Runs in whichever process holds or can open the stream; never raises for a bad archive: the problem is an
    error on the archive record (``errors``) and the scan goes on.
    """
    limits = limits or Limits()
    out = Expanded()
    if record.locator is None or record.type is None:
        return out
    parent = FileRecord(record.path, record.volume, record.fs, record.inode, record.size, record.allocated,
                        sha256=record.sha256)
    try:
        chunks = (fs.read_stream(record.locator, record.size) if fs is not None
                  else registry.read_stream(record.locator, record.size))
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
    out.errors.extend(parent.errors)
    return out


def expand_batch(record: FileRecord) -> Expanded:
    """Worker entry point: expand one archive, opening its file system through the registry."""
    return expand_record(record)
