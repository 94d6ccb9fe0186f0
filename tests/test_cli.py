"""The command line: CliRunner and a real subprocess; one-line errors and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from tests.conftest import realdata
from triage.cli import main


def test_scan_cli_runner(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["scan", str(realdata("ext2.E01")), "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ext2" / "summary.json").exists()
    assert "files 3" in result.output


def test_scan_subprocess(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "triage.cli", "scan", str(realdata("mbr.raw")), "-o", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "mbr" / "summary.json").read_text())
    assert summary["counts"]["files"] == 6
    assert proc.stdout == ""


def run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "triage.cli", *args], capture_output=True, text=True,
                          timeout=120)


def test_missing_file_exit_3(tmp_path: Path) -> None:
    proc = run(["scan", str(tmp_path / "nope.E01"), "-o", str(tmp_path / "out")])
    assert proc.returncode == 3
    assert proc.stderr.strip().count("\n") == 0
    assert "nope.E01: no such file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_debug_on_the_group_or_the_command(tmp_path: Path) -> None:
    missing_image, missing_set = str(tmp_path / "nope.E01"), str(tmp_path / "nope.csv")
    for args in (["--debug", "scan", missing_image], ["scan", "--debug", missing_image],
                 ["--debug", "hashset", "info", missing_set]):
        proc = run(args)
        assert proc.returncode in (2, 3) and "Traceback" in proc.stderr, (args, proc.stderr)
    assert "Traceback" not in run(["scan", missing_image]).stderr


def test_not_an_image_exit_3(tmp_path: Path) -> None:
    proc = run(["scan", str(realdata("bogus.001")), "-o", str(tmp_path / "out")])
    assert proc.returncode == 3
    assert "not a disk image" in proc.stderr and "Traceback" not in proc.stderr


def test_usage_exit_2(tmp_path: Path) -> None:
    proc = run(["scan"])
    assert proc.returncode == 2


def test_out_inside_evidence_folder_refused(tmp_path: Path) -> None:
    evidence_dir = tmp_path / "case"
    evidence_dir.mkdir()
    proc = run(["scan", str(evidence_dir), "-o", str(evidence_dir / "out")])
    assert proc.returncode == 2
    assert "inside the evidence folder" in proc.stderr


def test_case_progress_shows_each_device_and_an_eta_from_bytes() -> None:
    """The case display: a row per device with its state, an overall row counting evidence bytes (ETA)."""
    import io
    import re
    import time

    from rich.console import Console

    from triage.case.runner import CaseEvent
    from triage.cli.views import CaseProgressView

    buffer = io.StringIO()
    view = CaseProgressView(Console(file=buffer, force_terminal=True, width=160, color_system=None))
    with view:
        view(CaseEvent("plan", devices_total=3, reused=1, total_bytes=3000))
        for name, size in (("laptop", 2000), ("phone", 500), ("usb", 500)):
            view(CaseEvent("queued", name, total_bytes=size))
        view(CaseEvent("start", "laptop", host="lab-1"))
        view(CaseEvent("listed", "laptop", total_bytes=1000))
        time.sleep(0.2)
        view(CaseEvent("advance", "laptop", bytes_done=500, files=10, matched=2))
        view(CaseEvent("start", "phone"))
        view(CaseEvent("quick", "phone", devices_finished=1, first_hit_after=0.42))
        view(CaseEvent("failed", "usb", reason="truncated", devices_finished=2))
        time.sleep(0.2)
        view.progress.refresh()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buffer.getvalue())
    last = text[text.rindex("case (1 done earlier)"):]
    # laptop half read (weight 2000 of 3000), phone stopped at its first hit, usb failed: 2.0 of 3.0 kB.
    assert "2/3 devices" in last and "2.0 kB/3.0 kB" in last
    assert re.search(r"laptop +reading .*500 bytes/1.0 kB +10 files 2 matched", last)
    assert re.search(r"phone +first hit after 0.4 s", last) and re.search(r"usb +failed", last)
    assert "failed usb: truncated" in text and "first hit after 0.4 s phone" in text
