"""Reports: everything an examiner hands on, rendered from summary.json + files.jsonl alone.

``write_reports`` is called by the scan after it wrote files.jsonl and summary.json; ``render_dir`` re-renders an
existing output folder (``triage report DIR``) without the evidence. Both are deterministic: the same inputs give
byte-identical files (no clock is read; times come from the summary), so a re-render can be checked against the
original with a hash.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from triage.errors import UsageError
from triage.report.case_uco import iter_case
from triage.report.common import atomic_write
from triage.report.csv_out import iter_csv, iter_matched_csv
from triage.report.dfxml import iter_dfxml
from triage.report.html import iter_html
from triage.report.vics import iter_vics

Renderer = Callable[[dict[str, Any], list[dict[str, Any]]], Iterable[str]]

# Output file name → renderer (text chunks), in the order the files are written and returned.
REPORTS: tuple[tuple[str, Renderer], ...] = (
    ("report.html", iter_html),
    ("files.csv", lambda _summary, records: iter_csv(records)),
    ("matched.csv", lambda _summary, records: iter_matched_csv(records)),
    ("dfxml.xml", iter_dfxml),
    ("vics.json", iter_vics),
    ("case.jsonld", iter_case),
)
REPORT_NAMES: tuple[str, ...] = tuple(name for name, _ in REPORTS)

__all__ = ["REPORT_NAMES", "load_dir", "render_dir", "write_reports"]


def write_reports(out_dir: Path, summary: dict[str, Any], records: list[dict[str, Any]]) -> list[Path]:
    """Write every report into ``out_dir`` (each atomically) and return their paths in ``REPORT_NAMES`` order.

    ``records`` are the files.jsonl objects. Each output is streamed to a temp file and renamed into place, so
    memory stays small whatever the device holds and a failure never leaves a half-written report.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [atomic_write(out_dir / name, render(summary, records)) for name, render in REPORTS]


def load_dir(out_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read summary.json and files.jsonl of a device folder; UsageError (one line) when missing or invalid."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise UsageError(f"{out_dir}: not a folder")
    summary_path, files_path = out_dir / "summary.json", out_dir / "files.jsonl"
    for path in (summary_path, files_path):
        if not path.is_file():
            raise UsageError(f"{out_dir}: no {path.name} here; give a device folder written by 'triage scan'")
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{summary_path}: not valid JSON ({_reason(exc)})") from None
    if not isinstance(summary, dict):
        raise UsageError(f"{summary_path}: not a triage summary (expected a JSON object)")
    records: list[dict[str, Any]] = []
    with open(files_path, encoding="utf-8") as fh:
        try:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise UsageError(f"{files_path}: line {number} is not valid JSON ({_reason(exc)})") from None
                if not isinstance(record, dict):
                    raise UsageError(f"{files_path}: line {number} is not a JSON object")
                records.append(record)
        except UnicodeDecodeError as exc:
            raise UsageError(f"{files_path}: not UTF-8 ({_reason(exc)})") from None
    return summary, records


def render_dir(out_dir: Path) -> list[Path]:
    """Re-render every report of a device folder from its summary.json and files.jsonl (no evidence needed)."""
    summary, records = load_dir(out_dir)
    return write_reports(Path(out_dir), summary, records)


def _reason(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
