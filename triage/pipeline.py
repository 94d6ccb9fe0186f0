"""Reading content: one stream at a time in this process, or in batches on worker processes.

Why processes: pytsk3, pyewf and the picture decoders are CPU-bound and their handles cannot be shared across
threads or processes, so every worker opens its own evidence and file-system handles (once, cached) and reads
streams by inode. Batches go out and come back in listing order, so the output is the same whatever ``jobs``.
Matching stays in the calling process: the hash-set index is opened once there.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import repeat
from multiprocessing import get_context

from triage import interrupts
from triage.evidence import Evidence, reopen
from triage.filesystems.apfs import ApfsFileSystem
from triage.filesystems.tsk import TskFileSystem
from triage.hashing import digest_record
from triage.pictures import is_picture_type, perceptual_hashes
from triage.records import FileRecord

BATCH_FILES = 64
BATCH_BYTES = 32 << 20

FileSystem = TskFileSystem | ApfsFileSystem


@dataclass(frozen=True)
class DeviceRef:
    """What a worker needs to open the same device: evidence files, format and where each file system is."""

    paths: tuple[str, ...]
    fmt: str
    filesystems: tuple[tuple[str, int, int, int | None], ...]  # (kind, offset, size, volume index)


def read_content(record: FileRecord, fs: FileSystem) -> None:
    """Read one stream once: digests and type, then PDQ + pHash when it is a picture."""
    if record.locator is None:
        return
    picture = digest_record(record, fs.read_stream(record.locator, record.size))
    if picture is not None and is_picture_type(record.type):
        result = perceptual_hashes(picture, mime=record.type)
        record.pdq, record.pdq_quality, record.phash = result.pdq, result.pdq_quality, result.phash
        if result.error:
            record.errors.append(f"picture: {result.error}")


_OPEN: dict[tuple[str, ...], tuple[Evidence, dict[int, FileSystem]]] = {}


def _worker_filesystems(ref: DeviceRef) -> dict[int, FileSystem]:
    """This worker's own handles for the device, opened on first use and kept for later batches."""
    if ref.paths not in _OPEN:
        for evidence, systems in _OPEN.values():
            for fs in systems.values():
                fs.close()
            evidence.close()
        _OPEN.clear()
        evidence = reopen(list(ref.paths), ref.fmt)
        systems: dict[int, FileSystem] = {}
        for kind, offset, size, volume in ref.filesystems:
            if kind == "apfs":
                systems[offset] = ApfsFileSystem(evidence.reader, offset, size, volume)
            else:
                systems[offset] = TskFileSystem(evidence.img, offset, volume, size)
        _OPEN[ref.paths] = (evidence, systems)
    return _OPEN[ref.paths][1]


def read_batch(ref: DeviceRef, batch: list[FileRecord]) -> list[FileRecord]:
    """Worker entry point: read every stream of the batch with this process's handles."""
    systems = _worker_filesystems(ref)
    for record in batch:
        if record.locator is not None:
            read_content(record, systems[record.locator.fs_offset])
    return batch


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the parent, which stops the pool and writes the partial summary."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def batches(records: list[FileRecord]) -> Iterator[list[FileRecord]]:
    """Cut the listing into batches of a few files or a few MiB, keeping the order."""
    batch: list[FileRecord] = []
    size = 0
    for record in records:
        batch.append(record)
        size += record.size
        if len(batch) >= BATCH_FILES or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def read_all(
    pairs: list[tuple[FileRecord, FileSystem]],
    ref: DeviceRef,
    jobs: int,
    done: Callable[[int, FileRecord], bool],
    order: list[int] | None = None,
) -> bool:
    """Read every stream; ``done(index, record)`` is called as each result is ready, in ``order``.

    ``order`` is a permutation of the listing indices (default: listing order). ``done`` returns True to stop
    early (``--first-hit``); read_all then returns True. With ``jobs`` > 1 the records given to ``done`` are
    copies filled by the workers, with their index in ``pairs`` so the caller can put them back in place.
    """
    order = list(range(len(pairs))) if order is None else order
    if jobs <= 1:
        for index in order:
            record, fs = pairs[index]
            known_errors = len(record.errors)
            read_content(record, fs)
            if interrupts.pressed():
                del record.errors[known_errors:]  # a read error here was the Ctrl-C itself, not damage
                raise KeyboardInterrupt
            if done(index, record):
                return True
        return False
    ordered = [pairs[index][0] for index in order]
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"), initializer=_ignore_sigint)
    try:
        position = 0
        for result in pool.map(read_batch, repeat(ref), batches(ordered)):
            for record in result:
                if done(order[position], record):
                    pool.shutdown(wait=False, cancel_futures=True)
                    return True
                position += 1
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return False
