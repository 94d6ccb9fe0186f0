"""Evidence verification: compare the media hashes computed during the scan with those stored in the E01.

The media is hashed by ``triage.reading.mediapass`` in the same sequential read that completes the file digests, so
verification costs no second pass over the media.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from triage.sources.containers import Evidence

# Without stored hashes the media is still hashed (the examiner records it) when that reads at most this much
# more than the container stores: a raw image, a full VMDK. Not a 1 PB QCOW2 holding 200 KB: that would read a
# petabyte of zeros never written, to compare with nothing.
SPARSE_RATIO = 4
FREE_HASH_BYTES = 1 << 30


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


def unhashed_reason(evidence: Evidence) -> str | None:
    """Why the media hash is not computed (None: it is): nothing stored to verify and a sparse container.

    Why: hashing reads every media byte; for a mostly unallocated QCOW2/VMDK/VHD or a sparse raw file that is
    petabytes of zeros the container never stored, with no stored hash to compare against.
    """
    if evidence.stored_hashes:
        return None
    size, stored = evidence.media_size, evidence.stored_bytes
    if size <= SPARSE_RATIO * stored + FREE_HASH_BYTES:
        return None
    return (f"media hash not computed: nothing stored to verify against, and the evidence files hold "
            f"{stored:,} bytes of a {size:,}-byte media (sparse: the rest was never written)")
