"""Evidence verification: compare the media hashes computed during the scan with those stored in the E01.

The media is hashed by ``triage.mediapass`` in the same sequential read that completes the file digests, so
verification costs no second pass over the media.
"""

from __future__ import annotations

from typing import Any


def verification(stored: dict[str, str], computed: dict[str, str], error: str | None) -> dict[str, Any]:
    """The summary fields: computed hashes and the verdict against the stored ones."""
    return {"computed_hashes": dict(computed), "verification": verdict(stored, computed, error),
            "verification_error": error}


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
