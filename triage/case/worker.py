"""What runs on a worker (a local process or a Dask worker): scan one device, return a small outcome.

Why a plain function of plain data: a task crosses a process (or machine) boundary, so it carries paths and
settings only. The worker opens the evidence itself (pytsk3/libyal handles never cross processes) and rebuilds
the hash sets from their specs (the compiled index is cached on disk, so that is cheap). It never touches the
case store: the outcome goes back to the process that runs the case, which records it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triage.defaults import PDQ_MIN_QUALITY, PDQ_THRESHOLD, PHASH_THRESHOLD
from triage.errors import Interrupted, TriageError, one_line

PROGRESS_TOPIC = "triage-case-progress"
PROGRESS_EVERY = 0.5  # seconds between progress messages per device

_queue: Any = None
_hashsets_cache: dict[tuple[Any, ...], Any] = {}


@dataclass(frozen=True)
class DeviceTask:
    """One device to scan; every path is absolute so that any worker (sharing the storage) can follow it."""

    name: str
    first: str
    out_root: str
    specs: tuple[str, ...] = ()
    thresholds: tuple[int, int, int] = (PDQ_THRESHOLD, PHASH_THRESHOLD, PDQ_MIN_QUALITY)  # pdq, phash, pdq quality
    cache_dir: str | None = None
    verify: bool = True
    jobs: int = 1
    command: tuple[str, ...] = field(default_factory=tuple)
    quick: bool = False  # pictures and videos first, stop at the first alert match (``triage case --quick``)
    reuse: str | None = None  # the folder of this device's earlier quick scan, whose reads a full scan reuses


@dataclass
class DeviceOutcome:
    """How the scan of one device ended: done (output folder renamed into place), failed or interrupted."""

    name: str
    status: str
    reason: str | None = None
    out_dir: str | None = None
    host: str = ""
    seconds: float = 0.0


def init_local_worker(queue: Any, parent: int, held: Any = None) -> None:
    """Initializer of local worker processes: progress queue, the examiner's secrets, and die with the parent.

    The secrets (``volumes.secrets.Secrets``) come over the pool's pipe from the case process, never through a
    file or the case store; a Dask cluster never gets them (the command line refuses that).

    Why PR_SET_PDEATHSIG: if the case run is SIGKILLed, orphaned workers would go on scanning and later rename
    an output folder under the feet of the next run; the kernel kills them with their parent instead.
    """
    global _queue
    _queue = queue
    if held is not None:
        from triage.sources.volumes import secrets

        secrets.hold(held)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # an idle worker ignores Ctrl-C; run_task listens while busy
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


def run_task(task: DeviceTask, report: str | None = None) -> DeviceOutcome:
    """Scan ``task``'s device into ``out_root/<name>/``; never raises for a bad device (that is an outcome).

    Args:
        task: the device and settings.
        report: where progress goes: "queue" (local pool), "dask" (worker events), or None.
    """
    started = time.monotonic()
    host = platform.node()
    send = _sender(report)
    send(("begin", task.name, 0, 0, 0, host))
    local = report == "queue"
    if local:
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def outcome(status: str, reason: str | None = None, out_dir: str | None = None) -> DeviceOutcome:
        return DeviceOutcome(task.name, status, reason, out_dir, host, round(time.monotonic() - started, 3))

    unseen = _not_visible(task) if report == "dask" else None
    if unseen:
        return outcome("failed", f"{unseen} not visible on worker {host}: evidence and output must be on storage "
                                 "shared by the case run and every worker, under the same paths")
    try:
        from triage.scan import ScanSettings, scan_device

        settings = ScanSettings(hashsets=_hashsets(task), jobs=task.jobs, verify=task.verify,
                                first_hit=task.quick, pictures_first=task.quick, command=list(task.command),
                                reuse=Path(task.reuse) if task.reuse else None)
        target, _summary = scan_device(Path(task.first), Path(task.out_root), settings,
                                       progress=_Progress(task.name, send), name=task.name, stopped_in_place=True)
    except (Interrupted, KeyboardInterrupt) as exc:
        return outcome("interrupted", one_line(exc) if isinstance(exc, Interrupted) else "interrupted")
    except TriageError as exc:
        return outcome("failed", one_line(exc))
    except MemoryError:
        return outcome("failed", "out of memory while scanning this device")
    except Exception as exc:  # a bug or a library failure: this device fails, the case goes on
        return outcome("failed", f"internal error: {exc.__class__.__name__}: {one_line(exc)}")
    finally:
        if local:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    return outcome("done", None, str(target))


def _not_visible(task: DeviceTask) -> str | None:
    """Name the path this worker cannot see (a Dask worker on a machine without the shared storage)."""
    out_root = Path(task.out_root)
    if not Path(task.first).exists():
        return task.first
    if not out_root.is_dir() or not os.access(out_root, os.W_OK):
        return f"output folder {out_root}"
    return None


class _Progress:
    """scan_device's progress callback, turned into a few messages a second per device."""

    def __init__(self, name: str, send: Any) -> None:
        self.name, self.send = name, send
        self.bytes = self.files = self.matched = 0
        self.last = 0.0

    def __call__(self, event: str, record: Any, amount: int) -> None:
        if event == "start":
            self.send(("listed", self.name, amount, 0, 0, ""))
            return
        self.bytes += amount
        self.files += 1
        if record is not None and getattr(record, "matches", None):
            self.matched += 1
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY:
            self.last = now
            self.send(("advance", self.name, self.bytes, self.files, self.matched, ""))


def _sender(report: str | None) -> Any:
    if report == "queue" and _queue is not None:
        queue = _queue

        def put(message: tuple[Any, ...]) -> None:
            with contextlib.suppress(Exception):
                queue.put_nowait(message)

        return put
    if report == "dask":
        from distributed import get_worker

        try:
            worker = get_worker()
        except ValueError:
            return lambda message: None

        def log(message: tuple[Any, ...]) -> None:
            with contextlib.suppress(Exception):
                worker.log_event(PROGRESS_TOPIC, list(message))

        return log
    return lambda message: None


def _hashsets(task: DeviceTask) -> Any:
    """The task's hash sets, opened once per worker process and reused for its next devices."""
    if not task.specs:
        return None
    key = (task.specs, task.thresholds, task.cache_dir)
    if key not in _hashsets_cache:
        from triage.known import HashSets

        pdq, phash, quality = task.thresholds
        _hashsets_cache[key] = HashSets.load(list(task.specs), Path(task.cache_dir) if task.cache_dir else None,
                                             pdq_threshold=pdq, phash_threshold=phash, pdq_min_quality=quality)
    return _hashsets_cache[key]


