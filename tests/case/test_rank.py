"""The case ranks its devices for examination, and ``--quick`` ranks it fast, then a full run completes it.

The case is built in tmp from the committed fixture images (fixtures/images) and one LUKS2 volume that cryptsetup
makes around usb.raw (fixtures/make_layers.py), scanned without its password, so locked:

    laptop/laptop_seg.E01-.E03   1 file listed in category A          [laptop_seg]
    phone/phone.raw              2 files in category A                [phone]
    usb/usb.raw                  3 files in category B                [usb]
    camera/camera.raw            1 file in a list without categories  [camera]
    broken/broken.E01            usb.E01 cut in half: the scan fails  [broken]
    locked/locked.img            LUKS2 (usb.raw inside), locked       [locked]
    disc/iso.iso                 nothing listed                       [iso]

The hash sets are written here: a CSV (md5, category, name) and a plain md5 list. Every md5 is the TSK oracle's
(fixtures/oracle/expected_*.json, ``icat | md5sum`` of each file), and each is on one device only.

SYNTHETIC DATA ONLY: the files are generated; "category A/B" are labels on generated pictures and text files.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.case.conftest import case_json, run, store_rows
from tests.conftest import fixture_image
from triage.case import CaseResult, CaseSettings, CaseStore
from triage.case.rank import RULE, rank
from triage.errors import UsageError

# md5 -> (category, label, device): from fixtures/oracle/expected_<device>.json.
GRADED = {
    "bbf90773130ed2f096ff74ad64871284": ("A", "UK Category A", "laptop_seg"),  # /DCIM/100SYNTH/IMG_0002.jpg
    "8c844690d65a14d1d9d9aac16fc20be6": ("A", "UK Category A", "phone"),  # /DCIM/Camera/IMG_20200601_120500.jpg
    "735d20a16ec0b96716482d51a939118b": ("A", "UK Category A", "phone"),  # /DCIM/Camera/IMG_20200601_121000.gif
    "8ffed58dcfe2efe628d9ab6721c93cff": ("B", "UK Category B", "usb"),  # /DCIM/IMG_1001.jpg
    "1100c068d8c10b4ca708d9f07108a335": ("B", "UK Category B", "usb"),  # /DCIM/IMG_1002.png
    "4e4fd65ecffa139e3efe8e84c3f8293a": ("B", "UK Category B", "usb"),  # /readme.txt
}
UNGRADED = {"2c72076a26aaf892f751bd32778c2a85": "camera"}  # /MISC/settings.dat
ORDER = ["phone", "laptop_seg", "usb", "camera", "broken", "locked", "iso"]
PASSWORD = "not-given-to-the-scan"


def build_ranking_case(root: Path) -> Path:
    """The case directory of the module docstring under ``root`` (skips the test without cryptsetup)."""
    from fixtures.make_layers import luks2_with_volume

    case = root / "OP-RANK"
    for folder in ("laptop", "phone", "usb", "camera", "broken", "locked", "disc"):
        (case / folder).mkdir(parents=True)
    for name in ("laptop_seg.E01", "laptop_seg.E02", "laptop_seg.E03"):
        shutil.copyfile(fixture_image(name), case / "laptop" / name)
    for name, folder in (("phone.raw", "phone"), ("usb.raw", "usb"), ("camera.raw", "camera"), ("iso.iso", "disc")):
        shutil.copyfile(fixture_image(name), case / folder / name)
    data = fixture_image("usb.E01").read_bytes()
    (case / "broken/broken.E01").write_bytes(data[: len(data) // 2])
    try:
        luks2_with_volume(case / "locked/locked.img", fixture_image("usb.raw").read_bytes(), PASSWORD)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot build LUKS2 here: {exc}")
    return case


def ranking_sets(folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    graded, plain = folder / "graded.csv", folder / "plain.md5"
    graded.write_text("md5,category,name\n" + "".join(f"{md5},{cat},{label}\n"
                                                      for md5, (cat, label, _dev) in GRADED.items()))
    plain.write_text("".join(f"{md5}\n" for md5 in UNGRADED))
    return [str(graded), str(plain)]


def settings(root: Path, quick: bool = False) -> CaseSettings:
    return CaseSettings(hashsets=ranking_sets(root / "sets"), quick=quick)


@pytest.fixture(scope="module")
def ranked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, CaseResult]:
    """One full run of the ranking case (case dir, output dir, result)."""
    root = tmp_path_factory.mktemp("rank")
    case = build_ranking_case(root)
    out = root / "out"
    return case, out, run(case, out, jobs=2, settings=settings(root))


def test_devices_in_examination_order(ranked: tuple[Path, Path, CaseResult]) -> None:
    _case, out, result = ranked
    doc = case_json(out)
    assert [d["name"] for d in doc["devices"]] == ORDER
    assert [d["rank"] for d in doc["devices"]] == list(range(1, len(ORDER) + 1))
    assert [d["name"] for d in result.devices] == ORDER  # the terminal table's order
    tiers = {d["name"]: d["tier"] for d in doc["devices"]}
    assert tiers == {"phone": 1, "laptop_seg": 1, "usb": 1, "camera": 2, "broken": 3, "locked": 4, "iso": 5}
    assert doc["ranking_rule"] == RULE
    why = {d["name"]: d["why"] for d in doc["devices"]}
    # More matched files first within category A (phone 2, laptop_seg 1); B after A though usb has 3 files. The
    # categories are named by the labels of the set ("UK Category A"), never as a bare letter.
    unverifiable = "media not verifiable (no stored hash)"
    assert why["phone"] == f"2 files in UK Category A; {unverifiable}"
    assert why["laptop_seg"] == "1 file in UK Category A; media verified"
    assert why["usb"] == f"3 files in UK Category B; {unverifiable}"
    assert why["camera"] == f"1 file matched without a category (plain.md5); {unverifiable}"
    assert why["broken"].startswith("scan FAILED, nothing on it was examined:") and "truncated" in why["broken"]
    assert why["locked"] == f"no matches; 1 locked LUKS2 volume NOT examined; {unverifiable}"
    assert why["iso"] == f"no matches; {unverifiable}"
    for name, device in ((d["name"], d) for d in doc["devices"]):
        if name == "broken":
            assert device["links"] == {}
            continue
        assert device["links"] == {"report": f"{name}/report.html", "matched": f"{name}/matched.csv"}
        assert (out / device["links"]["report"]).is_file() and (out / device["links"]["matched"]).is_file()
    assert doc["totals"]["category_labels"] == {"A": ["UK Category A"], "B": ["UK Category B"]}


def test_case_html_ranks_and_links(ranked: tuple[Path, Path, CaseResult]) -> None:
    _case, out, _result = ranked
    html = (out / "case.html").read_text(encoding="utf-8")
    body = html.split("<h2>Devices in examination order</h2>", 1)[1].split("<h2>Totals</h2>", 1)[0]
    positions = [body.index(f'<td class="name">{name}</td>') for name in ORDER]
    assert positions == sorted(positions)
    assert '<a href="phone/report.html">report.html</a>' in body
    assert '<a href="phone/matched.csv">matched.csv</a>' in body
    assert "Devices are ranked:" in html and "1 locked LUKS2 volume NOT examined" in body
    assert "<img" not in html and "<script" not in html and "data:" not in html
    assert ">A: " not in html and ">B: " not in html  # never a bare category: "UK Category A: 2"
    assert "UK Category A: 2" in html


def test_device_report_opens_with_the_verdict(ranked: tuple[Path, Path, CaseResult]) -> None:
    _case, out, _result = ranked
    lines = {}
    for name in ("phone", "locked", "iso"):
        html = (out / name / "report.html").read_text(encoding="utf-8")
        lines[name] = html.split('id="verdict">', 1)[1].split("</p>", 1)[0]
        assert html.index('id="verdict"') < html.index('id="glance"')
    assert lines == {
        "phone": "2 files matched, highest UK Category A; media not verifiable (no stored hash)",
        "locked": "no matches; 1 locked LUKS2 volume NOT examined; media not verifiable (no stored hash)",
        "iso": "no matches; media not verifiable (no stored hash)",
    }
    laptop = (out / "laptop_seg" / "report.html").read_text(encoding="utf-8")
    assert 'id="verdict">1 file matched, highest UK Category A; media verified</p>' in laptop


def test_quick_then_full_equals_full(tmp_path: Path, ranked: tuple[Path, Path, CaseResult]) -> None:
    """--quick stops each device with a match at its first one; a run without it completes exactly those."""
    case, ref_out, _ref = ranked
    out = tmp_path / "out"
    quick = run(case, out, jobs=2, settings=settings(tmp_path, quick=True))
    rows = store_rows(out)
    stopped = {"phone", "laptop_seg", "usb", "camera"}
    assert {n for n, r in rows.items() if r["status"] == "quick"} == stopped
    assert sorted(quick.quick) == sorted(stopped)
    assert {rows[n]["status"] for n in ("locked", "iso")} == {"done"} and rows["broken"]["status"] == "failed"
    doc = case_json(out)
    assert [d["name"] for d in doc["devices"]][:4] == ["laptop_seg", "phone", "usb", "camera"]  # 1 match each
    for name in stopped:
        fast, full = _summary(out, name), _summary(ref_out, name)
        assert fast["stopped"] == "first hit" and fast["complete"] is False
        assert fast["counts"]["matched"] == 1
        assert 0 <= fast["first_hit_after"] <= full["first_hit_after"] + 5
        assert fast["hashed"]["streams"] < full["hashed"]["streams"]
        assert fast["hashed"]["bytes"] < full["hashed"]["bytes"]
        row = next(d for d in doc["devices"] if d["name"] == name)
        assert "quick scan stopped at its first match" in row["why"] and row["first_hit_after"] is not None
        assert not (out / f"{name}.incomplete").exists()
    report = (out / "phone" / "report.html").read_text(encoding="utf-8")
    assert "stopped at the first match: the rest of the device was NOT read" in report
    # A second quick run has nothing to do; a full run reads the stopped devices again, reuses the others.
    again = run(case, out, jobs=2, settings=settings(tmp_path, quick=True))
    assert again.scanned == [] and sorted(again.reused) == sorted([*stopped, "locked", "iso"])
    full = run(case, out, jobs=2, settings=settings(tmp_path))
    assert sorted(full.scanned) == sorted(stopped)
    assert sorted(full.reused) == ["iso", "locked"]
    for name in [*stopped, "locked", "iso"]:
        assert (out / name / "files.jsonl").read_bytes() == (ref_out / name / "files.jsonl").read_bytes(), name
        assert _summary(out, name)["complete"] is True
    for name in stopped:  # what the quick scan read was not read again (reading.reuse)
        (said,) = _summary(out, name)["notes"]
        assert said.endswith("streams read by the quick scan reused, not read again")
        assert int(said.split()[0]) >= 1
    assert {n: r["status"] for n, r in store_rows(out).items()} == {
        n: r["status"] for n, r in store_rows(ref_out).items()}
    assert _ranking(out) == _ranking(ref_out)
    store = CaseStore(out / "case.sqlite")
    try:
        ref = CaseStore(ref_out / "case.sqlite")
        try:
            assert _matches(store) == _matches(ref)
        finally:
            ref.close()
    finally:
        store.close()


def test_quick_needs_a_hash_set(tmp_path: Path) -> None:
    (tmp_path / "case").mkdir()
    shutil.copyfile(fixture_image("usb.raw"), tmp_path / "case" / "usb.raw")
    with pytest.raises(UsageError, match="--quick needs at least one hash set"):
        run(tmp_path / "case", tmp_path / "out", settings=CaseSettings(quick=True))


def test_rank_rule_on_synthetic_rows() -> None:
    """The rule without scanning: VICS numbers and CAID letters by position, counts, layers, failures, names."""
    def device(name: str, status: str = "done", cats: dict[str, int] | None = None, matched: int = 0,
               locked: int = 0, errors: int = 0) -> dict[str, Any]:
        return {"name": name, "status": status, "reason": "truncated" if status == "failed" else None,
                "counts": {"matched": matched}, "matches_by_category": cats or {},
                "labels": {k: [f"Category {k}"] for k in (cats or {}) if k != "uncategorised"},
                "encryption": [{"scheme": "BitLocker", "unlocked": False}] * locked, "errors": ["e"] * errors,
                "verification": "verified"}

    rows = [device("clean"), device("bitlocker", locked=1), device("two-locked", locked=2),
            device("damaged", errors=1), device("failed", status="failed"), device("pending", status="pending"),
            device("vics3", cats={"3": 9}, matched=9), device("vics1", cats={"1": 1, "3": 4}, matched=5),
            device("caidA", cats={"A": 2}, matched=2), device("caidB-many", cats={"B": 40}, matched=40),
            device("loose", cats={"uncategorised": 7}, matched=7), device("zero", cats={"0": 3}, matched=3),
            device("vics1-locked", cats={"1": 1, "3": 4}, matched=5, locked=1),
            device("quick", status="quick", cats={"A": 1}, matched=1)]
    order = [d["name"] for d in rank(rows)]
    # 1 and A rank level (then more files first), a locked layer breaks the tie of vics1 and vics1-locked.
    assert order == ["vics1-locked", "vics1", "caidA", "quick", "caidB-many", "vics3", "loose", "zero",
                     "failed", "pending", "two-locked", "bitlocker", "damaged", "clean"]
    why = {d["name"]: d["why"] for d in rank(rows)}
    assert why["vics1-locked"] == ("1 file in Category 1, 4 in Category 3; 5 matched files in all; "
                                   "1 locked BitLocker volume NOT examined; media verified")
    assert why["zero"].startswith("3 files in Category 0;")
    assert why["pending"] == "not scanned yet"


def _summary(out: Path, name: str) -> dict[str, Any]:
    return json.loads((out / name / "summary.json").read_text(encoding="utf-8"))


def _ranking(out: Path) -> list[tuple[Any, ...]]:
    return [(d["rank"], d["name"], d["status"], d["why"], d["links"]) for d in case_json(out)["devices"]]


def _matches(store: CaseStore) -> list[tuple[Any, ...]]:
    return sorted(tuple(m.values()) for m in store.matches())
