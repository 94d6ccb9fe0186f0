"""Issue 3 on real scans of the fixture devices: every planted known picture is matched, wherever it hides.

Exact copies (renamed, wrong extension, deleted, in an NTFS alternate data stream) match by md5; the resized
50 %, recompressed q55, greyscale and 3 %-cropped copies of known_01 match perceptually; the unrelated textured
pictures never match. Which file holds what comes from the fixture oracle (`source` = the planted picture).
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import FIXTURES, ROOT
from triage.known import HashSets
from triage.scan import ScanSettings, scan_device

DEVICES = {"laptop": "laptop.E01", "usb": "usb.raw", "phone": "phone.raw", "camera": "camera.raw", "iso": "iso.iso"}


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict, dict]]:
    tmp = tmp_path_factory.mktemp("match")
    sets = HashSets.load([str(ROOT / "hashsets" / "demo_vics2.json"), str(ROOT / "hashsets" / "demo_alert.md5")],
                         cache_dir=tmp / "cache")
    out = {}
    for device, image in DEVICES.items():
        target, summary = scan_device(FIXTURES / image, tmp, ScanSettings(hashsets=sets, jobs=2))
        offsets = {v["index"]: v["offset"] for v in summary["volumes"] if v["role"] == "partition"}
        rows = {(offsets[r["volume"]], r["path"]): r
                for r in map(json.loads, (target / "files.jsonl").read_text().splitlines())}
        oracle = json.loads((ROOT / "fixtures" / "oracle" / f"expected_{device}.json").read_text())
        sources = {(f["offset"], f["path"]): f["source"] for f in oracle["files"] if f["source"]}
        out[device] = (rows, sources)
    return out


def planted(scanned: dict, prefix: str) -> list[tuple[str, str, dict]]:
    found = []
    for device, (rows, sources) in scanned.items():
        for key, source in sources.items():
            if source.startswith(prefix):
                found.append((device, source, rows[key]))
    return found


def test_every_exact_copy_matched(scanned: dict) -> None:
    copies = planted(scanned, "known/")
    assert len(copies) >= 15
    assert any(not r["allocated"] for _, _, r in copies)  # deleted copies
    assert any(":" in r["path"] for _, _, r in copies)  # an NTFS alternate data stream
    assert any(r["ext_mismatch"] for _, _, r in copies)  # holiday.txt
    for device, source, row in copies:
        algorithms = {m["algorithm"] for m in row["matches"]}
        assert "md5" in algorithms, (device, source, row["path"])


@pytest.mark.parametrize("variant", ["resized50", "q55", "grey", "crop3"])
def test_variants_matched_perceptually(scanned: dict, variant: str) -> None:
    (device, _, row), = planted(scanned, f"variants/known_01_{variant}")
    hits = [m for m in row["matches"] if m["algorithm"] in ("pdq", "phash")]
    assert hits, (device, row["path"], row.get("pdq"), row.get("phash"))
    assert all(m["label"] == hits[0]["label"] for m in hits)


def test_unrelated_pictures_never_match(scanned: dict) -> None:
    unrelated = planted(scanned, "unrelated/")
    assert len(unrelated) >= 10
    for device, source, row in unrelated:
        assert row["matches"] == [], (device, source, row["path"], row["matches"])
