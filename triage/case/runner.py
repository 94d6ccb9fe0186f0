"""``triage case``: discover the devices of a case directory, scan those not already done, record everything.

The rules (also in the README):

- A device is skipped as already done when the store says ``done`` for the same evidence identity (names and
  sizes of its files, first and last MiB; see ``discover.evidence_identity``), the same settings fingerprint
  (tool version, hash sets by content sha256, thresholds, verification on/off), and its output folder holds a
  complete summary.json and the very files.jsonl the store recorded (sha256). Everything else is scanned:
  new, changed, failed, interrupted, or ``running`` in the store from a run that died.
- The store says ``done`` only after the worker renamed the finished output folder into place, so a run killed
  at any moment never leaves a device recorded as done with partial output.
- Outcome (``CaseResult.outcome``, also the run's status in the store): ``done`` when every device is done,
  ``some failed`` when a device failed or a file/folder of the case could not be examined, ``interrupted``;
  usage/hash-set problems raise before any device is scanned. The command line turns the outcome into an exit code.
- Quick mode (``CaseSettings.quick``, ``triage case --quick``): every device reads its likely pictures and
  videos first and stops at its first alert match; one without a match is read to the end and is ``done`` like
  any other. One that stopped is stored as ``quick`` (its output in ``OUT/<name>/``, ranked by what it saw) and
  a run without --quick scans it again from the start, reusing what the quick scan read (``reading.reuse``:
  the same streams with the same hash sets are not read again). The settings fingerprint does not include
  quick: a device read to the end is the same either way.
  A quick run ends ``done`` when every device is done or stopped at its first match.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triage import TOOL_NAME, __version__
from triage.case.discover import Discovery, discover, evidence_identity
from triage.case.executors import run_dask, run_local
from triage.case.store import CaseStore
from triage.case.summary import write_reports
from triage.case.worker import DeviceOutcome, DeviceTask
from triage.defaults import PDQ_MIN_QUALITY, PDQ_THRESHOLD, PHASH_THRESHOLD
from triage.errors import EvidenceError, UsageError

DONE, SOME_FAILED, INTERRUPTED = "done", "some failed", "interrupted"
_STALE = re.compile(r"^\..+\.(?:[^.]+\.tmp|old\.\d+)$")


@dataclass
class CaseSettings:
    """What the examiner chose for the whole case (each device is scanned with the same)."""

    hashsets: list[str] = field(default_factory=list)
    pdq_threshold: int = PDQ_THRESHOLD
    phash_threshold: int = PHASH_THRESHOLD
    pdq_min_quality: int = PDQ_MIN_QUALITY
    verify: bool = True
    cache_dir: Path | None = None
    command: list[str] = field(default_factory=list)
    quick: bool = False  # pictures and videos first, each device stopped at its first alert match


@dataclass
class CaseEvent:
    """Progress for the terminal. ``kind``: plan, queued, reused, start, listed, advance, and how a device ended:
    done, quick (stopped at its first match), failed, interrupted.

    ``plan`` carries ``devices_total`` (devices to scan now), ``reused`` (already done) and ``total_bytes`` (the
    evidence bytes of the devices to scan, an estimate until each is listed); ``queued`` names each device to
    scan with its evidence size; per-device events carry the device name; ``listed`` gives ``total_bytes`` (the
    bytes of its streams), ``advance`` the running ``bytes_done``, ``files`` and ``matched``;
    ``devices_finished`` counts finished devices of this run; ``first_hit_after`` is set on ``quick``.
    """

    kind: str
    device: str | None = None
    total_bytes: int = 0
    bytes_done: int = 0
    files: int = 0
    matched: int = 0
    reason: str | None = None
    host: str | None = None
    devices_total: int = 0
    devices_finished: int = 0
    reused: int = 0
    first_hit_after: float | None = None


CaseProgress = Callable[[CaseEvent], None]


@dataclass
class CaseResult:
    """What a run did; the full record is in the store and in case.json."""

    out_root: Path
    case_json: Path
    case_html: Path
    discovery: Discovery
    scanned: list[str]
    reused: list[str]
    failed: dict[str, str]
    interrupted: bool
    outcome: str  # DONE, SOME_FAILED or INTERRUPTED
    devices: list[dict[str, Any]]  # case.json's devices: in examination order, each with rank, why and links
    quick: list[str] = field(default_factory=list)  # devices stopped at their first match (to scan again fully)


def run_case(case_dir: Path, out_root: Path, settings: CaseSettings, jobs: int = 0, scheduler: str | None = None,
             progress: CaseProgress | None = None) -> CaseResult:
    """Scan every device of ``case_dir`` into ``out_root`` (locally, or on the Dask cluster ``scheduler``).

    Raises:
        UsageError: bad case dir or output folder, output inside the case, another run holds the case,
            unreachable scheduler.
        HashSetError: a hash set cannot be loaded (before any device is scanned).
        EvidenceError: the case directory holds no evidence at all.
    """
    case_dir, out_root = Path(case_dir).absolute(), Path(out_root).absolute()
    _refuse_out_inside(case_dir, out_root)
    if settings.quick and not settings.hashsets:
        raise UsageError("--quick needs at least one hash set (-H): it stops each device at its first match")
    jobs = jobs or os.cpu_count() or 1
    emit = progress or (lambda event: None)
    specs, body = _settings_body(settings)
    out_root.mkdir(parents=True, exist_ok=True)
    with _case_lock(out_root), contextlib.closing(CaseStore(out_root / "case.sqlite")) as store:
        found = discover(case_dir, exclude=out_root, names=store.known_names())
        if not found.devices:
            raise EvidenceError(f"{case_dir}: no evidence found ({len(found.skipped)} file(s) or folder(s) skipped)")
        fp = store.save_settings(body)
        mode = "dask" if scheduler else "local"
        run_id = store.begin_run(mode, scheduler, jobs, settings.command, fp)
        identities = {d.name: evidence_identity(d.paths) for d in found.devices}
        store.sync_devices([(d, identities[d.name]) for d in found.devices], found.skipped)
        _remove_stale(out_root)
        tasks, reused = [], []
        for dev in found.devices:
            if dev.problem:
                store.mark_failed(dev.name, run_id, dev.problem)
            elif store.is_complete(dev.name, identities[dev.name], fp, out_root, quick=settings.quick):
                reused.append(dev.name)
                emit(CaseEvent("reused", dev.name))
            else:
                row = store.device(dev.name)
                quick_before = (not settings.quick and row is not None and row["status"] == "quick"
                                and row["identity"] == identities[dev.name] and row["settings"] == fp)
                tasks.append(DeviceTask(dev.name, str(dev.first), str(out_root), specs,
                                        (settings.pdq_threshold, settings.phash_threshold, settings.pdq_min_quality),
                                        str(settings.cache_dir) if settings.cache_dir else None, settings.verify,
                                        1, tuple(settings.command), settings.quick,
                                        str(out_root / dev.name) if quick_before else None))
        if not scheduler:  # spare cores go to reading inside a device when there are fewer devices than jobs
            per_device = max(1, jobs // max(1, min(jobs, len(tasks))))
            tasks = [DeviceTask(**{**t.__dict__, "jobs": per_device}) for t in tasks]
        sizes = {d.name: d.size for d in found.devices}
        emit(CaseEvent("plan", devices_total=len(tasks), reused=len(reused),
                       total_bytes=sum(sizes[t.name] for t in tasks)))
        for task in tasks:
            emit(CaseEvent("queued", task.name, total_bytes=sizes[task.name]))
        sink = _Sink(store, run_id, fp, out_root, emit, len(tasks))
        interrupted = False
        try:
            if tasks:
                interrupted = run_dask(tasks, scheduler, sink) if scheduler else run_local(tasks, jobs, sink)
        except KeyboardInterrupt:
            interrupted = True
        except BaseException:
            store.finish_run(run_id, "error")
            raise
        rows = store.devices()
        failed = {d["name"]: d["reason"] or d["status"] for d in rows if d["status"] not in ("done", "quick")}
        errors = [s for s in found.skipped if s.error]
        outcome = INTERRUPTED if interrupted else SOME_FAILED if failed or errors else DONE
        case_json, case_html, doc = write_reports(store, case_dir, out_root, run_id)
        store.finish_run(run_id, outcome)
    return CaseResult(out_root, case_json, case_html, found, sink.scanned, reused, failed, interrupted, outcome,
                      doc["devices"], [d["name"] for d in rows if d["status"] == "quick"])


class _Sink:
    """Records outcomes in the store (on the runner's thread) and forwards progress."""

    def __init__(self, store: CaseStore, run_id: int, fp: str, out_root: Path, emit: CaseProgress,
                 total: int) -> None:
        self.store, self.run_id, self.fp, self.out_root, self.emit = store, run_id, fp, out_root, emit
        self.total = total
        self.began: set[str] = set()
        self.ended: set[str] = set()
        self.scanned: list[str] = []

    def message(self, message: tuple[Any, ...]) -> None:
        event, name, amount, files, matched, host = message
        if name in self.ended:
            return
        if event == "begin":
            self._begin(name, host or None)
        elif event == "listed":
            self.emit(CaseEvent("listed", name, total_bytes=amount))
        elif event == "advance":
            self.emit(CaseEvent("advance", name, bytes_done=amount, files=files, matched=matched))

    def _begin(self, name: str, host: str | None) -> None:
        if name not in self.began:
            self.began.add(name)
            self.store.mark_running(name, self.run_id, self.fp, host)
            self.emit(CaseEvent("start", name, host=host))

    def finished(self, outcome: DeviceOutcome) -> None:
        name = outcome.name
        if name in self.ended:
            return
        if outcome.status == "interrupted" and name not in self.began:
            self.store.mark_failed(name, self.run_id, "not started: the run was interrupted", status="pending")
            self.ended.add(name)
            return
        self._begin(name, outcome.host or None)
        self.ended.add(name)
        status, reason = outcome.status, outcome.reason
        first_hit = None
        if status == "done" and outcome.out_dir:
            try:
                self.store.mark_done(name, self.run_id, Path(outcome.out_dir), outcome.host or None)
                self.scanned.append(name)
                shutil.rmtree(self.out_root / f"{name}.incomplete", ignore_errors=True)
                row = self.store.device(name)
                status = row["status"]  # "quick" when the scan stopped at its first match
                first_hit = (row.get("summary") or {}).get("first_hit_after")
            except (OSError, ValueError) as exc:
                status, reason = "failed", f"output folder unreadable after the scan: {exc}"
        if status not in ("done", "quick"):
            self.store.mark_failed(name, self.run_id, reason or status, status=status)
        self.emit(CaseEvent(status, name, reason=reason, host=outcome.host or None, devices_total=self.total,
                            devices_finished=len(self.ended), first_hit_after=first_hit))


def _settings_body(settings: CaseSettings) -> tuple[tuple[str, ...], dict[str, Any]]:
    """Absolute hash-set specs (workers may run elsewhere) and the settings that decide whether to redo a device.

    The hash sets are loaded here once: a bad set stops the case before any device is scanned, the compiled
    indexes are cached for the workers, and their content sha256 enters the fingerprint.
    """
    from triage.known import HashSets, parse_spec

    specs: list[str] = []
    for spec in settings.hashsets:
        role, path = parse_spec(spec)
        specs.append(f"{role}:{path.absolute()}" if role else str(path.absolute()))
    hs = HashSets.load(specs, settings.cache_dir, pdq_threshold=settings.pdq_threshold,
                       phash_threshold=settings.phash_threshold,
                       pdq_min_quality=settings.pdq_min_quality) if specs else None
    body = {
        "tool": {"name": TOOL_NAME, "version": __version__},
        "hashsets": [{k: v for k, v in d.items() if k != "warnings"} for d in hs.describe()] if hs else [],
        "thresholds": hs.thresholds if hs else {"pdq": settings.pdq_threshold,
                                                "pdq_min_quality": settings.pdq_min_quality,
                                                "phash": settings.phash_threshold},
        "verify": settings.verify,
    }
    return tuple(specs), body


def _refuse_out_inside(case_dir: Path, out_root: Path) -> None:
    """Evidence is never written into: the output folder may not be (or be inside) the case directory."""
    if not case_dir.is_dir():
        raise UsageError(f"{case_dir}: not a directory")
    real_case, real_out = case_dir.resolve(), out_root.resolve()
    if real_out == real_case or real_case in real_out.parents:
        raise UsageError(f"output folder {out_root} is inside the case directory {case_dir}")


@contextlib.contextmanager
def _case_lock(out_root: Path) -> Iterator[None]:
    """One run per output folder at a time (the kernel drops the lock when a run dies, even by SIGKILL)."""
    fh = open(out_root / ".case.lock", "a+")  # noqa: SIM115 - held for the whole run
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"another triage case run is using {out_root}") from None
        yield
    finally:
        fh.close()


def _remove_stale(out_root: Path) -> None:
    """Temporary folders of scans killed mid-write (``.<name>.XXXX.tmp``, ``.<name>.old.<pid>``): never results."""
    for entry in out_root.iterdir():
        if entry.is_dir() and not entry.is_symlink() and _STALE.match(entry.name):
            shutil.rmtree(entry, ignore_errors=True)
