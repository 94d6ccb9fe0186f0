"""vics.json: every picture and video, grouped by md5, readable by triage's own VICS parser."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.report.sample import sample_records, sample_summary
from triage.report.vics import ODATA_CONTEXT, UNCATEGORISED, build_vics, media_category, render_vics


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    records = sample_records()
    return json.loads(render_vics(sample_summary(records), records).decode("utf-8"))


def media_by_path(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["FilePath"]: m for m in doc["value"][0]["Media"] for f in m["MediaFiles"]}


def test_case_fields(doc: dict[str, Any]) -> None:
    assert doc["@odata.context"] == ODATA_CONTEXT
    case = doc["value"][0]
    assert case["CaseNumber"] == "OP-2024/0117 <b>"
    assert case["SourceApplicationName"] == "triage" and case["SourceApplicationVersion"] == "0.1.0"
    assert len(case["CaseID"]) == 36


def test_media_cover_every_picture_and_video(doc: dict[str, Any]) -> None:
    records = sample_records()
    wanted = [r for r in records if (r["type"] or "").startswith(("image/", "video/")) and r["md5"]]
    media = doc["value"][0]["Media"]
    assert len(media) == len({r["md5"] for r in wanted})
    assert [m["MediaID"] for m in media] == list(range(1, len(media) + 1))
    assert sum(len(m["MediaFiles"]) for m in media) == len(wanted)
    paths = media_by_path(doc)
    assert "laptop/vol2/Users/alex/Videos/clip.mp4" in paths  # unmatched video
    assert "laptop/vol2/Users/alex/Pictures/broken.jpg" not in paths  # unreadable: no md5
    assert "laptop/vol2/Windows/System32/calc.exe" not in paths  # not media


def test_grouped_by_md5_and_categorised(doc: dict[str, Any]) -> None:
    paths = media_by_path(doc)
    holiday = paths["laptop/vol2/Users/alex/Pictures/holiday_001.jpg"]
    assert holiday is paths["laptop/vol2/Users/alex/Downloads/copy of holiday_001.jpg"]
    assert holiday["Category"] == "A" and holiday["IsPrecategorized"] is True
    assert len(holiday["MediaFiles"]) == 2
    assert {a["AlgorithmName"] for a in holiday["AlternativeHashes"]} == {"SHA256", "PDQ", "PHASH"}
    landscape = paths["laptop/vol2/Users/alex/Pictures/landscape.png"]
    assert landscape["Category"] == UNCATEGORISED and landscape["IsPrecategorized"] is False
    both = paths["laptop/vol2/Users/alex/Pictures/holiday_002.jpg"]
    assert both["Category"] == 2  # matches B and 2: the lower number / earlier letter, integers on a tie
    camera = paths["laptop/vol3/DCIM/100MEDIA/IMG_0001.JPG"]
    assert camera["MediaSize"] == 1_048_576


def test_media_files(doc: dict[str, Any]) -> None:
    paths = media_by_path(doc)
    resized = paths["laptop/vol2/Users/alex/AppData/Local/Temp/resized.png"]
    (entry,) = resized["MediaFiles"]
    assert entry == {
        "FileName": "resized.png",
        "FilePath": "laptop/vol2/Users/alex/AppData/Local/Temp/resized.png",
        "Created": "2023-02-04T09:00:00Z",
        "Written": "2023-03-04T10:15:00Z",
        "Accessed": "2023-03-04T11:00:00Z",
        "Deleted": True,
        "Unallocated": True,
    }
    assert "laptop/vol2/Users/alex/hostile/bad\\xff.jpg" in paths  # lone surrogate escaped, JSON stays UTF-8
    assert "laptop/vol2/Users/alex/hostile/\x1b[31mred.jpg" in paths  # JSON carries controls itself


def test_category_choice() -> None:
    assert media_category([]) == UNCATEGORISED
    assert media_category([{"category": None}]) == UNCATEGORISED
    assert media_category([{"category": "C"}, {"category": "A"}, {"category": "B"}]) == "A"
    assert media_category([{"category": 3}, {"category": 1}]) == 1
    assert media_category([{"category": "odd"}, {"category": "B"}]) == "B"


def test_case_id_from_case_number() -> None:
    records = sample_records()
    a = build_vics(sample_summary(records), records)["value"][0]["CaseID"]
    summary = sample_summary(records)
    summary["evidence"]["paths"] = ["/elsewhere/phone.E01"]
    assert build_vics(summary, records)["value"][0]["CaseID"] == a  # same case, another device
    summary["evidence"]["acquisition"].pop("case_number")
    assert build_vics(summary, records)["value"][0]["CaseID"] != a


def test_round_trip_through_vics_parser() -> None:
    parse_vics = pytest.importorskip("triage.known.parse_vics").parse_vics
    records = sample_records()
    data = render_vics(sample_summary(records), records)
    doc = json.loads(data)
    parsed = parse_vics(data.decode("utf-8"))
    assert parsed.format == "vics-2.0" and parsed.info["profile"] == "UK"
    assert parsed.warnings == []
    media = doc["value"][0]["Media"]
    assert parsed.entries == len(media)
    assert parsed.counts()["md5"] == len(media)
    categories = {category for category, _label in parsed.tags}
    assert {m["Category"] for m in media} <= categories


def test_streamed_text_equals_whole_document() -> None:
    records = sample_records()
    summary = sample_summary(records)
    text = render_vics(summary, records).decode("utf-8")
    assert json.loads(text) == build_vics(summary, records)
    assert text.count('{"MediaID": ') == len(build_vics(summary, records)["value"][0]["Media"])  # one per line
    empty = render_vics(summary, []).decode("utf-8")
    assert json.loads(empty)["value"][0]["Media"] == []
