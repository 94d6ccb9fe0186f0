"""The case store: ``OUT/case.sqlite``, the one record of which device was scanned, how, and with what result.

Why SQLite (WAL): a case run is long and may be killed at any moment; every status change is one committed
transaction, so the store always tells the truth about what finished. Only the process that runs the case
writes it (workers, local or on Dask, return results to it), so there is never write contention.

Per-file records stay in each device's ``files.jsonl`` (the store keeps its path, sha256 and line count); the
store copies the matches out of it, because those are what a case-level question ("which devices hold
category A?") needs.

Names from the case directory (relative paths, segment paths, skipped files, reasons quoting them) may hold
bytes that are not UTF-8 (surrogates from ``surrogateescape``), which SQLite text cannot carry. They are kept in
their ``records.json_safe`` form (``\\xNN`` for a raw byte, a literal backslash doubled), which is reversible
(``db_path`` / ``from_db``) and is also how case.json shows them. Schema 2 is that rule; a schema-1 store (raw
text, which could not hold such bytes) is converted on open by doubling its backslashes.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from triage.case.discover import Device, Skipped
from triage.model.record import json_safe
from triage.model.times import now
from triage.textsafe import from_json_safe

SCHEMA_VERSION = 2
# "quick": scanned by ``triage case --quick`` and stopped at its first match; its results are in the store and its
# folder, but it is not done: a run without --quick scans it again, fully.
STATUSES = ("pending", "running", "done", "quick", "failed", "interrupted")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, started TEXT NOT NULL, finished TEXT, host TEXT, pid INTEGER, mode TEXT,
    scheduler TEXT, jobs INTEGER, command TEXT, settings TEXT, status TEXT NOT NULL, exit_code INTEGER);
CREATE TABLE IF NOT EXISTS settings (fingerprint TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS devices (
    name TEXT PRIMARY KEY, relpath TEXT NOT NULL UNIQUE, paths TEXT NOT NULL, format TEXT, size INTEGER,
    identity TEXT, present INTEGER NOT NULL DEFAULT 1, status TEXT NOT NULL DEFAULT 'pending', reason TEXT,
    settings TEXT, run_id INTEGER, scans INTEGER NOT NULL DEFAULT 0, started TEXT, finished TEXT, host TEXT,
    out_dir TEXT, files_jsonl_sha256 TEXT, verification TEXT, counts TEXT, matches_by_category TEXT,
    summary TEXT);
CREATE TABLE IF NOT EXISTS matches (
    device TEXT NOT NULL, path TEXT, volume INTEGER, inode INTEGER, size INTEGER, md5 TEXT, sha1 TEXT,
    sha256 TEXT, hashset TEXT, algorithm TEXT, distance INTEGER, category TEXT, label TEXT);
CREATE INDEX IF NOT EXISTS matches_device ON matches(device);
CREATE TABLE IF NOT EXISTS skipped (path TEXT PRIMARY KEY, reason TEXT NOT NULL, error INTEGER NOT NULL);
"""


def fingerprint(body: dict[str, Any]) -> str:
    """sha256 of a JSON object in canonical form (sorted keys, no spaces)."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class CaseStore:
    """Open (creating if needed) the case store of an output folder."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)
        with self.tx() as db:
            row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is not None and row["value"] == "1":
                _upgrade_from_1(db)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One committed transaction: either all of a status change is stored or none of it."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # runs and settings -------------------------------------------------------------------------------------

    def begin_run(self, mode: str, scheduler: str | None, jobs: int, command: list[str], settings: str) -> int:
        """Record the start of a run; devices left ``running`` by an earlier run are marked interrupted.

        Why safe: the runner holds the case lock, so no other live run can own a ``running`` device.
        """
        with self.tx() as db:
            db.execute("UPDATE devices SET status='interrupted', reason='run ended before this device finished' "
                       "WHERE status='running'")
            db.execute("UPDATE runs SET status='killed' WHERE status='running'")
            cur = db.execute(
                "INSERT INTO runs (started, host, pid, mode, scheduler, jobs, command, settings, status) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running')",
                (now(), platform.node(), os.getpid(), mode, scheduler, jobs,
                 json.dumps([json_safe(arg) for arg in command]), settings))
            return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, status: str) -> None:
        """Record how a run ended: its outcome (done, some failed, interrupted) or "error".

        The ``exit_code`` column stays for stores written by earlier versions; exit codes are the command line's.
        """
        with self.tx() as db:
            db.execute("UPDATE runs SET finished=?, status=? WHERE id=?", (now(), status, run_id))

    def save_settings(self, body: dict[str, Any]) -> str:
        """Store the settings of a run (hash sets, thresholds, tool version); returns their fingerprint."""
        fp = fingerprint(body)
        with self.tx() as db:
            db.execute("INSERT OR IGNORE INTO settings VALUES (?, ?)", (fp, json.dumps(body, sort_keys=True)))
        return fp

    def settings(self, fp: str) -> dict[str, Any]:
        row = self.db.execute("SELECT body FROM settings WHERE fingerprint=?", (fp,)).fetchone()
        return json.loads(row["body"]) if row else {}

    def runs(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute("SELECT * FROM runs ORDER BY id")]

    # devices -----------------------------------------------------------------------------------------------

    def known_names(self) -> dict[str, str]:
        """First file's relative path -> device name, from earlier runs (names never change once given)."""
        return {from_db(r["relpath"]): r["name"] for r in self.db.execute("SELECT relpath, name FROM devices")}

    def sync_devices(self, devices: Iterable[tuple[Device, str]], skipped: list[Skipped]) -> None:
        """Record what discovery found: new devices pending, changed evidence pending again, gone ones absent."""
        with self.tx() as db:
            db.execute("UPDATE devices SET present=0")
            for dev, identity in devices:
                relpath = db_path(dev.relpath)
                row = db.execute("SELECT identity, status FROM devices WHERE relpath=?", (relpath,)).fetchone()
                paths = json.dumps([db_path(str(p)) for p in dev.paths])
                if row is None:
                    db.execute("INSERT INTO devices (name, relpath, paths, format, size, identity) "
                               "VALUES (?, ?, ?, ?, ?, ?)", (dev.name, relpath, paths, dev.kind, dev.size,
                                                             identity))
                    continue
                db.execute("UPDATE devices SET present=1, paths=?, format=?, size=? WHERE relpath=?",
                           (paths, dev.kind, dev.size, relpath))
                if row["identity"] != identity:
                    db.execute("UPDATE devices SET identity=?, status='pending', reason='evidence changed since "
                               "the last run' WHERE relpath=?", (identity, relpath))
            db.execute("DELETE FROM skipped")
            db.executemany("INSERT OR REPLACE INTO skipped VALUES (?, ?, ?)",
                           [(db_path(s.path), db_path(s.reason), int(s.error)) for s in skipped])

    def device(self, name: str) -> dict[str, Any]:
        row = self.db.execute("SELECT * FROM devices WHERE name=?", (name,)).fetchone()
        return _decode(row) if row else {}

    def devices(self, present_only: bool = True) -> list[dict[str, Any]]:
        where = " WHERE present=1" if present_only else ""
        return [_decode(r) for r in self.db.execute(f"SELECT * FROM devices{where} ORDER BY name")]

    def skipped(self) -> list[dict[str, Any]]:
        return [{"path": r["path"], "reason": r["reason"], "error": bool(r["error"])}
                for r in self.db.execute("SELECT * FROM skipped ORDER BY path")]

    def is_complete(self, name: str, identity: str, settings: str, out_root: Path, quick: bool = False) -> bool:
        """Done earlier with the same evidence and settings, and the output folder is complete on disk.

        With ``quick`` (a ``--quick`` run) a device that an earlier quick run stopped at its first match counts
        too: it has what a quick run wants. Without it, only a device read to the end is done.
        """
        row = self.device(name)
        accepted = ("done", "quick") if quick else ("done",)
        if not row or row["status"] not in accepted or row["identity"] != identity or row["settings"] != settings:
            return False
        folder = out_root / name
        try:
            with open(folder / "summary.json", encoding="utf-8") as fh:
                summary = json.load(fh)
        except (OSError, ValueError):
            return False
        whole = bool(summary.get("complete")) or (row["status"] == "quick" and summary.get("stopped") == "first hit")
        return whole and _sha256(folder / "files.jsonl") == row["files_jsonl_sha256"]

    def mark_running(self, name: str, run_id: int, settings: str, host: str | None = None) -> None:
        with self.tx() as db:
            db.execute("UPDATE devices SET status='running', reason=NULL, run_id=?, settings=?, scans=scans+1, "
                       "started=?, finished=NULL, host=? WHERE name=?", (run_id, settings, now(), host, name))

    def mark_failed(self, name: str, run_id: int, reason: str, status: str = "failed") -> None:
        """Record a failure (or an interruption) with its one-line reason; earlier matches are dropped."""
        with self.tx() as db:
            db.execute("DELETE FROM matches WHERE device=?", (name,))
            db.execute("UPDATE devices SET status=?, reason=?, run_id=?, finished=?, out_dir=NULL, "
                       "files_jsonl_sha256=NULL, verification=NULL, counts=NULL, matches_by_category=NULL, "
                       "summary=NULL WHERE name=?", (status, db_path(" ".join(reason.split())), run_id, now(), name))

    def mark_done(self, name: str, run_id: int, out_dir: Path, host: str | None = None) -> None:
        """Read the device's finished output (already renamed into place) and store it, matches included.

        Why read here and not take the worker's word: the store must describe exactly the files on disk; the
        sha256 of files.jsonl lets resume and auditors check that they were not changed since. A scan that
        stopped at its first match (``--quick``) is stored as ``quick``, never as ``done``.
        """
        with open(out_dir / "summary.json", encoding="utf-8") as fh:
            summary = json.load(fh)
        digest = hashlib.sha256()
        rows: list[tuple[Any, ...]] = []
        with open(out_dir / "files.jsonl", "rb") as fh:
            for line in fh:
                digest.update(line)
                if b'"matches": []' in line or b'"matches":[]' in line:
                    continue
                rows.extend(_match_rows(name, json.loads(line)))
        ev = summary.get("evidence", {})
        status = "quick" if summary.get("stopped") == "first hit" else "done"
        with self.tx() as db:
            db.execute("DELETE FROM matches WHERE device=?", (name,))
            db.executemany("INSERT INTO matches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            db.execute(
                "UPDATE devices SET status=?, reason=NULL, run_id=?, finished=?, host=COALESCE(?, host), "
                "out_dir=?, files_jsonl_sha256=?, verification=?, counts=?, matches_by_category=?, summary=? "
                "WHERE name=?",
                (status, run_id, now(), host, db_path(str(out_dir)), digest.hexdigest(), ev.get("verification"),
                 json.dumps(summary.get("counts", {})), json.dumps(summary.get("matches_by_category", {})),
                 json.dumps(_short_summary(summary)), name))

    def matches(self, device: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM matches" + (" WHERE device=?" if device else "") + " ORDER BY device, path, hashset"
        return [dict(r) for r in self.db.execute(sql, (device,) if device else ())]


def db_path(text: str) -> str:
    """A name or a text quoting names, as the store and case.json keep it (see the module docstring)."""
    return json_safe(text)


def from_db(text: str) -> str:
    """Invert ``db_path``: the exact name again, raw bytes as surrogates (``records.decode_name`` form)."""
    return from_json_safe(text)


def _upgrade_from_1(db: sqlite3.Connection) -> None:
    """Schema 1 kept names raw; it could not hold undecodable bytes, so doubling backslashes is the whole change."""
    rows = db.execute("SELECT name, relpath, paths, reason, out_dir FROM devices").fetchall()
    for r in rows:
        paths = json.dumps([db_path(p) for p in json.loads(r["paths"] or "[]")])
        db.execute("UPDATE devices SET relpath=?, paths=?, reason=?, out_dir=? WHERE name=?",
                   (db_path(r["relpath"]), paths, r["reason"] and db_path(r["reason"]),
                    r["out_dir"] and db_path(r["out_dir"]), r["name"]))
    db.execute("DELETE FROM skipped")  # rewritten by the next discovery


def _match_rows(device: str, record: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (device, record.get("path"), record.get("volume"), record.get("inode"), record.get("size"),
         record.get("md5"), record.get("sha1"), record.get("sha256"), m.get("hashset"), m.get("algorithm"),
         m.get("distance"), None if m.get("category") is None else str(m.get("category")), m.get("label"))
        for m in record.get("matches") or []
    ]


def _short_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """What the case report needs from summary.json (the rest stays in the device folder)."""
    ev = summary.get("evidence", {})
    return {
        "started": summary.get("started"), "finished": summary.get("finished"), "host": summary.get("host"),
        "format": ev.get("format"), "media_size": ev.get("media_size"),
        "stored_hashes": ev.get("stored_hashes", {}), "computed_hashes": ev.get("computed_hashes", {}),
        "verification_error": ev.get("verification_error"), "acquisition": ev.get("acquisition", {}),
        "volumes": len(summary.get("volumes", [])), "errors": summary.get("errors", []),
        "complete": summary.get("complete"), "stopped": summary.get("stopped"),
        "first_hit_after": summary.get("first_hit_after"), "hashed": summary.get("hashed"),
        "encryption": summary.get("encryption", []), "matches_by_origin": summary.get("matches_by_origin", {}),
    }


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    for key in ("paths", "counts", "matches_by_category", "summary"):
        if out.get(key):
            out[key] = json.loads(out[key])
    out["present"] = bool(out.get("present"))
    return out


def _sha256(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()
