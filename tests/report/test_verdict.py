"""The one-line verdict (report.html's first line, the end of ``triage scan``) and the words for categories."""

from __future__ import annotations

from typing import Any

from tests.report.sample import sample_records, sample_summary
from triage.report.html import render_html
from triage.report.verdict import category_order, category_words, verdict


def summary(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"complete": True, "stopped": None, "evidence": {"verification": "verified"},
                            "counts": {"matched": 0, "errors": 0}, "matches_by_category": {}, "encryption": [],
                            "errors": [], "category_labels": {}}
    base.update(changes)
    return base


def test_category_order_follows_each_sets_sequence() -> None:
    keys = ["uncategorised", "C", "3", "0", "B", "2", "A", "1", "word"]
    assert sorted(keys, key=category_order) == ["1", "A", "2", "B", "3", "C", "0", "word", "uncategorised"]


def test_category_words_never_a_bare_category() -> None:
    assert category_words("A", ["UK Category A"]) == "UK Category A"
    assert category_words("2", ["synthetic test entry"]) == "category 2 (synthetic test entry)"
    assert category_words("1", ["Category 10"]) == "category 1 (Category 10)"  # "1" is not named by "10"
    assert category_words("3", []) == "category 3 (no label in the hash set)"
    assert category_words("1", ["US Category 1", "Category 1"]) == "category 1 (Category 1 / US Category 1)"
    assert category_words("uncategorised") == "without a category"


def test_verdicts() -> None:
    labels = {"A": ["UK Category A"], "B": ["UK Category B"], "1": ["US Category 1"]}
    assert verdict(summary()) == "no matches; media verified"
    assert verdict(summary(counts={"matched": 5}, matches_by_category={"B": 1, "A": 5}, category_labels=labels)) \
        == "5 files matched, highest UK Category A; media verified"
    # VICS 1 and CAID A rank level: both named.
    assert verdict(summary(counts={"matched": 3}, matches_by_category={"A": 1, "1": 2}, category_labels=labels)) \
        == "3 files matched, highest US Category 1 and UK Category A; media verified"
    assert verdict(summary(counts={"matched": 2}, matches_by_category={"uncategorised": 2})) \
        == "2 files matched, none with a category; media verified"
    locked = [{"scheme": "BitLocker", "unlocked": False}, {"scheme": "LUKS2", "unlocked": True}]
    assert verdict(summary(encryption=locked, evidence={"verification": "not stored"})) \
        == "no matches; 1 locked BitLocker volume NOT examined; media not verifiable (no stored hash)"
    assert verdict(summary(complete=False, stopped="first hit", counts={"matched": 1},
                           matches_by_category={"A": 1}, category_labels=labels,
                           errors=["volume 3 at offset 1048576: no file system"],
                           evidence={"verification": "mismatch"})) \
        == ("1 file matched, highest UK Category A; stopped at the first match: the rest of the device was NOT read; "
            "1 volume or media problem; media hash MISMATCH")
    assert verdict(summary(counts={"matched": 0, "errors": 2}, evidence={"verification": "skipped (--no-verify)"})) \
        == "no matches; 2 files unreadable; media verification skipped"


def test_report_opens_with_the_verdict() -> None:
    """The labels come from the matches in files.jsonl (the sample summary has no category_labels)."""
    records = sample_records()
    page = render_html(sample_summary(records), records).decode("utf-8")
    line = page.split('<p class="verdict hot" id="verdict">', 1)[1].split("</p>", 1)[0]
    # The sample: 21 matched files in categories 1-3 and A-C, one volume not opened, two unreadable files.
    assert line == ("21 files matched, highest Category 1 and UK Category A; 1 volume or media problem; "
                    "2 files unreadable; media verified")
    assert page.index('id="verdict"') < page.index("<section")


def test_hostile_label_in_the_verdict_is_text() -> None:
    records = sample_records()
    for record in records:
        for match in record["matches"]:
            if match["category"] == "A":
                match["label"] = "<b>A</b>\x1b[31m"
    page = render_html(sample_summary(records), records).decode("utf-8")
    line = page.split('id="verdict">', 1)[1].split("</p>", 1)[0]
    assert "<b>" not in line and "&lt;b&gt;A&lt;/b&gt;" in line and "\x1b" not in line
