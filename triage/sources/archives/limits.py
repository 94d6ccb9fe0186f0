"""Bounds on archive expansion: the ``Limits`` one ``expand()`` call works under, and the expander's buffers.

The bounds' values live in ``triage.defaults`` (one place for defaults, with why each number); a real archive
never reaches them, a zip bomb, 42.zip-style nesting or a quine does, and then expansion stops with an entry in
``limits_hit`` instead of filling memory or disk. Whatever a bound stops is recorded, never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass

from triage.defaults import (
    ARCHIVE_MAX_DEPTH,
    ARCHIVE_MAX_MEMBERS,
    ARCHIVE_MAX_RATIO,
    ARCHIVE_MAX_TOTAL,
    ARCHIVE_SPOOL_LIMIT,
)

SPOOL_MEMORY = 16 << 20  # a spooled nested archive stays in memory up to this, then goes to a temporary file
CHUNK = 1 << 20  # bytes read from a member at a time
SYMLINK_TARGET_BYTES = 4096  # a symlink member's target is read up to this many bytes


@dataclass(frozen=True)
class Limits:
    """The bounds one ``expand()`` call works under (defaults from ``triage.defaults``; tests lower them)."""

    max_depth: int = ARCHIVE_MAX_DEPTH
    max_members: int = ARCHIVE_MAX_MEMBERS
    max_total: int = ARCHIVE_MAX_TOTAL
    max_ratio: int = ARCHIVE_MAX_RATIO
    spool_limit: int = ARCHIVE_SPOOL_LIMIT
