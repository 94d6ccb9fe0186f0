"""Scan one device: evidence → volumes → file systems → records → digests → matches → output files.

The scan lists every stream first (``reading/listing.py``: metadata only, each record spilled to disk as listed),
so that the progress bar knows the total bytes, then reads each stream once. Outputs are written into a
temporary folder renamed into place at the end, so an interrupted or killed scan never leaves a folder
that looks complete.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triage.analysis.vpdq import write_vpdq
from triage.errors import Interrupted
from triage.model.pending import LOAD, PendingRecords
from triage.model.record import FileRecord
from triage.model.store import RecordStore
from triage.reading import interrupts, reuse
from triage.reading.carving import carve_device
from triage.reading.children import Expanded
from triage.reading.direct import DirectReader
from triage.reading.intake import Intake, StopWalk
from triage.reading.listing import Listing, list_device, list_extraction
from triage.reading.mediapass import MediaPass
from triage.reading.pipeline import Reading, read_all
from triage.reading.plan import SpilledPlan, picture_order
from triage.reading.workers import fewer_collections
from triage.report.ahead import Ahead
from triage.results import VPDQ_FOLDER, safe_component, write_outputs
from triage.sources.containers import Evidence, open_evidence
from triage.sources.containers.verify import skipped, verification
from triage.sources.extractions.evidence import ExtractionEvidence, open_extraction
from triage.summary import now, summarise

if TYPE_CHECKING:
    from triage.known import HashSets

__all__ = ["Listing", "ScanSettings", "device_name", "list_device", "list_extraction", "safe_component", "scan_device"]

ProgressFn = Callable[[str, FileRecord | None, int], None]


@dataclass
class ScanSettings:
    """What the examiner chose; recorded in the summary so that a result can be reproduced."""

    hashsets: HashSets | None = None
    jobs: int = 1
    verify: bool = True
    first_hit: bool = False
    pictures_first: bool = False
    carve: bool = True  # carve unallocated space and the space outside partitions (--no-carve: skip)
    reuse: Path | None = None  # a quick scan's output folder whose read streams are not read again
    command: list[str] = field(default_factory=list)


def device_name(path: Path) -> str:
    """Output folder name for an evidence set: its first file's name without the extension.

    A name that would leave only "." or ".." (``...E01``) keeps its extension: the folder must be a child of
    the output folder, never the output folder itself or its parent.
    """
    name = path.name
    stem, dot, _ext = name.rpartition(".")
    return safe_component(stem if dot and stem and stem not in (".", "..") else name)


@fewer_collections
def scan_device(
    evidence_path: Path,
    out_root: Path,
    settings: ScanSettings,
    progress: ProgressFn | None = None,
    name: str | None = None,
    replaced: Callable[[Path], None] | None = None,
    stopped_in_place: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """Scan one evidence set into ``out_root/<name>/``; returns that folder and the summary.

    ``name`` defaults to the evidence file name without its extension, with ``-2``, ``-3``… when that folder
    holds another evidence's results; a given ``name`` is used as is (``write_outputs``' ``fixed_name``).
    Raises EvidenceError when the evidence is unusable, OutputError when the results cannot be written and
    Interrupted on Ctrl-C (after writing a partial summary marked incomplete into ``<name>.incomplete``).
    ``replaced`` is called with the folder when earlier results of the same evidence were replaced.
    A scan stopped at its first hit goes to ``<name>.incomplete`` unless ``stopped_in_place`` (``triage case
    --quick``, whose store records that the device still needs a full scan and links to its report).
    """
    started = now()
    clock = time.monotonic()
    evidence: Any = open_extraction(evidence_path) or open_evidence(evidence_path)
    extraction = isinstance(evidence, ExtractionEvidence)
    fixed_name = name is not None
    name = name or device_name(evidence.paths[0])
    listing = Listing.spilled(RecordStore(out_root, name))
    listing.clock = clock
    records = listing.records
    assert isinstance(records, PendingRecords)
    listed = False
    try:
        work = Reading(records, settings.jobs,
                       lambda index, record: _finish_record(listing, index, record, settings, progress),
                       lambda index, expanded: _add_children(listing, index, expanded, settings, progress),
                       listing.release)
        plan = SpilledPlan(records, work.handed_out)
        if work.pool is not None and not extraction:
            paths = [str(path) for path in evidence.paths]
            listing.store.ahead = Ahead(work.pool, listing.store.scratch(),
                                        lambda: {"evidence": {"paths": paths}, "volumes": listing.volumes})
        media = None if extraction else MediaPass(evidence, {}, settings.verify, threads=work.parallel,
                                                  spilled=plan)

        reusable: dict[str, Any] = {}
        if settings.reuse is not None:
            reusable, said = reuse.load(settings.reuse, settings.hashsets)
            listing.notes.append(said)

        add = Intake(listing, work, plan, DirectReader.of(evidence) if media is not None else None,
                     pictures_first=settings.pictures_first, first_hit=settings.first_hit, reusable=reusable)

        try:
            with interrupts.catching_ctrl_c():
                if media is not None:
                    if not settings.first_hit:  # a first-hit scan stops before the media is hashed: keep the core
                        media.hash_whole() if add.direct is not None else media.start_early()
                    try:
                        list_device(evidence, listing, add)
                    except StopWalk:
                        listing.notes.append("stopped at the first alert match while listing (--first-hit): "
                                             "later files were not listed")
                else:
                    list_extraction(evidence, listing)
                listed = True
                if progress:
                    progress("start", None, listing.total_bytes)
                stopped = _read_listed(work, records)
                if not stopped:
                    order = picture_order(records.picture_named) if settings.pictures_first else None
                    work.share(records.same_streams())
                    stopped = read_all(work, order, media)
                if not stopped and media is not None:
                    stopped = _carve(evidence, listing, settings, progress)
                interrupts.check()  # a Ctrl-C that a library callback turned into a read error stops here
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
            work.for_reports()
            if media is not None:
                media.close()
        summary = summarise(evidence, listing, settings, started, not stopped, verification,
                            "first hit" if stopped else None)
        try:
            target = write_outputs(out_root, name, listing, summary, complete=not stopped or stopped_in_place,
                                   pool=work.pool, fixed_name=fixed_name, replaced=replaced)
        finally:
            work.close(cancel=False)
    finally:
        listing.close()
        listing.store.close()
        for fs in listing.filesystems:
            fs.close()
        evidence.close()
    return target, summary


def _carve(evidence: Evidence, listing: Listing, settings: ScanSettings, progress: ProgressFn | None) -> bool:
    """Carve the device once every listed stream is read and matched (``read_all`` waited for the workers), so
    that carved items are compared with every allocated picture; True when --first-hit stopped the scan."""
    if not settings.carve:
        listing.carving = {"enabled": False}
        return False

    def finish(record: FileRecord) -> bool:
        stop = _finish_record(listing, -1, record, settings, progress)
        assert listing.store is not None
        listing.store.add(record)
        return stop

    carving, stopped = carve_device(evidence, listing, len(listing.records), finish)
    listing.carving = {"enabled": True, **carving.describe()}
    if carving.stats.limit:
        listing.limits.append({"volume": None, "fs": None, "limit": "carving", "value": None, "count": 1,
                               "effect": carving.stats.limit})
    return stopped


def _read_listed(work: Reading, records: PendingRecords) -> bool:
    """Records whose content the listing already read (a compressed tar is digested as it is walked): matched
    and expanded now, never read again. True when --first-hit stopped the scan."""
    work.handed_out.update(records.digested)
    for start in range(0, len(records.digested), LOAD):
        chunk = records.digested[start:start + LOAD].tolist()
        records.load(chunk)
        for index in chunk:
            pair = records[index]
            if pair is not None and work.finished(index, pair[0], None):
                return True
    return work.stopped


def _finish_record(
    listing: Listing, index: int, record: FileRecord, settings: ScanSettings, progress: ProgressFn | None
) -> bool:
    """Match a record just read and report progress; True stops the scan (--first-hit)."""
    if index in listing.reused:  # matched by the quick scan with the same sets (``reading.reuse``)
        _first_hit(listing, record)
    elif settings.hashsets is not None and (record.locator is not None or record.sha256 is not None):
        settings.hashsets.match(record)
        _first_hit(listing, record)
    if record.md5 and record.origin != "carved" and (record.is_picture or record.is_video):
        state = "allocated" if record.allocated else "deleted"
        known = listing.allocated_media.get(record.md5)
        if known is None or (state == "allocated" and not known.startswith("allocated")):
            listing.allocated_media[record.md5] = f"{state} file {record.location or record.path}"
    if progress:
        progress("record", record, record.size if record.locator is not None else 0)
    return settings.first_hit and bool(record.matches)


def _first_hit(listing: Listing, record: FileRecord) -> None:
    """Note when the scan met its first alert match: how fast a device is ranked (``triage case --quick``)."""
    if record.matches and listing.first_hit_after is None:
        listing.first_hit_after = round(time.monotonic() - listing.clock, 3)


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
    record.notes.extend(note for note in expanded.notes if note not in record.notes)
    if expanded.origin == "video":
        return _video_done(listing, record, expanded, settings)
    archive = expanded.origin == "archive"
    listing.archives += archive
    for hit in expanded.limits:
        listing.limits.append({"volume": record.volume, "fs": record.fs,
                               "limit": f"archive {hit.get('limit')}" if archive else hit.get("limit"),
                               "value": hit.get("value"), "count": 1,
                               "effect": f"{hit.get('effect')} ({hit.get('archive')})" if archive
                               else hit.get("effect")})
    stop = False
    for child in expanded.children:
        stop = stop or _finish_record(listing, -1, child, settings, progress)
        listing.store.add(child)
    return stop


def _video_done(listing: Listing, record: FileRecord, expanded: Expanded, settings: ScanSettings) -> bool:
    """A video's frames: matched against pictures and known videos, written as its vPDQ signature, counted.

    True when --first-hit stops at a match found in the video."""
    for hit in expanded.limits:
        listing.limits.append({"volume": record.volume, "fs": record.fs, "limit": hit.get("limit"),
                               "value": hit.get("value"), "count": 1, "effect": hit.get("effect")})
    result = expanded.video
    videos = listing.videos
    if result is None:
        videos["not_decoded"] += 1
        return False
    videos["decoded"] += 1
    videos["frames"] += len(result.frames)
    videos["seconds"] += result.duration or 0.0
    if result.error:
        record.errors.append(f"video: {result.error}")
    record.notes.extend(note for note in result.notes if note not in record.notes)
    for text in result.limits:
        listing.limits.append({"volume": record.volume, "fs": record.fs, "limit": "video", "value": None,
                               "count": 1, "effect": f"{text} ({record.location or record.path})"})
    if result.frames:
        assert listing.store is not None
        folder = listing.store.scratch() / VPDQ_FOLDER
        folder.mkdir(exist_ok=True)
        write_vpdq(result.frames, folder / f"{record.id}.txt")
        record.notes.append(f"vPDQ signature: {VPDQ_FOLDER}/{record.id}.txt ({len(result.frames)} frames)")
    if settings.hashsets is not None and result.frames:
        before = len(record.matches)
        settings.hashsets.match_video(record, [(f.number, f.time, f.pdq, f.quality, f.pdq_dihedral)
                                               for f in result.frames])
        _first_hit(listing, record)
        return settings.first_hit and len(record.matches) > before
    return False


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
