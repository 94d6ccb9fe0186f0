"""report.html: the per-device summary an examiner reads in a browser and prints for the case file.

One self-contained file: inline CSS, no scripts, no fonts or anything else fetched, and never any picture,
thumbnail or data URI of file content (examiner welfare: the report shows paths, hashes, categories and times
only). Jinja2 renders it with autoescape on, and a ``finalize`` hook passes every printed string through
``visible_html``, so no value from the evidence can add markup or hide characters: controls, bidi overrides and
undecodable bytes are drawn as boxed ``\\xNN``/``\\uNNNN`` escapes.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from triage.report.common import (
    category_text,
    evidence_name,
    layer_lines,
    record_times,
    video_times,
    visible,
    visible_parts,
    where_text,
)
from triage.report.output import Out, render
from triage.report.verdict import category_words, locked_count, verdict
from triage.report.vics import severity

ACQUISITION_LABELS = {
    "case_number": "Case number",
    "evidence_number": "Evidence number",
    "examiner_name": "Examiner",
    "description": "Description",
    "notes": "Notes",
    "acquiry_date": "Acquisition date",
    "system_date": "System date at acquisition",
    "acquiry_operating_system": "Acquisition OS",
    "acquiry_software": "Acquisition software",
    "acquiry_software_version": "Acquisition software version",
    "model": "Device model",
    "serial_number": "Device serial number",
    "bytes_per_sector": "Bytes per sector",
    "chunk_size": "Chunk size",
    "segments": "Segments",
}
VERIFICATION_TEXT = {
    "verified": ("good", "the hashes computed over the media match those stored at acquisition."),
    "mismatch": ("bad", "the media read now does not match the hashes stored at acquisition."),
    "not stored": ("neutral", "the evidence container stores no acquisition hash, so the media cannot be verified."),
}


def visible_html(value: Any) -> Markup:
    """Escape a value for HTML and draw hidden characters as boxed escapes (the ``finalize`` hook)."""
    if isinstance(value, Markup):
        return value
    if value is None:
        return Markup("")
    if isinstance(value, bool):
        return Markup("yes" if value else "no")
    out = []
    for is_escape, piece in visible_parts(str(value)):
        out.append(Markup('<span class="esc">{}</span>').format(piece) if is_escape else escape(piece))
    return Markup("").join(out)


def human_size(value: Any) -> str:
    """'4.0 MiB (4,194,304 bytes)'; exact bytes always shown, the unit only as a reading aid."""
    if not isinstance(value, int):
        return "" if value is None else str(value)
    if value < 1024:
        return f"{value:,} B"
    size, unit = float(value), "B"
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):  # noqa: B007 - the unit reached is the one shown
        size /= 1024
        if size < 1024:
            break
    return f"{size:.1f} {unit} ({value:,} bytes)"


def css_string(value: Any) -> Markup:
    """A CSS string literal for the page footer: everything but letters, digits and a few marks escaped.

    Why: autoescape protects HTML, not CSS; inside ``<style>`` an evidence value must neither end the string nor
    the element. CSS hex escapes (``\\00003c ``) can do neither.
    """
    text = visible(value)
    # The space after each escape ends it (CSS consumes it), so a real space after an escape survives.
    out = "".join(ch if (ch.isascii() and ch.isalnum()) or ch in " -_./:" else f"\\{ord(ch):06x} " for ch in text)
    return Markup(f'"{out}"')


@cache
def environment() -> Environment:
    """The Jinja2 environment (autoescape on, every output through ``visible_html``)."""
    env = Environment(
        loader=PackageLoader("triage.report", "templates"),
        autoescape=True,
        finalize=visible_html,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["size"] = human_size
    env.filters["css_string"] = css_string
    env.globals["where_text"] = where_text
    env.globals["video_times"] = video_times
    env.globals["category_words"] = category_words
    return env


def _verification(evidence: dict[str, Any]) -> dict[str, Any]:
    """Banner kind and text, and the stored-vs-computed rows (a differing row is marked for red)."""
    status = evidence.get("verification")
    if status is None:
        kind, text = "neutral", "this summary records no verification of the media."
    elif str(status).startswith("skipped"):
        kind, text = "warn", "verification was skipped at the examiner's request (--no-verify)."
    else:
        kind, text = VERIFICATION_TEXT.get(str(status), ("warn", "unknown verification status."))
    stored = evidence.get("stored_hashes") or {}
    computed = evidence.get("computed_hashes") or {}
    rows = [
        {"algorithm": alg, "stored": stored.get(alg), "computed": computed.get(alg),
         "differs": bool(stored.get(alg) and computed.get(alg) and stored[alg] != computed[alg])}
        for alg in sorted(set(stored) | set(computed))
    ]
    return {"status": status or "not recorded", "kind": kind, "text": text, "rows": rows,
            "error": evidence.get("verification_error")}


class Collected:
    """What the page needs from the records, gathered in one pass: the page lists hits and errors only."""

    def __init__(self) -> None:
        self.files = 0
        self.hits: list[dict[str, Any]] = []  # records with matches, in files.jsonl order
        self.failed: list[dict[str, Any]] = []  # records with read errors
        self.notes = 0

    def add(self, record: dict[str, Any]) -> None:
        self.files += 1
        if record.get("matches"):
            self.hits.append(record)
        if record.get("errors"):
            self.failed.append(record)
        if record.get("notes"):
            self.notes += 1

    @classmethod
    def of(cls, records: Iterable[dict[str, Any]]) -> Collected:
        collected = cls()
        for record in records:
            collected.add(record)
        return collected


def _labels(hits: Iterable[dict[str, Any]]) -> dict[str, list[str]]:
    """Every label seen for each category, e.g. "1" → ["UK Category 1"]."""
    labels: dict[str, set[str]] = {}
    for record in hits:
        for match in record.get("matches") or []:
            if match.get("label"):
                labels.setdefault(category_text(match.get("category")), set()).add(str(match["label"]))
    return {k: sorted(v) for k, v in labels.items()}


def _row(record: dict[str, Any], matches: list[dict[str, Any]]) -> dict[str, Any]:
    """One table row: the record and the matches shown beside it (only those of the group's category/set)."""
    return {"record": record, "times": record_times(record), "matches": matches,
            "deleted": not record.get("allocated", True)}


def _match_groups(hits: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Matched records grouped by category (most severe first) and by hash set (by name), rows by path."""
    labels = _labels(hits)
    by_category: dict[str, dict[str, Any]] = {}
    by_set: dict[str, list[dict[str, Any]]] = {}
    for record in sorted(hits, key=lambda r: (str(r.get("path")), str(r.get("volume")))):
        per_category: dict[str, list[dict[str, Any]]] = {}
        per_set: dict[str, list[dict[str, Any]]] = {}
        for match in record["matches"]:
            per_category.setdefault(category_text(match.get("category")), []).append(match)
            per_set.setdefault(str(match.get("hashset") or ""), []).append(match)
        for cat, matches in per_category.items():
            group = by_category.setdefault(cat, {"category": cat, "raw": matches[0].get("category"), "rows": []})
            group["rows"].append(_row(record, matches))
        for name, matches in per_set.items():
            by_set.setdefault(name, []).append(_row(record, matches))
    categories = sorted(by_category.values(), key=lambda g: (g["raw"] is None, severity(g["raw"]), g["category"]))
    for group in categories:
        group["labels"] = labels.get(group["category"], [])
    sets = [{"name": name, "rows": rows} for name, rows in sorted(by_set.items())]
    return categories, sets


def _unreadable(summary: dict[str, Any], collected: Collected) -> dict[str, Any]:
    """Volume problems (the summary's list, else each volume's own) and records with read errors."""
    messages = [str(e) for e in summary.get("errors") or []]
    if not messages:
        for volume in summary.get("volumes") or []:
            where = f"volume {volume['index']}" if volume.get("index") is not None else "media"
            messages += [f"{where} at offset {volume.get('offset')}: {e}" for e in volume.get("errors") or []]
    return {"volume_errors": messages, "records": collected.failed, "notes": collected.notes}


def build_context(summary: dict[str, Any], records: Iterable[dict[str, Any]] | Collected) -> dict[str, Any]:
    """Everything the template shows, in a fixed order (same inputs → same page)."""
    collected = records if isinstance(records, Collected) else Collected.of(records)
    evidence = summary.get("evidence") or {}
    acquisition = evidence.get("acquisition") or {}
    known_keys = [k for k in ACQUISITION_LABELS if k in acquisition]
    other_keys = sorted(k for k in acquisition if k not in ACQUISITION_LABELS)
    categories, sets = _match_groups(collected.hits)
    command = summary.get("command") or []
    counts = summary.get("counts") or {"files": collected.files}
    labels = _labels(collected.hits)
    counts_matched = bool((summary.get("counts") or {}).get("matched"))
    return {
        "s": summary,
        "verdict": verdict(summary, labels),
        "verdict_kind": "hot" if counts_matched or locked_count(summary) else "calm",
        "device": evidence_name(summary),
        "tool": summary.get("tool") or {},
        "evidence": evidence,
        "verification": _verification(evidence),
        "acquisition": [(ACQUISITION_LABELS.get(k, k), acquisition[k]) for k in known_keys + other_keys],
        "case_number": acquisition.get("case_number"),
        "evidence_number": acquisition.get("evidence_number"),
        "examiner": acquisition.get("examiner_name"),
        "volumes": summary.get("volumes") or [],
        "layers": layer_lines(summary),
        "locked": locked_count(summary),
        "counts": counts,
        "by_category": [
            {"category": k, "files": v, "labels": labels.get(k, [])}
            for k, v in (summary.get("matches_by_category") or {}).items()
        ],
        "by_hashset": list((summary.get("matches_by_hashset") or {}).items()),
        "by_where": [(where_text(key), n) for key, n in (summary.get("matches_by_origin") or {}).items()],
        "categories": categories,
        "sets": sets,
        "unreadable": _unreadable(summary, collected),
        "limits": [limit for limit in summary.get("limits") or [] if isinstance(limit, dict)],
        "command": shlex.join(str(c) for c in command) if command else None,
        "hashsets": summary.get("hashsets") or [],
        "thresholds": list((summary.get("thresholds") or {}).items()),
        "complete": summary.get("complete", True),
        "footer": " · ".join(
            [*([f"Case {acquisition['case_number']}"] if acquisition.get("case_number") else []),
             evidence_name(summary), "triage evidence summary"]
        ),
    }


class HtmlWriter(Collected):
    """report.html: the records' hits and errors gathered in the pass, the page rendered by Jinja2 at the end."""

    def __init__(self, summary: dict[str, Any], out: Out) -> None:
        super().__init__()
        self.summary, self.out = summary, out

    def finish(self) -> None:
        for chunk in environment().get_template("report.html.j2").generate(build_context(self.summary, self)):
            self.out.write(chunk)


def render_html(summary: dict[str, Any], records: Iterable[dict[str, Any]]) -> bytes:
    """report.html as UTF-8 bytes."""
    return render(HtmlWriter, summary, records)
