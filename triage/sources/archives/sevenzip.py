"""7z members in archive order, from one decompression pass.

Why a thread: py7zr only pushes data (a writer factory per member) and a solid 7z must be decompressed in one
pass, or every member would decompress the block from its start again. The pass runs on a helper thread that
hands chunks over a small bounded queue, so the expander pulls member by member as it does for every other
format and holds at most a few chunks. Closing the iterator stops the pass.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections import deque
from collections.abc import Iterator
from typing import Any, BinaryIO

from triage.errors import one_line
from triage.model.times import iso_filetime
from triage.sources.archives.formats import ENCRYPTED, Member, _times, member_path

_QUEUE_CHUNKS = 8
_PUT_WAIT = 0.2
_STOPPED = "stopped"


class _Stop(Exception):
    """Raised inside py7zr's pass when the consumer went away."""


class _Channel:
    """The bounded hand-over between the decompression thread and the reader."""

    def __init__(self) -> None:
        self.items: queue.Queue[tuple[str, Any]] = queue.Queue(_QUEUE_CHUNKS)
        self.stop = threading.Event()

    def put(self, kind: str, value: Any) -> None:
        while not self.stop.is_set():
            try:
                self.items.put((kind, value), timeout=_PUT_WAIT)
                return
            except queue.Full:
                continue
        raise _Stop


def _writer_factory(channel: _Channel) -> Any:
    from py7zr.io import Py7zIO, WriterFactory

    class Writer(Py7zIO):
        def __init__(self, name: str) -> None:
            self.name = name
            self.written = 0

        def write(self, s: bytes | bytearray) -> int:
            if s:
                channel.put("data", bytes(s))
                self.written += len(s)
            return len(s)

        def read(self, size: int | None = None) -> bytes:
            return b""

        def seek(self, offset: int, whence: int = 0) -> int:
            return 0

        def flush(self) -> None:
            pass

        def size(self) -> int:
            return self.written

    class Factory(WriterFactory):
        def create(self, filename: str) -> Py7zIO:
            channel.put("start", filename)
            return Writer(filename)

    return Factory()


class _MemberStream:
    """The data of the current member, read from the channel until the next member starts."""

    def __init__(self, reader: _SevenZipReader) -> None:
        self.reader = reader
        self.buffer = b""

    def read(self, n: int = -1) -> bytes:
        while not self.buffer:
            kind, value = self.reader.peek()
            if kind == "error":
                raise value  # left in the channel: the members after it are errors too
            if kind != "data":
                return b""
            self.reader.take()
            self.buffer = value
        if n < 0 or n >= len(self.buffer):
            out, self.buffer = self.buffer, b""
        else:
            out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def close(self) -> None:
        """Nothing to release: data left unread is skipped by the member iterator."""

    def __enter__(self) -> _MemberStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _SevenZipReader:
    def __init__(self, archive: Any) -> None:
        self.archive = archive
        self.channel = _Channel()
        self.pending: tuple[str, Any] | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="triage-7z", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.archive.extractall(factory=_writer_factory(self.channel))
            self.channel.put("done", None)
        except _Stop:
            pass
        except Exception as exc:  # handed to the reader: an error on the member being read
            with contextlib.suppress(_Stop):
                self.channel.put("error", exc)

    def peek(self) -> tuple[str, Any]:
        if self.pending is None:
            self.pending = self.channel.items.get()
        return self.pending

    def take(self) -> tuple[str, Any]:
        item = self.peek()
        self.pending = None
        return item

    def close(self) -> None:
        self.channel.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=10)
        self.archive.close()


def seven_zip_members(source: BinaryIO) -> Iterator[Member]:
    """Members of a 7z in archive order; the header is read now (a truncated 7z raises here)."""
    import py7zr

    archive = py7zr.SevenZipFile(source, mode="r")
    files = [f for f in archive.files if not f.is_directory]
    encrypted = archive.needs_password()

    def member_of(info: Any) -> Member:
        mtime = iso_filetime(int(info.lastwritetime)) if info.lastwritetime is not None else None  # exact, to 100 ns
        # no per-member packed size: in a solid block py7zr gives the whole block's to the first member only
        return Member(member_path(info.filename), info.uncompressed, None, _times(modified=mtime))

    def members() -> Iterator[Member]:
        if encrypted:
            try:
                for info in files:
                    member = member_of(info)
                    member.error = ENCRYPTED
                    yield member
            finally:
                archive.close()
            return
        reader = _SevenZipReader(archive)
        pending = deque(files)
        try:
            reader.start()
            while True:
                kind, value = reader.take()
                if kind == "data":
                    continue  # the rest of a member the expander stopped reading
                if kind == "done":
                    break
                if kind == "error":
                    for info in pending:  # the pass stopped: what was not read is an error on each member
                        member = member_of(info)
                        member.error = f"not read: {one_line(value, typed=True)}"
                        yield member
                    return
                info = _match(pending, value)
                member = member_of(info)
                if info.is_symlink:
                    member.symlink = _MemberStream(reader).read(4096).decode("utf-8", errors="surrogateescape")
                else:
                    member.open = lambda: _MemberStream(reader)  # type: ignore[assignment, return-value]
                yield member
        finally:
            reader.close()

    return members()


def _match(pending: deque, name: str) -> Any:
    """The file py7zr announced: by name (py7zr appends "_N" to repeated names), else the next in order."""
    for info in pending:
        if info.filename == name:
            pending.remove(info)
            return info
    for info in pending:
        if name.startswith(info.filename + "_"):
            pending.remove(info)
            return info
    return pending.popleft()
