"""NSRL RDS version 3 (SQLite): the known-good set, read from ``DISTINCT_HASH`` or else ``FILE``.

RDS v3 ships as an SQLite database whose ``FILE`` table has one row per (file, package) — hundreds of millions
of rows — and whose ``DISTINCT_HASH`` table (sha256, sha1, md5) lists each content once. ``DISTINCT_HASH`` is
preferred because it is several times smaller; ``FILE`` is the fallback for trimmed databases. Hashes are
upper-case hex text. Rows are fetched in batches and each batch's column is decoded with one
``bytes.fromhex`` over the joined text, which keeps tens of millions of rows to a minute rather than many.

The database is opened read-only and immutable: it is evidence-adjacent reference data and must not be
touched (no journal, no WAL files next to it).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from triage.errors import HashSetError
from triage.known.model import EXACT_ALGORITHMS, ROLE_KNOWN, WIDTH, ParsedSet, SetBuilder, parse_hex

BATCH_ROWS = 200_000
SQLITE_MAGIC = b"SQLite format 3\x00"


def _open(path: Path) -> sqlite3.Connection:
    uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
    return sqlite3.connect(uri, uri=True)


def nsrl_table(path: Path) -> tuple[str, list[str]] | None:
    """(table, hash columns) to read if the database looks like NSRL RDS v3, else None."""
    try:
        with _open(path) as conn:
            tables = {
                name.upper(): name
                for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
            }
            for wanted in ("DISTINCT_HASH", "FILE"):
                if wanted in tables:
                    table = tables[wanted]
                    columns = [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')]
                    usable = [c for c in columns if c.lower() in EXACT_ALGORITHMS]
                    if usable:
                        return table, usable
    except (sqlite3.Error, UnicodeDecodeError) as exc:  # a damaged page can hold text that is not UTF-8
        raise HashSetError(f"SQLite database cannot be read: {exc}") from None
    return None


def _decode_column(values: list[object], alg: str, builder: SetBuilder) -> np.ndarray:
    """Decode one batch column; returns a bool mask of rows that gave a valid hash."""
    width = WIDTH[alg]
    ok = np.array([isinstance(v, str) and len(v) == 2 * width for v in values], dtype=bool)
    good = [v for v, flag in zip(values, ok, strict=True) if flag]
    try:
        blob = bytes.fromhex("".join(good))  # type: ignore[arg-type]
        builder.add_matrix(alg, np.frombuffer(blob, dtype=np.uint8).reshape(-1, width))
        return ok
    except ValueError:
        pass
    for i, value in enumerate(values):  # a bad character somewhere: find it row by row
        decoded = parse_hex(value, alg) if isinstance(value, str) else None
        ok[i] = decoded is not None
        if decoded is not None:
            builder.add(alg, decoded)
    return ok


def parse_nsrl(path: Path) -> ParsedSet:
    """Read every md5/sha1/sha256 of an NSRL RDS v3 database (role: known-good)."""
    found = nsrl_table(path)
    if found is None:
        raise HashSetError("SQLite database without NSRL RDS v3 tables (DISTINCT_HASH or FILE)")
    table, columns = found
    builder = SetBuilder()
    select = ", ".join(f'"{c}"' for c in columns)
    row = 0
    try:
        with _open(path) as conn:
            cursor = conn.execute(f'SELECT {select} FROM "{table}"')
            while batch := cursor.fetchmany(BATCH_ROWS):
                any_ok = np.zeros(len(batch), dtype=bool)
                for index, column in enumerate(columns):
                    values = [r[index] for r in batch]
                    any_ok |= _decode_column(values, column.lower(), builder)
                for bad in np.flatnonzero(~any_ok):
                    builder.warnings.add(f"row {row + int(bad) + 1}: no valid hash")
                builder.entry(0, int(any_ok.sum()))
                row += len(batch)
    except (sqlite3.Error, UnicodeDecodeError) as exc:
        raise HashSetError(f"NSRL database cannot be read: {exc}") from None
    return builder.finish(
        "nsrl-rds-v3", ROLE_KNOWN, {"table": table, "columns": [c.lower() for c in columns]}
    )
