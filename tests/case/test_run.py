"""A whole case run on local processes: store, case.json/case.html, failures isolated, resume rules."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.case.conftest import BROKEN, DEVICES, build_case, case_json, jsonl, run, store_rows
from triage.case import EXIT_OK, EXIT_SOME_FAILED, CaseResult, CaseSettings, CaseStore
from triage.errors import EvidenceError, UsageError


def test_case_json_and_failures(reference: tuple[Path, Path, CaseResult]) -> None:
    case, out, result = reference
    assert result.exit_code == EXIT_SOME_FAILED
    assert sorted(result.scanned) == sorted(set(DEVICES) - {BROKEN})
    assert list(result.failed) == [BROKEN]
    assert "truncated" in result.failed[BROKEN]
    doc = case_json(out)
    assert doc["case_dir"] == str(case)
    assert [d["name"] for d in doc["devices"]] == sorted(DEVICES)
    totals = doc["totals"]
    assert (totals["devices"], totals["done"], totals["failed"]) == (5, 4, 1)
    devices = {d["name"]: d for d in doc["devices"]}
    files = 0
    for name in set(DEVICES) - {BROKEN}:
        summary = json.loads((out / name / "summary.json").read_text(encoding="utf-8"))
        dev = devices[name]
        assert dev["status"] == "done"
        assert dev["counts"] == summary["counts"]  # the store holds what the device's summary says
        assert dev["verification"] == summary["evidence"]["verification"]
        assert dev["output"] == str(out / name)
        files += summary["counts"]["files"]
    assert totals["files"] == files
    # Both E01 sets store the media md5 (realdata README): verified; raw media has nothing stored.
    assert devices["ext2.split"]["verification"] == "verified"
    assert devices["ext2-2"]["verification"] == "verified"
    assert devices["mbr"]["verification"] == "not stored"
    assert devices["ext2.split"]["evidence"]["paths"] == [
        str(case / "suspect-A/laptop/ext2.split.E01"), str(case / "suspect-A/laptop/ext2.split.E02")]
    assert doc["failures"] == [{"device": BROKEN, "status": "failed", "reason": result.failed[BROKEN]}]
    assert {s["path"] for s in doc["skipped"]} == {"broken/ext2.E01.txt", "hashes.md5", "notes.txt",
                                                   "report.pdf", "suspect-B/loop/"}
    assert doc["settings"]["hashsets"] == [] and doc["settings"]["verify"] is True
    html = (out / "case.html").read_text(encoding="utf-8")
    assert "<img" not in html and "<script" not in html and "http" not in html.split("</head>")[1]
    assert "truncated" in html and "ext2.splitraw" in html
    assert not (out / BROKEN).exists()


def test_second_run_does_no_device_work(tmp_path: Path) -> None:
    case = build_case(tmp_path)
    out = tmp_path / "out"
    run(case, out, jobs=2)
    before = store_rows(out)
    outputs = jsonl(out, [n for n in DEVICES if n != BROKEN])
    second = run(case, out, jobs=2)
    after = store_rows(out)
    assert sorted(second.reused) == sorted(set(DEVICES) - {BROKEN})
    assert second.scanned == []
    for name in set(DEVICES) - {BROKEN}:
        for key in ("scans", "started", "finished", "run_id", "files_jsonl_sha256"):
            assert after[name][key] == before[name][key], (name, key)
    assert after[BROKEN]["scans"] == before[BROKEN]["scans"] + 1  # failed devices are tried again
    assert jsonl(out, list(outputs)) == outputs
    assert case_json(out)["runs"] == 2


def test_changed_evidence_missing_output_and_new_settings_are_redone(tmp_path: Path) -> None:
    case = build_case(tmp_path)
    out = tmp_path / "out"
    run(case, out, jobs=2)
    before = store_rows(out)
    # Evidence replaced in place: same name, different content.
    shutil.copyfile(case / "suspect-A/usb/mbr.raw", tmp_path / "mbr.keep")
    raw = bytearray((case / "suspect-A/usb/mbr.raw").read_bytes())
    raw[-1] ^= 0xFF
    (case / "suspect-A/usb/mbr.raw").write_bytes(bytes(raw))
    # An output folder damaged after the run: summary.json gone.
    (out / "ext2.splitraw" / "summary.json").unlink()
    second = run(case, out, jobs=2)
    assert sorted(second.scanned) == ["ext2.splitraw", "mbr"]
    assert sorted(second.reused) == ["ext2-2", "ext2.split"]
    after = store_rows(out)
    assert after["mbr"]["identity"] != before["mbr"]["identity"]
    assert after["ext2.split"]["scans"] == 1
    # A hash set added: every device is redone, and its matches land in the store.
    md5 = json.loads((out / "ext2.split" / "files.jsonl").read_text().splitlines()[0])["md5"]
    hashset = tmp_path / "set.csv"
    hashset.write_text(f"md5,category,name\n{md5},2,synthetic test entry\n")
    third = run(case, out, jobs=2, settings=CaseSettings(hashsets=[str(hashset)]))
    assert sorted(third.scanned) == sorted(set(DEVICES) - {BROKEN})
    store = CaseStore(out / "case.sqlite")
    try:
        matches = store.matches()
    finally:
        store.close()
    assert {m["device"] for m in matches} >= {"ext2.split", "ext2-2", "ext2.splitraw"}
    assert {(m["md5"], m["category"], m["algorithm"], m["hashset"]) for m in matches} == {
        (md5, "2", "md5", "set.csv")}
    doc = case_json(out)
    assert doc["totals"]["matches_by_category"]["2"] >= 3
    assert doc["settings"]["hashsets"][0]["name"] == "set.csv"
    assert doc["devices"][1]["matches_by_hashset"] == {"set.csv": 1}


def test_all_done_exit_code_and_usage_errors(tmp_path: Path) -> None:
    case = build_case(tmp_path)
    shutil.rmtree(case / "broken")
    result = run(case, tmp_path / "out", jobs=1)
    assert result.exit_code == EXIT_OK
    with pytest.raises(UsageError, match="inside the case directory"):
        run(case, case / "triage-out")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("nothing here\n")
    with pytest.raises(EvidenceError, match="no evidence found"):
        run(empty, tmp_path / "out2")
