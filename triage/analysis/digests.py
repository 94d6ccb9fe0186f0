"""Digests: read a stream once, in chunks, feeding md5, sha1, sha256 and the type sniffer together.

Pictures small enough to decode are kept in memory from the same read, so that perceptual hashing never reads
the evidence a second time. ``Digester`` takes the chunks as they come, whoever reads them: a stream read through
its file system (``digest_record``) or pieces cut from the one sequential read of the media (``mediapass``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from triage.analysis.typesniff import EXTENSIONS, HEAD_SIZE, extension_mismatch, sniff
from triage.defaults import ENTROPY_BLOCK, ENTROPY_MIN_SIZE, PICTURE_BYTES
from triage.errors import ReadError
from triage.model.record import FileRecord
from triage.sources.volumes import entropy


class Samples:
    """The blocks ``entropy.looks_encrypted`` would sample, cut from a stream as it is read in order."""

    def __init__(self, size: int) -> None:
        self.starts = entropy.sample_starts(size)
        self.blocks: list[bytearray] = [bytearray() for _ in self.starts]
        self._next = 0
        self._seen = 0  # bytes of the stream fed so far (the head is fed twice: once here, once as a chunk)

    def feed(self, position: int, chunk: bytes | memoryview) -> None:
        end = position + len(chunk)
        if end <= self._seen:
            return
        if position < self._seen:
            chunk, position = chunk[self._seen - position :], self._seen
        self._seen = end
        while self._next < len(self.starts):
            start = self.starts[self._next]
            block = self.blocks[self._next]
            want_from = start + len(block)
            if want_from >= end:
                return
            take_end = min(start + ENTROPY_BLOCK, end)
            if want_from >= position:
                block += bytes(chunk[want_from - position : take_end - position])
            if len(block) < ENTROPY_BLOCK:
                return
            self._next += 1

    def verdict(self) -> float | None:
        """The lowest block entropy when every sample is near-random, else None."""
        return entropy.judge([bytes(b) for b in self.blocks])


class Digester:
    """The running digests, type and kept picture bytes of one stream, fed in file order."""

    def __init__(self, record: FileRecord, keep_pictures: bool = True) -> None:
        self.record = record
        self.total = 0
        self._hashes = (hashlib.md5(), hashlib.sha1(), hashlib.sha256())
        self._keep_pictures = keep_pictures
        self._keep: list[bytes] | None = []  # kept until the type is known, then only for pictures
        self._head = b""
        self._typed = False
        self._samples: Samples | None = None  # untyped large streams: is it a headerless encrypted container?

    def update(self, chunk: bytes | memoryview) -> None:
        if not chunk:
            return
        for digest in self._hashes:
            digest.update(chunk)
        self.total += len(chunk)
        if self._keep is not None:
            self._keep.append(bytes(chunk))
        if not self._typed:
            self._head += bytes(chunk[: HEAD_SIZE - len(self._head)])
            if len(self._head) >= HEAD_SIZE:
                self._type()
        if self._samples is not None:
            self._samples.feed(self.total - len(chunk), chunk)

    def _type(self) -> None:
        self._typed = True
        record = self.record
        record.type = sniff(self._head)
        if record.type is None and record.size >= ENTROPY_MIN_SIZE:
            self._samples = Samples(record.size)
            self._samples.feed(0, self._head)
        if not (self._keep_pictures and record.is_picture and record.size <= PICTURE_BYTES):
            self._keep = None

    def fail(self, error: str) -> None:
        """The stream could not be read completely: no digest, the error on the record."""
        if not self._typed and self._head:
            self._type()
        self.record.errors.append(error)
        self.record.ext_mismatch = _mismatch(self.record)

    def finish(self) -> bytes | None:
        """Fill the record's digests (only when every recorded byte came); return a picture's bytes."""
        record = self.record
        if not self._typed and self._head:
            self._type()  # a stream shorter than the sniffer's head
        elif not self._typed:
            self._keep = None
        if self.total != record.size:
            record.errors.append(f"size mismatch: read {self.total} bytes, recorded size {record.size}")
            return None
        record.md5, record.sha1, record.sha256 = (digest.hexdigest() for digest in self._hashes)
        record.ext_mismatch = _mismatch(record)
        lowest = self._samples.verdict() if self._samples is not None else None
        if lowest is not None:
            record.notes.append(entropy.describe(lowest))
        if record.is_picture and self._keep is None and record.size > PICTURE_BYTES:
            record.errors.append(f"picture larger than {PICTURE_BYTES} bytes: not perceptually hashed")
        return b"".join(self._keep) if self._keep is not None else None


def digest_whole(record: FileRecord, data: bytes) -> bytes | None:
    """``Digester`` fed ``data`` at once (all of a stream below ``ENTROPY_MIN_SIZE``), with the same results: the
    digests, type and ext_mismatch on the record, a picture's bytes returned. Why: most streams of a device are
    read in one piece, and the running digests cost twice what hashing a few KB does (issue 17)."""
    if len(data) != record.size or record.size >= ENTROPY_MIN_SIZE:
        digester = Digester(record)
        digester.update(data)
        return digester.finish()
    record.type = sniff(data[:HEAD_SIZE]) if data else None
    record.md5, record.sha1, record.sha256 = (hashlib.md5(data).hexdigest(), hashlib.sha1(data).hexdigest(),
                                              hashlib.sha256(data).hexdigest())
    record.ext_mismatch = _mismatch(record)
    return data if record.is_picture and record.size <= PICTURE_BYTES else None


def _mismatch(record: FileRecord) -> bool:
    """``extension_mismatch`` of the record's type and extension; the extension is computed only for a type whose
    signature has extensions to compare (most streams have none: issue 17, 200,000 small files)."""
    return record.type in EXTENSIONS and extension_mismatch(record.type, record.extension)


def digest_record(record: FileRecord, chunks: Iterable[bytes], keep_pictures: bool = True) -> bytes | None:
    """Fill the record's digests, type and ext_mismatch from its content; return a picture's bytes.

    A read error leaves the digests None and records the error: a digest over part of a file must never look
    like the file's digest. The count of bytes read is compared with the recorded size.
    """
    digester = Digester(record, keep_pictures)
    try:
        for chunk in chunks:
            digester.update(chunk)
    except ReadError as exc:
        digester.fail(str(exc))
        return None
    return digester.finish()
