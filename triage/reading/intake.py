"""What happens to each stream as the walk lists it: read now (raw media), planned for the media pass, or handed
to a worker early; and the workers' results taken meanwhile, so that ``--first-hit`` can stop the walk itself.

Why here and not after the listing: on a device of many small files the walk is most of the scan, and a stream
read while listed is never spilled to disk and loaded again (``reading.direct``); a first hit among 100,000
files should not wait for the rest of the walk (issue 17).
"""

from __future__ import annotations

from typing import Any

from triage.model.record import FileRecord
from triage.reading import reuse
from triage.reading.direct import DirectReader
from triage.reading.listing import Listing
from triage.reading.pipeline import Reading
from triage.reading.plan import PICTURE_EXTENSIONS, VIDEO_EXTENSIONS, SpilledPlan, stream_runs
from triage.sources.filesystems import FileSystem

COLLECT_EVERY = 64  # listed streams between two looks at the workers' finished results


class StopWalk(Exception):
    """``--first-hit`` met its match while the device was being listed: the walk stops too."""


class Intake:
    """The walk's ``listed`` callback of one scan (``listing.list_device``)."""

    def __init__(self, listing: Listing, work: Reading, plan: SpilledPlan, direct: DirectReader | None, *,
                 pictures_first: bool, first_hit: bool, reusable: dict[str, Any]) -> None:
        self.listing, self.work, self.plan, self.direct = listing, work, plan, direct
        self.pictures_first, self.first_hit, self.reusable = pictures_first, first_hit, reusable
        self.pictures_apart = pictures_first or work.parallel  # pictures read through their file systems

    def __call__(self, record: FileRecord, fs: FileSystem) -> None:
        work = self.work
        if work.stopped and self.first_hit:
            raise StopWalk
        runs = stream_runs(record, fs)
        extension = record.extension
        picture = extension in PICTURE_EXTENSIONS
        reused = bool(self.reusable) and reuse.apply(record, self.reusable)
        index = self.listing.add(record, fs, extension)
        if reused:
            self.listing.reused.add(index)
            return
        if (self.direct is None or not runs or record.inode in getattr(fs, "linked", ())
                or not self._read_now(index, record, runs, picture)):
            video_first = self.pictures_first and extension in VIDEO_EXTENSIONS
            if runs and not (self.pictures_apart and picture) and not video_first:
                self.plan.add(index, runs)
            if picture and work.parallel and record.locator is not None:
                work.early(index)
                if self.first_hit:
                    work.flush()  # a first answer must not wait for a batch to fill
        if work.pending and index % COLLECT_EVERY == 0:
            work.collect()

    def _read_now(self, index: int, record: FileRecord, runs: list[tuple[int, int, int]], picture: bool) -> bool:
        """Read a stream of raw media as it is listed; False leaves it to the usual readers.

        Left to them: pictures when there are worker processes (a worker reads its own, as the pass would hand
        them out), and with ``--pictures-first`` every stream that is not a picture (read after them: the walk
        itself is then quick, and a first hit comes sooner).
        """
        work = self.work
        if work.stopped or (picture and work.parallel) or (self.pictures_first and not picture):
            return False
        assert self.direct is not None
        read, content = self.direct.digest(record, runs)
        if not read:
            return False
        work.pairs[index]  # held from now on (a spill of the pending buffer must not bring back a stale copy)
        work.handed_out.add(index)
        work.finished(index, record, content)
        return True
