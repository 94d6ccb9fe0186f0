"""summary.json for one device (DESIGN.md: the per-device evidence summary), made from what the scan found.

Why apart from ``scan.py``: the scan gathers; this says what was gathered, in a fixed key order so that two
runs over the same evidence give the same summary apart from times and host.
"""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from triage import TOOL_NAME, __version__
from triage.model.record import json_safe
from triage.model.store import counts
from triage.reading.listing import Listing
from triage.results import VPDQ_FOLDER
from triage.sources.containers import Evidence

if TYPE_CHECKING:
    from triage.scan import ScanSettings


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def summarise(
    evidence: Evidence,
    listing: Listing,
    settings: ScanSettings,
    started: str,
    complete: bool,
    verification: dict[str, Any],
    stopped: str | None = None,
) -> dict[str, Any]:
    """The summary.json object (DESIGN.md); key order is fixed for reproducible output.

    The counts come from the store's tally, kept as records finished: every record still held is stored first.
    """
    assert listing.store is not None
    listing.release_all()
    tally = listing.store.tally
    hs = settings.hashsets
    return _json_safe_tree({
        "tool": {"name": TOOL_NAME, "version": __version__},
        "complete": complete,
        "stopped": stopped,
        "started": started,
        "finished": now(),
        "first_hit_after": listing.first_hit_after,
        "host": platform.node(),
        "command": list(settings.command),
        "evidence": {**evidence.describe(), **verification},
        "volumes": listing.volumes,
        "encryption": list(listing.encryption),
        "layers": list(listing.layers),
        "snapshots": list(listing.snapshots),
        "carving": listing.carving,
        "videos": _videos(listing),
        "counts": counts(tally, listing.archives),
        "hashed": {"streams": tally.hashed, "bytes": tally.hashed_bytes},
        "matches_by_category": dict(sorted(tally.by_category.items())),
        "category_labels": {key: sorted(labels) for key, labels in sorted(tally.labels.items())},
        "matches_by_hashset": dict(sorted(tally.by_set.items())),
        "matches_by_origin": dict(sorted(tally.by_where.items())),
        "hashsets": hs.describe() if hs else [],
        "thresholds": hs.thresholds if hs else {},
        "limits": [dict(entry) for fs in listing.filesystems for entry in getattr(fs, "limits", ())
                   if isinstance(entry, dict)] + [dict(entry) for entry in listing.limits],
        "errors": list(listing.errors),
        **({"notes": list(listing.notes)} if listing.notes else {}),
    })


def _videos(listing: Listing) -> dict[str, Any]:
    """The summary's ``videos``: how many were decoded (and not), frames and seconds of video seen."""
    out: dict[str, Any] = {key: listing.videos[key] for key in ("decoded", "not_decoded", "frames")}
    out["seconds"] = round(float(listing.videos["seconds"]), 3)
    if out["decoded"]:
        out["signatures"] = f"{VPDQ_FOLDER}/<record id>.txt"
    return out


def _json_safe_tree(value: Any) -> Any:
    """Every string of the summary made writable as UTF-8 (``records.json_safe``).

    Why: volume notes, labels and errors quote names from the media, which may hold undecodable bytes (kept as
    surrogates); writing one of them would fail the whole scan at the very end.
    """
    if isinstance(value, str):
        return json_safe(value)
    if isinstance(value, dict):
        return {key: _json_safe_tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe_tree(item) for item in value]
    return value
