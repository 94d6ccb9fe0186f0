"""Streams of plain raw media read as the walk lists them: no plan, no spill, no merge in media order.

Why: on a device of many small files the media pass's per-stream bookkeeping (the record pickled to the pending
table with its pieces, merged back in media order, loaded again) cost far more than the read itself, which on
a raw image is one ``pread`` of a few KB (issue 17: 200,000 files). The pass exists so that a compressed
container (E01) is inflated once; a raw or split-raw image needs no inflating, so its streams are read here,
by their runs, straight from the evidence files, while a thread hashes the whole media (``MediaPass.hash_whole``).
Only streams whose runs are known are read here (``filesystems.tsk_runs``: reading the runs in order equals what
TSK reads); any problem leaves the record as it was and the stream to the usual readers.
"""

from __future__ import annotations

from triage.analysis.digests import Digester, digest_whole
from triage.model.record import FileRecord
from triage.sources.containers import Evidence
from triage.sources.containers.readers import SegmentedFileReader

CHUNK = 1 << 20  # bytes read and hashed at a time: a large file is never held whole

Run = tuple[int, int, int]  # (offset in the stream, offset in the media, length)


class DirectReader:
    """Reads a stream's runs from a raw evidence set (``of`` gives None for any other container)."""

    def __init__(self, evidence: Evidence) -> None:
        self._read = evidence.reader.read

    @classmethod
    def of(cls, evidence: Evidence) -> DirectReader | None:
        """A reader when the evidence is plain files (raw, split raw): reading by offset costs no decoding."""
        return cls(evidence) if isinstance(evidence.reader, SegmentedFileReader) else None

    def digest(self, record: FileRecord, runs: list[Run]) -> tuple[bool, bytes | None]:
        """Digests and type of the stream from its runs: (True, a picture's bytes or None) when every byte came;
        (False, None) when the media fell short (a truncated image), the record left untyped for another reader.
        """
        if len(runs) == 1 and runs[0][2] >= record.size <= CHUNK:  # the usual small file: one read, one-shot digests
            data = self._take(runs[0][1], record.size)
            if data is None:
                return False, None
            return True, digest_whole(record, data)
        digester = Digester(record)
        left = record.size
        for _, start, length in runs:
            length = min(length, left)
            done = 0
            while done < length:
                want = min(CHUNK, length - done)
                data = self._take(start + done, want)
                if data is None:
                    record.type = None
                    return False, None
                digester.update(data)
                done += want
            left -= length
        if left:
            record.type = None
            return False, None
        return True, digester.finish()

    def _take(self, start: int, want: int) -> bytes | None:
        """``want`` bytes of the media at ``start``; None when it holds fewer (a truncated image) or fails."""
        try:
            data = self._read(start, want)
        except (OSError, ValueError):
            return None
        return data if len(data) == want else None
