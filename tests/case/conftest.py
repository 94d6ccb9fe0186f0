"""A case directory built in tmp from the committed synthetic fixture images: devices, one broken, clutter.

Layout (device names in brackets, as discovery must name them):

    suspect-A/laptop/laptop_seg.E01 .E02 .E03   three-segment E01 set (GPT: FAT, ext4, NTFS)  [laptop_seg]
    suspect-A/usb/usb.raw                       raw, a file system without partition table   [usb-2]
    suspect-B/phone/phone.raw                   raw, MBR                                      [phone]
    broken/usb.E01                              the usb E01 cut in half (truncated)           [usb]
    notes.txt, report.pdf, hashes.md5, broken/usb.E01.txt (ewfacquire log)                    skipped
    suspect-B/loop -> ..                        symlink loop                                  skipped

SYNTHETIC DATA ONLY: the fixture pictures are generated; the demo hash set's categories are labels.
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

from tests.conftest import ROOT, fixture_image
from triage.case import CaseResult, CaseSettings, run_case

DEVICES = ["laptop_seg", "phone", "usb", "usb-2"]
BROKEN = "usb"
DONE = sorted(set(DEVICES) - {BROKEN})
DEMO_SET = ROOT / "hashsets" / "demo_vics2.json"


def build_case(root: Path) -> Path:
    """Write the case directory described in the module docstring under ``root``."""
    case = root / "OP-123"
    for folder in ("suspect-A/laptop", "suspect-A/usb", "suspect-B/phone", "broken"):
        (case / folder).mkdir(parents=True)
    for name in ("laptop_seg.E01", "laptop_seg.E02", "laptop_seg.E03"):
        shutil.copyfile(fixture_image(name), case / "suspect-A/laptop" / name)
    shutil.copyfile(fixture_image("usb.raw"), case / "suspect-A/usb/usb.raw")
    shutil.copyfile(fixture_image("phone.raw"), case / "suspect-B/phone/phone.raw")
    data = fixture_image("usb.E01").read_bytes()
    (case / "broken/usb.E01").write_bytes(data[: len(data) // 2])
    (case / "notes.txt").write_text("Seized 2024-03-01, two suspects, see exhibit list.\n")
    (case / "report.pdf").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")
    (case / "hashes.md5").write_text("196066add11fb71c4c49cf1bb50d6d24  usb.raw\n")
    (case / "broken/usb.E01.txt").write_text("ewfacquire 20140813\n\nAcquiry information\nCase number: 1\n")
    os.symlink("..", case / "suspect-B/loop")
    return case


def demo_settings() -> CaseSettings:
    """The settings of the reference run: the synthetic demo VICS set (categories 1-3)."""
    if not DEMO_SET.exists():
        pytest.fail(f"{DEMO_SET} missing: rebuild with hashsets/make_demo_sets.py")
    return CaseSettings(hashsets=[str(DEMO_SET)])


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
    return case, out, run(case, out, jobs=2, settings=demo_settings())
