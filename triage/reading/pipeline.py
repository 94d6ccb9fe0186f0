"""Reading streams by inode through their file systems: inline with ``-j 1``, or on worker processes.

What the media pass (``mediapass.py``) cannot complete (resident, compressed or sparse data, streams it hands
back) and, with workers, the pictures are read here. Why processes: pytsk3, pyewf and the picture decoders are
CPU-bound and their handles cannot be shared across threads or processes, so every worker opens its own
evidence and file-system handles (once, cached); workers are forked from a forkserver that imported this module
once. Results reach the caller's ``done`` as they come, each filling the caller's own record in place, and
files.jsonl is written in listing order, so outputs do not depend on ``jobs`` or timing. Matching stays in the
calling process: the hash-set index is opened once there.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from triage.analysis.digests import digest_record
from triage.analysis.pictures import PerceptualResult, is_picture_type
from triage.defaults import GC_THRESHOLDS
from triage.model.pending import IndexFlags
from triage.model.record import FileRecord
from triage.reading import interrupts, workers
from triage.reading.children import Expanded, expand_batch, expand_record, wants_expanding
from triage.reading.embedded import adopt, analyse_picture
from triage.reading.mediapass import MediaPass
from triage.reading.videos import analyse_batch, analyse_record
from triage.sources import registry
from triage.sources.filesystems import FileSystem
from triage.sources.volumes import secrets

BATCH_FILES = 64
BATCH_BYTES = 32 << 20
WORKER_NICE = 5
PICTURES_IN_FLIGHT = 128 << 20  # picture bytes sent to workers for perceptual hashing and not yet back
BATCHES_PER_JOB = 32  # batches handed to each worker and not back yet; the others wait as indices
LOAD = 256  # records loaded at once from the pending table (inline reading)


def read_content(record: FileRecord, fs: FileSystem) -> None:
    """Read one stream once: digests and type, then PDQ + pHash (and its EXIF thumbnail) when it is a picture."""
    if record.locator is None:
        return
    picture = digest_record(record, fs.read_stream(record.locator, record.size))
    if picture is not None and is_picture_type(record.type):
        apply_perceptual(record, analyse_picture(picture, record.type))


def apply_perceptual(record: FileRecord, result: PerceptualResult) -> None:
    record.pdq, record.pdq_quality, record.phash = result.pdq, result.pdq_quality, result.phash
    record.pdq_dihedral = result.pdq_dihedral
    if result.error:
        record.errors.append(f"picture: {result.error}")
    record.notes.extend(note for note in result.notes if note not in record.notes)
    record.embedded = list(result.embedded) or None


def perceive(data: bytes, mime: str | None) -> PerceptualResult:
    """Worker entry point: perceptual hashes of a picture whose bytes came from the media pass."""
    return analyse_picture(data, mime)


CONTENT_FIELDS = ("md5", "sha1", "sha256", "type", "ext_mismatch", "pdq", "pdq_quality", "phash", "pdq_dihedral",
                  "embedded")

def read_batch(batch: list[FileRecord]) -> list[tuple[Any, ...]]:
    """Worker entry point: read every stream of the batch with this process's handles.

    Only what reading found goes back (``CONTENT_FIELDS``, the new errors and notes), not the records: less to send,
    and the caller's records keep what it added meanwhile (``byte_runs``).
    """
    out = []
    for record in batch:
        known_errors, known_notes = len(record.errors), len(record.notes)
        if record.locator is not None:
            read_content(record, registry.open_node(record.locator.parent))
        out.append((*(getattr(record, name) for name in CONTENT_FIELDS), record.errors[known_errors:],
                    record.notes[known_notes:]))
    return out


def copy_content(source: FileRecord, target: FileRecord) -> None:
    """What reading ``source`` found, for ``target``: the same stream under another name."""
    for name in CONTENT_FIELDS:
        setattr(target, name, getattr(source, name))
    target.byte_runs = source.byte_runs
    target.errors.extend(error for error in source.errors if error not in target.errors)


def apply_content(record: FileRecord, content: tuple[Any, ...]) -> None:
    """Fill a record with what a worker's ``read_batch`` found for it."""
    for name, value in zip(CONTENT_FIELDS, content, strict=False):
        setattr(record, name, value)
    record.errors.extend(content[-2])
    record.notes.extend(content[-1])


def _start_worker(held: secrets.Secrets | None = None) -> None:
    """Workers leave Ctrl-C to the parent, which stops the pool and writes the partial summary.

    They hold the examiner's secrets (passed over the pool's pipe, never written), to reopen unlocked layers.

    They also run at a slightly lower priority: the critical path is in the main process (the walk, then the
    media pass and its hash), while the pictures the workers decode have slack until the pass ends. Measured on
    the benchmark, -j 2: about 4 % faster with nice 5 than at the same priority.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.set_threshold(*GC_THRESHOLDS)  # a worker's own lifetime: pictures and report batches, as the scan
    if held is not None:
        secrets.hold(held)
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICE)


def full(files: int, size: int) -> bool:
    """A batch is handed out once it holds this many files or bytes."""
    return files >= BATCH_FILES or size >= BATCH_BYTES


def _load(pairs: Any, indices: list[int]) -> None:
    """Bring these records back from the pending table in one query (``PendingRecords``; a list holds them)."""
    load = getattr(pairs, "load", None)
    if load is not None:
        load(indices)


class Reading:
    """Streams read through their file system and pictures to hash: inline, or on worker processes.

    ``done(index, record)`` gets each result (the record in ``pairs``, filled); it returns True to stop early
    (``--first-hit``), after which ``stopped`` is True and nothing more is handed out. ``release(index)`` is
    called once nothing here needs ``pairs[index]`` any more (after ``done``, or after an archive's members came
    back), so that the caller can store the record and drop it from memory. With worker processes,
    ``early`` hands out streams while the device is still being listed, once the workers are up: on a long walk
    they start on them while the walk runs on one core. (On the 1.26 GB benchmark the server is ready only as
    its 0.4 s walk ends, and the pictures held meanwhile go out with the rest: measured the same either way.)
    """

    def __init__(self, pairs: Any, jobs: int,
                 done: Callable[[int, FileRecord], bool],
                 children: Callable[[int, Expanded], bool] | None = None,
                 release: Callable[[int], None] = lambda index: None) -> None:
        self.pairs, self.done, self.release = pairs, done, release
        self.children = children  # gets each archive's members; True stops the scan (--first-hit)
        self.pool = _pool(jobs) if jobs > 1 else None
        self.jobs = jobs
        self.pending: deque[tuple[Future[Any], int | list[int]]] = deque()
        self.picture_bytes = 0  # bytes of pictures handed to workers and not yet back (memory bound)
        self.handed_out = IndexFlags()
        self._queue: Iterator[int] = iter(())  # indices to hand to workers as batches come back
        self._out = 0  # read batches on workers, not back yet
        self._max_out = BATCHES_PER_JOB * jobs
        self.twins: dict[int, list[int]] = {}  # index read -> indices of the same stream listed again
        self.expanding: set[int] = set()  # archives whose members are not back yet (their records are kept)
        self._early: list[int] = []
        self._early_bytes = 0
        self.stopped = False
        self._starting: threading.Thread | None = None
        if self.pool is not None:
            # Start the workers now, so that they are ready when the walk hands out the first pictures. On a
            # thread: the first start waits for the forkserver to import the reading code (~0.1 s), and the
            # walk and the early media read need not wait for that.
            self._starting = threading.Thread(target=self._start_workers, args=(jobs,), name="worker-start",
                                              daemon=True)
            self._starting.start()

    def _start_workers(self, jobs: int) -> None:
        assert self.pool is not None
        # Whatever goes wrong here (the scan ended first, a broken pool, a server that did not start) happens
        # again, and is reported, when the scan itself hands out work; a traceback from this thread must not.
        with contextlib.suppress(Exception):
            for _ in range(jobs):
                self.pool.submit(int)

    @property
    def parallel(self) -> bool:
        return self.pool is not None

    def early(self, index: int) -> None:
        """Hand out this stream now (worker processes only), in batches."""
        if self.pool is None or self.stopped:
            return
        self._early.append(index)
        self._early_bytes += self.pairs[index][0].size
        if self._starting is not None and self._starting.is_alive():
            return  # handing out now would wait for the workers to start; the batch grows meanwhile
        if full(len(self._early), self._early_bytes):
            self.flush()

    def flush(self) -> None:
        """Hand out the last early batch (results are collected once the listing is done)."""
        if self._early:
            self.files(self._early)
            self._early, self._early_bytes = [], 0

    def files(self, indices: Iterable[int]) -> None:
        """Read these streams through their file systems (those not handed out already).

        Inline, now; with workers, a bounded number of batches is handed out and the rest wait as indices (taken
        as results come back, in ``collect``): every record handed out is held in memory until it is back.
        """
        if self.pool is None:
            source = iter(indices)
            while chunk := [index for index in itertools.islice(source, LOAD) if index not in self.handed_out]:
                self.handed_out.update(chunk)
                _load(self.pairs, chunk)
                for index in chunk:
                    record, fs = self.pairs[index]
                    known_errors = len(record.errors)
                    read_content(record, fs)
                    if interrupts.pressed():
                        del record.errors[known_errors:]  # a read error here was the Ctrl-C itself, not damage
                        raise KeyboardInterrupt
                    if self._done(index, record):
                        return
            return
        self._queue = itertools.chain(self._queue, indices)
        self._top_up()

    def _top_up(self) -> None:
        """Hand out batches from the waiting indices until ``_max_out`` batches are out."""
        while self.pool is not None and self._out < self._max_out and not self.stopped:
            batch: list[int] = []
            size = 0
            while not full(len(batch), size):
                taken = [index for index in itertools.islice(self._queue, BATCH_FILES - len(batch))
                         if index not in self.handed_out]
                if not taken:
                    break
                self.handed_out.update(taken)
                _load(self.pairs, taken)
                batch.extend(taken)
                size += sum(self.pairs[index][0].size for index in taken)
            if not batch:
                self._queue = iter(())
                return
            records = [self.pairs[index][0] for index in batch]
            self.pending.append((self.pool.submit(read_batch, records), batch))
            self._out += 1

    def finished(self, index: int, record: FileRecord, picture: bytes | None) -> bool:
        """A stream completed by the media pass; a picture still needs its perceptual hashes."""
        if picture is None or not is_picture_type(record.type):
            return self._done(index, record)
        if self.pool is None:
            apply_perceptual(record, analyse_picture(picture, record.type))
            return self._done(index, record)
        self.pending.append((self.pool.submit(perceive, picture, record.type), index))
        self.picture_bytes += record.size
        while self.picture_bytes > PICTURES_IN_FLIGHT and not self.stopped:
            self.collect(one=True)
        return self.stopped

    def collect(self, wait: bool = False, one: bool = False) -> bool:
        """Hand finished results to ``done``: those ready (or all with ``wait``, or the oldest with ``one``)."""
        self._top_up()
        while self.pending and not self.stopped and (wait or one or self.pending[0][0].done()):
            future, what = self.pending.popleft()
            result = future.result()
            if isinstance(what, tuple):  # ("expand", index): an archive's members
                self._children(what[1], result)
            elif isinstance(what, int):
                record = self.pairs[what][0]
                self.picture_bytes -= record.size
                apply_perceptual(record, result)
                self._done(what, record)
            else:
                self._out -= 1
                for index, content in zip(what, result, strict=True):
                    record = self.pairs[index][0]
                    apply_content(record, content)
                    if self._done(index, record):
                        break
                self._top_up()
            one = False
        return self.stopped

    def share(self, groups: list[list[int]]) -> None:
        """Streams listed more than once (hard links: the same inode under several names) are read once.

        Each group holds the listing indices of one stream. One of them is read (the one handed out already,
        if any); the others are never handed out and get a copy of its results when it is done.
        """
        for group in groups:
            out = [index for index in group if index in self.handed_out]
            first = out[0] if out else group[0]
            for index in group:
                if index != first and index not in self.handed_out:
                    self.twins.setdefault(first, []).append(index)
                    self.handed_out.add(index)

    def expand(self, index: int) -> None:
        """Expand the archive, cache or video at ``index`` (already read and typed): inline, or on a worker."""
        if self.children is None or self.stopped:
            return
        record, fs = self.pairs[index]
        self.expanding.add(index)
        video = record.is_video
        if self.pool is None:
            self._children(index, analyse_record(record, fs) if video else expand_record(record, fs))
            return
        self.pending.append((self.pool.submit(analyse_batch if video else expand_batch, record), ("expand", index)))

    def _children(self, index: int, expanded: Expanded) -> None:
        """Members join ``pairs`` already read: never handed out for reading."""
        assert self.children is not None
        stop = self.children(index, expanded)
        self.expanding.discard(index)
        self.release(index)
        if stop:
            self.stopped = True

    def _done(self, index: int, record: FileRecord) -> bool:
        if self.stopped:
            return True
        stop = self.done(index, record)
        if record.embedded:
            children, record.embedded = adopt(record, record.embedded), None
            if not stop and self.children is not None:
                stop = self.children(index, Expanded(children=children, origin="embedded"))
        if not stop and wants_expanding(record):
            self.expand(index)
            stop = self.stopped
        twins = self.twins.pop(index, ())
        for twin in twins:
            if stop:
                break
            other = self.pairs[twin][0]
            copy_content(record, other)
            stop = self.done(twin, other)
            self.release(twin)
        if index not in self.expanding:
            self.release(index)
        self.stopped = stop
        return stop

    def close(self, cancel: bool) -> None:
        """Stop the workers; with ``cancel`` (an error, Ctrl-C, a first hit) without waiting for their batches.

        Why kill, then wait: ``shutdown(wait=False)`` leaves the executor's manager thread running into interpreter
        exit, where CPython 3.11's exit hook may write to its already closed wake-up pipe and print a traceback
        under the one-line error (seen once in CI). Killed workers let ``wait=True`` return at once.
        """
        if self._starting is not None:
            self._starting.join()
        if self.pool is not None:
            if cancel:
                for process in list((getattr(self.pool, "_processes", None) or {}).values()):
                    process.kill()
            self.pool.shutdown(wait=True, cancel_futures=cancel)
            self.pool = None

    def for_reports(self) -> None:
        """One idle worker again after a cancelled close (a first hit killed the workers with their pictures):
        the reports of every record listed are still to be written, and a worker writes half of them
        (``report.ON_WORKERS``) while this process writes the other half. Closed by ``close`` as usual."""
        if self.pool is None and self.jobs > 1:
            with contextlib.suppress(OSError, RuntimeError):  # no worker: the reports are all written here
                self.pool = _pool(1)


def _pool(jobs: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=jobs, mp_context=workers.context(), initializer=_start_worker,
                               initargs=(secrets.held(),))


def read_all(
    work: Reading,
    order: Iterable[int] | None = None,
    media: MediaPass | None = None,
) -> bool:
    """Read every stream not handed out yet; ``done`` (see Reading) gets each result as it is ready.

    Streams that ``media`` maps are completed by its one sequential read of the media; the others (and those
    it hands back) are read through their file systems, first the unmapped ones in ``order`` (a permutation of
    the listing indices; default: listing order). Returns True when ``done`` stopped the scan (``--first-hit``).
    The caller closes ``work``.
    """
    order = range(len(work.pairs)) if order is None else order
    work.flush()
    work.files(order if media is None else (index for index in order if not media.maps(index)))
    if media is not None and not work.stopped:
        if media.run(work.finished, work.collect) or work.stopped:
            work.stopped = True
        else:
            work.files(media.unread)
    work.collect(wait=True)
    return work.stopped
