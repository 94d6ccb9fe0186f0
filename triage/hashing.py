"""Digests: read a stream once, in chunks, feeding md5, sha1, sha256 and the type sniffer together.

Pictures small enough to decode are kept in memory from the same read, so that perceptual hashing never reads
the evidence a second time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from triage.errors import ReadError
from triage.filetypes import HEAD_SIZE, extension_mismatch, sniff
from triage.records import FileRecord

PICTURE_BYTES_LIMIT = 64 << 20


def digest_record(record: FileRecord, chunks: Iterable[bytes], keep_pictures: bool = True) -> bytes | None:
    """Fill the record's digests, type and ext_mismatch from its content; return a picture's bytes.

    A read error leaves the digests None and records the error: a digest over part of a file must never look
    like the file's digest. The count of bytes read is compared with the recorded size.
    """
    md5, sha1, sha256 = hashlib.md5(), hashlib.sha1(), hashlib.sha256()
    head = b""
    keep: list[bytes] | None = None
    total = 0
    try:
        for chunk in chunks:
            if not head:
                head = chunk[:HEAD_SIZE]
                record.type = sniff(head)
                if keep_pictures and record.is_picture and record.size <= PICTURE_BYTES_LIMIT:
                    keep = []
            md5.update(chunk)
            sha1.update(chunk)
            sha256.update(chunk)
            total += len(chunk)
            if keep is not None:
                keep.append(chunk)
    except ReadError as exc:
        record.errors.append(str(exc))
        record.ext_mismatch = extension_mismatch(record.type, record.extension)
        return None
    if total != record.size:
        record.errors.append(f"size mismatch: read {total} bytes, recorded size {record.size}")
        return None
    record.md5, record.sha1, record.sha256 = md5.hexdigest(), sha1.hexdigest(), sha256.hexdigest()
    record.ext_mismatch = extension_mismatch(record.type, record.extension)
    if record.is_picture and keep is None and record.size > PICTURE_BYTES_LIMIT:
        record.errors.append(f"picture larger than {PICTURE_BYTES_LIMIT} bytes: not perceptually hashed")
    return b"".join(keep) if keep is not None else None
