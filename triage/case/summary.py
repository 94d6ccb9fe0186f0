"""``OUT/case.json`` and ``OUT/case.html``: the whole case at a glance, built from the case store only.

Why from the store: the store is the record of what was scanned, how and with what result; the reports are
views of it, rewritten at the end of every run (also an interrupted one), atomically (temp file + rename).
The HTML (``report/templates/case.html.j2``) is self-contained (inline CSS, no scripts, no external links; its
only links are relative ones to each device's report.html and matched.csv) and never shows a picture: it names
files and counts them, nothing more. Devices are listed in examination order (``rank``). Jinja2 autoescapes
every value (file names on seized media are hostile).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader

from triage import TOOL_NAME, __version__
from triage.case.rank import RULE, SCANNED, links, rank
from triage.case.store import CaseStore, from_db
from triage.model.record import json_safe
from triage.model.times import now
from triage.report.verdict import category_order, category_words
from triage.textsafe import visible_text

_SURROGATE = re.compile("[\ud800-\udfff]")

COUNT_KEYS = ("files", "deleted", "pictures", "videos", "errors", "matched", "known", "unknown_pictures", "bytes")


def case_summary(store: CaseStore, case_dir: Path, out_root: Path, run_id: int) -> dict[str, Any]:
    """The case.json object: settings, totals, one entry per device in examination order (``rank``), what was
    skipped. Totals count the devices scanned to the end and those a quick run stopped at their first match."""
    run = next((r for r in store.runs() if r["id"] == run_id), {})
    devices = rank([_device(d, store, str(out_root)) for d in store.devices()])
    absent = [d["name"] for d in store.devices(present_only=False) if not d["present"]]
    statuses = Counter(d["status"] for d in devices)
    totals: dict[str, Any] = {"devices": len(devices)}
    totals.update({s: statuses.get(s, 0) for s in ("done", "quick", "failed", "interrupted", "running", "pending")})
    sums: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    verification: Counter[str] = Counter()
    labels: dict[str, set[str]] = {}
    for d in devices:
        if d["status"] not in SCANNED:
            continue
        for key, names in d["labels"].items():
            labels.setdefault(key, set()).update(names)
        for key in COUNT_KEYS:
            sums[key] += int(d["counts"].get(key) or 0)
        categories.update({str(k): int(v) for k, v in d["matches_by_category"].items()})
        verification[str(d["verification"])] += 1
    totals.update({key: sums.get(key, 0) for key in COUNT_KEYS})
    totals["devices_with_matches"] = sum(1 for d in devices if d["counts"].get("matched"))
    totals["matches_by_category"] = dict(sorted(categories.items(), key=lambda kv: category_order(kv[0])))
    totals["category_labels"] = {key: sorted(names) for key, names in sorted(labels.items())}
    totals["verification"] = dict(sorted(verification.items()))
    return _no_surrogates({
        "tool": {"name": TOOL_NAME, "version": __version__},
        "generated": now(),
        "case_dir": json_safe(str(case_dir)),
        "out": json_safe(str(out_root)),
        "run": {k: run.get(k) for k in ("id", "started", "host", "mode", "scheduler", "jobs")}
        | {"command": json.loads(run.get("command") or "[]")},
        "runs": len(store.runs()),
        "settings": store.settings(run.get("settings", "")),
        "ranking_rule": RULE,
        "totals": totals,
        "devices": devices,
        "failures": [{"device": d["name"], "status": d["status"], "reason": d["reason"]}
                     for d in sorted(devices, key=lambda d: d["name"]) if d["status"] not in SCANNED],
        "skipped": store.skipped(),
        "absent": absent,
    })


def _no_surrogates(value: Any) -> Any:
    """Every string that still holds a raw byte (a surrogate) in its ``json_safe`` form, so UTF-8 can carry it.

    Why a last pass: names are escaped where they enter the store, but a value from elsewhere (a hash-set path
    in the settings, an old run's command line) must not make the whole case.json unwritable. Escaped text has
    no surrogates left, so nothing is escaped twice.
    """
    if isinstance(value, str):
        return json_safe(value) if _SURROGATE.search(value) else value
    if isinstance(value, dict):
        return {_no_surrogates(k): _no_surrogates(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_no_surrogates(v) for v in value]
    return value


def _device(row: dict[str, Any], store: CaseStore, out_root: str) -> dict[str, Any]:
    matches = store.matches(row["name"])
    files_by_set = {(m["hashset"], m["volume"], m["path"], m["inode"]) for m in matches}
    by_set = Counter(key[0] for key in files_by_set)  # files per set, as in summary.json
    labels: dict[str, set[str]] = {}
    for m in matches:
        if m["category"] is not None and m["label"]:
            labels.setdefault(str(m["category"]), set()).add(str(m["label"]))
    loose = sorted({str(m["hashset"]) for m in matches if m["category"] is None})
    short = row.get("summary") or {}
    out_dir = from_db(row["out_dir"]) if row["out_dir"] else None
    return {
        "name": row["name"],
        "status": row["status"],
        "reason": row["reason"],
        "evidence": {"relpath": row["relpath"], "paths": row["paths"], "format": short.get("format") or row["format"],
                     "size": row["size"], "media_size": short.get("media_size"), "identity": row["identity"],
                     "stored_hashes": short.get("stored_hashes", {}),
                     "computed_hashes": short.get("computed_hashes", {}),
                     "acquisition": short.get("acquisition", {})},
        "verification": row["verification"],
        "verification_error": short.get("verification_error"),
        "counts": row.get("counts") or {},
        "matches_by_category": dict(sorted((row.get("matches_by_category") or {}).items(),
                                           key=lambda kv: category_order(kv[0]))),
        "labels": {key: sorted(names) for key, names in sorted(labels.items())},
        "uncategorised_sets": loose,
        "matches_by_hashset": dict(sorted(by_set.items())),
        "matches_by_origin": short.get("matches_by_origin", {}),
        "encryption": short.get("encryption", []),
        "errors": short.get("errors", []),
        "complete": short.get("complete"),
        "stopped": short.get("stopped"),
        "first_hit_after": short.get("first_hit_after"),
        "hashed": short.get("hashed"),
        "output": row["out_dir"],
        "links": links(row["status"], out_dir, out_root),
        "files_jsonl_sha256": row["files_jsonl_sha256"],
        "settings": row["settings"],
        "started": row["started"],
        "finished": row["finished"],
        "host": row["host"],
        "scans": row["scans"],
    }


def write_reports(store: CaseStore, case_dir: Path, out_root: Path, run_id: int) -> tuple[Path, Path, dict[str, Any]]:
    """Write case.json and case.html atomically; returns their paths and the case.json object."""
    summary = case_summary(store, case_dir, out_root, run_id)
    json_path, html_path = out_root / "case.json", out_root / "case.html"
    _atomic(json_path, json.dumps(summary, ensure_ascii=False, indent=2) + "\n")
    # finalize: hidden characters of names (ESC, bidi overrides) shown as escapes, as in report.html.
    env = Environment(loader=PackageLoader("triage.report", "templates"), autoescape=True, trim_blocks=True,
                      lstrip_blocks=True, finalize=lambda v: visible_text(v) if type(v) is str else v)
    env.filters["size"] = _human_size
    env.filters["category"] = lambda key, labels: category_words(key, labels.get(str(key), ()))
    _atomic(html_path, env.get_template("case.html.j2").render(case=summary))
    return json_path, html_path, summary


def _atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; reports are read by other people on the case
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _human_size(value: Any) -> str:
    if not isinstance(value, int):
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(value)
