"""Records listed and not finished yet, spilled to a SQLite table as the walk lists them (issue 13, bounded memory).

Why: a device lists every stream before reading (the progress bar needs the total, the media pass needs every
stream's place), and 200,000 records held in memory cost ~1.6 KB each. Here a listed record is marshalled into a
table keyed by its listing index; only the records in use (being read, expanded, waiting for a worker) are held,
loaded back on first use and dropped when released. What planning needs of every record is kept in compact
form: a flag byte per index and running sums. Pieces of the media pass go to a table of the same database and
come back ordered by media offset (``sorted_pieces``). The database lives in the scratch folder given (the
record store's hidden folder in the output folder).
"""

from __future__ import annotations

import marshal
import pickle
import sqlite3
from array import array
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from triage.model.locator import Locator
from triage.model.record import FIELD_NAMES, FileRecord, field_values

BATCH = 2000  # rows written per transaction
LOAD = 500  # indices looked up per query

Pair = tuple[FileRecord, Any]  # (record, the file system or lister it came from)


class PendingRecords:
    """A list-like ``index -> (record, fs)`` (None once released) whose records wait on disk until used."""

    def __init__(self, folder: Callable[[], Path], error: Callable[[sqlite3.Error], Exception]) -> None:
        self._folder, self._error = folder, error
        self._db: sqlite3.Connection | None = None
        self._path: Path | None = None
        self._count = 0
        self._written = 0  # indices below this are in the table; the others in ``_buffer``
        self._buffer: list[Pair] = []
        self._rows: list[tuple[int, int, int, bytes, bytes | None]] = []
        self._pieces: list[tuple[int, int, int, int]] = []
        self._live: dict[int, Pair] = {}
        self._fss: list[Any] = []
        self._fs_number: dict[int, int] = {}
        self._parents: list[Locator | None] = []
        self._parent_number: dict[int, int] = {}
        self.released = bytearray()  # 1: finished and stored (or dropped): never loaded again
        self.picture_named = bytearray()  # 1: named like a picture, 2: like a video (reading order: plan.media_flag)
        self.digested = array("q")  # indices whose content the walk already read (a compressed tar)
        self.total_bytes = 0  # bytes of every stream listed (the progress bar's total)

    def __len__(self) -> int:
        return self._count

    def append(self, record: FileRecord, fs: Any, picture: int = 0) -> int:
        """Add a record just listed (its ``id`` set by the caller) and return its index."""
        if len(self._buffer) >= BATCH:
            self._write()  # before, not after, adding: the record just listed stays this very object until the next
        index = self._count
        self._count += 1
        self._buffer.append((record, fs))
        self.released.append(0)
        self.picture_named.append(picture)
        if record.locator is not None:
            self.total_bytes += record.size
        if record.sha256 is not None:
            self.digested.append(index)
        return index

    def add_pieces(self, index: int, runs: Iterable[tuple[int, int, int]]) -> None:
        """The media-pass pieces of stream ``index``: ``(offset in stream, offset in media, length)`` each."""
        self._pieces.extend((start, start + length, index, offset) for offset, start, length in runs)
        if len(self._pieces) >= BATCH:
            self._write()

    def __getitem__(self, index: int) -> Pair | None:
        if self.released[index]:
            return None
        pair = self._live.get(index)
        if pair is None:
            if index >= self._written:  # still buffered (the record just listed): no query, as ``load`` does
                pair = self._live[index] = self._buffer[index - self._written]
                return pair
            self.load((index,))
            pair = self._live[index]
        return pair

    def __iter__(self) -> Iterator[Pair | None]:
        """Every pair in listing order (each loaded and held: for small listings and tests)."""
        for start in range(0, self._count, LOAD):
            self.load(range(start, min(start + LOAD, self._count)))
            for index in range(start, min(start + LOAD, self._count)):
                yield self[index]

    def release(self, index: int) -> Pair | None:
        """The pair at ``index`` (loaded if need be), dropped from here for good; None if released already."""
        pair = self[index]
        self.released[index] = 1
        self._live.pop(index, None)
        return pair

    def load(self, indices: Iterable[int]) -> None:
        """Hold the records at ``indices`` (those not released), reading those on disk in few queries."""
        wanted = [i for i in indices if not self.released[i] and i not in self._live]
        on_disk = []
        for index in wanted:
            if index >= self._written:
                self._live[index] = self._buffer[index - self._written]
            else:
                on_disk.append(index)
        for start in range(0, len(on_disk), LOAD):
            chunk = on_disk[start:start + LOAD]
            query = f"SELECT idx, fs, parent, blob FROM pending WHERE idx IN ({','.join('?' * len(chunk))})"
            for index, fs, parent, blob in self._query(query, chunk):
                self._live[index] = (_loads(blob, self._parents[parent]), self._fss[fs])

    def unreleased(self) -> Iterator[int]:
        """Indices not released yet, in order."""
        index = self.released.find(0)
        while index >= 0:
            yield index
            index = self.released.find(0, index + 1)

    def same_streams(self) -> list[list[int]]:
        """Listing indices that name the same stream (same file system, inode and attribute): hard links."""
        self._write()
        if self._db is None:
            return []
        query = "SELECT group_concat(idx) FROM pending WHERE skey IS NOT NULL GROUP BY skey HAVING count(*) > 1"
        return [sorted(int(i) for i in row[0].split(",")) for row in self._query(query, ())]

    def sorted_pieces(self, own_connection: bool = False) -> Iterator[tuple[int, int, int, int]]:
        """Every piece ``(start, end, index, offset in stream)`` by media offset, read in batches.

        ``own_connection``: for a second reader on another thread (the media pass's block reader). The tables
        are completed here, on the calling thread, before any reading starts.
        """
        self._write()
        if self._db is None or self._path is None:
            return iter(())
        return self._sorted(sqlite3.connect(self._path, check_same_thread=False) if own_connection else None)

    def _sorted(self, own: sqlite3.Connection | None) -> Iterator[tuple[int, int, int, int]]:
        db = own or self._db
        assert db is not None
        try:
            cursor = db.execute('SELECT start, "end", idx, off FROM pieces ORDER BY start, "end", idx, off')
            while rows := cursor.fetchmany(LOAD):
                yield from rows
        finally:
            if own is not None:
                own.close()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _number(self, value: Any, numbers: dict[int, int], values: list[Any]) -> int:
        number = numbers.get(id(value))
        if number is None:
            number = numbers[id(value)] = len(values)
            values.append(value)
        return number

    def _write(self) -> None:
        """Move the buffered records and pieces into the tables."""
        # Usually every buffered record finished while buffered (read as listed): then there is nothing to keep.
        unfinished = self.released.find(0, self._written, self._written + len(self._buffer)) >= 0
        for offset, (record, fs) in enumerate(self._buffer if unfinished else ()):
            if self.released[self._written + offset]:
                continue  # finished while still buffered (read as listed): never loaded again
            locator = record.locator
            parent = self._number(locator.parent if locator else None, self._parent_number, self._parents)
            fs_number = self._number(fs, self._fs_number, self._fss)
            key = pickle.dumps((fs_number, parent, locator.kind, locator.args)) if locator else None
            index = self._written + offset
            if index in self._live:
                # Held until released, so never loaded from here; and maybe handed to a worker, whose pickling
                # (the executor's feeder thread) must never see the locator swapped below. Only its row (hard links).
                self._rows.append((index, fs_number, parent, None, key))
                continue
            self._rows.append((index, fs_number, parent, _dumps(record), key))
        self._written += len(self._buffer)
        self._buffer = []
        if not self._rows and not self._pieces:
            return
        try:
            db = self._db or self._open()
            with db:
                db.executemany("INSERT INTO pending VALUES (?, ?, ?, ?, ?)", self._rows)
                db.executemany("INSERT INTO pieces VALUES (?, ?, ?, ?)", self._pieces)
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        self._rows, self._pieces = [], []

    def _open(self) -> sqlite3.Connection:
        self._path = self._folder() / "pending.sqlite"
        db = sqlite3.connect(self._path, check_same_thread=False)
        db.execute("PRAGMA journal_mode=OFF")  # scratch tables: nothing to recover after a crash
        db.execute("PRAGMA synchronous=OFF")
        db.execute("CREATE TABLE pending (idx INTEGER PRIMARY KEY, fs INTEGER, parent INTEGER, blob BLOB, skey BLOB)")
        db.execute('CREATE TABLE pieces (start INTEGER, "end" INTEGER, idx INTEGER, off INTEGER)')
        self._db = db
        return db

    def _query(self, query: str, args: Iterable[Any]) -> list[Any]:
        self._write()
        assert self._db is not None
        try:
            return self._db.execute(query, tuple(args)).fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc) from exc


def _dumps(record: FileRecord) -> bytes:
    """The record's field values, its locator as ``(kind, args)`` (the parent chain is shared: stored once, as a
    number), in ``marshal``'s format; pickled when a value is not one of marshal's types (an embedded record).

    Why marshal: the pending table takes every record of a compressed image and gives it back once; as a pickle
    that cost ~8.7 us a record (dump 4.5, load 4.2: a dataclass per record and per locator), as marshalled values
    ~4.4 (dump 1.7, load 2.7; 200,000 records, garbage collector off as the scan nearly has it).
    The table is scratch, written and read by this one process, so marshal's version-bound format is no concern.
    """
    values = list(field_values(record))
    locator = record.locator
    if locator is not None:
        values[_LOCATOR] = (locator.kind, locator.args)
    try:
        return marshal.dumps(tuple(values))
    except ValueError:
        values[_LOCATOR] = Locator(locator.kind, locator.args) if locator is not None else None
        return pickle.dumps(tuple(values), protocol=pickle.HIGHEST_PROTOCOL)  # starts 0x80: no marshal code does


def _loads(blob: bytes, parent: Locator | None) -> FileRecord:
    """``_dumps`` backwards, the locator given its parent again."""
    values = pickle.loads(blob) if blob[0] == 0x80 else marshal.loads(blob)
    record = FileRecord(*values)
    locator = record.locator
    if locator is not None:
        record.locator = Locator(locator[0], locator[1], parent) if type(locator) is tuple else Locator(
            locator.kind, locator.args, parent)
    return record


_LOCATOR = FIELD_NAMES.index("locator")


class IndexFlags:
    """A set of listing indices as one byte each: a set of 200,000 ints cost ~10 MB, this 200 KB."""

    def __init__(self) -> None:
        self.flags = bytearray()

    def __contains__(self, index: object) -> bool:
        return isinstance(index, int) and 0 <= index < len(self.flags) and self.flags[index] != 0

    def add(self, index: int) -> None:
        if index >= len(self.flags):
            self.flags.extend(bytes(max(index + 1 - len(self.flags), len(self.flags) // 8, 1024)))
        self.flags[index] = 1

    def update(self, indices: Iterable[int]) -> None:
        for index in indices:
            self.add(index)
