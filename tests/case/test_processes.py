"""The case run as real processes: SIGKILL mid-run then resume, and a real Dask scheduler and worker.

Every process started here is ended here, by its own pid (or its own session, started for that purpose).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.case.conftest import (
    BROKEN,
    DEMO_SET,
    DONE,
    build_case,
    case_json,
    demo_settings,
    free_port,
    jsonl,
    run,
    store_rows,
)
from triage.case import CaseResult

ROOT = Path(__file__).resolve().parents[2]
RUN_SCRIPT = """
import sys
from pathlib import Path
from triage.case import CaseSettings, run_case
settings = CaseSettings(hashsets=sys.argv[4:], cache_dir=Path(sys.argv[3]))
result = run_case(Path(sys.argv[1]), Path(sys.argv[2]), settings, jobs=1)
print("dask imported:", "distributed" in sys.modules or "dask" in sys.modules)
from triage.cli import case_exit_code
sys.exit(case_exit_code(result.outcome))
"""


def statuses(out: Path) -> dict[str, str]:
    """Device statuses as another process sees them (read-only; the store may not exist yet)."""
    try:
        db = sqlite3.connect(f"file:{out / 'case.sqlite'}?mode=ro", uri=True, timeout=1)
        try:
            return dict(db.execute("SELECT name, status FROM devices").fetchall())
        finally:
            db.close()
    except sqlite3.Error:
        return {}


def session_members(sid: int) -> list[int]:
    """Pids of live processes in session ``sid`` (the subprocess and anything it started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[3]) == sid:  # state, ppid, pgrp, session
            found.append(int(entry.name))
    return found


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End a process we started (SIGTERM, then SIGKILL to its own session if it does not go)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to check no worker survives")
def test_sigkill_mid_run_then_resume(tmp_path: Path, reference: tuple[Path, Path, CaseResult]) -> None:
    """Kill the run (SIGKILL) while a device is being read, run again: the outputs equal an uninterrupted run.

    The last device is a 1 GiB sparse raw disk (the usb image padded with zeros): hashing its media for the
    summary takes long enough to kill the run in the middle of it.
    """
    case = build_case(tmp_path)
    (case / "suspect-C").mkdir()
    big = case / "suspect-C/bigdisk.raw"
    big.write_bytes((case / "suspect-A/usb/usb.raw").read_bytes())
    os.truncate(big, 1 << 30)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", RUN_SCRIPT, str(case), str(out), str(tmp_path / "cache"),
                             str(DEMO_SET)],
                            cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            if statuses(out).get("bigdisk") == "running":
                break
            time.sleep(0.01)
        time.sleep(0.3)
        at_kill = statuses(out)
        assert proc.poll() is None, f"run ended before it could be killed: {proc.communicate()}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while session_members(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert session_members(proc.pid) == [], "a worker outlived the killed run"
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        for pid in session_members(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    killed = statuses(out)
    assert at_kill["bigdisk"] == killed["bigdisk"] == "running", killed
    for name, status in killed.items():  # whatever the store calls done is complete on disk
        if status == "done":
            assert json.loads((out / name / "summary.json").read_text(encoding="utf-8"))["complete"] is True
    result = run(case, out, jobs=1, settings=demo_settings())
    after = store_rows(out)
    expected = {**dict.fromkeys(DONE, "done"), "bigdisk": "done", BROKEN: "failed"}
    assert {n: r["status"] for n, r in after.items()} == expected
    assert after["bigdisk"]["scans"] == 2
    assert "bigdisk" in result.scanned
    ref_out = reference[1]
    assert jsonl(out, DONE) == jsonl(ref_out, DONE)
    assert jsonl(out, ["bigdisk"])["bigdisk"] == jsonl(ref_out, ["usb-2"])["usb-2"]
    leftovers = sorted(p.name for p in out.iterdir() if p.name not in [*DONE, "bigdisk"])
    assert leftovers == [".case.lock", "case.html", "case.json", "case.sqlite"]
    assert case_json(out)["runs"] == 2


def test_local_run_imports_no_dask(tmp_path: Path) -> None:
    case = build_case(tmp_path)
    for folder in ("suspect-A", "suspect-B"):
        for path in sorted((case / folder).rglob("*"), reverse=True):
            if path.is_file() and path.name != "usb.raw":
                path.unlink()
    done = subprocess.run([sys.executable, "-c", RUN_SCRIPT, str(case), str(tmp_path / "out"),
                           str(tmp_path / "cache")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "dask imported: False" in done.stdout, done.stderr
    assert done.returncode == 5  # the truncated E01 is still there


@pytest.fixture
def dask_scheduler(tmp_path: Path) -> Iterator[str]:
    """A real ``dask scheduler`` and one ``dask worker`` on 127.0.0.1, random ports, torn down after."""
    dask = Path(sys.executable).parent / "dask"
    if not dask.exists():
        pytest.skip("dask command not installed in this environment")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with open(logs / "scheduler.log", "wb") as log:
            procs.append(subprocess.Popen([str(dask), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                           "--no-dashboard"], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True))
        _wait_for_port(port, procs[0], logs / "scheduler.log")
        with open(logs / "worker.log", "wb") as log:
            procs.append(subprocess.Popen([str(dask), "worker", address, "--nworkers", "1", "--nthreads", "1",
                                           "--no-dashboard", "--local-directory", str(tmp_path / "dask-scratch")],
                                          cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True))
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(1, timeout=60)
        yield address
    finally:
        for proc in reversed(procs):
            stop(proc)


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text(errors="replace")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    pytest.fail(f"dask scheduler did not listen on {port}: {log.read_text(errors='replace')}")


def test_dask_cluster_gives_the_local_results(tmp_path: Path, dask_scheduler: str,
                                              reference: tuple[Path, Path, CaseResult]) -> None:
    case, ref_out, ref = reference
    out = tmp_path / "out"
    result = run(case, out, scheduler=dask_scheduler, settings=demo_settings())
    assert result.outcome == ref.outcome
    assert result.failed == ref.failed
    assert sorted(result.scanned) == DONE
    assert jsonl(out, DONE) == jsonl(ref_out, DONE)
    local, remote = case_json(ref_out), case_json(out)
    assert remote["run"]["mode"] == "dask" and remote["run"]["scheduler"] == dask_scheduler
    for a, b in zip(local["devices"], remote["devices"], strict=True):
        for key in ("name", "status", "reason", "counts", "verification", "matches_by_category"):
            assert a[key] == b[key], (a["name"], key)
    assert remote["totals"] == local["totals"]
