"""files.csv and matched.csv: one row per data stream, safe to open in a spreadsheet.

Why each choice:

- OWASP CSV-injection rule: a cell starting with ``=``, ``+``, ``-``, ``@``, tab or CR is a formula to Excel and
  LibreOffice; such a cell gets a leading ``'`` unless it is a plain number (``-5``, ``+1.5e3``), which a
  spreadsheet reads as a number anyway. A file named ``=HYPERLINK("http://x","y")`` stays text.
- Every cell is quoted: in locales where the spreadsheet splits on ``;`` an unquoted ``a;b`` would become two
  cells and shift every column after it.
- Hidden characters in names (controls, bidi overrides, undecodable bytes) are shown as ``\\xNN``/``\\uNNNN``
  escapes (``common.visible``): a newline inside a path would otherwise break the row for the reader.
- UTF-8 with BOM and CRLF line ends: what Excel needs to read non-ASCII names correctly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from triage.report.common import match_text, visible
from triage.report.output import Out, render

COLUMNS: tuple[str, ...] = (
    "id",
    "parent",
    "origin",
    "location",
    "path",
    "volume",
    "fs",
    "inode",
    "size",
    "allocated",
    "md5",
    "sha1",
    "sha256",
    "type",
    "ext_mismatch",
    "modified",
    "accessed",
    "changed",
    "created",
    "pdq",
    "pdq_quality",
    "phash",
    "known",
    "matches",
    "errors",
    "notes",
)

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_FORMULA_FIRST = frozenset("=+-@")  # tab and CR cannot start a cell once ``visible`` escaped them
HEADER = "\ufeff" + ",".join(f'"{column}"' for column in COLUMNS) + "\r\n"


def csv_safe(value: str) -> str:
    """Neutralise a cell a spreadsheet would run as a formula (OWASP rule, plain numbers excepted)."""
    if value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def _cell(value: Any) -> str:
    """One cell's text: ``csv_safe(visible(value))``, with a fast path for the plain text most cells hold."""
    if type(value) is str:
        if not value.isprintable():
            value = visible(value)
        if value and value[0] in _FORMULA_FIRST and not _PLAIN_NUMBER.fullmatch(value):
            return "'" + value
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if type(value) is int:
        return str(value)  # digits, or a plain negative number: never escaped, never a formula
    return csv_safe(visible(value))


def _values(record: dict[str, Any]) -> list[Any]:
    """The raw values of one record, in ``COLUMNS`` order (lists joined with "; ")."""
    get = record.get
    times = get("times") or {}
    matches, errors, notes = get("matches"), get("errors"), get("notes")
    return [
        get("id"), get("parent"), get("origin"), get("location") or get("path"), get("path"), get("volume"),
        get("fs"), get("inode"), get("size"), get("allocated"), get("md5"), get("sha1"), get("sha256"),
        get("type"), get("ext_mismatch"), times.get("modified"), times.get("accessed"), times.get("changed"),
        times.get("created"), get("pdq"), get("pdq_quality"), get("phash"), get("known"),
        "; ".join(map(match_text, matches)) if matches else "",
        "; ".join(map(str, errors)) if errors else "",
        "; ".join(map(str, notes)) if notes else "",
    ]


def record_row(record: dict[str, Any]) -> list[str]:
    """The cells of one record, in ``COLUMNS`` order."""
    return [_cell(value) for value in _values(record)]


_SEPARATORS = len(COLUMNS) - 1  # NULs in a joined row whose cells hold none
_FORMULA_CELL = re.compile("\x00[=+@-]")  # a cell after the first starting a formula (the first: startswith)


def row_text(record: dict[str, Any]) -> str:
    """One CSV line, as ``csv.writer(quoting=QUOTE_ALL, lineterminator="\\r\\n")`` writes it.

    Why not the csv module, nor ``_cell`` for every cell: the usual row is printable text that starts no
    formula, which a few checks of the joined row find out; only other rows are made cell by cell (a NUL in a
    cell is one of them: ``visible`` escapes it, so no finished cell holds the NUL used as the separator).
    """
    values = _values(record)
    line = "\x00".join([value if type(value) is str else "" if value is None else str(value) if type(value) is int
                        else _cell(value) for value in values])  # an int: digits or "-" and digits, as _cell
    if (line.count("\x00") != _SEPARATORS or not line.replace("\x00", "").isprintable()
            or _FORMULA_CELL.search(line) or line.startswith(("=", "+", "-", "@"))):
        line = "\x00".join([_cell(value) for value in values])
    if '"' in line:
        line = line.replace('"', '""')
    return '"' + line.replace("\x00", '","') + '"\r\n'


class CsvWriter:
    """files.csv, one row per record as it comes."""

    def __init__(self, _summary: dict[str, Any], out: Out) -> None:
        self.out = out
        out.write(HEADER)

    def add(self, record: dict[str, Any]) -> None:
        self.out.write(row_text(record))

    def finish(self) -> None:
        pass


class MatchedCsvWriter(CsvWriter):
    """matched.csv: only the hits, records with at least one match (known-good files are never hits)."""

    def add(self, record: dict[str, Any]) -> None:
        if record.get("matches"):
            self.out.write(row_text(record))


def render_csv(records: Iterable[dict[str, Any]]) -> bytes:
    """files.csv as bytes (UTF-8 with BOM)."""
    return render(CsvWriter, {}, records)


def render_matched_csv(records: Iterable[dict[str, Any]]) -> bytes:
    """matched.csv as bytes (UTF-8 with BOM)."""
    return render(MatchedCsvWriter, {}, records)
