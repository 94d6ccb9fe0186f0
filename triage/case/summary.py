"""``OUT/case.json`` and ``OUT/case.html``: the whole case at a glance, built from the case store only.

Why from the store: the store is the record of what was scanned, how and with what result; the reports are
views of it, rewritten at the end of every run (also an interrupted one), atomically (temp file + rename).
The HTML is self-contained (inline CSS, no scripts, no external links) and never shows a picture: it names
files and counts them, nothing more. Jinja2 autoescapes every value (file names on seized media are hostile).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from jinja2 import Environment

from triage import TOOL_NAME, __version__
from triage.case.store import CaseStore
from triage.model.record import json_safe
from triage.model.times import now
from triage.textsafe import visible_text

_SURROGATE = re.compile("[\ud800-\udfff]")

COUNT_KEYS = ("files", "deleted", "pictures", "videos", "errors", "matched", "known", "unknown_pictures", "bytes")


def case_summary(store: CaseStore, case_dir: Path, out_root: Path, run_id: int) -> dict[str, Any]:
    """The case.json object: settings, totals, one entry per device, what was skipped."""
    run = next((r for r in store.runs() if r["id"] == run_id), {})
    devices = [_device(d, store) for d in store.devices()]
    absent = [d["name"] for d in store.devices(present_only=False) if not d["present"]]
    statuses = Counter(d["status"] for d in devices)
    totals: dict[str, Any] = {"devices": len(devices)}
    totals.update({s: statuses.get(s, 0) for s in ("done", "failed", "interrupted", "running", "pending")})
    sums: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    verification: Counter[str] = Counter()
    for d in devices:
        if d["status"] != "done":
            continue
        for key in COUNT_KEYS:
            sums[key] += int(d["counts"].get(key) or 0)
        categories.update({str(k): int(v) for k, v in d["matches_by_category"].items()})
        verification[str(d["verification"])] += 1
    totals.update({key: sums.get(key, 0) for key in COUNT_KEYS})
    totals["devices_with_matches"] = sum(1 for d in devices if d["counts"].get("matched"))
    totals["matches_by_category"] = dict(sorted(categories.items()))
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
        "totals": totals,
        "devices": devices,
        "failures": [{"device": d["name"], "status": d["status"], "reason": d["reason"]}
                     for d in devices if d["status"] != "done"],
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


def _device(row: dict[str, Any], store: CaseStore) -> dict[str, Any]:
    files_by_set = {(m["hashset"], m["volume"], m["path"], m["inode"]) for m in store.matches(row["name"])}
    by_set = Counter(key[0] for key in files_by_set)  # files per set, as in summary.json
    short = row.get("summary") or {}
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
        "matches_by_category": row.get("matches_by_category") or {},
        "matches_by_hashset": dict(sorted(by_set.items())),
        "errors": short.get("errors", []),
        "output": row["out_dir"],
        "files_jsonl_sha256": row["files_jsonl_sha256"],
        "settings": row["settings"],
        "started": row["started"],
        "finished": row["finished"],
        "host": row["host"],
        "scans": row["scans"],
    }


def write_reports(store: CaseStore, case_dir: Path, out_root: Path, run_id: int) -> tuple[Path, Path]:
    """Write case.json and case.html atomically; returns their paths."""
    summary = case_summary(store, case_dir, out_root, run_id)
    json_path, html_path = out_root / "case.json", out_root / "case.html"
    _atomic(json_path, json.dumps(summary, ensure_ascii=False, indent=2) + "\n")
    # finalize: hidden characters of names (ESC, bidi overrides) shown as escapes, as in report.html.
    env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True,
                      finalize=lambda v: visible_text(v) if type(v) is str else v)
    env.filters["size"] = _human_size
    _atomic(html_path, env.from_string(TEMPLATE).render(case=summary))
    return json_path, html_path


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


TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>triage case — {{ case.case_dir }}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f2f2f2} td.n{text-align:right} .failed,.interrupted,.mismatch{color:#b00;font-weight:bold}
.done,.verified{color:#070} code{font-size:12px;word-break:break-all}
</style></head><body>
<h1>Case summary</h1>
<p>Case directory <code>{{ case.case_dir }}</code>, output <code>{{ case.out }}</code>.<br>
Generated {{ case.generated }} by {{ case.tool.name }} {{ case.tool.version }} (run {{ case.run.id }} of
{{ case.runs }}, {{ case.run.mode }}{% if case.run.scheduler %} on {{ case.run.scheduler }}{% endif %}).</p>
<h2>Totals</h2>
<table>
<tr><th>devices</th><th>done</th><th>failed</th><th>interrupted</th><th>files</th><th>deleted</th>
<th>pictures</th><th>videos</th><th>matched files</th><th>devices with matches</th></tr>
<tr>{% for key in ["devices", "done", "failed", "interrupted", "files", "deleted", "pictures", "videos",
"matched", "devices_with_matches"] %}<td class="n">{{ case.totals[key] }}</td>{% endfor %}</tr>
</table>
{% if case.totals.matches_by_category %}
<table><tr><th>category</th><th>matched files</th></tr>
{% for cat, n in case.totals.matches_by_category.items() %}<tr><td>{{ cat }}</td><td class="n">{{ n }}</td></tr>
{% endfor %}</table>
{% endif %}
<h2>Devices</h2>
<table>
<tr><th>device</th><th>status</th><th>evidence</th><th>format</th><th>media</th><th>verification</th>
<th>files</th><th>deleted</th><th>pictures</th><th>errors</th><th>matched</th><th>by category</th><th>output</th></tr>
{% for d in case.devices %}
<tr><td>{{ d.name }}</td><td class="{{ d.status }}">{{ d.status }}</td><td><code>{{ d.evidence.relpath }}</code>
{% if d.evidence.paths|length > 1 %} (+{{ d.evidence.paths|length - 1 }} segments){% endif %}</td>
<td>{{ d.evidence.format }}</td><td class="n">{{ (d.evidence.media_size or d.evidence.size)|size }}</td>
<td class="{{ d.verification }}">{{ d.verification or "-" }}</td>
{% for key in ["files", "deleted", "pictures", "errors", "matched"] %}
<td class="n">{{ d.counts.get(key, "-") }}</td>{% endfor %}
<td>{% for cat, n in d.matches_by_category.items() %}{{ cat }}: {{ n }}{% if not loop.last %}, {% endif %}
{% endfor %}</td><td><code>{{ d.output or "" }}</code></td></tr>
{% endfor %}
</table>
{% if case.failures %}
<h2>Failures</h2>
<table><tr><th>device</th><th>status</th><th>reason</th></tr>
{% for f in case.failures %}<tr><td>{{ f.device }}</td><td class="{{ f.status }}">{{ f.status }}</td>
<td>{{ f.reason or "" }}</td></tr>
{% endfor %}</table>
{% endif %}
<h2>Settings</h2>
<p>Verification of stored media hashes: {{ "on" if case.settings.verify else "off" }}.
Thresholds: {% for k, v in (case.settings.thresholds or {}).items() %}{{ k }} {{ v }}{% if not loop.last %},
{% endif %}{% endfor %}.</p>
{% if case.settings.hashsets %}
<table><tr><th>hash set</th><th>role</th><th>format</th><th>entries</th><th>sha256</th></tr>
{% for h in case.settings.hashsets %}<tr><td>{{ h.name }}</td><td>{{ h.role }}</td><td>{{ h.format }}</td>
<td class="n">{{ h.entries }}</td><td><code>{{ h.sha256 }}</code></td></tr>
{% endfor %}</table>
{% else %}<p>No hash sets.</p>{% endif %}
<h2>Not taken as evidence</h2>
{% if case.skipped %}
<table><tr><th>path</th><th>reason</th></tr>
{% for s in case.skipped %}<tr><td><code>{{ s.path }}</code></td>
<td{% if s.error %} class="failed"{% endif %}>{{ s.reason }}</td></tr>
{% endfor %}</table>
{% else %}<p>Nothing skipped.</p>{% endif %}
{% if case.absent %}<p>Devices recorded by earlier runs but no longer in the case directory:
{{ case.absent|join(", ") }}.</p>{% endif %}
</body></html>
"""
