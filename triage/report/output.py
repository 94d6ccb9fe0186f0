"""Where a report's text goes: large UTF-8 blocks into a temp file renamed into place, and spools for parts that
a one-pass writer learns late.

Why: the reports are written in one pass over files.jsonl (each record parsed once for all of them, issue 17),
yet two put something before the per-file part that needs every file (CASE's scan action lists them all) or
group the files differently from files.jsonl's order (DFXML's volumes). Those write the late part to a spool, a
nameless temporary file beside the report, and splice it in at the end: the kernel copies it (``sendfile``), no
record is held in memory. Text is joined and encoded in blocks of ~256 K characters: one ``write`` per block
instead of one per record.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

BLOCK = 1 << 18  # characters joined before one encode + write


class ReportWriter(Protocol):
    """A report written in one pass: the constructor may write the head, ``add`` sees each record once in
    files.jsonl order, ``finish`` writes the rest."""

    def __init__(self, summary: dict[str, Any], out: Out) -> None: ...

    def add(self, record: dict[str, Any]) -> None: ...

    def finish(self) -> None: ...


class Out:
    """Text written as UTF-8 to a file descriptor or a ``BytesIO`` (a report rendered in memory, for tests).

    ``backslashreplace`` is a last safety net only; every writer escapes what its format cannot carry first.
    """

    def __init__(
        self, target: int | io.BytesIO, spool_dir: Path | None = None, spools: list[Out] | None = None
    ) -> None:
        self.target = target
        self.spool_dir = spool_dir
        self.spools: list[Out] = [] if spools is None else spools  # shared with its spools: closed on abort
        self._parts: list[str] = []
        self._size = 0
        self._range: list[int] | None = None  # [fd, offset, size]: bytes to copy here before any later text

    def write(self, text: str) -> None:
        if self._range is not None:
            self._copy_range()
        self._parts.append(text)
        self._size += len(text)
        if self._size >= BLOCK:
            self.flush()

    def copy(self, source: int, offset: int, size: int) -> None:
        """Append ``size`` bytes of file ``source`` from ``offset`` (text rendered ahead, ``report.ahead``).

        Why kept pending: the next copy usually continues where this one ended, and one kernel copy of the
        joined range replaces thousands of small ones.
        """
        if self._parts:
            self.flush()
        pending = self._range
        if pending is not None:
            if pending[0] == source and pending[1] + pending[2] == offset:
                pending[2] += size
                return
            self._copy_range()
        self._range = [source, offset, size]

    def _copy_range(self) -> None:
        assert self._range is not None
        source, offset, size = self._range
        self._range = None
        if isinstance(self.target, io.BytesIO):
            self.target.write(_read_range(source, offset, size))
        else:
            _copy(source, self.target, offset, offset + size)

    def flush(self) -> None:
        if self._range is not None:
            self._copy_range()
        if not self._parts:
            return
        data = "".join(self._parts).encode("utf-8", "backslashreplace")
        self._parts.clear()
        self._size = 0
        if isinstance(self.target, io.BytesIO):
            self.target.write(data)
        else:
            _write_all(self.target, data)

    def spool(self) -> Out:
        """A new ``Out`` for a part written out of order: a nameless temp file in ``spool_dir``, else memory."""
        if self.spool_dir is None:
            spool = Out(io.BytesIO(), None, self.spools)
        else:
            with tempfile.TemporaryFile(dir=self.spool_dir) as spool_file:  # already unlinked: gone once closed
                spool = Out(os.dup(spool_file.fileno()), self.spool_dir, self.spools)
        self.spools.append(spool)
        return spool

    def splice(self, spool: Out) -> None:
        """Append everything written to ``spool`` here, then close it."""
        spool.flush()
        self.flush()
        source = spool.target
        if isinstance(source, io.BytesIO):
            data = source.getvalue()
            if isinstance(self.target, io.BytesIO):
                self.target.write(data)
            else:
                _write_all(self.target, data)
        elif isinstance(self.target, io.BytesIO):
            self.target.write(_read_all(source))
        else:
            _copy(source, self.target, 0, os.fstat(source).st_size)
        spool.close()

    def reserve(self, size: int) -> int:
        """Leave a hole of ``size`` bytes here, to be filled by ``fill``; returns its offset.

        Why: a part whose size is known before its content (CASE's scan action, listing every file by an id of
        fixed length) is written last into its place, so that what follows it needs no spool and no copy.
        """
        self.flush()
        if isinstance(self.target, io.BytesIO):
            offset = self.target.tell()
            self.target.write(bytes(size))
            return offset
        offset = os.lseek(self.target, 0, os.SEEK_CUR)
        os.lseek(self.target, size, os.SEEK_CUR)  # the file grows over it as the rest is written
        return offset

    def fill(self, offset: int, size: int, chunks: Iterable[str]) -> None:
        """Write ``chunks`` into the hole of ``size`` bytes at ``offset``. Less text than that closes up the rest:
        the bytes after the hole move back (a copy, for when fewer items came than were reserved for)."""
        self.flush()
        if isinstance(self.target, io.BytesIO):
            data = "".join(chunks).encode("utf-8", "backslashreplace")
            if len(data) > size:
                raise ValueError("more text than the hole reserved for it")
            whole = self.target.getvalue()
            self.target.seek(0)
            self.target.truncate()
            self.target.write(whole[:offset] + data + whole[offset + size:])
            return
        position = offset
        for chunk in chunks:
            data = chunk.encode("utf-8", "backslashreplace")
            if position + len(data) > offset + size:
                raise ValueError("more text than the hole reserved for it")
            _write_at(self.target, data, position)
            position += len(data)
        gap = offset + size - position
        if gap:
            end, source = os.lseek(self.target, 0, os.SEEK_END), offset + size
            while chunk := os.pread(self.target, 1 << 20, source):
                _write_at(self.target, chunk, source - gap)
                source += len(chunk)
            os.ftruncate(self.target, end - gap)
            os.lseek(self.target, end - gap, os.SEEK_SET)

    def close(self) -> None:
        """Close the file descriptor (once) and drop what was not written."""
        self._parts.clear()
        self._range = None
        target, self.target = self.target, io.BytesIO()
        if isinstance(target, int):
            os.close(target)


class AtomicFile:
    """A report file written through ``.<name>.<pid>.<thread>.tmp`` beside it and renamed into place on commit.

    Why: a report half-written when the examiner's machine dies must never look like a finished one; the rename
    is atomic on the same file system. A leftover (a process killed while writing) is found by that name.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        # Plain open flags (not mkstemp): the report gets the usual umask permissions, not 0600.
        self.out = Out(os.open(self.tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o666), self.path.parent)  # read: fill
        self.committed = False

    def commit(self) -> Path:
        self.out.flush()
        self.out.close()
        os.replace(self.tmp, self.path)
        self.committed = True
        return self.path

    def abort(self) -> None:
        """Remove the temp file and close every spool (nothing to do after ``commit``)."""
        for spool in self.out.spools:
            spool.close()
        if not self.committed:
            self.out.close()
            self.tmp.unlink(missing_ok=True)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _write_at(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def _read_all(fd: int) -> bytes:
    chunks, offset = [], 0
    while chunk := os.pread(fd, 1 << 20, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _copy(source: int, target: int, offset: int, end: int) -> None:
    """Copy bytes ``offset``..``end`` of ``source`` to ``target`` at its current offset, in the kernel if it can."""
    try:
        while offset < end:
            sent = os.sendfile(target, source, offset, min(end - offset, 1 << 30))
            if sent == 0:
                break
            offset += sent
    except OSError:  # no sendfile between these files: copy through memory from where it stopped
        pass
    while offset < end and (chunk := os.pread(source, min(1 << 20, end - offset), offset)):
        _write_all(target, chunk)
        offset += len(chunk)


def _read_range(source: int, offset: int, size: int) -> bytes:
    chunks = []
    while size > 0 and (chunk := os.pread(source, min(1 << 20, size), offset)):
        chunks.append(chunk)
        offset, size = offset + len(chunk), size - len(chunk)
    return b"".join(chunks)


def render(writer: type[ReportWriter], summary: dict[str, Any], records: Iterable[dict[str, Any]]) -> bytes:
    """One report rendered in memory (tests, small devices): the bytes ``write_reports`` writes to its file."""
    buffer = io.BytesIO()
    out = Out(buffer)
    instance = writer(summary, out)
    expect = getattr(instance, "expect", None)
    if expect is not None and isinstance(records, list | tuple):
        expect(len(records))
    for record in records:
        instance.add(record)
    instance.finish()
    out.flush()
    return buffer.getvalue()
