"""Robustness tests: the hostile/damaged corpus is built once per session into a temporary folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fixtures.make_corpus import Case, build_corpus

ROOT = Path(__file__).resolve().parents[2]
NEEDED = ("mkfs.ext4", "debugfs", "mkfs.fat", "mcopy", "mmd", "mkntfs", "ntfscp", "fls", "sfdisk", "ewfacquire")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    """Every corpus case, built by fixtures/make_corpus.py (skips when a Debian tool is missing)."""
    missing = [t for t in NEEDED if not (shutil.which(t) or shutil.which(t, path="/usr/sbin:/sbin"))]
    if missing:
        pytest.skip(f"Debian tools missing: {', '.join(missing)} (./setup.sh installs them)")
    return build_corpus(tmp_path_factory.mktemp("corpus"))


def case(corpus: dict[str, Case], name: str) -> Case:
    found = corpus.get(name)
    if found is None or found.skip:
        pytest.skip(found.skip if found else f"corpus case {name} not built")
    return found


def triage(*args: str | Path, timeout: float = 120, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a child process, as an examiner would."""
    return subprocess.run([sys.executable, "-m", "triage.cli", *(str(a) for a in args)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env={**os.environ, "COLUMNS": "200"}, **kwargs)


def device_dir(out: Path) -> Path:
    """The single device folder a one-image scan wrote."""
    folders = [p for p in out.iterdir() if p.is_dir()]
    assert len(folders) == 1, folders
    return folders[0]


def load(folder: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    records = [json.loads(line) for line in (folder / "files.jsonl").read_text(encoding="utf-8").splitlines()]
    return summary, records


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *texts: str, code: int = 3) -> str:
    """Exit ``code`` (3: evidence unusable), one line on stderr naming what is wrong, no traceback, nothing on
    stdout; returns the line."""
    assert proc.returncode == code, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    for text in texts:
        assert text in lines[0], (text, lines[0])
    assert proc.stdout == ""
    return lines[0]


def without_dac_override() -> list[str] | None:
    """A command prefix that runs a child as root but without CAP_DAC_OVERRIDE, so permissions apply.

    Why not uid 65534: the interpreter and the venv live under /root here, unreadable to nobody; dropping the
    two capabilities that let root ignore file modes tests the same thing.
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--"]
    probe = subprocess.run([*prefix, "true"], capture_output=True, check=False)
    return prefix if probe.returncode == 0 else None
