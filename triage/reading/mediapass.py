"""One sequential read of the media: the media hash for verification and the digests of every mapped stream.

Why: decompressing an E01 is the dearest part of reading it. Reading the media once for its hash and again,
file by file, for the file digests would decompress every chunk twice. Instead the media is read once, in order,
in large blocks; each block goes to the media hasher (a thread: hashlib and libewf release the GIL) and is cut
into the pieces of the streams whose runs lie in it (``filesystems.tsk_runs``). A stream whose pieces come out of
file order (fragmented backwards) is held back until the gap is filled, within a memory bound; a stream that
cannot be completed here (the bound, a read error) is handed back to be read through its file system, as is
every stream without runs. Without verification only the blocks holding mapped streams are read.

Threads (``-j 2`` and more): a reader inflates the next blocks, a hasher computes the media md5 + sha1, and the
calling thread cuts blocks into streams and hashes those; with verification the reading starts while the
device is still being listed (``start_early``). With ``-j 1`` all of it runs on the calling thread.
Damaged EWF chunks (zero-filled by libewf) are looked up for every completed stream, as the TSK path does.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from triage.analysis.digests import Digester, digest_whole
from triage.model.record import FileRecord
from triage.reading import interrupts
from triage.reading.mediablocks import BLOCK, MediaHasher, Prefetch, WholeMediaHash
from triage.sources.containers import Evidence, reopen
from triage.sources.containers.verify import unhashed_reason

if TYPE_CHECKING:
    from triage.reading.plan import SpilledPlan

MAX_HELD = 256 << 20  # bytes of out-of-order pieces held back, over all streams
# Blocks read and hashed during the listing, kept for the streams it places. 128 MiB put the process tree of a
# 1,000,000-file E01 at 427 MB; 64 MiB was as fast on three E01 shapes (bench/RESULTS.md, session 11).
EARLY_BYTES = 64 << 20
ONE_PIECE = 1 << 20  # a stream below this that arrives whole in one piece is digested at once (``_one_piece``)

Run = tuple[int, int, int]  # (offset in the stream, offset in the media, length)
Finished = Callable[[int, FileRecord, bytes | None], bool]  # (index, record, picture bytes) -> stop?


def _blocks_of(pieces: list[tuple[int, int, int, int]], size: int) -> Iterator[int]:
    """Starts of the blocks holding ``pieces`` (sorted by start), in order, each once, made as they are taken.

    Why a generator: a forged run can claim petabytes; a list of its blocks would be sized by the claim.
    """
    covered = 0  # every block below this has been given
    for start, end, _, _ in pieces:
        block = max(start - start % BLOCK, covered)
        stop = min(end, size)
        while block < stop:
            yield block
            block += BLOCK
        covered = max(covered, block)


@dataclass
class _Stream:
    record: FileRecord
    runs: list[Run]
    digester: Digester
    next: int = 0
    held: dict[int, bytes] = field(default_factory=dict)
    held_bytes: int = 0
    failed: bool = False


def _runs(stream: _Stream | tuple[FileRecord, list[Run]]) -> list[Run]:
    return stream[1] if isinstance(stream, tuple) else stream.runs


class _Early(threading.Thread):
    """Reads and hashes the first blocks of the media while the device is listed, keeping them for ``run``."""

    def __init__(self, media: MediaPass) -> None:
        super().__init__(name="media-early", daemon=True)
        size = media.evidence.media_size
        self.media = media
        self.hasher = MediaHasher(True)
        self.reader = Prefetch(media.evidence, range(0, size, BLOCK), size, True)
        self.blocks = -(-size // BLOCK)
        self.backlog: list[bytes | None] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while (len(self.backlog) * BLOCK < EARLY_BYTES and len(self.backlog) < self.blocks
               and not self._stop_event.is_set()):
            self.backlog.append(self.media._take(self.reader, len(self.backlog) * BLOCK, self.hasher))

    def hand_over(self) -> tuple[MediaHasher, Prefetch, list[bytes | None]]:
        """Stop taking blocks; the caller continues with the same hasher and reader after the backlog."""
        self._stop_event.set()
        self.join()
        return self.hasher, self.reader, self.backlog

    def stop(self) -> None:
        self._stop_event.set()
        self.join()  # after the block it is taking: the reader is still running, so that take returns
        self.reader.stop()
        self.hasher.abandon()


class MediaPass:
    """Read the media once; complete the planned streams and, when asked, hash the media."""

    def __init__(self, evidence: Evidence, plan: dict[int, tuple[FileRecord, list[Run]]], verify: bool,
                 threads: bool = True, spilled: SpilledPlan | None = None) -> None:
        self.evidence = evidence  # read from; with start_early, a second handle of the same evidence
        # Nothing stored to compare with and a sparse container: the media hash is not worth reading it all.
        self.error: str | None = unhashed_reason(evidence) if verify else None
        self.verify = verify and self.error is None
        self.threads = threads  # False (-j 1): read and hash the media on the calling thread, one core
        # Planned streams: (record, runs) until their first piece arrives, then a _Stream with its digests (three
        # hash states per stream: made for all 200,000 files of a device at once they took 1.2 KB each).
        self.streams: dict[int, _Stream | tuple[FileRecord, list[Run]]] = {}
        self.spilled = spilled  # streams planned as the device was listed, their records and pieces on disk
        self.add(plan)
        self.unread: list[int] = []  # planned streams that must be read through their file system after all
        self.computed: dict[str, str] = {}
        self._held = 0
        self._early: _Early | None = None
        self._whole: WholeMediaHash | None = None
        self._own: Evidence | None = None

    def add(self, plan: dict[int, tuple[FileRecord, list[Run]]]) -> None:
        """Streams for the pass to complete (before ``run``)."""
        self.streams.update(plan)

    def maps(self, index: int) -> bool:
        """Whether the pass is to complete stream ``index`` (not to be read through its file system first)."""
        return index in self.streams or (self.spilled is not None and self.spilled.maps(index))

    def _pieces(self, own_connection: bool = False) -> Iterator[tuple[int, int, int, int]]:
        """Every planned piece ``(start, end, index, offset in stream)`` by media offset (each stream's runs)."""
        held = sorted((start, start + length, index, offset)
                      for index, stream in self.streams.items() for offset, start, length in _runs(stream))
        if self.spilled is None:
            return iter(held)
        spilled = self.spilled.records.sorted_pieces(own_connection)
        return heapq.merge(held, spilled if own_connection else self._loading(spilled))

    def _loading(self, pieces: Iterator[tuple[int, int, int, int]]) -> Iterator[tuple[int, int, int, int]]:
        """The pieces, each few hundred's records loaded in one query before they are used (not one by one)."""
        assert self.spilled is not None
        while batch := list(itertools.islice(pieces, 512)):
            self.spilled.prefetch(piece[2] for piece in batch)
            yield from batch

    def start_early(self) -> None:
        """Start reading and hashing the media now, while the device is still being listed (threads, verify).

        The first ``EARLY_BYTES`` of blocks are kept for the streams the listing will place; then the reader
        waits for ``run``. The pass reads through its own handle of the evidence, since the listing reads the
        other one meanwhile (libyal handles are not shared between threads here).
        """
        if not (self.verify and self.threads) or self._early is not None:
            return
        self._own = reopen([str(p) for p in self.evidence.paths], self.evidence.format)
        self.evidence = self._own
        self._early = _Early(self)
        self._early.start()

    def hash_whole(self) -> None:
        """Hash the whole media on a thread from now on (threads, verify), while the walk reads the streams
        itself (``reading.direct``); ``run`` then reads only the blocks holding streams planned after all."""
        if not (self.verify and self.threads) or self._early is not None or self._whole is not None:
            return
        self._whole = WholeMediaHash(self.evidence)

    def close(self) -> None:
        """Stop the helper threads (an interrupted listing) and close the pass's own handle."""
        if self._early is not None:
            self._early.stop()
        if self._whole is not None:
            self._whole.stop()
            self._whole = None
        if self._own is not None:
            self._own.close()
            self._own = None

    def run(self, finished: Finished, between: Callable[[], bool] = lambda: False) -> bool:
        """Read the media; ``finished`` gets each completed stream, ``between`` runs after each block.

        Either returning True stops the pass (``--first-hit``); run then returns True and the media hash is
        not computed ("verification stopped before the end of the media").
        """
        size = self.evidence.media_size
        whole, self._whole = self._whole, None
        every_block = self.verify and whole is None  # else only blocks holding pieces (the thread hashes the rest)

        def blocks(own_connection: bool) -> Iterable[int]:  # made twice, for the reader and for this loop
            return range(0, size, BLOCK) if every_block else _blocks_of(self._pieces(own_connection), size)

        starts = blocks(False)
        pieces = self._pieces()
        piece = next(pieces, None)
        self._damage = getattr(self.evidence.reader, "damage_in", None)
        backlog: list[bytes | None] = []
        if self._early is not None:  # blocks read (and hashed into the media hash) during the listing
            hasher, reader, backlog = self._early.hand_over()
        else:
            hasher = MediaHasher(self.threads) if every_block else None
            reader = Prefetch(self.evidence, blocks(True), size, self.threads)
        active: list[tuple[int, int, int, int]] = []
        try:
            for number, block_start in enumerate(starts):
                interrupts.check()
                block_end = min(block_start + BLOCK, size)
                while piece is not None and piece[0] < block_end:
                    active.append(piece)
                    piece = next(pieces, None)
                if number < len(backlog):
                    data = backlog[number]
                    backlog[number] = None
                else:
                    data = self._take(reader, block_start, hasher)
                if data is None:
                    for piece in active:
                        self._fail(piece[2])
                else:
                    view = memoryview(data)
                    for start, end, index, offset in active:
                        low, high = max(start, block_start), min(end, block_end)
                        if low < high and self._deliver(index, offset + low - start,
                                                        view[low - block_start:high - block_start], finished):
                            return True
                active = [piece for piece in active if piece[1] > block_end]
                if between():
                    return True
            if hasher and self.error is None:
                self.computed = hasher.finish()
                hasher = None
            if whole is not None:
                self.computed, self.error = whole.finish()
                whole = None
        finally:
            reader.stop()
            if whole is not None:
                whole.stop()
                self.error = self.error or "verification stopped before the end of the media"
            if hasher:
                if self.error is None:
                    self.error = "verification stopped before the end of the media"
                hasher.abandon()
            self._early = None
            self.close()
        self.unread.extend(index for index, stream in self.streams.items()
                           if isinstance(stream, tuple) or (not stream.failed and stream.next < stream.record.size))
        if self.spilled is not None:
            self.unread.extend(self.spilled.remaining())
        self.unread.sort()
        return False

    def _take(self, reader: Prefetch, start: int, hasher: MediaHasher | None) -> bytes | None:
        """The next block, fed to the media hash; None (and the verification error) when it could not be read."""
        data = reader.take()
        if isinstance(data, bytes):
            if hasher and self.error is None:
                hasher.feed(data)
            return data
        if hasher and self.error is None:
            self.error = f"media read error at offset {start}: {data}"
            hasher.abandon()
        return None

    def _started(self, index: int) -> _Stream | None:
        """The stream at ``index`` with its digests (made now if this is its first piece); None when finished."""
        stream = self.streams.get(index)
        if stream is None and self.spilled is not None:
            stream = self.spilled.start(index)
        if isinstance(stream, tuple):
            stream = self.streams[index] = _Stream(stream[0], stream[1], Digester(stream[0]))
        return stream

    def _deliver(self, index: int, offset: int, piece: memoryview, finished: Finished) -> bool:
        if offset == 0 and len(piece) < ONE_PIECE:
            whole = self._one_piece(index, piece)
            if whole is not None:
                return finished(index, whole[0], whole[1])
        stream = self._started(index)
        if stream is None or stream.failed:  # already finished (a piece shared with another stream) or failed
            return False
        if offset != stream.next:
            if offset < stream.next or offset in stream.held:
                self._fail(index)
                return False
            stream.held[offset] = bytes(piece)
            stream.held_bytes += len(piece)
            self._held += len(piece)
            if self._held > MAX_HELD:
                self._fail(max(self.streams, key=lambda i: getattr(self.streams[i], "held_bytes", 0)))
            return False
        stream.digester.update(piece)
        stream.next += len(piece)
        while stream.next in stream.held:
            chunk = stream.held.pop(stream.next)
            stream.held_bytes -= len(chunk)
            self._held -= len(chunk)
            stream.digester.update(chunk)
            stream.next += len(chunk)
        if stream.next < stream.record.size:
            return False
        del self.streams[index]
        return finished(index, stream.record, self._finish(stream))

    def _one_piece(self, index: int, piece: memoryview) -> tuple[FileRecord, bytes | None] | None:
        """A stream not started whose every byte is in ``piece`` (the usual small file): digested at once, no
        running state (``digests.digest_whole``); None leaves it to the general path."""
        stream = self.streams.get(index)
        if stream is None and self.spilled is not None:
            stream = self.spilled.start(index)
            if isinstance(stream, tuple):
                self.streams[index] = stream  # the general path finds it where a plan given whole keeps it
        if not isinstance(stream, tuple) or len(piece) != stream[0].size or len(stream[1]) != 1:
            return None
        record = stream[0]
        if self._damage is not None and self._damage(0, 1 << 62):
            return None  # the general path checks the damage under the stream
        del self.streams[index]
        return record, digest_whole(record, bytes(piece))

    def _finish(self, stream: _Stream) -> bytes | None:
        if self._damage is not None and self._damage(0, 1 << 62):
            damage = [text for _, start, length in stream.runs for text in self._damage(start, start + length)]
            if damage:
                stream.digester.fail(f"content lies in damaged evidence: {'; '.join(damage)}")
                return None
        return stream.digester.finish()

    def _fail(self, index: int) -> None:
        stream = self._started(index)
        if stream is None or stream.failed:
            return
        stream.failed = True
        self._held -= stream.held_bytes
        stream.held.clear()
        stream.held_bytes = 0
        stream.record.type = None
        self.unread.append(index)
