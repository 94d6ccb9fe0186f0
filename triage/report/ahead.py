"""Reports rendered ahead: while the scan runs, idle workers render each stored record's files.csv row, DFXML file
object and CASE file node, so that the end of the scan copies them into place instead of rendering them.

Why: on a device of many small files the main process walks while the second core idles, and rendering the
reports at the end was a quarter of the scan (issue 17, item 3). The record store hands each batch of finished
records (``RecordStore``, files.jsonl lines with their sort keys) to a worker, which appends the rendered text to
a scratch file of its own and an index of the batch's rows (key, sizes, file UUID, flags). Only what cannot
change is rendered ahead, and the end pass (``report.ahead_pass``) checks the rest:

- a batch goes out sorted, and only its rows that sort after every row sent before; a row that finishes later
  (a picture back from a worker, an archive member) is rendered at the end as before;
- a row inside an archive (its CASE node points at the archive's) or on a volume the listing did not know yet
  is not rendered ahead;
- each batch carries the volumes as listed when it was sent (``Context``): a batch whose context differs from
  the final summary's is not used;
- a CASE file id that repeats an earlier one is made unique at the end, in files.jsonl order, as always.

Everything else — the HTML summary, matched.csv, vics.json — needs only the few records flagged ``WANTED``, which
the end pass parses. The result is byte-identical to ``write_reports`` (tests/report/test_ahead.py).
"""

from __future__ import annotations

import bisect
import json
import os
import struct
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from triage.report.case_nodes import FastIds, Ids, uuid_text
from triage.report.case_uco import CONTEXT, case_targets, node_text
from triage.report.common import ITEMS, json_frame, scan_object
from triage.report.csv_out import row_text
from triage.report.dfxml import fileobject, volume_places
from triage.report.vics import MEDIA_TYPES

COVERED, WANTED = 1, 2  # row flags: rendered ahead; needed as a record by report.html, matched.csv or vics.json
NO_SLOT = 0xFFFF
ROW = struct.Struct(">QBHIII16s")  # after the key's length byte and key: seq, flags, volume slot, sizes, UUID
_KEY_LENGTH = struct.Struct(">B")
MAX_OUT = 8  # batches on the workers at once; a busier pool (pictures) gets none until it catches up
# Least share of the records rendered ahead for the end to copy them: the rest is rendered there by this process
# alone, while rendering everything at the end splits the reports over two processes (``write_reports``). Below
# about half, that is quicker (E01: records finish in media order, so most sort before rows already sent).
MIN_SHARE = 0.6
PAD = json_frame({"@context": CONTEXT, "@graph": ITEMS})[1]
Row = tuple[bytes, int, str]  # sort key, order of adding, files.jsonl line


@dataclass(frozen=True)
class Context:
    """What a rendered row depends on besides its record: the device's CASE ids and each partition's place."""

    device: str
    image: str
    volumes: tuple[tuple[Any, int, Any, str], ...]  # index, DFXML partition number, offset, CASE volume id


def context(summary: dict[str, Any]) -> Context:
    """The context of ``summary`` (the final one, or the evidence and volumes listed so far)."""
    ids, image, volume_ids = case_targets(summary)
    places = volume_places(summary)
    return Context(ids.device, image, tuple((key, *places[key], volume_ids[key]) for key in places))


@dataclass
class Batch:
    """One batch sent to a worker: its result (where its text is), the context it was rendered in, its rows."""

    context: Context
    future: Future[tuple[str, int, tuple[int, int, int, int]]]
    rows: int


class Ahead:
    """The main process's side: offers each stored batch to the workers, and gives the end pass what came back."""

    def __init__(self, pool: Executor, folder: Path, listed: Callable[[], dict[str, Any]]) -> None:
        self.pool: Executor | None = pool
        self.folder = folder
        self.listed = listed  # the evidence and volumes as listed so far, shaped as the summary holds them
        self.batches: list[Batch] = []
        self.last: tuple[bytes, int] | None = None
        self.files: dict[str, int] = {}  # the workers' scratch files, opened to copy from

    def offer(self, rows: list[Row]) -> None:
        """Send the rows that sort after everything sent so far, unless the workers are busy or gone."""
        if self.pool is None or sum(not batch.future.done() for batch in self.batches[-MAX_OUT:]) >= MAX_OUT:
            return
        rows = sorted(rows, key=_order)
        start = 0 if self.last is None else bisect.bisect_right(rows, self.last, key=_order)
        if start == len(rows):
            return
        now = context(self.listed())
        try:
            future = self.pool.submit(render_batch, str(self.folder), now, rows[start:])
        except RuntimeError:  # a shut-down or broken pool: the rest is rendered at the end
            self.pool = None
            return
        self.batches.append(Batch(now, future, len(rows) - start))
        self.last = _order(rows[-1])

    def worth(self, final: Context, count: int, wait: bool = True) -> bool:
        """Whether the batches ``rendered`` would use (those still out too if ``wait``) hold at least
        ``MIN_SHARE`` of the ``count`` records; if not, the caller renders every report at the end."""
        rows = sum(batch.rows for batch in self.batches
                   if batch.context == final and (wait or batch.future.done()) and not batch.future.cancelled())
        return count > 0 and rows >= MIN_SHARE * count

    def rendered(self, final: Context, wait: bool = True) -> Iterator[tuple[Any, ...]]:
        """Every row rendered in ``final``'s context, in the order sent (which is files.jsonl order): key, seq,
        flags, volume slot, file descriptor, and offset and size of its CSV, DFXML and CASE text, its UUID.
        Without ``wait`` (partial results after a Ctrl-C) only batches already back are used."""
        for batch in self.batches:
            if batch.context != final or not (wait or batch.future.done()):
                continue
            try:
                path, base, sizes = batch.future.result()
            except Exception:  # a worker that failed: its rows are rendered at the end
                continue
            if path not in self.files:
                self.files[path] = os.open(path, os.O_RDONLY)
            yield from _rows(self.files[path], base, sizes)

    def cancel(self) -> None:
        """Drop the batches not started (their text will not be used): the pool is free for the reports."""
        for batch in self.batches:
            batch.future.cancel()

    def close(self) -> None:
        """Close the scratch files ``rendered`` opened (once every copy from them is written)."""
        for fd in self.files.values():
            os.close(fd)
        self.files.clear()


def record_id(key: bytes) -> str:
    """The record id whose sort key is ``key`` (``model.store.record_key`` backwards)."""
    if len(key) == 8:
        return str(int.from_bytes(key, "big"))
    return ".".join(str(part) for part in struct.unpack(f">{len(key) // 8}Q", key))


def _order(row: Row) -> tuple[bytes, int]:
    return row[0], row[1]


def _rows(fd: int, base: int, sizes: tuple[int, int, int, int]) -> Iterator[tuple[Any, ...]]:
    csv_size, dfxml_size, case_size, index_size = sizes
    index = os.pread(fd, index_size, base + csv_size + dfxml_size + case_size)
    csv_at, dfxml_at, case_at = base, base + csv_size, base + csv_size + dfxml_size
    at = 0
    unpack, row_size = ROW.unpack_from, ROW.size
    while at < len(index):
        length = index[at]
        key = index[at + 1:at + 1 + length]
        seq, flags, slot, csv, dfxml, case, uuid = unpack(index, at + 1 + length)
        at += 1 + length + row_size
        yield key, seq, flags, slot, fd, csv_at, csv, dfxml_at, dfxml, case_at, case, uuid
        csv_at, dfxml_at, case_at = csv_at + csv, dfxml_at + dfxml, case_at + case


# Worker side: one scratch file per worker process and scan folder, appended to batch after batch.
_FILES: dict[str, tuple[str, int]] = {}


def render_batch(folder: str, ctx: Context, rows: list[Row]) -> tuple[str, int, tuple[int, int, int, int]]:
    """Render ``rows`` and append their text and index to this process's scratch file in ``folder``; returns the
    file, where the batch starts, and the sizes of its CSV, DFXML, CASE and index parts."""
    fast = FastIds(Ids(ctx.device))
    slots = {volume[0]: slot for slot, volume in enumerate(ctx.volumes)}
    csv: list[bytes] = []
    dfxml: list[bytes] = []
    case: list[bytes] = []
    index = bytearray()
    zero = bytes(16)
    for key, seq, line in rows:
        record = scan_object(line, len(line)) or json.loads(line)  # record_line wrote it: the scanner takes it
        get = record.get
        wanted = bool(get("matches") or get("errors") or get("notes")
                      or (str(get("type") or "").startswith(MEDIA_TYPES) and get("md5")))
        volume = get("volume")
        slot = slots.get(volume, NO_SLOT) if isinstance(volume, int | None) else NO_SLOT
        index += _KEY_LENGTH.pack(len(key)) + key
        if slot == NO_SLOT or get("parent") is not None or get("id") != record_id(key):
            index += ROW.pack(seq, WANTED * wanted, NO_SLOT, 0, 0, 0, zero)
            continue
        _, partition, offset, target = ctx.volumes[slot]
        value = fast.plain(record)
        row = row_text(record).encode("utf-8", "backslashreplace")
        obj = fileobject(record, partition, offset).encode("utf-8", "backslashreplace")
        node = node_text(fast, PAD, record, "kb:file-" + uuid_text(value), target).encode("utf-8", "backslashreplace")
        csv.append(row)
        dfxml.append(obj)
        case.append(node)
        index += ROW.pack(seq, COVERED | WANTED * wanted, slot, len(row), len(obj), len(node), value)
    parts = [b"".join(csv), b"".join(dfxml), b"".join(case), bytes(index)]
    path, fd = _file(folder)
    base = os.lseek(fd, 0, os.SEEK_END)
    sizes = (len(parts[0]), len(parts[1]), len(parts[2]), len(parts[3]))
    written, total = os.writev(fd, parts), sum(sizes)  # no third copy of the batch's text
    if written < total:  # a short write (a signal, a full disk): the rest as plain writes, or their error
        rest = memoryview(b"".join(parts))[written:]
        while rest:
            rest = rest[os.write(fd, rest):]
    return path, base, sizes


def _file(folder: str) -> tuple[str, int]:
    if folder not in _FILES:
        path = os.path.join(folder, f"ahead.{os.getpid()}")
        _FILES[folder] = (path, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    return _FILES[folder][0], _FILES[folder][1]
