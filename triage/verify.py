"""Evidence verification: hash the whole media and compare with the hashes stored in the E01.

The media is hashed in a background thread with its own evidence handle while the file systems are walked and
read, so verification overlaps the scan instead of adding a pass after it. libyal readers release the GIL
while reading and decompressing, and hashlib releases it for large buffers, so the thread runs beside the scan.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

from triage.errors import TriageError
from triage.evidence import reopen
from triage.evidence.readers import one_line

CHUNK = 4 << 20


class MediaVerifier(threading.Thread):
    """Compute md5 and sha1 of the media of an evidence set, off the main thread."""

    def __init__(self, paths: list[Path], fmt: str, stored: dict[str, str]) -> None:
        super().__init__(name="media-verifier", daemon=True)
        self._paths = [str(p) for p in paths]
        self._fmt = fmt
        self._stored = stored
        self._stop_event = threading.Event()
        self.computed: dict[str, str] = {}
        self.error: str | None = None
        self.bytes_done = 0

    def run(self) -> None:
        md5, sha1 = hashlib.md5(), hashlib.sha1()
        try:
            evidence = reopen(self._paths, self._fmt)
        except TriageError as exc:
            self.error = str(exc)
            return
        try:
            size = evidence.media_size
            offset = 0
            while offset < size:
                if self._stop_event.is_set():
                    self.error = "verification stopped before the end of the media"
                    return
                want = min(CHUNK, size - offset)
                try:
                    data = evidence.read(offset, want)
                except (OSError, ValueError) as exc:
                    self.error = f"media read error at offset {offset}: {one_line(exc)}"
                    return
                if len(data) != want:
                    self.error = f"media read returned {len(data)} of {want} bytes at offset {offset}"
                    return
                md5.update(data)
                sha1.update(data)
                offset += want
                self.bytes_done = offset
            self.computed = {"md5": md5.hexdigest(), "sha1": sha1.hexdigest()}
        finally:
            evidence.close()

    def stop(self) -> None:
        self._stop_event.set()

    def result(self) -> dict[str, Any]:
        """The summary fields: computed hashes and the verdict against the stored ones."""
        return {"computed_hashes": dict(self.computed), "verification": verdict(self._stored, self.computed,
                                                                               self.error),
                "verification_error": self.error}


def verdict(stored: dict[str, str], computed: dict[str, str], error: str | None) -> str:
    """'verified' when every stored hash that was computed agrees, 'mismatch' when any differs.

    A media read error with stored hashes is a mismatch too: the media as read cannot be shown to be the media
    as acquired.
    """
    if not stored:
        return "not stored"
    if error:
        return "mismatch"
    compared = [k for k in stored if k in computed]
    if not compared:
        return "not stored"
    if all(stored[k].lower() == computed[k] for k in compared):
        return "verified"
    return "mismatch"


def skipped() -> dict[str, Any]:
    """Summary fields when the examiner chose --no-verify."""
    return {"computed_hashes": {}, "verification": "skipped (--no-verify)", "verification_error": None}
