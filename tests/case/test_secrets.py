"""`triage case --password`: locked volumes of a case opened on the local workers; a Dask cluster never gets them.

The LUKS2 volume is made by cryptsetup around usb.raw (fixtures/make_layers.luks2_with_volume). Oracle for what
it holds: fixtures/oracle/expected_usb.json (fls/icat of usb.raw).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, fixture_image

PASSWORD = "case-level-secret-7"


def triage(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "triage.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "COLUMNS": "200"}, timeout=600)


def test_case_password_opens_a_locked_device_and_never_leaks(tmp_path: Path) -> None:
    from fixtures.make_layers import luks2_with_volume

    case = tmp_path / "OP-SECRET"
    (case / "locked").mkdir(parents=True)
    try:
        luks2_with_volume(case / "locked" / "locked.img", fixture_image("usb.raw").read_bytes(), PASSWORD)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot build LUKS2 here: {exc}")
    done = triage("case", case, "-o", tmp_path / "out", "-j", "1", "--password", PASSWORD, "--debug")
    assert done.returncode == 0, done.stderr
    (summary_path,) = (tmp_path / "out").glob("*/summary.json")
    summary = json.loads(summary_path.read_text())
    assert [entry["unlocked"] for entry in summary["encryption"]] == [True]
    expected = json.loads((ROOT / "fixtures" / "oracle" / "expected_usb.json").read_text())
    found = {json.loads(line)["md5"] for line in (summary_path.parent / "files.jsonl").read_text().splitlines()}
    assert {f["md5"] for f in expected["files"] if f.get("md5")} <= found
    assert PASSWORD not in done.stderr + done.stdout
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path


def test_case_refuses_to_send_secrets_to_a_cluster(tmp_path: Path) -> None:
    (tmp_path / "case").mkdir()
    done = triage("case", tmp_path / "case", "-o", tmp_path / "out", "--scheduler", "tcp://127.0.0.1:1",
                  "--password", PASSWORD)
    assert done.returncode == 2
    assert "secrets are never sent to a Dask cluster" in done.stderr and PASSWORD not in done.stderr
