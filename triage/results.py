"""The device folder: files.jsonl, summary.json and every report written into a temporary folder beside it and
renamed into place, so that a run killed at any point leaves either the previous complete folder or none.

Why apart from ``scan``: the scan finds and reads; this is the one place that decides what a result folder holds
and how it lands (``outdir`` has the naming rules it follows).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from triage import outdir
from triage.errors import OutputError
from triage.reading.listing import Listing
from triage.report import JsonlRecords, write_ahead, write_reports
from triage.report.ahead import context
from triage.textsafe import visible_text

VPDQ_FOLDER = "vpdq"  # each decoded video's frame list in Meta's vPDQ layout, named by the record's id


def safe_component(name: str) -> str:
    """``name`` as one path component: no separator, no NUL, never "", "." or ".."."""
    name = name.replace("/", "_").replace("\0", "_")
    if not name.isprintable():  # ESC, bidi overrides, undecodable bytes: shown as escapes with "_" (as case does)
        name = visible_text(name).replace("\\", "_")
    return name if name not in ("", ".", "..") else f"_{name}"


def write_outputs(
    out_root: Path, name: str, listing: Listing, summary: dict[str, Any], complete: bool,
    pool: Executor | None = None, *, fixed_name: bool = False, replaced: Callable[[Path], None] | None = None,
) -> Path:
    """Write files.jsonl, summary.json and the reports into a temporary folder, then rename it into place.

    Why a folder rename: a run killed at any point leaves either the previous complete folder or none, never a
    folder whose files look complete but are not. ``pool``: idle worker processes that may render reports.

    The folder is ``name`` (cut to the file system's name limit), or ``name-2``, ``name-3``… when ``name``
    holds another evidence's results (``outdir.choose_name``); ``fixed_name`` (``triage case``, which keeps its
    own names in case.sqlite) skips that choice. ``replaced`` is called with the folder when earlier results of
    the same evidence were replaced. An OSError while writing becomes OutputError, the temporary folder removed.
    """
    full = base = safe_component(name)
    tmp: Path | None = None
    try:
        out_root.mkdir(parents=True, exist_ok=True)
        limit = outdir.name_limit(out_root)
        base = outdir.fit(full, "", limit)
        tmp = Path(tempfile.mkdtemp(prefix=f".{base}.", suffix=".tmp", dir=out_root))
        assert listing.store is not None
        listing.release_all()
        signatures = listing.store.scratch() / VPDQ_FOLDER
        if signatures.is_dir():
            shutil.move(str(signatures), str(tmp / VPDQ_FOLDER))
        with open(tmp / "summary.json", "w", encoding="utf-8", newline="\n") as fh:
            json.dump(summary, fh, ensure_ascii=False, indent=2)
            fh.write("\n")
        store, ahead = listing.store, listing.store.ahead
        store.ahead = None  # what is still pending is stored, not offered: the reports are written now
        rendered = ahead if ahead is not None and ahead.worth(context(summary), store.count, complete) else None
        if ahead is not None and rendered is None:
            ahead.cancel()
        with open(tmp / "files.jsonl", "w", encoding="utf-8", newline="\n") as fh:
            if rendered is not None:  # reports rendered during the scan: copied in the pass writing files.jsonl
                write_ahead(tmp, summary, store.rows(), store.count, rendered, fh, wait=complete)
            else:
                for line in store.lines():
                    fh.write(line + "\n")
        if rendered is None:
            write_reports(tmp, summary, JsonlRecords(tmp / "files.jsonl"), pool)
        key = outdir.evidence_key(summary.get("evidence", {}).get("paths", []))
        final, was_there = _move_into_place(tmp, out_root, full, key, limit, complete, fixed_name)
        tmp = None
    except OSError as exc:
        raise outdir.output_error(exc, out_root, base) from exc
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    if was_there and replaced is not None:
        replaced(final)
    return final


def _move_into_place(
    tmp: Path, out_root: Path, full: str, key: tuple[str, ...], limit: int, complete: bool, fixed_name: bool
) -> tuple[Path, bool]:
    """Rename ``tmp`` to the device folder; returns it and whether earlier results (of this evidence) were there.

    The name is chosen at the last moment and the rename refuses a non-empty folder, so a concurrent run that
    took the name meanwhile (another evidence with the same stem) makes us choose again instead of replacing it.
    """
    for _attempt in range(100):
        name = outdir.fit(full, "", limit) if fixed_name else outdir.choose_name(out_root, full, key, limit)
        final = out_root / (name if complete else f"{name}.incomplete")
        if os.path.lexists(final):
            old = out_root / f".{name}.old.{os.getpid()}"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
            try:
                os.rename(tmp, final)
            except BaseException:
                os.replace(old, final)
                raise
            shutil.rmtree(old, ignore_errors=True)
            return final, True
        try:
            os.rename(tmp, final)
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            continue  # another run wrote this folder since we looked: choose again
        return final, False
    raise OutputError(f"output folder {out_root}: the folder for {full} kept changing while writing; not written")
