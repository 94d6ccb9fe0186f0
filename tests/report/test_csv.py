"""files.csv / matched.csv: formulas neutralised, hidden characters visible, Excel-friendly encoding."""

from __future__ import annotations

import csv
import io

import pytest

from tests.report.sample import FORMULA_SET, sample_records
from triage.report.csv_out import COLUMNS, csv_safe, render_csv, render_matched_csv


def rows(data: bytes) -> list[dict[str, str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    text = data[3:].decode("utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=1+2", "'=1+2"),
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+cmd", "'+cmd"),
        ("-cmd", "'-cmd"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-", "'-"),
        ("-42", "-42"),
        ("+1.5e3", "+1.5e3"),
        ("-.5", "-.5"),
        ("-1-2", "'-1-2"),
        ("42", "42"),
        ("", ""),
        ("/a=b", "/a=b"),
    ],
)
def test_csv_safe(cell: str, expected: str) -> None:
    assert csv_safe(cell) == expected


def test_files_csv() -> None:
    records = sample_records()
    data = render_csv(records)
    table = rows(data)
    assert len(table) == len(records)
    assert tuple(table[0].keys()) == COLUMNS
    by_path = {row["path"]: row for row in table}

    formula = next(row for row in table if row["matches"].startswith("'="))
    assert formula["matches"] == f"'{FORMULA_SET}:3:md5:"
    short = by_path["/Users/alex/Pictures/short.jpg"]
    assert short["errors"] == "'-1 bytes returned at offset 0; =cause <b>unknown</b>"
    assert short["md5"] == ""

    assert "/Users/alex/hostile/\\x1b[31mred.jpg" in by_path
    assert "/Users/alex/hostile/bad\\xff.jpg" in by_path  # raw lone surrogate
    assert "/Users/alex/hostile/caf\\xff.jpg" in by_path  # as files.jsonl holds it: nothing to escape
    assert "/Users/alex/hostile/two\\x0alines.png" in by_path
    assert "/Users/alex/hostile/\\x09TAB.jpg" in by_path
    assert "/Users/alex/hostile/invoice\\u202egpj.exe" in by_path
    assert '/Users/alex/hostile/"quotes".jpg' in by_path
    assert "/Users/alex/hostile/a;b,c.jpg" in by_path

    holiday = by_path["/Users/alex/Pictures/holiday_002.jpg"]
    assert holiday["matches"] == "demo-vics:B:md5:; partner-csv:2:md5:"
    assert holiday["allocated"] == "true" and holiday["volume"] == "2" and holiday["size"] == "48213"
    assert holiday["created"] == "2023-02-04T09:00:00Z"
    resized = by_path["/Users/alex/AppData/Local/Temp/resized.png"]
    assert resized["matches"] == "demo-vics:C:pdq:12" and resized["allocated"] == "false"


def test_every_cell_quoted_and_no_raw_controls() -> None:
    text = render_csv(sample_records())[3:].decode("utf-8")
    lines = text.split("\r\n")
    assert lines[-1] == ""
    for line in lines[:-1]:
        assert line.startswith('"') and line.endswith('"')
        assert not any(ord(ch) < 0x20 or ch in "\x7f\u202e" for ch in line)


def test_matched_csv_only_hits() -> None:
    records = sample_records()
    table = rows(render_matched_csv(records))
    assert len(table) == sum(1 for r in records if r["matches"])
    assert all(row["matches"] for row in table)
    assert not any(row["path"] == "/Windows/System32/calc.exe" for row in table)  # known-good is no hit


def test_empty() -> None:
    assert rows(render_csv([])) == []


def test_a_match_through_a_rotated_or_mirrored_variant_shows_its_transform() -> None:
    """Issue 15 part 4: ``set:category:algorithm:distance:transform``; identity matches keep four fields."""
    from triage.report.common import match_text

    plain = {"hashset": "s", "algorithm": "pdq", "distance": 4, "category": 1, "label": None}
    assert match_text(plain) == "s:1:pdq:4"
    assert match_text({**plain, "transform": "flip-horizontal"}) == "s:1:pdq:4:flip-horizontal"
