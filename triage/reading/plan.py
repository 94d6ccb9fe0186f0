"""The reading plan of a device: which streams the media pass completes, which are read by inode, in what order.

Decided once the device is listed, from the records alone: where each stream lies (``fs.runs``), which names
share one stream (hard links), and which files look like pictures (by extension: the type is only known once
read). The scan then hands the plan to ``mediapass`` and ``pipeline``.
"""

from __future__ import annotations

from triage.model.record import FileRecord, Locator
from triage.sources.filesystems import FileSystem

Records = list[tuple[FileRecord, FileSystem]]

PICTURE_EXTENSIONS = frozenset({"jpg", "jpeg", "jpe", "jfif", "png", "gif", "bmp", "tif", "tiff", "webp", "heic",
                                "heif", "avif"})


def picture_order(records: Records) -> list[int]:
    """Listing indices with likely pictures first.

    Only the reading order changes; files.jsonl keeps the listing order, so outputs stay identical.
    """
    first = [i for i, (r, _) in enumerate(records) if r.extension in PICTURE_EXTENSIONS]
    rest = [i for i, (r, _) in enumerate(records) if r.extension not in PICTURE_EXTENSIONS]
    return first + rest


def same_streams(records: Records) -> list[list[int]]:
    """Listing indices that name the same stream (same file system, inode and attribute): hard links."""
    groups: dict[Locator, list[int]] = {}
    for index, (record, _) in enumerate(records):
        if record.locator is not None:
            groups.setdefault(record.locator, []).append(index)
    return [group for group in groups.values() if len(group) > 1]


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
    for index, (record, fs) in enumerate(records):
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
