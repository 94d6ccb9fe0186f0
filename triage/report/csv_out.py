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

import csv
import io
import re
from collections.abc import Iterable, Iterator
from typing import Any

from triage.report.common import match_text, record_times, visible

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


def csv_safe(value: str) -> str:
    """Neutralise a cell a spreadsheet would run as a formula (OWASP rule, plain numbers excepted)."""
    if value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return csv_safe(visible(value))


def record_row(record: dict[str, Any]) -> list[str]:
    """The cells of one record, in ``COLUMNS`` order."""
    times = record_times(record)
    values: dict[str, Any] = {
        "id": record.get("id"),
        "parent": record.get("parent"),
        "origin": record.get("origin"),
        "location": record.get("location") or record.get("path"),
        "path": record.get("path"),
        "volume": record.get("volume"),
        "fs": record.get("fs"),
        "inode": record.get("inode"),
        "size": record.get("size"),
        "allocated": record.get("allocated"),
        "md5": record.get("md5"),
        "sha1": record.get("sha1"),
        "sha256": record.get("sha256"),
        "type": record.get("type"),
        "ext_mismatch": record.get("ext_mismatch"),
        **times,
        "pdq": record.get("pdq"),
        "pdq_quality": record.get("pdq_quality"),
        "phash": record.get("phash"),
        "known": record.get("known"),
        "matches": "; ".join(match_text(m) for m in record.get("matches") or []),
        "errors": "; ".join(str(e) for e in record.get("errors") or []),
        "notes": "; ".join(str(n) for n in record.get("notes") or []),
    }
    return [_cell(values[column]) for column in COLUMNS]


def iter_csv(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """A whole CSV file (BOM, header, one row per record), a few hundred rows per chunk."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(COLUMNS)
    for number, record in enumerate(records, start=1):
        writer.writerow(record_row(record))
        if number % 512 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def iter_matched_csv(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """Only the hits: records with at least one match (known-good files are never hits)."""
    return iter_csv(r for r in records if r.get("matches"))


def render_csv(records: Iterable[dict[str, Any]]) -> bytes:
    """files.csv as bytes (UTF-8 with BOM)."""
    return "".join(iter_csv(records)).encode("utf-8")


def render_matched_csv(records: Iterable[dict[str, Any]]) -> bytes:
    """matched.csv as bytes (UTF-8 with BOM)."""
    return "".join(iter_matched_csv(records)).encode("utf-8")
