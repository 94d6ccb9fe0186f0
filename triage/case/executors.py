"""Run device tasks: on local processes, or on a Dask distributed cluster. Both report to the same sink.

Why two small executors behind one interface: the case logic (what to scan, what to record) must not depend on
where a device is scanned. Every callback into the sink happens on the calling thread, so the sink may use the
case store (sqlite connections stay on their thread).
"""

from __future__ import annotations

import contextlib
import os
import queue as queue_module
import signal
import time
import uuid
from collections import deque
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import Any, Protocol

from triage.case.worker import PROGRESS_TOPIC, DeviceOutcome, DeviceTask, init_local_worker, run_task
from triage.errors import UsageError
from triage.sources.volumes import secrets

POLL = 0.2
GRACE = 2.0  # after Ctrl-C, how long busy workers get to notice it themselves
INTERRUPT_WAIT = 60.0  # then how long they get to write their partial output
CRASHED = "worker process died while scanning this device (crash, or killed e.g. for lack of memory)"


class Sink(Protocol):
    """Receives what the executors learn, always on the thread that called the executor."""

    def message(self, message: tuple[Any, ...]) -> None:
        """A progress message from a worker: (event, device, bytes, files, matched, host)."""

    def finished(self, outcome: DeviceOutcome) -> None:
        """A device's scan ended (done, failed or interrupted)."""


def run_local(tasks: Iterable[DeviceTask], jobs: int, sink: Sink) -> bool:
    """Scan devices ``jobs`` at a time in spawned processes; returns True when interrupted by Ctrl-C.

    A worker process that dies (segfault in a parsing library, OOM kill) breaks the whole pool; every device
    that was running then is retried alone, and a device that kills its worker when alone is failed.
    """
    ctx = get_context("spawn")
    messages = ctx.Queue()
    pending: deque[DeviceTask] = deque(tasks)
    solo: deque[DeviceTask] = deque()
    running: dict[Future[DeviceOutcome], DeviceTask] = {}

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=ctx, initializer=init_local_worker,
                                   initargs=(messages, os.getpid(), secrets.held()))

    pool = new_pool()
    try:
        while pending or solo or running:
            if solo and not running:
                task = solo.popleft()
                running[pool.submit(run_task, task, "queue")] = task
            while pending and not solo and len(running) < max(1, jobs):
                task = pending.popleft()
                running[pool.submit(run_task, task, "queue")] = task
            done, _ = wait(running, timeout=POLL, return_when=FIRST_COMPLETED)
            _drain(messages, sink)
            in_flight = len(running)
            broken = False
            for fut in done:
                task = running.pop(fut)
                try:
                    sink.finished(fut.result())
                except BrokenProcessPool:
                    broken = True
                    _crashed(task, alone=in_flight == 1, solo=solo, sink=sink)
            if broken:
                for task in running.values():
                    _crashed(task, alone=False, solo=solo, sink=sink)
                running.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                pool = new_pool()
    except KeyboardInterrupt:
        _interrupt_local(pool, running, sink)
        _drain(messages, sink)
        return True
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        _drain(messages, sink)
    return False


def _crashed(task: DeviceTask, alone: bool, solo: deque[DeviceTask], sink: Sink) -> None:
    if alone:
        sink.finished(DeviceOutcome(task.name, "failed", CRASHED))
    else:
        solo.append(task)


def _interrupt_local(pool: ProcessPoolExecutor, running: dict[Future[DeviceOutcome], DeviceTask],
                     sink: Sink) -> None:
    """Ctrl-C: let busy workers write their partial output (``<name>.incomplete``), then record them.

    A Ctrl-C at the terminal reaches the workers too; a SIGINT sent to this process alone does not, so after a
    grace period the workers still busy are sent SIGINT (they are our own children, by pid).
    """
    deadline = time.monotonic() + GRACE
    signalled = False
    while running:
        done, _ = wait(running, timeout=POLL, return_when=FIRST_COMPLETED)
        for fut in done:
            task = running.pop(fut)
            try:
                sink.finished(fut.result())
            except (BrokenProcessPool, KeyboardInterrupt):
                sink.finished(DeviceOutcome(task.name, "interrupted", "interrupted"))
        if not signalled and time.monotonic() > deadline:
            signalled = True
            deadline = time.monotonic() + INTERRUPT_WAIT
            for proc in list(getattr(pool, "_processes", {}).values()):
                with contextlib.suppress(OSError):
                    os.kill(proc.pid, signal.SIGINT)
        elif signalled and time.monotonic() > deadline:
            for proc in list(getattr(pool, "_processes", {}).values()):
                with contextlib.suppress(OSError):
                    os.kill(proc.pid, signal.SIGKILL)
            for task in running.values():
                sink.finished(DeviceOutcome(task.name, "interrupted", "interrupted (worker stopped)"))
            running.clear()


def _drain(messages: Any, sink: Sink) -> None:
    while True:
        try:
            message = messages.get_nowait()
        except (queue_module.Empty, OSError, ValueError, EOFError):
            return
        sink.message(tuple(message))


def run_dask(tasks: Iterable[DeviceTask], scheduler: str, sink: Sink) -> bool:
    """Scan every device as one task on an existing Dask cluster; returns True when interrupted by Ctrl-C.

    The workers must see the evidence and the output folder under the same absolute paths (shared storage):
    each writes its device's output folder itself, and this process reads it back into the case store.
    """
    from distributed import Client

    try:
        client = Client(scheduler, timeout="20s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise UsageError(f"cannot connect to the Dask scheduler {scheduler}: {' '.join(str(exc).split())}") from None
    inbox: queue_module.Queue[tuple[Any, ...]] = queue_module.Queue()
    futures: dict[Any, DeviceTask] = {}
    try:
        client.subscribe_topic(PROGRESS_TOPIC, lambda event: inbox.put(tuple(event[1])))
        run = uuid.uuid4().hex[:8]
        for task in tasks:
            fut = client.submit(run_task, task, "dask", key=f"triage-case-{run}-{task.name}", pure=False,
                                retries=0)
            futures[fut] = task
        remaining = set(futures)
        while remaining:
            time.sleep(POLL)
            _drain_inbox(inbox, sink)
            for fut in [f for f in remaining if f.done()]:
                remaining.discard(fut)
                task = futures[fut]
                try:
                    outcome = fut.result()
                except Exception as exc:  # KilledWorker, CancelledError, a worker without triage…
                    outcome = DeviceOutcome(task.name, "failed", f"Dask: {exc.__class__.__name__}: "
                                                                 f"{' '.join(str(exc).split())}")
                sink.finished(outcome)
    except KeyboardInterrupt:
        pending = [f for f in futures if not f.done()]
        with contextlib.suppress(Exception):
            client.cancel(pending)
        _drain_inbox(inbox, sink)
        for fut in pending:
            sink.finished(DeviceOutcome(futures[fut].name, "interrupted", "interrupted (task cancelled on the "
                                                                          "cluster)"))
        return True
    finally:
        with contextlib.suppress(Exception):
            client.unsubscribe_topic(PROGRESS_TOPIC)
        with contextlib.suppress(Exception):
            client.close(timeout=10)
    _drain_inbox(inbox, sink)
    return False


def _drain_inbox(inbox: queue_module.Queue[tuple[Any, ...]], sink: Sink) -> None:
    while True:
        try:
            sink.message(inbox.get_nowait())
        except queue_module.Empty:
            return
