"""Finished records on disk, in files.jsonl order, and the summary's counts kept as they finish.

Why: a device with millions of files must not hold every record until the end (issue 13, bounded memory). A
record leaves memory once read and matched: its files.jsonl line goes into a SQLite table keyed by its sort key
(``FileRecord.order``), and ``lines`` gives them back in that order for files.jsonl, whatever order the reading
finished them in. The table lives in a hidden ``.triage-records.XXXXXXXX.tmp`` folder of the output folder (the
evidence's names never go to the system's temporary folder), made at the first record and removed by ``close``.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import struct
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from triage import outdir
from triage.analysis.typesniff import kind_of
from triage.errors import OutputError
from triage.model.jsonline import record_line
from triage.model.record import FileRecord, where_found

BATCH = 2000  # lines inserted per transaction


class Tally:
    """The summary's counts, updated one finished record at a time (``summary.summarise`` reads them)."""

    def __init__(self) -> None:
        self.files = self.deleted = self.pictures = self.videos = self.errors = 0
        self.matched = self.known = self.unknown_pictures = self.bytes = self.archives = 0
        self.by_origin: Counter[str] = Counter()
        self.by_category: Counter[str] = Counter()
        self.by_set: Counter[str] = Counter()
        self.by_where: Counter[str] = Counter()  # matched records by where_found
        self.hashed = self.hashed_bytes = 0  # streams whose content was read (they have a digest), and their size
        self.labels: dict[str, set[str]] = {}  # category key (as in by_category) -> the hash sets' labels for it

    def add(self, record: FileRecord) -> None:
        self.files += 1
        self.deleted += not record.allocated
        kind = kind_of(record.type) if record.type is not None else None
        matches = record.matches
        picture = kind == "picture"
        self.pictures += picture
        self.videos += kind == "video"
        self.archives += kind == "archive"
        self.errors += bool(record.errors)
        self.known += record.known
        self.unknown_pictures += picture and not matches and not record.known
        self.bytes += record.size
        self.by_origin[record.origin] += 1
        if record.md5 is not None:
            self.hashed += 1
            self.hashed_bytes += record.size
        if not matches:
            return
        self.matched += 1
        self.by_category.update({"uncategorised" if m.get("category") is None else str(m["category"]) for m in matches})
        for m in matches:
            if m.get("category") is not None and m.get("label"):
                self.labels.setdefault(str(m["category"]), set()).add(str(m["label"]))
        self.by_set.update({str(m.get("hashset")) for m in matches})
        self.by_where[where_found(record.origin, record.allocated)] += 1


def sort_key(order: tuple[int, ...]) -> bytes:
    """``order`` as bytes that sort the same way (a shorter prefix first: an archive before its members)."""
    return struct.pack(f">{len(order)}Q", *order)


def record_key(record_id: str) -> bytes:
    """``sort_key(record.order)`` of a record id, without the tuple for the usual one (a listing index)."""
    if record_id.isdecimal() and record_id.isascii():
        return _ONE.pack(int(record_id))
    return sort_key(tuple(int(part) for part in record_id.split(".")) if record_id else ())


_ONE = struct.Struct(">Q")


class RecordStore:
    """Finished records as files.jsonl lines, by sort key; each added once (``add``) and counted in ``tally``."""

    def __init__(self, out_root: Path, name: str) -> None:
        self.out_root, self.name = out_root, name
        self.tally = Tally()
        self._folder: Path | None = None
        self._db: sqlite3.Connection | None = None
        self._pending: list[tuple[bytes, int, str]] = []
        self._count = 0
        self.ahead: Any = None  # ``report.ahead.Ahead``: each batch offered for rendering before it is stored

    def add(self, record: FileRecord) -> None:
        self.tally.add(record)
        line = record_line(record)
        self._pending.append((record_key(record.id), self._count, line))
        self._count += 1
        if len(self._pending) >= BATCH:
            self._flush()

    @property
    def count(self) -> int:
        """How many records were added."""
        return self._count

    def lines(self) -> Iterator[str]:
        """Every record's files.jsonl line (no newline), in ``order`` (ties in the order they were added)."""
        for _key, _seq, line in self.rows():
            yield line

    def rows(self) -> Iterator[tuple[bytes, int, str]]:
        """Every record's sort key, number in the order added, and files.jsonl line, in files.jsonl order."""
        self._flush()
        if self._db is None:
            return
        try:
            yield from self._db.execute("SELECT key, seq, line FROM records ORDER BY key, seq")
        except sqlite3.Error as exc:
            raise self.error(exc) from exc

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def _flush(self) -> None:
        if not self._pending:
            return
        if self.ahead is not None:
            self.ahead.offer(self._pending)
        try:
            db = self._db or self._open()
            with db:
                db.executemany("INSERT INTO records VALUES (?, ?, ?)", self._pending)
        except sqlite3.Error as exc:
            raise self.error(exc) from exc
        self._pending = []

    def scratch(self) -> Path:
        """The hidden scratch folder in the output folder (made now if need be); other scratch tables go there."""
        if self._folder is None:
            try:
                self.out_root.mkdir(parents=True, exist_ok=True)
                self._folder = Path(tempfile.mkdtemp(prefix=".triage-records.", suffix=".tmp", dir=self.out_root))
            except OSError as exc:
                raise outdir.output_error(exc, self.out_root, self.name) from exc
        return self._folder

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.scratch() / "records.sqlite", check_same_thread=False)
        db.execute("PRAGMA journal_mode=OFF")  # a scratch table: nothing to recover after a crash
        db.execute("PRAGMA synchronous=OFF")
        db.execute("CREATE TABLE records (key BLOB, seq INTEGER, line TEXT, PRIMARY KEY (key, seq)) WITHOUT ROWID")
        self._db = db
        return db

    def error(self, exc: sqlite3.Error) -> OutputError:
        """The output folder's one-line error (full, not writable), as for any other file written there."""
        code = getattr(exc, "sqlite_errorname", "")
        number = {"SQLITE_FULL": errno.ENOSPC, "SQLITE_READONLY": errno.EROFS, "SQLITE_PERM": errno.EACCES,
                  "SQLITE_CANTOPEN": errno.EACCES}.get(code, errno.EIO)
        reason = os.strerror(number) if number != errno.EIO else f"record store: {exc}"
        return outdir.output_error(OSError(number, reason), self.out_root, self.name)


def counts(tally: Tally, archives_expanded: int) -> dict[str, Any]:
    """The summary's ``counts`` object (key order fixed)."""
    return {
        "files": tally.files,
        "deleted": tally.deleted,
        "pictures": tally.pictures,
        "videos": tally.videos,
        "errors": tally.errors,
        "matched": tally.matched,
        "known": tally.known,
        "unknown_pictures": tally.unknown_pictures,
        "bytes": tally.bytes,
        "archives": tally.archives,
        "archives_expanded": archives_expanded,
        "by_origin": dict(sorted(tally.by_origin.items())),
    }
