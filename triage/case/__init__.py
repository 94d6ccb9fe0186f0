"""``triage case``: every device of a case directory scanned, recorded in one store, resumable, local or on Dask.

Module map, one job each: ``classify`` (what one file is, by content), ``discover`` (walk the case, group sets
into devices, name them), ``store`` (OUT/case.sqlite), ``worker`` (scan one device where it runs),
``executors`` (local process pool, Dask cluster), ``runner`` (the case logic: resume rules, outcome),
``summary`` (case.json, case.html). The terminal side (progress, the end-of-run table, exit codes) is
``triage.cli``'s.

Dask is imported only when a scheduler address is given.
"""

from __future__ import annotations

from triage.case.discover import Device, Discovery, Skipped, discover, evidence_identity
from triage.case.runner import (
    DONE,
    INTERRUPTED,
    SOME_FAILED,
    CaseEvent,
    CaseProgress,
    CaseResult,
    CaseSettings,
    run_case,
)
from triage.case.store import CaseStore

__all__ = [
    "DONE",
    "INTERRUPTED",
    "SOME_FAILED",
    "CaseEvent",
    "CaseProgress",
    "CaseResult",
    "CaseSettings",
    "CaseStore",
    "Device",
    "Discovery",
    "Skipped",
    "discover",
    "evidence_identity",
    "run_case",
]
