"""Pictures found inside other streams become child records: hashed, matched and placed under their parent.

Two ways in. EXIF thumbnails are cut out of a picture's bytes while they are in memory for perceptual hashing
(``analyse_picture``, on whichever process hashes the picture), so finding them costs no read. Thumbnail caches
are whole files read a second time through their locator, like archives (``triage.reading.children``). Either way
``adopt`` gives the children their ids under the parent, their ``location`` and, where the parent's byte runs are
known, media byte runs of their own, so an examiner can point at the bytes.
"""

from __future__ import annotations

from triage.model.record import FileRecord
from triage.sources.archives import CHAIN_SEPARATOR
from triage.sources.embedded.records import analyse_picture, picture_record

__all__ = ["adopt", "analyse_picture", "map_runs", "picture_record"]


def map_runs(parent: list[tuple[int, int, int]] | None, offset: int, length: int) -> list[tuple[int, int, int]] | None:
    """Media runs of ``length`` bytes at ``offset`` in a stream whose runs are ``parent``; None when not all known."""
    if not parent:
        return None
    out: list[tuple[int, int, int]] = []
    end = offset + length
    for start, media, size in parent:
        low, high = max(start, offset), min(start + size, end)
        if low < high:
            out.append((low - offset, media + (low - start), high - low))
    return out if sum(run[2] for run in out) == length else None


def adopt(record: FileRecord, children: list[FileRecord], first: int = 1) -> list[FileRecord]:
    """Place ``children`` under ``record``: ids ``<id>.<n>``, parent, volume, file system, location, media runs.

    A child's own embedded pictures (the EXIF thumbnail of a cached or carved picture) follow it, placed under it.
    """
    base = record.location or record.path
    out: list[FileRecord] = []
    for number, child in enumerate(children, start=first):
        child.id = f"{record.id}.{number}"
        child.parent = record.id
        child.volume, child.fs, child.allocated = record.volume, record.fs, record.allocated
        child.location = f"{base}{CHAIN_SEPARATOR}{child.path}"
        if child.byte_runs is not None:
            _, offset, length = child.byte_runs[0]
            child.byte_runs = map_runs(record.byte_runs, offset, length)
        out.append(child)
        if child.embedded:
            inner, child.embedded = child.embedded, None
            out.extend(adopt(child, inner))
    return out
