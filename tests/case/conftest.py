"""A case directory built in tmp from the team's real public images: several devices, one broken, clutter.

Layout (device names in brackets, as discovery must name them):

    suspect-A/laptop/ext2.split.E01 + .E02   two-segment E01 set             [ext2.split]
    suspect-A/usb/mbr.raw                    raw, MBR with two partitions     [mbr]
    suspect-B/ext2.splitraw.000 + .001       split raw starting at .000      [ext2.splitraw]
    suspect-B/phone/ext2.E01                 single E01                      [ext2-2]
    broken/ext2.E01                          the E01 cut short (truncated)   [ext2]
    notes.txt, report.pdf, hashes.md5, broken/ext2.E01.txt (ewfacquire log)  skipped
    suspect-B/loop -> ..                     symlink loop                    skipped
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REALDATA
from triage.case import CaseResult, CaseSettings, run_case

SOURCES = ["ext2.split.E01", "ext2.split.E02", "mbr.raw", "ext2.splitraw.000", "ext2.splitraw.001", "ext2.E01"]
DEVICES = ["ext2", "ext2-2", "ext2.split", "ext2.splitraw", "mbr"]
BROKEN = "ext2"


def build_case(root: Path) -> Path:
    """Write the case directory described in the module docstring under ``root``; skip without realdata."""
    missing = [name for name in SOURCES if not (REALDATA / name).exists()]
    if missing:
        pytest.skip(f"real test images {missing} not present (../shared/realdata)")
    case = root / "OP-123"
    for folder in ("suspect-A/laptop", "suspect-A/usb", "suspect-B/phone", "broken"):
        (case / folder).mkdir(parents=True)
    for name in ("ext2.split.E01", "ext2.split.E02"):
        shutil.copyfile(REALDATA / name, case / "suspect-A/laptop" / name)
    shutil.copyfile(REALDATA / "mbr.raw", case / "suspect-A/usb/mbr.raw")
    for name in ("ext2.splitraw.000", "ext2.splitraw.001"):
        shutil.copyfile(REALDATA / name, case / "suspect-B" / name)
    shutil.copyfile(REALDATA / "ext2.E01", case / "suspect-B/phone/ext2.E01")
    data = (REALDATA / "ext2.E01").read_bytes()
    (case / "broken/ext2.E01").write_bytes(data[: len(data) // 2])
    (case / "notes.txt").write_text("Seized 2024-03-01, two suspects, see exhibit list.\n")
    (case / "report.pdf").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")
    (case / "hashes.md5").write_text("196066add11fb71c4c49cf1bb50d6d24  ext2.raw\n")
    (case / "broken/ext2.E01.txt").write_text("ewfacquire 20140608\n\nAcquiry information\nCase number: 1\n")
    os.symlink("..", case / "suspect-B/loop")
    return case


def run(case: Path, out: Path, **kwargs: Any) -> CaseResult:
    """One case run with the test cache directory (so no test touches the user's cache)."""
    settings = kwargs.pop("settings", None) or CaseSettings()
    if settings.cache_dir is None:
        settings.cache_dir = out.parent / "hashset-cache"
    return run_case(case, out, settings, **kwargs)


def jsonl(out: Path, names: list[str]) -> dict[str, bytes]:
    """files.jsonl of each device, as bytes."""
    return {name: (out / name / "files.jsonl").read_bytes() for name in names}


def store_rows(out: Path) -> dict[str, dict[str, Any]]:
    """The devices table, read with a fresh connection (as another process would)."""
    db = sqlite3.connect(out / "case.sqlite")
    db.row_factory = sqlite3.Row
    try:
        return {r["name"]: dict(r) for r in db.execute("SELECT * FROM devices")}
    finally:
        db.close()


def case_json(out: Path) -> dict[str, Any]:
    return json.loads((out / "case.json").read_text(encoding="utf-8"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, CaseResult]:
    """One uninterrupted local run of the case (case dir, output dir, result), shared by the module's tests."""
    root = tmp_path_factory.mktemp("case")
    case = build_case(root)
    out = root / "out"
    return case, out, run(case, out, jobs=2)
