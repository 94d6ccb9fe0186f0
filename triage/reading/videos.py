"""Videos on a scanned device: decoded after their bytes are hashed, their frames PDQ-hashed and matched.

Why a second read, like archives: the first read (media pass or by inode) hashes every byte and learns the type;
decoding needs a seekable file (an MP4's index is often at its end) and costs far more than hashing, so a video
is read again through its locator on a worker process, copied to a temporary file on disk (bounded by
``VIDEO_MAX_BYTES``), and decoded by ``triage.analysis.video``. Only its frame list comes back; matching against
the hash sets (pictures seen in the video, known videos by Meta's vPDQ rule) happens in the calling process,
where the index is open, and the frame list is written as a vPDQ signature file for other tools.
"""

from __future__ import annotations

import tempfile
from typing import Any

from triage.analysis.video import analyse_video
from triage.defaults import VIDEO_MAX_BYTES
from triage.errors import TriageError
from triage.model.record import FileRecord
from triage.reading.children import Expanded, stream_of

SPOOL_CHUNK = 8 << 20


def analyse_record(record: FileRecord, fs: Any = None) -> Expanded:
    """Decode the video ``record`` (read through ``fs``, else its locator's parent); never raises for a bad one."""
    out = Expanded(origin="video")
    if record.locator is None:
        return out
    where = record.location or record.path
    if record.size > VIDEO_MAX_BYTES:
        out.limits.append({"limit": "video size", "value": VIDEO_MAX_BYTES,
                           "effect": f"video not decoded ({where}, {record.size} bytes)"})
        out.notes.append(f"video not decoded: larger than {VIDEO_MAX_BYTES} bytes (limit)")
        return out
    try:
        chunks = stream_of(record, fs)
        with tempfile.TemporaryFile() as spool:
            for chunk in chunks:
                spool.write(chunk)
            spool.seek(0)
            out.video = analyse_video(spool)
    except (TriageError, OSError) as exc:
        out.errors.append(f"video not decoded: {exc}")
    return out


def analyse_batch(record: FileRecord) -> Expanded:
    """Worker entry point: decode one video, opening its file system through the registry."""
    return analyse_record(record)
