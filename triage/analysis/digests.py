"""Digests: read a stream once, in chunks, feeding md5, sha1, sha256 and the type sniffer together.

Pictures small enough to decode are kept in memory from the same read, so that perceptual hashing never reads
the evidence a second time. ``Digester`` takes the chunks as they come, whoever reads them: a stream read through
its file system (``digest_record``) or pieces cut from the one sequential read of the media (``mediapass``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from triage.analysis.typesniff import HEAD_SIZE, extension_mismatch, sniff
from triage.defaults import PICTURE_BYTES
from triage.errors import ReadError
from triage.model.record import FileRecord


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

    def _type(self) -> None:
        self._typed = True
        record = self.record
        record.type = sniff(self._head)
        if not (self._keep_pictures and record.is_picture and record.size <= PICTURE_BYTES):
            self._keep = None

    def fail(self, error: str) -> None:
        """The stream could not be read completely: no digest, the error on the record."""
        if not self._typed and self._head:
            self._type()
        self.record.errors.append(error)
        self.record.ext_mismatch = extension_mismatch(self.record.type, self.record.extension)

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
        record.ext_mismatch = extension_mismatch(record.type, record.extension)
        if record.is_picture and self._keep is None and record.size > PICTURE_BYTES:
            record.errors.append(f"picture larger than {PICTURE_BYTES} bytes: not perceptually hashed")
        return b"".join(self._keep) if self._keep is not None else None


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
