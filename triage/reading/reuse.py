"""Reusing what a quick scan read: a full scan after ``triage case --quick`` does not read those streams again.

Why it is safe: a quick scan of the same evidence lists the same streams in the same order (ids are listing
positions), and what it read it read completely; with the same hash sets and thresholds its matches are the
matches a full scan would find. So a stream listed now with the same id, path, inode, size, allocation and times
as a quick-scan row that has digests and no error takes that row's content, notes and matches instead of being
read. Anything else is read as usual: rows with errors, pictures that had an EXIF thumbnail child (their child is
made only by reading them), and every row when the quick scan's hash sets or thresholds differ from this scan's.
Archives, videos and thumbnail caches are expanded again (their children come from that second read).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from triage.model.record import FileRecord

CONTENT = ("md5", "sha1", "sha256", "type", "ext_mismatch", "pdq", "pdq_quality", "phash")


def _key(volume: Any, fs: Any, inode: Any, path: str, size: int, allocated: bool, times: dict[str, Any]) -> tuple:
    return (volume, fs, inode, path, size, allocated, tuple(sorted((times or {}).items())))


def _same_sets(summary: dict[str, Any], hashsets: Any) -> bool:
    """The quick scan matched with the same hash sets (by sha256) and thresholds as this scan will."""
    now = hashsets.describe() if hashsets is not None else []
    then = summary.get("hashsets") or []
    return ([s.get("sha256") for s in then] == [s.get("sha256") for s in now]
            and summary.get("thresholds", {}) == (hashsets.thresholds if hashsets is not None else {}))


def load(folder: Path, hashsets: Any) -> tuple[dict[str, tuple[tuple, dict[str, Any]]], str]:
    """Rows of a quick scan's ``files.jsonl`` that can stand for a read, by id; and a line saying what was found."""
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        lines = (folder / "files.jsonl").read_text(encoding="utf-8").splitlines()
    except (OSError, ValueError) as exc:
        return {}, f"quick scan not reused: {exc}"
    if summary.get("stopped") != "first hit" or not _same_sets(summary, hashsets):
        return {}, "quick scan not reused: it was not stopped at a first hit, or its hash sets differ"
    rows = [json.loads(line) for line in lines]
    with_children = {row["parent"] for row in rows if row.get("origin") == "exif-thumbnail"}
    out = {}
    for row in rows:
        if (row.get("parent") is None and row.get("sha256") and not row.get("errors")
                and row.get("origin") in ("filesystem", "extraction", "snapshot") and row["id"] not in with_children):
            key = _key(row["volume"], row["fs"], row["inode"], row["path"], row["size"], row["allocated"],
                       row["times"])
            out[row["id"]] = (key, row)
    return out, f"{len(out)} streams read by the quick scan reused, not read again"


def apply(record: FileRecord, rows: dict[str, tuple[tuple, dict[str, Any]]]) -> bool:
    """Fill ``record`` from the quick scan's row of the same id when it is the same stream; True when it was."""
    found = rows.pop(record.id, None)
    if found is None:
        return False
    key, row = found
    if key != _key(record.volume, record.fs, record.inode, record.path, record.size, record.allocated, record.times):
        return False
    for name in CONTENT:
        setattr(record, name, row.get(name))
    record.known = bool(row.get("known"))
    record.matches = [dict(match) for match in row.get("matches") or []]
    record.notes = list(row.get("notes") or [])
    return True
