"""Bounds on archive expansion, stated once.

Why these numbers: they are the order of magnitude mature scanners use (ClamAV's max-scansize/max-files/
max-recursion, 7-Zip's and libarchive's bomb guards). A real archive never reaches them; a zip bomb, 42.zip-style
nesting or a quine does, and then expansion stops with an entry in ``limits_hit`` instead of filling memory or
disk. Whatever a bound stops is recorded, never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_DEPTH = 8  # archives inside archives; 42.zip needs 6, real-world nesting rarely exceeds 3
MAX_MEMBERS = 100_000  # members listed per archive (a phone extraction zip can hold this many)
MAX_TOTAL = 64 << 30  # bytes expanded per top-level archive, all nesting levels together
MAX_RATIO = 1000  # expanded/compressed per member; deflate's best is ~1032:1, only bombs get near it
RATIO_FLOOR = 16 << 20  # the ratio is judged only once a member has expanded past this (small files compress well)
SPOOL_LIMIT = 4 << 30  # largest nested archive copied to a temporary file to open it
SPOOL_MEMORY = 16 << 20  # a spooled nested archive stays in memory up to this, then goes to a temporary file
CHUNK = 1 << 20  # bytes read from a member at a time
PICTURE_BYTES = 64 << 20  # pictures up to this size are kept in memory for PDQ/pHash (as triage.analysis.digests does)
SYMLINK_TARGET_BYTES = 4096  # a symlink member's target is read up to this many bytes


@dataclass(frozen=True)
class Limits:
    """The bounds one ``expand()`` call works under (defaults above)."""

    max_depth: int = MAX_DEPTH
    max_members: int = MAX_MEMBERS
    max_total: int = MAX_TOTAL
    max_ratio: int = MAX_RATIO
    spool_limit: int = SPOOL_LIMIT
