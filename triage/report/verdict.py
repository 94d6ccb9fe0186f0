"""The one-line verdict on a device, and the words for its categories, shared by every place that judges one.

Why one module: report.html's first line, the terminal after ``triage scan`` and each row of the case ranking
must say the same thing in the same words ("5 files matched, highest UK Category A; media verified"), or an
examiner comparing them would ask which is right.

Categories are ordered by the hash sets' own sequences (``vics.severity``): a lower positive number before a
higher one (VICS 1 > 2 > 3), an earlier letter before a later one (CAID/UK A > B > C). Across the two schemes the
position decides, so category 1 and category A rank level. A category that is neither (``0``, a word) ranks
after every positional one, and an alert match without a category after those. A category is never shown as a
bare number: with the label its hash set gives (``US Category 1``), or "(no label in the hash set)".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from triage.report.vics import severity

UNCATEGORISED = "uncategorised"  # the key summary.json's matches_by_category uses for a match without a category


def category_value(key: Any) -> Any:
    """A category as the hash set gave it: "1" (as the summary keys it) becomes 1 again, "A" stays "A"."""
    text = str(key)
    return int(text) if text.isdigit() else text


def is_graded(key: Any) -> bool:
    """True for a category with a place in its set's sequence (a positive number or a single letter)."""
    return key is not None and str(key) != UNCATEGORISED and severity(category_value(key))[0] == 0


def category_order(key: Any) -> tuple[int, int, str]:
    """Sort key of a category: most severe first, then other categories by text, uncategorised last."""
    if key is None or str(key) == UNCATEGORISED:
        return (2, 0, "")
    rank = severity(category_value(key))
    return rank if rank[0] == 0 else (1, 0, str(key))


def category_words(key: Any, labels: Iterable[str] = ()) -> str:
    """How a category is named to people: its label when the label names it ("UK Category A"), else both."""
    if key is None or str(key) == UNCATEGORISED:
        return "without a category"
    names = sorted({str(label) for label in labels if label})
    if not names:
        return f"category {key} (no label in the hash set)"
    if len(names) == 1 and re.search(rf"(?<![0-9A-Za-z]){re.escape(str(key))}(?![0-9A-Za-z])", names[0]):
        return names[0]
    return f"category {key} ({' / '.join(names)})"


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def locked_layers(summary: Mapping[str, Any]) -> list[str]:
    """One phrase per kind of encrypted layer left locked: "1 locked LUKS2 volume NOT examined"."""
    schemes: dict[str, int] = {}
    for entry in summary.get("encryption") or []:
        if not entry.get("unlocked"):
            scheme = str(entry.get("scheme") or "encrypted")
            schemes[scheme] = schemes.get(scheme, 0) + 1
    return [f"{plural(n, f'locked {scheme} volume')} NOT examined" for scheme, n in schemes.items()]


def locked_count(summary: Mapping[str, Any]) -> int:
    return sum(1 for entry in summary.get("encryption") or [] if not entry.get("unlocked"))


def volume_problems(summary: Mapping[str, Any]) -> int:
    """Volumes or file systems that could not be read (the summary's ``errors``; evidence damage counts too)."""
    return len(summary.get("errors") or [])


MEDIA_WORDS = {
    "verified": "media verified",
    "mismatch": "media hash MISMATCH",
    "not stored": "media not verifiable (no stored hash)",
}


def media_words(verification: Any) -> str:
    if verification is None:
        return "media verification not recorded"
    text = str(verification)
    if text.startswith("skipped"):
        return "media verification skipped"
    return MEDIA_WORDS.get(text, f"media verification: {text}")


def match_words(by_category: Mapping[str, Any], labels: Mapping[str, Iterable[str]], matched: int) -> str:
    """"5 files matched, highest UK Category A" / "2 files matched, none with a category" / "no matches"."""
    if not matched:
        return "no matches"
    graded = sorted((key for key in by_category if is_graded(key)), key=category_order)
    head = plural(matched, "file") + " matched"
    if graded:  # VICS 1 and CAID A rank level: both are named when both are there
        level = category_order(graded[0])[:2]
        tops = [key for key in graded if category_order(key)[:2] == level]
        return f"{head}, highest " + " and ".join(category_words(key, labels.get(str(key), ())) for key in tops)
    others = sorted((key for key in by_category if str(key) != UNCATEGORISED), key=category_order)
    if others:
        return f"{head}, highest {category_words(others[0], labels.get(str(others[0]), ()))}"
    return f"{head}, none with a category"


def verdict(summary: Mapping[str, Any], labels: Mapping[str, Iterable[str]] | None = None) -> str:
    """The device's one line: matches, what was not examined, and whether the media is verified.

    ``labels`` (category → labels) defaults to the summary's ``category_labels``; report.html passes those it
    read from files.jsonl, so a summary written before that key existed still gets its labels.
    """
    labels = labels if labels is not None else (summary.get("category_labels") or {})
    counts = summary.get("counts") or {}
    parts = [match_words(summary.get("matches_by_category") or {}, labels, int(counts.get("matched") or 0))]
    if summary.get("stopped") == "first hit":
        parts.append("stopped at the first match: the rest of the device was NOT read")
    elif summary.get("complete") is False:
        parts.append("scan incomplete (interrupted)")
    parts += locked_layers(summary)
    problems = volume_problems(summary)
    if problems:
        parts.append(plural(problems, "volume or media problem"))
    if counts.get("errors"):
        parts.append(plural(int(counts["errors"]), "file") + " unreadable")
    parts.append(media_words((summary.get("evidence") or {}).get("verification")))
    return "; ".join(parts)
