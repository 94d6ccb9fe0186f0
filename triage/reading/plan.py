"""The reading plan of a device: which streams the media pass completes, which are read by inode, in what order.

Decided once the device is listed, from the records alone: where each stream lies (``fs.runs``), which names
share one stream (hard links), and which files look like pictures (by extension: the type is only known once
read). The scan then hands the plan to ``mediapass`` and ``pipeline``.
"""

from __future__ import annotations

from triage.model.record import FileRecord, Locator
from triage.sources.filesystems import FileSystem

Records = list[tuple[FileRecord, FileSystem] | None]  # None: a record finished and stored already (scan.py)

PICTURE_EXTENSIONS = frozenset({"jpg", "jpeg", "jpe", "jfif", "png", "gif", "bmp", "tif", "tiff", "webp", "heic",
                                "heif", "avif"})


def picture_order(records: Records) -> list[int]:
    """Listing indices with likely pictures first.

    Only the reading order changes; files.jsonl keeps the listing order, so outputs stay identical.
    """
    first = [i for i, pair in enumerate(records) if pair is not None and pair[0].extension in PICTURE_EXTENSIONS]
    rest = [i for i, pair in enumerate(records) if pair is not None and pair[0].extension not in PICTURE_EXTENSIONS]
    return first + rest


def same_streams(records: Records) -> list[list[int]]:
    """Listing indices that name the same stream (same file system, inode and attribute): hard links."""
    first: dict[Locator, int] = {}
    groups: dict[Locator, list[int]] = {}  # only the streams named twice or more: no list per stream
    for index, pair in enumerate(records):
        if pair is not None and pair[0].locator is not None:
            seen = first.setdefault(pair[0].locator, index)
            if seen != index:
                groups.setdefault(pair[0].locator, [seen]).append(index)
    return list(groups.values())


def media_plan(
    records: Records, pictures_apart: bool, handed_out: set[int] | frozenset[int] = frozenset()
) -> dict[int, tuple[FileRecord, list[tuple[int, int, int]]]]:
    """The streams the media pass completes: those whose runs are known and not ``handed_out`` already.

    With ``pictures_apart`` files named as pictures are left to be read through their file systems: for
    ``--pictures-first`` (read before the pass), and with worker processes, where a worker reading the picture
    itself costs less than sending its bytes from the pass over a pipe (measured: -j 2 6.4 -> 6.2 s on the
    benchmark; the media is still read once for its hash, the pictures' own blocks a second time).
    Every stream whose runs are known gets them as ``byte_runs`` (DFXML's byte runs), whoever reads it, so the
    output does not depend on the reading order.
    """
    plan = {}
    for index, pair in enumerate(records):
        if pair is None:
            continue
        record, fs = pair
        runs_of = getattr(fs, "runs", None)  # only sources placed on the media know where a stream lies
        if record.locator is None or runs_of is None:
            continue
        runs = runs_of(record.locator, record.size)
        if not runs:
            continue
        record.byte_runs = runs
        if index not in handed_out and not (pictures_apart and record.extension in PICTURE_EXTENSIONS):
            plan[index] = (record, runs)
    return plan
