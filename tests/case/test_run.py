"""A whole case run on local processes: store, case.json/case.html, failures isolated, resume rules."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.case.conftest import BROKEN, DEMO_SET, DEVICES, DONE, build_case, case_json, jsonl, run, store_rows
from triage.case import DONE as ALL_DONE
from triage.case import SOME_FAILED, CaseResult, CaseSettings, CaseStore
from triage.errors import EvidenceError, UsageError


def test_case_json_and_failures(reference: tuple[Path, Path, CaseResult]) -> None:
    case, out, result = reference
    assert result.outcome == SOME_FAILED
    assert sorted(result.scanned) == DONE
    assert list(result.failed) == [BROKEN]
    assert "truncated" in result.failed[BROKEN]
    doc = case_json(out)
    assert doc["case_dir"] == str(case)
    assert sorted(d["name"] for d in doc["devices"]) == DEVICES
    # Examination order (triage.case.rank): laptop_seg has the most category 1 files; phone and usb-2 tie on
    # category 1 and 3 matched files each, so their names decide; the failed device follows the matched ones.
    assert [d["name"] for d in doc["devices"]] == ["laptop_seg", "phone", "usb-2", BROKEN]
    totals = doc["totals"]
    assert (totals["devices"], totals["done"], totals["failed"]) == (4, 3, 1)
    devices = {d["name"]: d for d in doc["devices"]}
    files = matched = 0
    categories: dict[str, int] = {}
    for name in DONE:
        summary = json.loads((out / name / "summary.json").read_text(encoding="utf-8"))
        dev = devices[name]
        assert dev["status"] == "done"
        assert dev["counts"] == summary["counts"]  # the store holds what the device's summary says
        assert dev["verification"] == summary["evidence"]["verification"]
        assert dev["matches_by_category"] == summary["matches_by_category"]
        assert dev["matches_by_hashset"] == summary["matches_by_hashset"]
        assert dev["output"] == str(out / name)
        files += summary["counts"]["files"]
        matched += summary["counts"]["matched"]
        for cat, n in summary["matches_by_category"].items():
            categories[cat] = categories.get(cat, 0) + n
    assert (totals["files"], totals["matched"]) == (files, matched)
    assert totals["matches_by_category"] == categories
    assert matched > 0 and set(categories) <= {"1", "2", "3"}
    assert devices["laptop_seg"]["verification"] == "verified"  # ewfacquire stored the media md5
    assert devices["phone"]["verification"] == "not stored"
    assert devices["laptop_seg"]["evidence"]["paths"] == [
        str(case / "suspect-A/laptop" / f"laptop_seg.E0{i}") for i in (1, 2, 3)]
    assert doc["failures"] == [{"device": BROKEN, "status": "failed", "reason": result.failed[BROKEN]}]
    assert {s["path"] for s in doc["skipped"]} == {"broken/usb.E01.txt", "hashes.md5", "notes.txt", "report.pdf",
                                                   "suspect-B/loop/"}
    assert [h["name"] for h in doc["settings"]["hashsets"]] == [DEMO_SET.name]
    assert doc["settings"]["verify"] is True
    html = (out / "case.html").read_text(encoding="utf-8")
    assert "<img" not in html and "<script" not in html and "http" not in html.split("</head>")[1]
    assert "truncated" in html and "laptop_seg" in html and DEMO_SET.name in html
    assert not (out / BROKEN).exists()


def test_second_run_does_no_device_work(tmp_path: Path) -> None:
    case = build_case(tmp_path)
    out = tmp_path / "out"
    run(case, out, jobs=2)
    before = store_rows(out)
    outputs = jsonl(out, DONE)
    second = run(case, out, jobs=2)
    after = store_rows(out)
    assert sorted(second.reused) == DONE
    assert second.scanned == []
    for name in DONE:
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
    # Evidence replaced in place: same name, different content (last byte of the usb media).
    raw = bytearray((case / "suspect-A/usb/usb.raw").read_bytes())
    raw[-1] ^= 0xFF
    (case / "suspect-A/usb/usb.raw").write_bytes(bytes(raw))
    # An output folder damaged after the run: summary.json gone.
    (out / "phone" / "summary.json").unlink()
    second = run(case, out, jobs=2)
    assert sorted(second.scanned) == ["phone", "usb-2"]
    assert second.reused == ["laptop_seg"]
    after = store_rows(out)
    assert after["usb-2"]["identity"] != before["usb-2"]["identity"]
    assert after["laptop_seg"]["scans"] == 1
    # A hash set added: every device is redone, and its matches land in the store.
    md5 = json.loads((out / "usb-2" / "files.jsonl").read_text().splitlines()[-1])["md5"]
    hashset = tmp_path / "set.csv"
    hashset.write_text(f"md5,category,name\n{md5},2,synthetic test entry\n")
    third = run(case, out, jobs=2, settings=CaseSettings(hashsets=[str(hashset)]))
    assert sorted(third.scanned) == DONE
    store = CaseStore(out / "case.sqlite")
    try:
        matches = store.matches()
    finally:
        store.close()
    assert "usb-2" in {m["device"] for m in matches}
    assert {(m["md5"], m["category"], m["algorithm"], m["hashset"]) for m in matches} == {
        (md5, "2", "md5", "set.csv")}
    doc = case_json(out)
    assert doc["totals"]["matches_by_category"]["2"] >= 1
    assert doc["settings"]["hashsets"][0]["name"] == "set.csv"
    assert next(d for d in doc["devices"] if d["name"] == "usb-2")["matches_by_hashset"]["set.csv"] >= 1


def test_all_done_exit_code_and_usage_errors(tmp_path: Path) -> None:
    case = build_case(tmp_path)
    shutil.rmtree(case / "broken")
    shutil.rmtree(case / "suspect-A/laptop")
    result = run(case, tmp_path / "out", jobs=1)
    assert result.outcome == ALL_DONE
    with pytest.raises(UsageError, match="inside the case directory"):
        run(case, case / "triage-out")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("nothing here\n")
    with pytest.raises(EvidenceError, match="no evidence found"):
        run(empty, tmp_path / "out2")
