"""Bounded work on every input: absurd sizes, decompression bombs and runaway trees end quickly and small."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from fixtures.make_corpus import Case
from tests.robustness.conftest import ROOT, case, device_dir, load
from triage.scan import ScanSettings, scan_device
from triage.sources.filesystems import tsk


def scan_measured(evidence: Path, out: Path) -> tuple[int, float, int]:
    """Run ``triage scan`` in a child; returns (exit code, seconds, peak RSS in MiB of that child)."""
    from tests.conftest import run_measured

    start = time.monotonic()
    code, _, peak = run_measured([sys.executable, "-m", "triage.cli", "scan", str(evidence), "-o", str(out), "-j",
                                  "1"], cwd=ROOT)
    return code, time.monotonic() - start, peak // 1024


def test_absurd_size_is_an_error_not_a_loop(corpus: dict[str, Case], tmp_path: Path) -> None:
    found = case(corpus, "ext4_huge_size")
    assert found.evidence is not None
    code, seconds, _ = scan_measured(found.evidence, tmp_path)
    assert code == 0 and seconds < 30
    summary, records = load(device_dir(tmp_path))
    huge = next(r for r in records if r["path"] == "/data/f1.bin")
    assert huge["size"] == 10995116277760 and huge["sha256"] is None
    assert huge["errors"] == ["recorded size 10995116277760 exceeds 4x the volume (4194304 bytes); content not read"]
    assert summary["counts"]["errors"] == 1


def test_decompression_bomb_not_decoded(corpus: dict[str, Case], tmp_path: Path) -> None:
    """30000 x 30000 pixels would take 900 MB decoded; the scan stays far below and records the refusal."""
    found = case(corpus, "picture_bomb")
    assert found.evidence is not None
    code, _, peak_mib = scan_measured(found.evidence, tmp_path)
    assert code == 0
    assert peak_mib < 300, f"peak RSS {peak_mib} MiB: the bomb was decoded?"
    _, records = load(device_dir(tmp_path))
    by_path = {r["path"]: r for r in records}
    bomb = by_path["/pics/bomb.png"]
    assert bomb["type"] == "image/png" and bomb["pdq"] is None and bomb["phash"] is None
    assert bomb["sha256"] is not None  # the file itself was read and hashed; only decoding was refused
    assert bomb["errors"] == ["picture: decompression bomb: 900000000 pixels"]
    assert by_path["/pics/ok.png"]["pdq"] is not None and not by_path["/pics/ok.png"]["errors"]


def test_enumeration_cap_reported(corpus: dict[str, Case], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    found = case(corpus, "enumeration_cap")
    assert found.evidence is not None
    monkeypatch.setattr(tsk, "MAX_ENTRIES", 100)
    _, summary = scan_device(found.evidence, tmp_path, ScanSettings(jobs=1))
    volume = summary["volumes"][0]
    assert volume["files"] == 100 and summary["counts"]["files"] == 100
    assert "enumeration cap of 100 streams reached; walk stopped" in volume["notes"]


def test_enumeration_without_cap(corpus: dict[str, Case], tmp_path: Path) -> None:
    found = case(corpus, "enumeration_cap")
    assert found.evidence is not None
    _, summary = scan_device(found.evidence, tmp_path, ScanSettings(jobs=1))
    assert summary["counts"]["files"] == 300 and not summary["volumes"][0]["notes"]
