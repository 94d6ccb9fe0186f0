"""The reading plan of a device: which streams the media pass completes, which are read by inode, in what order.

Decided from the records alone: where each stream lies (``fs.runs``), which names share one stream (hard
links), and which files look like pictures (by extension: the type is only known once read). The scan plans each
stream as the walk lists it (``SpilledPlan``: the records wait on disk), then hands the plan to ``mediapass`` and
``pipeline``; ``media_plan`` does the same for a listing held in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from triage.model.pending import IndexFlags, PendingRecords
from triage.model.record import FileRecord
from triage.sources.filesystems import FileSystem

Records = list[tuple[FileRecord, FileSystem] | None]  # None: a record finished and stored already (scan.py)

PICTURE_EXTENSIONS = frozenset({"jpg", "jpeg", "jpe", "jfif", "png", "gif", "bmp", "tif", "tiff", "webp", "heic",
                                "heif", "avif"})


# Read right after the pictures by --pictures-first (and ``triage case --quick``): a video's frames are matched
# against the picture sets too, so it may give the first hit.
VIDEO_EXTENSIONS = frozenset({"mp4", "m4v", "mov", "qt", "3gp", "3g2", "avi", "mkv", "webm", "wmv", "asf", "flv",
                              "mpg", "mpeg", "ts", "mts", "m2ts", "vob", "ogv"})


def media_flag(extension: str | None) -> int:
    """The reading-order flag of a stream by its name: 1 likely picture, 2 likely video, 0 anything else."""
    return 1 if extension in PICTURE_EXTENSIONS else 2 if extension in VIDEO_EXTENSIONS else 0


def picture_order(picture_named: bytearray) -> Iterator[int]:
    """Listing indices with likely pictures (flag 1) first, then likely videos (flag 2), then the rest; made as
    they are taken (no list of every index).

    Only the reading order changes; files.jsonl keeps the listing order, so outputs stay identical.
    """
    for flag in (1, 2, 0):
        index = picture_named.find(flag)
        while index >= 0:
            yield index
            index = picture_named.find(flag, index + 1)


def stream_runs(record: FileRecord, fs: FileSystem) -> list[tuple[int, int, int]] | None:
    """Where the stream lies on the media (set as the record's ``byte_runs``), when its source knows it."""
    runs_of = getattr(fs, "runs", None)  # only sources placed on the media know where a stream lies
    if record.locator is None or runs_of is None:
        return None
    runs = runs_of(record.locator, record.size)
    if runs:
        record.byte_runs = runs
    return runs or None


class SpilledPlan:
    """The media pass's streams, planned one by one as the walk lists them; their records wait on disk.

    One byte per listing index (0: not planned, 1: planned, 2: started by the pass) and the pieces in
    ``records``' table, instead of a dict of every planned record and a sorted list of every piece. A stream
    handed out meanwhile (``handed_out``: a hard link's twin, a picture read early) is left to its reader.
    """

    def __init__(self, records: PendingRecords, handed_out: IndexFlags) -> None:
        self.records, self.handed_out = records, handed_out
        self.state = bytearray()

    def add(self, index: int, runs: list[tuple[int, int, int]]) -> None:
        if index >= len(self.state):
            self.state.extend(bytes(index + 1 - len(self.state)))
        self.state[index] = 1
        self.records.add_pieces(index, runs)

    def maps(self, index: int) -> bool:
        return index < len(self.state) and self.state[index] != 0 and index not in self.handed_out

    def start(self, index: int) -> tuple[FileRecord, list[tuple[int, int, int]]] | None:
        """The record and runs of a planned stream at its first piece (None: not planned, started or handed out)."""
        if not self.maps(index) or self.state[index] != 1:
            return None
        pair = self.records[index]
        if pair is None or pair[0].byte_runs is None:
            return None
        self.state[index] = 2
        return pair[0], pair[0].byte_runs

    def prefetch(self, indices: Iterable[int]) -> None:
        """Load the records of the planned streams among ``indices`` not started yet, in one query."""
        self.records.load([index for index in indices if self.maps(index) and self.state[index] == 1])

    def remaining(self) -> Iterator[int]:
        """Planned streams the pass never started (it stopped, or their pieces were never read)."""
        index = self.state.find(1)
        while index >= 0:
            if index not in self.handed_out:
                yield index
            index = self.state.find(1, index + 1)


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
        runs = stream_runs(record, fs)
        if not runs:
            continue
        if index not in handed_out and not (pictures_apart and record.extension in PICTURE_EXTENSIONS):
            plan[index] = (record, runs)
    return plan
