"""Reports: everything an examiner hands on, rendered from summary.json + files.jsonl alone.

``write_reports`` is called by the scan after it wrote files.jsonl and summary.json; ``render_dir`` re-renders an
existing output folder (``triage report DIR``) without the evidence. Both are deterministic: the same inputs give
byte-identical files (no clock is read; times come from the summary), so a re-render can be checked against the
original with a hash.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, wait
from pathlib import Path
from typing import Any

from triage.errors import UsageError
from triage.report.case_uco import iter_case
from triage.report.common import atomic_write
from triage.report.csv_out import iter_csv, iter_matched_csv
from triage.report.dfxml import iter_dfxml
from triage.report.html import iter_html
from triage.report.vics import iter_vics

Records = Iterable[dict[str, Any]]  # iterated once per pass: a list, or ``JsonlRecords`` (files.jsonl, re-read)
Renderer = Callable[[dict[str, Any], Records], Iterable[str]]

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
RENDERERS: dict[str, Renderer] = dict(REPORTS)
ON_WORKERS = ("dfxml.xml", "case.jsonld")  # the slowest two; the rest are written meanwhile

__all__ = ["REPORT_NAMES", "JsonlRecords", "load_dir", "render_dir", "write_reports"]


class JsonlRecords:
    """The records of a files.jsonl, read again line by line on every iteration.

    Why: a report that needs two passes (DFXML by volume, CASE's action node listing every file) re-reads the
    file instead of holding a million records. A line that is not a JSON object raises UsageError (one line).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        with open(self.path, encoding="utf-8") as fh:
            try:
                for number, line in enumerate(fh, start=1):
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise UsageError(f"{self.path}: line {number} is not valid JSON ({_reason(exc)})") from None
                    if not isinstance(record, dict):
                        raise UsageError(f"{self.path}: line {number} is not a JSON object")
                    yield record
            except UnicodeDecodeError as exc:
                raise UsageError(f"{self.path}: not UTF-8 ({_reason(exc)})") from None


def write_reports(
    out_dir: Path, summary: dict[str, Any], records: Records, pool: Executor | None = None
) -> list[Path]:
    """Write every report into ``out_dir`` (each atomically) and return their paths in ``REPORT_NAMES`` order.

    ``records`` are the files.jsonl objects, iterated once per pass (the scan gives ``JsonlRecords``, so no list
    of every record is held). Each output is streamed to a temp file and renamed into place, so memory stays
    small whatever the device holds and a failure never leaves a half-written report.

    With ``pool`` (the scan's worker processes, idle by then), the reports in ``ON_WORKERS`` are rendered there
    meanwhile, each worker reading ``out_dir``'s summary.json and files.jsonl as ``triage report`` does, so
    ``out_dir`` must hold them already. Why: writing reports is the last step of a scan and runs on one core; on
    the benchmark these two take 0.17 of its 0.27 s. A report a worker could not write is rendered here.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    elsewhere: dict[str, Future[Path]] = {}
    for name in ON_WORKERS if pool is not None else ():
        with contextlib.suppress(RuntimeError):  # a shut-down or broken pool: rendered here below
            elsewhere[name] = pool.submit(write_report, out_dir, name)
    try:
        paths = {name: atomic_write(out_dir / name, render(summary, records))
                 for name, render in REPORTS if name not in elsewhere}
    except Exception:  # e.g. a full disk: the caller removes out_dir, so no worker may still be writing into it
        wait(elsewhere.values())
        raise
    for name, future in elsewhere.items():
        try:
            paths[name] = future.result()
        except Exception:  # a broken or shut-down pool; a report that cannot be rendered fails again here
            for stray in out_dir.glob(f".{name}.*.tmp"):  # left by a worker that died while writing
                stray.unlink(missing_ok=True)
            paths[name] = atomic_write(out_dir / name, RENDERERS[name](summary, records))
    return [paths[name] for name in REPORT_NAMES]


def write_report(out_dir: Path, name: str) -> Path:
    """Worker entry point: render one report of a device folder from its summary.json and files.jsonl."""
    summary, records = open_dir(out_dir)
    return atomic_write(Path(out_dir) / name, RENDERERS[name](summary, records))


def load_dir(out_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read summary.json and files.jsonl of a device folder; UsageError (one line) when missing or invalid."""
    summary, records = open_dir(out_dir)
    return summary, list(records)


def open_dir(out_dir: Path) -> tuple[dict[str, Any], JsonlRecords]:
    """summary.json of a device folder and its files.jsonl as ``JsonlRecords`` (read when iterated)."""
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
    return summary, JsonlRecords(files_path)


def render_dir(out_dir: Path) -> list[Path]:
    """Re-render every report of a device folder from its summary.json and files.jsonl (no evidence needed).

    files.jsonl is checked once through before any report is written, so an invalid line replaces none.
    """
    summary, records = open_dir(out_dir)
    for _record in records:
        pass
    return write_reports(Path(out_dir), summary, records)


def _reason(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
