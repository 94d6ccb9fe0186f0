"""Scan one device: evidence → volumes → file systems → records → digests → matches → output files.

The scan lists every stream first (cheap: metadata only), so that the progress bar knows the total bytes, then
reads each stream once. Outputs are written into a temporary folder renamed into place at the end, so an
interrupted or killed scan never leaves a folder that looks complete.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triage import TOOL_NAME, __version__, outdir
from triage.errors import EvidenceError, Interrupted, OutputError, VolumeError
from triage.model.record import FileRecord, json_safe
from triage.model.store import RecordStore, counts
from triage.reading import interrupts
from triage.reading.children import Expanded
from triage.reading.mediapass import MediaPass
from triage.reading.pipeline import Reading, read_all
from triage.reading.plan import PICTURE_EXTENSIONS, media_plan, picture_order, same_streams
from triage.report import JsonlRecords, write_reports
from triage.sources.containers import Evidence, detect, open_evidence
from triage.sources.containers.detect import archive_kind
from triage.sources.containers.verify import skipped, verification
from triage.sources.extractions.evidence import ExtractionEvidence, open_extraction
from triage.sources.filesystems import FileSystem, guess_signature, open_filesystem
from triage.sources.volumes import Volume, find_volumes
from triage.textsafe import visible_text

if TYPE_CHECKING:
    from triage.known import HashSets

ProgressFn = Callable[[str, FileRecord | None, int], None]


@dataclass
class ScanSettings:
    """What the examiner chose; recorded in the summary so that a result can be reproduced."""

    hashsets: HashSets | None = None
    jobs: int = 1
    verify: bool = True
    first_hit: bool = False
    pictures_first: bool = False
    command: list[str] = field(default_factory=list)


@dataclass
class Listing:
    """Everything the walk found; a record leaves it (None) once finished and in ``store``."""

    records: list[tuple[FileRecord, FileSystem] | None]
    volumes: list[dict[str, Any]]
    errors: list[str]
    filesystems: list[FileSystem] = field(default_factory=list)
    limits: list[dict[str, Any]] = field(default_factory=list)  # bounds that stopped an archive or extraction
    archives: int = 0  # archives expanded into child records
    store: RecordStore | None = None  # finished records (files.jsonl lines) and the summary's counts

    @property
    def total_bytes(self) -> int:
        return sum(pair[0].size for pair in self.records if pair is not None and pair[0].locator is not None)

    def release(self, index: int) -> None:
        """Store the record at ``index`` and drop it from memory (once: a second call does nothing)."""
        pair = self.records[index]
        if pair is not None:
            assert self.store is not None
            self.store.add(pair[0])
            self.records[index] = None

    def release_all(self) -> None:
        """Store every record still held (not read: stopped or interrupted), before the summary is made."""
        for index in range(len(self.records)):
            self.release(index)


def device_name(path: Path) -> str:
    """Output folder name for an evidence set: its first file's name without the extension.

    A name that would leave only "." or ".." (``...E01``) keeps its extension: the folder must be a child of
    the output folder, never the output folder itself or its parent.
    """
    name = path.name
    stem, dot, _ext = name.rpartition(".")
    return safe_component(stem if dot and stem and stem not in (".", "..") else name)


def safe_component(name: str) -> str:
    """``name`` as one path component: no separator, no NUL, never "", "." or ".."."""
    name = name.replace("/", "_").replace("\0", "_")
    if not name.isprintable():  # ESC, bidi overrides, undecodable bytes: shown as escapes with "_" (as case does)
        name = visible_text(name).replace("\\", "_")
    return name if name not in ("", ".", "..") else f"_{name}"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def list_device(
    evidence: Evidence, listing: Listing | None = None, listed: Callable[[int], None] | None = None
) -> Listing:
    """Open every volume's file system and list its streams; volume problems are recorded, not raised.

    The listing is filled as the walk goes (into ``listing`` when given), so that a Ctrl-C during a long walk
    still leaves what was listed so far for the partial summary; ``listed`` gets each new record's index (the
    workers start reading while the walk goes on).
    """
    listing = listing if listing is not None else Listing([], [], [])
    layout = find_volumes(evidence)
    for slot in layout.slots:
        info = slot.describe()
        info.update({"scheme": layout.scheme, "fs": None, "label": None, "files": 0, "errors": []})
        listing.volumes.append(info)
        if slot.role != "partition":
            continue
        try:
            fs = _open(evidence, slot)
        except VolumeError as exc:
            where = f"volume {slot.index}" if slot.index is not None else "media"
            info["errors"].append(str(exc))
            info["signature"] = guess_signature(evidence, slot)
            listing.errors.append(f"{where} at offset {slot.offset}: {exc}")
            continue
        listing.filesystems.append(fs)
        info["fs"], info["label"] = fs.name, fs.label
        try:
            for record in fs.walk():
                interrupts.check()
                record.id = str(len(listing.records))
                listing.records.append((record, fs))
                info["files"] += 1
                if listed:
                    listed(len(listing.records) - 1)
            interrupts.check()
        finally:
            info["notes"] = list(fs.notes)
    if not listing.filesystems and layout.scheme == "none" and evidence.format in ("raw", "split_raw"):
        archive = archive_kind(detect.read_head(evidence.paths[0], 512))
        if archive:
            raise EvidenceError(f"{evidence.paths[0]}: not a disk image: {archive} (unsupported format; extract "
                                "the image from it first)")
        guess = guess_signature(evidence, layout.slots[0])
        if guess is None:
            raise EvidenceError(
                f"{evidence.paths[0]}: not a disk image: no partition table, file system or known signature found"
            )
    return listing


def _open(evidence: Evidence, slot: Volume) -> FileSystem:
    if slot.offset >= evidence.media_size:
        raise VolumeError("partition starts past the end of the media")
    return open_filesystem(evidence, slot)


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
        "host": platform.node(),
        "command": list(settings.command),
        "evidence": {**evidence.describe(), **verification},
        "volumes": listing.volumes,
        "counts": counts(tally, listing.archives),
        "matches_by_category": dict(sorted(tally.by_category.items())),
        "matches_by_hashset": dict(sorted(tally.by_set.items())),
        "hashsets": hs.describe() if hs else [],
        "thresholds": hs.thresholds if hs else {},
        "limits": [dict(entry) for fs in listing.filesystems for entry in getattr(fs, "limits", ())
                   if isinstance(entry, dict)] + [dict(entry) for entry in listing.limits],
        "errors": list(listing.errors),
    })


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


def scan_device(
    evidence_path: Path,
    out_root: Path,
    settings: ScanSettings,
    progress: ProgressFn | None = None,
    name: str | None = None,
    replaced: Callable[[Path], None] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Scan one evidence set into ``out_root/<name>/``; returns that folder and the summary.

    ``name`` defaults to the evidence file name without its extension, with ``-2``, ``-3``… when that folder
    holds another evidence's results; a given ``name`` is used as is (``write_outputs``' ``fixed_name``).
    Raises EvidenceError when the evidence is unusable, OutputError when the results cannot be written and
    Interrupted on Ctrl-C (after writing a partial summary marked incomplete into ``<name>.incomplete``).
    ``replaced`` is called with the folder when earlier results of the same evidence were replaced.
    """
    started = now()
    evidence: Any = open_extraction(evidence_path) or open_evidence(evidence_path)
    extraction = isinstance(evidence, ExtractionEvidence)
    fixed_name = name is not None
    name = name or device_name(evidence.paths[0])
    listing = Listing([], [], [], store=RecordStore(out_root, name))
    listed = False
    try:
        work = Reading(listing.records, settings.jobs,
                       lambda index, record: _finish_record(listing, index, record, settings, progress),
                       lambda index, expanded: _add_children(listing, index, expanded, settings, progress),
                       listing.release)
        media = None if extraction else MediaPass(evidence, {}, settings.verify, threads=work.parallel)

        def early(index: int) -> None:
            record = listing.records[index][0]  # type: ignore[index]  # just listed, so held
            if record.locator is not None and record.extension in PICTURE_EXTENSIONS:
                work.early(index)

        try:
            with interrupts.catching_ctrl_c():
                if media is not None:
                    media.start_early()
                    list_device(evidence, listing, early if work.parallel else None)
                else:
                    list_extraction(evidence, listing)
                listed = True
                if progress:
                    progress("start", None, listing.total_bytes)
                stopped = _read_listed(work, listing, settings)
                if not stopped:
                    order = picture_order(listing.records) if settings.pictures_first else None
                    work.share(same_streams(listing.records))
                    if media is not None:
                        media.add(media_plan(listing.records, settings.pictures_first or work.parallel,
                                             work.handed_out))
                    stopped = read_all(work, order, media)
            verification = _verification(evidence, media, settings)
            if media is not None:
                listing.errors.extend(_locate_damage(evidence, verification))
        except KeyboardInterrupt:
            work.close(cancel=True)
            if media is not None:
                media.close()
            verification = _verification(evidence, media, settings)
            if not listed:
                listing.errors.append("interrupted while listing: volumes and files after this point are missing")
            summary = summarise(evidence, listing, settings, started, False, verification, "interrupted")
            target = write_outputs(out_root, name, listing, summary, complete=False, fixed_name=fixed_name,
                                   replaced=replaced)
            raise Interrupted(f"interrupted; partial results in {target}") from None
        except BaseException:
            work.close(cancel=True)
            if media is not None:
                media.close()
            raise
        if stopped:
            work.close(cancel=True)
        summary = summarise(evidence, listing, settings, started, not stopped, verification,
                            "first hit" if stopped else None)
        try:
            target = write_outputs(out_root, name, listing, summary, complete=not stopped, pool=work.pool,
                                   fixed_name=fixed_name, replaced=replaced)
        finally:
            work.close(cancel=False)
    finally:
        listing.store.close()
        for fs in listing.filesystems:
            fs.close()
        evidence.close()
    return target, summary


def list_extraction(evidence: ExtractionEvidence, listing: Listing) -> Listing:
    """List a logical extraction: one lister, no volumes; its problems and bounds go to the summary."""
    source = evidence.extraction
    listing.filesystems.append(source)
    for record in source.walk():
        interrupts.check()
        record.id = str(len(listing.records))
        listing.records.append((record, source))
    interrupts.check()
    listing.errors.extend(f"extraction: {problem}" for problem in source.errors)
    listing.limits.extend({"volume": None, "fs": source.kind, "limit": "extraction", "value": None, "count": 1,
                           "effect": text} for text in source.limits)
    return listing


def _read_listed(work: Reading, listing: Listing, settings: ScanSettings) -> bool:
    """Records whose content the listing already read (a compressed tar is digested as it is walked): matched
    and expanded now, never read again. True when --first-hit stopped the scan."""
    done = [index for index, pair in enumerate(listing.records) if pair is not None and pair[0].sha256 is not None]
    work.handed_out.update(done)
    for index in done:
        pair = listing.records[index]
        if pair is not None and work.finished(index, pair[0], None):
            return True
    return work.stopped


def _finish_record(
    listing: Listing, index: int, record: FileRecord, settings: ScanSettings, progress: ProgressFn | None
) -> bool:
    """Match a record just read and report progress; True stops the scan (--first-hit)."""
    if settings.hashsets is not None and (record.locator is not None or record.sha256 is not None):
        settings.hashsets.match(record)
    if progress:
        progress("record", record, record.size if record.locator is not None else 0)
    return settings.first_hit and bool(record.matches)


def _add_children(
    listing: Listing, index: int, expanded: Expanded, settings: ScanSettings, progress: ProgressFn | None
) -> bool:
    """An archive's members become records of their own, matched like any stream, and go straight to the store.

    The archive's own new errors go on its record (still held: ``Reading`` releases it after this) and the bounds
    that stopped its expansion into ``limits``. Every member is stored even when --first-hit stops at one of them
    (True); those after it are not matched.
    """
    pair = listing.records[index]
    assert pair is not None and listing.store is not None
    record = pair[0]
    record.errors.extend(error for error in expanded.errors if error not in record.errors)
    listing.archives += 1
    for hit in expanded.limits:
        listing.limits.append({"volume": record.volume, "fs": record.fs, "limit": f"archive {hit.get('limit')}",
                               "value": hit.get("value"), "count": 1,
                               "effect": f"{hit.get('effect')} ({hit.get('archive')})"})
    stop = False
    for child in expanded.children:
        stop = stop or _finish_record(listing, -1, child, settings, progress)
        listing.store.add(child)
    return stop


def _locate_damage(evidence: Evidence, verification: dict[str, Any]) -> list[str]:
    """On an E01 whose media hash does not match, list the damaged chunks (as ``ewfverify`` does).

    Why only then: it reads the whole image once more. pyewf hides checksum errors, so this is the only way to
    tell the examiner which sectors are bad, or that every chunk is intact and the media still differs.
    """
    checker = getattr(evidence.reader, "checker", None)
    if checker is None or verification.get("verification") != "mismatch":
        return []
    found = checker.scan_all()
    if found:
        return [f"evidence: {message}" for message in found]
    if checker.chunks:
        return ["evidence: every EWF chunk checksum is intact but the media hash differs from the stored hash "
                "(a segment from another acquisition, or data altered together with its checksums)"]
    return []


def _verification(evidence: Any, media: MediaPass | None, settings: ScanSettings) -> dict[str, Any]:
    """The summary's verification fields from the media pass (no hash: stopped before the end of the media).

    An extraction has no media: its file's own hashes are computed (one more read of it) and nothing is stored.
    """
    if not settings.verify:
        return skipped()
    if media is None:
        return verification({}, evidence.file_hashes(), None)
    error = media.error if media.computed or media.error else "verification stopped before the end of the media"
    return verification(evidence.stored_hashes, media.computed, error)


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
        with open(tmp / "files.jsonl", "w", encoding="utf-8", newline="\n") as fh:
            for line in listing.store.lines():
                fh.write(line + "\n")
        with open(tmp / "summary.json", "w", encoding="utf-8", newline="\n") as fh:
            json.dump(summary, fh, ensure_ascii=False, indent=2)
            fh.write("\n")
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
