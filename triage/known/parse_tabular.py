"""Delimited hash sets: hashdeep output and CSV files with a header naming the hash columns.

Both are read row by row with the ``csv`` module because fields can be quoted and file names can contain the
delimiter; these sets are usually far smaller than plain md5 lists, so per-row Python is acceptable. Every
malformed row is reported with its line number and skipped as a whole: a row whose md5 is broken cannot be
trusted for its sha256 either.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

from triage.known.model import (
    ALGORITHMS,
    ROLE_ALERT,
    ParsedSet,
    SetBuilder,
    default_label,
    normalise_category,
    parse_hex,
)

# Header names (lower case, letters and digits only) -> our column names.
_ALIASES: dict[str, str] = {
    "md5": "md5",
    "md5hash": "md5",
    "hashmd5": "md5",
    "sha1": "sha1",
    "sha1hash": "sha1",
    "hashsha1": "sha1",
    "sha256": "sha256",
    "sha256hash": "sha256",
    "hashsha256": "sha256",
    "pdq": "pdq",
    "pdqhash": "pdq",
    "phash": "phash",
    "perceptualhash": "phash",
    "category": "category",
    "cat": "category",
    "grade": "category",
    "name": "label",
    "label": "label",
    "description": "label",
}
_DELIMITERS = (",", ";", "\t", "|")
_HASHDEEP_COLUMNS = {"md5": "md5", "sha1": "sha1", "sha256": "sha256"}


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.strip().lower())


def csv_columns(header_line: str) -> tuple[str, dict[int, str]] | None:
    """Delimiter and {column index: our name} if the line is a CSV header naming a hash column, else None."""
    delimiter = max(_DELIMITERS, key=header_line.count)
    if header_line.count(delimiter) == 0:
        delimiter = ","
    try:
        cells = next(csv.reader([header_line], delimiter=delimiter), [])
    except csv.Error:  # e.g. a field over the csv module's 128 KiB limit: not a CSV header
        return None
    columns: dict[int, str] = {}
    for index, cell in enumerate(cells):
        name = _ALIASES.get(_norm(cell))
        if name and name not in columns.values():
            columns[index] = name
    if not any(name in ALGORITHMS for name in columns.values()):
        return None
    return delimiter, columns


def _safe_rows(reader: Iterator[list[str]]) -> Iterator[list[str] | csv.Error]:
    """The reader's rows, with a row the csv module refuses (a field over 128 KiB, a NUL) as its error.

    Why: ``csv.Error`` is not a ``HashSetError``; one hostile row must be a warning, not an internal error.
    The reader starts afresh on the next line after an error.
    """
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield exc


def _meaningful(text: str) -> Iterator[tuple[int, str]]:
    """Yield (line number, line) for lines that are neither blank nor ``#`` comments."""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            yield number, line


def parse_csv(text: str) -> ParsedSet:
    """Parse a CSV hash set; the first meaningful line is the header.

    Categories are kept as given (digit-only text becomes an integer, see ``normalise_category``); the label
    comes from a name/label/description column, else it is derived from the category.
    """
    builder = SetBuilder()
    lines = list(_meaningful(text))
    if not lines:
        return builder.finish("csv", ROLE_ALERT)
    header_no, header = lines[0]
    found = csv_columns(header)
    if found is None:
        builder.warnings.add(f"line {header_no}: header names no md5/sha1/sha256/pdq/phash column")
        return builder.finish("csv", ROLE_ALERT)
    delimiter, columns = found
    numbers = [number for number, _ in lines[1:]]
    rows = csv.reader((line for _, line in lines[1:]), delimiter=delimiter)
    for line_no, row in zip(numbers, _safe_rows(rows), strict=False):
        if isinstance(row, csv.Error):
            builder.warnings.add(f"line {line_no}: not a CSV row ({row})")
            continue
        values = {name: (row[i].strip() if i < len(row) else "") for i, name in columns.items()}
        decoded: dict[str, bytes] = {}
        problem = None
        for alg in ALGORITHMS:
            text_value = values.get(alg, "")
            if not text_value:
                continue
            value = parse_hex(text_value, alg)
            if value is None:
                problem = f"line {line_no}: malformed {alg} {text_value[:70]!r}"
                break
            decoded[alg] = value
        if problem is None and not decoded:
            problem = f"line {line_no}: no hash in row"
        if problem:
            builder.warnings.add(problem)
            continue
        category = normalise_category(values.get("category"))
        label = values.get("label") or default_label(category)
        tag = builder.tag(category, label)
        for alg, value in decoded.items():
            builder.add(alg, value, tag)
        builder.entry(tag)
    info = {"columns": sorted(set(columns.values()))}
    return builder.finish("csv", ROLE_ALERT, info)


def parse_hashdeep(text: str) -> ParsedSet:
    """Parse hashdeep output: ``%%%%`` header lines name the columns, ``##`` lines are comments.

    Concatenated hashdeep files repeat the header; each new column line applies to the rows after it.
    """
    builder = SetBuilder()
    columns: dict[int, str] = {}
    width = 0
    for line_no, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("##"):
            continue
        if stripped.startswith("%%%%"):
            body = stripped[4:].strip()
            if body.upper().startswith("HASHDEEP"):
                continue
            names = [_norm(c) for c in body.split(",")]
            columns = {i: _HASHDEEP_COLUMNS[n] for i, n in enumerate(names) if n in _HASHDEEP_COLUMNS}
            width = len(names)
            continue
        if not columns:
            builder.warnings.add(f"line {line_no}: data before the %%%% column header")
            continue
        cells = next(_safe_rows(csv.reader(io.StringIO(line))), [])
        if isinstance(cells, csv.Error):
            builder.warnings.add(f"line {line_no}: not a CSV row ({cells})")
            continue
        if len(cells) > width:  # unquoted commas in the file name: keep the leading columns
            cells = [*cells[: width - 1], ",".join(cells[width - 1 :])]
        if len(cells) < width:
            builder.warnings.add(f"line {line_no}: {len(cells)} fields, header has {width}")
            continue
        decoded = {alg: parse_hex(cells[i], alg) for i, alg in columns.items()}
        bad = [alg for alg, value in decoded.items() if value is None]
        if bad:
            builder.warnings.add(f"line {line_no}: malformed {', '.join(bad)}")
            continue
        for alg, value in decoded.items():
            assert value is not None
            builder.add(alg, value)
        builder.entry()
    return builder.finish("hashdeep", ROLE_ALERT, {"columns": sorted(set(columns.values()))})
