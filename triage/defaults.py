"""One place for defaults and limits (DESIGN.md: "Defaults (thresholds, limits) live in one module").

Every bound here stops work that hostile or damaged evidence could make unbounded; whatever a bound stops is
recorded (volume notes, record errors and the summary's ``limits``), never dropped silently.
"""

from __future__ import annotations

import os

# File-system walks.
MAX_DEPTH = 1 << 16  # directory levels below a root; the walk is iterative, this only guards absurd trees
MAX_ENTRIES = 5_000_000  # streams listed per file system before the walk stops
MAX_PATH_CHARS = 256 << 20  # characters of record paths listed per file system (records are held in memory)
WALK_TIME_BUDGET = 600.0  # seconds one file system's walk may take (a damaged file system can take hours)
WALK_TIME_BUDGET_ENV = "TRIAGE_WALK_BUDGET"  # seconds; overrides WALK_TIME_BUDGET (tests lower it)

# Stream sizes.
MAX_SIZE_FACTOR = 4  # a stream recorded as larger than 4x its volume is refused unless its runs show holes
MAX_SPARSE_SIZE = 64 << 30  # largest sparse stream hashed (holes fed as zeros: ~4 minutes of hashing at most)


def walk_time_budget() -> float:
    """The per-file-system walk budget in seconds: ``$TRIAGE_WALK_BUDGET`` when set to a number, else the default."""
    text = os.environ.get(WALK_TIME_BUDGET_ENV, "").strip()
    try:
        value = float(text) if text else WALK_TIME_BUDGET
    except ValueError:
        return WALK_TIME_BUDGET
    return value if value >= 0 else WALK_TIME_BUDGET
