"""Which device goes to an examiner first: the order of case.json, case.html and the terminal table.

The rule (``RULE``, also printed on case.html and in case.json):

1. **Categorised matches**, most severe category first, by the hash sets' own sequences: VICS 1 > 2 > 3,
   CAID/UK A > B > C (a lower positive number or an earlier letter is more severe; across schemes the position
   decides, so 1 and A rank level; see ``triage.report.verdict``). Then more matched files first, then more
   locked or unreadable layers first.
2. **Matches without a category** (an alert list with no categories, or a category outside those sequences,
   e.g. ``0``): more matched files first, then more locked or unreadable layers.
3. **Not examined**: the scan failed, was interrupted or has not run yet. Nothing on the device was examined,
   so it may hold anything: it comes before the devices that were examined and found clean but for a locked or
   unreadable layer, whose unexamined part is smaller. It does not come before a device with matches: a match
   is the one positive finding, and safeguarding decisions hang on it.
4. **Locked or unreadable layers, no match in what was read**: a locked encrypted volume (BitLocker, LUKS,
   FileVault, APFS, a headerless container) or a volume or media problem is a reason to look, not to skip:
   more of them first.
5. **No matches**, everything readable read.

Ties go by device name, so the same store always gives the same order. A device whose quick scan stopped at its
first match (``triage case --quick``) is ranked by what that scan saw; its row says so.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from triage.report.verdict import (
    UNCATEGORISED,
    category_order,
    category_words,
    is_graded,
    locked_count,
    locked_layers,
    media_words,
    plural,
    volume_problems,
)

RULE = ("Devices are ranked: (1) matches with a category, most severe first by the hash sets' own order "
        "(VICS 1 > 2 > 3, CAID/UK A > B > C; 1 and A rank level), then more matched files, then more locked or "
        "unreadable layers; (2) matches without a category; (3) devices not examined (scan failed, interrupted "
        "or not run): nothing on them was examined, so they come before (4) devices with a locked or unreadable "
        "layer and no match in what was read; (5) devices with no matches. Ties by name.")
TIERS = {1: "matches", 2: "matches without a category", 3: "not examined", 4: "locked or unreadable layers",
         5: "nothing found"}
SCANNED = ("done", "quick")  # statuses whose results are in the store


def rank(devices: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The devices in examination order, each with ``rank`` (1 first), ``tier``, ``priority`` and ``why``."""
    keyed = []
    for device in devices:
        tier, key = _key(device)
        device = {**device, "tier": tier, "priority": TIERS[tier], "why": why(device)}
        keyed.append(((tier, *key, str(device.get("name"))), device))
    keyed.sort(key=lambda pair: pair[0])
    return [{**device, "rank": number} for number, (_key_, device) in enumerate(keyed, start=1)]


def _layers(device: Mapping[str, Any]) -> int:
    """Locked encrypted layers and volume/media problems: the parts of a device that were not examined."""
    return locked_count(device) + volume_problems(device)


def _key(device: Mapping[str, Any]) -> tuple[int, tuple[Any, ...]]:
    if device.get("status") not in SCANNED:
        return 3, ()
    matched = int((device.get("counts") or {}).get("matched") or 0)
    categories = device.get("matches_by_category") or {}
    graded = sorted((key for key in categories if is_graded(key)), key=category_order)
    if matched and graded:
        return 1, (category_order(graded[0]), -matched, -_layers(device))
    if matched:
        return 2, (-matched, -_layers(device))
    if _layers(device):
        return 4, (-_layers(device),)
    return 5, ()


def why(device: Mapping[str, Any]) -> str:
    """Why the device is where it is, in words: "6 files in UK Category A, 2 in UK Category B; ..."."""
    status = device.get("status")
    reason = device.get("reason")
    if status == "failed":
        return f"scan FAILED, nothing on it was examined: {reason or 'no reason recorded'}"
    if status == "interrupted":
        return f"scan interrupted, nothing on it is recorded as examined: {reason or 'interrupted'}"
    if status not in SCANNED:
        return "not scanned yet" + (f" ({reason})" if reason else "")
    parts = _match_parts(device)
    if status == "quick":
        after = device.get("first_hit_after")
        when = f" after {after:.1f} s" if isinstance(after, int | float) else ""
        parts.append(f"quick scan stopped at its first match{when}: the rest NOT read yet (run without --quick)")
    parts += locked_layers(device)
    problems = volume_problems(device)
    if problems:
        parts.append(plural(problems, "volume or media problem"))
    errors = int((device.get("counts") or {}).get("errors") or 0)
    if errors:
        parts.append(plural(errors, "file") + " unreadable")
    parts.append(media_words(device.get("verification")))
    return "; ".join(parts)


def _match_parts(device: Mapping[str, Any]) -> list[str]:
    counts = device.get("counts") or {}
    matched = int(counts.get("matched") or 0)
    if not matched:
        return ["no matches"]
    categories = device.get("matches_by_category") or {}
    labels: Mapping[str, Iterable[str]] = device.get("labels") or {}
    keys = sorted((key for key in categories if str(key) != UNCATEGORISED), key=category_order)
    phrases = []
    for number, key in enumerate(keys):
        n = int(categories[key])
        words = category_words(key, labels.get(str(key), ()))
        phrases.append(f"{plural(n, 'file')} in {words}" if number == 0 else f"{n:,} in {words}")
    parts = [", ".join(phrases)] if phrases else []
    loose = int(categories.get(UNCATEGORISED) or 0)
    if loose:
        sets = device.get("uncategorised_sets") or []
        source = f" ({', '.join(sets)})" if sets else ""
        parts.append(f"{plural(loose, 'file')} matched without a category{source}")
    shown = [int(categories[key]) for key in keys] + ([loose] if loose else [])
    if len(shown) > 1 and matched > max(shown):  # a file may match in several categories: say the whole
        parts.append(f"{plural(matched, 'matched file')} in all")
    return parts


def links(status: Any, out_dir: str | None, out_root: str) -> dict[str, str]:
    """Relative hrefs (from case.html's folder) to the device's report.html and matched.csv, when it has them.

    Why relative: the output folder is handed on (copied to a share, burnt to disc) and the links must still
    work there. Each path component is percent-encoded, so a device name cannot break out of the attribute.
    """
    if status not in SCANNED or not out_dir:
        return {}
    rel = os.path.relpath(out_dir, out_root)
    if rel.startswith(".."):
        return {}
    folder = "/".join(quote(part, safe="", errors="surrogateescape") for part in rel.split(os.sep))
    return {"report": f"{folder}/report.html", "matched": f"{folder}/matched.csv"}
