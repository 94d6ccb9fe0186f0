"""Reports: everything an examiner hands on, rendered from summary.json + files.jsonl alone.

``write_reports`` is called by the scan after it wrote files.jsonl and summary.json; ``render_dir`` re-renders an
existing output folder (``triage report DIR``) without the evidence. Both are deterministic: the same inputs give
byte-identical files (no clock is read; times come from the summary), so a re-render can be checked against the
original with a hash.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, Future, wait
from pathlib import Path
from typing import Any, TextIO

from triage.errors import UsageError
from triage.report.ahead import COVERED, WANTED, Ahead, Row, context, record_id
from triage.report.case_uco import CaseWriter
from triage.report.common import scan_object
from triage.report.csv_out import CsvWriter, MatchedCsvWriter
from triage.report.dfxml import DfxmlWriter
from triage.report.html import HtmlWriter
from triage.report.output import AtomicFile, ReportWriter
from triage.report.vics import VicsWriter

Records = Iterable[dict[str, Any]]  # iterated once per pass: a list, or ``JsonlRecords`` (files.jsonl, re-read)

# Output file name → writer, in the order the files are returned.
WRITERS: dict[str, type[ReportWriter]] = {
    "report.html": HtmlWriter,
    "files.csv": CsvWriter,
    "matched.csv": MatchedCsvWriter,
    "dfxml.xml": DfxmlWriter,
    "vics.json": VicsWriter,
    "case.jsonld": CaseWriter,
}
REPORT_NAMES: tuple[str, ...] = tuple(WRITERS)
# With idle worker processes, this group is written by one of them (its own pass over files.jsonl) while this
# process writes case.jsonld: the two halves cost about the same (bench/RESULTS.md, "Report writers on 200,000
# files"), and the slightly longer one stays here, as the scan's workers run at a lower priority.
ON_WORKERS: tuple[tuple[str, ...], ...] = (("report.html", "files.csv", "matched.csv", "dfxml.xml", "vics.json"),)

__all__ = ["REPORT_NAMES", "JsonlRecords", "load_dir", "render_dir", "write_ahead", "write_reports"]


class JsonlRecords:
    """The records of a files.jsonl, read again line by line on every iteration.

    Why: a report pass re-reads the file instead of holding a million records. A line that is not a JSON object
    raises UsageError (one line).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        with open(self.path, encoding="utf-8") as fh:
            try:
                for number, line in enumerate(fh, start=1):
                    # the usual line: one object and its newline, read by the scanner alone
                    record = scan_object(line, len(line) - 1) if line.endswith("\n") else None
                    if record is None:
                        record = self._slow(line, number)
                        if record is None:
                            continue
                    yield record
            except UnicodeDecodeError as exc:
                raise UsageError(f"{self.path}: not UTF-8 ({_reason(exc)})") from None

    def most(self) -> int:
        """At most how many records iterating will give: one per line, and a line ends at LF or CR (text mode
        reads a lone CR as a line end too; JSON text holds neither raw). One read of the bytes, no parsing."""
        count, last = 0, b"\n"
        with open(self.path, "rb") as fh:
            while chunk := fh.read(1 << 22):
                count += chunk.count(b"\n") + chunk.count(b"\r")
                last = chunk[-1:]
        return count + (last not in (b"\n", b"\r"))

    def _slow(self, line: str, number: int) -> dict[str, Any] | None:
        """``json.loads`` and its checks, for any line the fast path did not take: None for a blank one."""
        if not line.strip():
            return None
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{self.path}: line {number} is not valid JSON ({_reason(exc)})") from None
        if not isinstance(record, dict):
            raise UsageError(f"{self.path}: line {number} is not a JSON object")
        return record


def write_reports(
    out_dir: Path, summary: dict[str, Any], records: Records, pool: Executor | None = None
) -> list[Path]:
    """Write every report into ``out_dir`` (each atomically) and return their paths in ``REPORT_NAMES`` order.

    ``records`` are the files.jsonl objects; all reports are written in one pass over them, each record parsed
    once for all (the scan gives ``JsonlRecords``, so no list of every record is held). Each output goes to a temp
    file renamed into place, so memory stays small whatever the device holds and a failure never leaves a
    half-written report.

    With ``pool`` (the scan's worker processes, idle by then), the ``ON_WORKERS`` groups are written there
    meanwhile, each worker reading ``out_dir``'s summary.json and files.jsonl as ``triage report`` does, so
    ``out_dir`` must hold them already. Why: writing reports is the last step of a scan, and a pass is one core's
    work. A group a worker could not write is written here.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    elsewhere: dict[tuple[str, ...], Future[list[Path]]] = {}
    for group in ON_WORKERS if pool is not None else ():
        with contextlib.suppress(RuntimeError):  # a shut-down or broken pool: written here below
            elsewhere[group] = pool.submit(write_report, out_dir, group)
    away = {name for group in elsewhere for name in group}
    try:
        paths = write_pass(out_dir, summary, records, [name for name in REPORT_NAMES if name not in away])
    except Exception:  # e.g. a full disk: the caller removes out_dir, so no worker may still be writing into it
        wait(elsewhere.values())
        raise
    for group, future in elsewhere.items():
        try:
            paths.update(zip(group, future.result(), strict=True))
        except Exception:  # a broken or shut-down pool; a report that cannot be rendered fails again here
            for name in group:
                for stray in out_dir.glob(f".{name}.*.tmp"):  # left by a worker that died while writing
                    stray.unlink(missing_ok=True)
            paths.update(write_pass(out_dir, summary, records, list(group)))
    return [paths[name] for name in REPORT_NAMES]


def write_pass(out_dir: Path, summary: dict[str, Any], records: Records, names: list[str]) -> dict[str, Path]:
    """Write the reports ``names`` in one pass over ``records``; nothing is renamed into place unless all were
    written (an invalid files.jsonl line leaves every earlier report as it was)."""
    files: list[AtomicFile] = []
    try:
        writers = []
        for name in names:
            files.append(AtomicFile(Path(out_dir) / name))
            writers.append(WRITERS[name](summary, files[-1].out))
        most = _most(records)
        for writer in writers:
            if most is not None and hasattr(writer, "expect"):
                writer.expect(most)
        adds = [writer.add for writer in writers]
        for record in records:
            for add in adds:
                add(record)
        for writer in writers:
            writer.finish()
        return {name: file.commit() for name, file in zip(names, files, strict=True)}
    finally:
        for file in files:
            file.abort()  # after a commit: nothing left to remove


def write_ahead(out_dir: Path, summary: dict[str, Any], rows: Iterable[Row], count: int, ahead: Ahead,
                lines: TextIO, wait: bool = True) -> list[Path]:
    """Write files.jsonl to ``lines`` from ``rows`` (the record store's, in order; ``count`` of them) and every
    report in the same pass, copying what ``ahead`` rendered during the scan and rendering the rest here (all of
    it that is not back yet, without ``wait``).

    The same bytes as ``write_reports`` over the files.jsonl written (tests/report/test_ahead.py); nothing is
    renamed into place unless all were written.
    """
    final = context(summary)
    keys = [volume[0] for volume in final.volumes]
    files = [AtomicFile(Path(out_dir) / name) for name in REPORT_NAMES]
    rendered = ahead.rendered(final, wait)
    try:
        writers = [WRITERS[name](summary, file.out) for name, file in zip(REPORT_NAMES, files, strict=True)]
        html, csv, matched, dfxml, vics, case = writers
        assert isinstance(html, HtmlWriter) and isinstance(dfxml, DfxmlWriter) and isinstance(case, CaseWriter)
        case.expect(count)
        adds = [writer.add for writer in writers]
        ready = next(rendered, None)
        for key, seq, line in rows:
            lines.write(line + "\n")
            while ready is not None and ready[1] != seq and (ready[0], ready[1]) < (key, seq):
                ready = next(rendered, None)  # never expected: a rendered row the store does not hold
            if ready is not None and ready[1] == seq and ready[2] & COVERED:
                _, _, flags, slot, fd, csv_at, csv_size, dfxml_at, dfxml_size, case_at, case_size, uuid = ready
                ready = next(rendered, None)
                if flags & WANTED:
                    record = json.loads(line)
                    html.add(record)
                    matched.add(record)
                    vics.add(record)
                else:
                    html.files += 1
                csv.out.copy(fd, csv_at, csv_size)  # type: ignore[attr-defined]
                dfxml.add_rendered(keys[slot], fd, dfxml_at, dfxml_size)
                case.add_rendered(record_id(key), uuid, fd, case_at, case_size, line)
                continue
            if ready is not None and ready[1] == seq:
                ready = next(rendered, None)
            record = json.loads(line)
            for add in adds:
                add(record)
        for writer in writers:
            writer.finish()
        return [file.commit() for file in files]
    finally:
        for file in files:
            file.abort()
        ahead.close()


def _most(records: Records) -> int | None:
    """How many records at most a pass will see, when that is cheap to know (a writer may plan with it)."""
    if isinstance(records, list | tuple):
        return len(records)
    if isinstance(records, JsonlRecords):
        return records.most()
    return None


def write_report(out_dir: Path, names: tuple[str, ...]) -> list[Path]:
    """Worker entry point: write the reports ``names`` of a device folder from its summary.json and files.jsonl."""
    summary, records = open_dir(out_dir)
    paths = write_pass(out_dir, summary, records, list(names))
    return [paths[name] for name in names]


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

    All reports are written in one pass, so an invalid files.jsonl line replaces none of them.
    """
    summary, records = open_dir(out_dir)
    return write_reports(Path(out_dir), summary, records)


def _reason(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
