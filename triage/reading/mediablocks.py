"""The media read in blocks, in order, and hashed (md5 + sha1): the parts of the media pass that know nothing of
streams (``reading.mediapass``), and the whole-media hash that runs beside the walk on raw media
(``reading.direct``). Each runs on its own thread, or inline with one job.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Iterable, Iterator

from triage.sources.containers import Evidence
from triage.sources.containers.readers import one_line

BLOCK = 4 << 20


class MediaHasher(threading.Thread):
    """md5 + sha1 of the media, fed block by block in order (on this thread, or inline with one job)."""

    def __init__(self, threaded: bool) -> None:
        super().__init__(name="media-hasher", daemon=True)
        self.threaded = threaded
        self.blocks: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self.md5, self.sha1 = hashlib.md5(), hashlib.sha1()
        if threaded:
            self.start()

    def feed(self, block: bytes) -> None:
        if self.threaded:
            self.blocks.put(block)
        else:
            self.md5.update(block)
            self.sha1.update(block)

    def run(self) -> None:
        while (block := self.blocks.get()) is not None:
            self.md5.update(block)
            self.sha1.update(block)

    def finish(self) -> dict[str, str]:
        if self.threaded:
            self.blocks.put(None)
            self.join()
        return {"md5": self.md5.hexdigest(), "sha1": self.sha1.hexdigest()}

    def abandon(self) -> None:
        """Stop without a result."""
        if not self.threaded or not self.is_alive():
            return
        while True:
            try:
                self.blocks.get_nowait()
            except queue.Empty:
                break
        self.blocks.put(None)
        self.join()


class Prefetch(threading.Thread):
    """Reads (and, for an E01, decompresses) the next blocks while the previous ones are hashed.

    ``take`` gives a block's bytes or, when it could not be read, the one-line reason (a str). With one job
    the blocks are read inline, when taken.
    """

    def __init__(self, evidence: Evidence, starts: Iterable[int], size: int, threaded: bool) -> None:
        super().__init__(name="media-reader", daemon=True)
        self.evidence, self.size = evidence, size
        self.starts: Iterator[int] = iter(starts)  # lazily: a 1 PB media has 268 million blocks
        self.threaded = threaded
        self.blocks: queue.Queue[bytes | str] = queue.Queue(maxsize=3)
        self._stop_event = threading.Event()
        if threaded:
            self.start()

    def take(self) -> bytes | str:
        if self.threaded:
            return self.blocks.get()
        return self._read(next(self.starts))

    def _read(self, start: int) -> bytes | str:
        want = min(BLOCK, self.size - start)
        try:
            data = self.evidence.read(start, want)
        except (OSError, ValueError) as exc:
            return one_line(exc)
        return data if len(data) == want else f"read returned {len(data)} of {want} bytes"

    def run(self) -> None:
        for start in self.starts:
            item = self._read(start)
            while not self._stop_event.is_set():
                try:
                    self.blocks.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if self._stop_event.is_set():
                return

    def stop(self) -> None:
        if self.threaded:
            self._stop_event.set()
            self.join()


class WholeMediaHash(threading.Thread):
    """md5 + sha1 of the whole media on its own thread, while the walk reads the streams (``reading.direct``):
    the block reader and hasher of the pass, run inline here. ``finish``: the hashes, or why there are none."""

    def __init__(self, evidence: Evidence) -> None:
        super().__init__(name="media-hash", daemon=True)
        size = evidence.media_size
        self.reader = Prefetch(evidence, range(0, size, BLOCK), size, threaded=False)
        self.hasher = MediaHasher(threaded=False)
        self.blocks = -(-size // BLOCK)
        self.error: str | None = None
        self._stop_event = threading.Event()
        self.start()

    def run(self) -> None:
        for number in range(self.blocks):
            if self._stop_event.is_set():
                self.error = "verification stopped before the end of the media"
                return
            data = self.reader.take()
            if isinstance(data, str):
                self.error = f"media read error at offset {number * BLOCK}: {data}"
                return
            self.hasher.feed(data)

    def finish(self) -> tuple[dict[str, str], str | None]:
        self.join()
        return ({}, self.error) if self.error is not None else (self.hasher.finish(), None)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
