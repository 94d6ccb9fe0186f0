"""Listing a device: evidence → volumes → file systems → records, each record spilled to disk as it is listed.

The walk lists every stream before reading (cheap: metadata only), so that the progress bar knows the total
bytes and the media pass knows where every stream lies. The records wait on disk (``PendingRecords``) until read:
a device's listing must not be held in memory (issue 13, bounded memory). A listing made without a record store
(tests, small tools) keeps its records in a plain list.
"""

from __future__ import annotations

import itertools
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from triage.errors import EvidenceError
from triage.model.pending import LOAD, PendingRecords
from triage.model.record import FileRecord
from triage.model.store import RecordStore
from triage.reading import interrupts
from triage.reading.peeling import Device, Pending
from triage.reading.plan import media_flag
from triage.sources.containers import Evidence, detect
from triage.sources.containers.detect import archive_kind
from triage.sources.extractions.evidence import ExtractionEvidence
from triage.sources.filesystems import FileSystem, guess_signature
from triage.sources.volumes import find_volumes

Listed = Callable[[FileRecord, FileSystem], None]  # takes each record as listed (its id set) and adds it


@dataclass
class Listing:
    """Everything the walk found; a record leaves it (None) once finished and in ``store``."""

    records: PendingRecords | list[tuple[FileRecord, FileSystem] | None]
    volumes: list[dict[str, Any]]
    errors: list[str]
    filesystems: list[FileSystem] = field(default_factory=list)
    limits: list[dict[str, Any]] = field(default_factory=list)  # bounds that stopped an archive or extraction
    archives: int = 0  # archives expanded into child records
    encryption: list[dict[str, Any]] = field(default_factory=list)  # every encrypted layer, unlocked or not
    layers: list[dict[str, Any]] = field(default_factory=list)  # volume managers (LVM2) and what they hold
    snapshots: list[dict[str, Any]] = field(default_factory=list)  # volume shadow copies
    store: RecordStore | None = None  # finished records (files.jsonl lines) and the summary's counts
    layout: Any = None  # the partition table (``VolumeLayout``) of a device; carving looks outside it
    allocated_media: dict[str, str] = field(default_factory=dict)  # md5 -> "allocated|deleted file <location>"
    reused: set[int] = field(default_factory=set)  # listing indices filled from a quick scan (reading.reuse)
    notes: list[str] = field(default_factory=list)  # facts about the scan as a whole (summary ``notes``)
    carving: dict[str, Any] | None = None  # the summary's ``carving`` (None: not reached, e.g. an extraction)
    videos: Counter[str] = field(default_factory=lambda: Counter(decoded=0, not_decoded=0, frames=0, seconds=0.0))
    clock: float = 0.0  # time.monotonic() when the scan started; the summary's ``first_hit_after`` counts from it
    first_hit_after: float | None = None  # seconds from the start of the scan to its first alert match

    @classmethod
    def spilled(cls, store: RecordStore) -> Listing:
        """A listing whose records wait in ``store``'s scratch folder until read."""
        return cls(PendingRecords(store.scratch, store.error), [], [], store=store)

    @property
    def total_bytes(self) -> int:
        if isinstance(self.records, PendingRecords):
            return self.records.total_bytes
        return sum(pair[0].size for pair in self.records if pair is not None and pair[0].locator is not None)

    def add(self, record: FileRecord, fs: FileSystem, extension: str | None = None) -> int:
        """Add a record just listed; returns its index (its ``id``). ``extension``: the record's, when known."""
        if isinstance(self.records, PendingRecords):
            return self.records.append(record, fs, media_flag(record.extension if extension is None else extension))
        self.records.append((record, fs))
        return len(self.records) - 1

    def release(self, index: int) -> None:
        """Store the record at ``index`` and drop it from memory (once: a second call does nothing)."""
        if isinstance(self.records, PendingRecords):
            pair = self.records.release(index)
        else:
            pair, self.records[index] = self.records[index], None
        if pair is not None:
            assert self.store is not None
            self.store.add(pair[0])

    def release_all(self) -> None:
        """Store every record still held (not read: stopped or interrupted), before the summary is made."""
        if not isinstance(self.records, PendingRecords):
            for index in range(len(self.records)):
                self.release(index)
            return
        left = self.records.unreleased()
        while chunk := list(itertools.islice(left, LOAD)):
            self.records.load(chunk)
            for index in chunk:
                self.release(index)

    def close(self) -> None:
        if isinstance(self.records, PendingRecords):
            self.records.close()


def list_device(evidence: Evidence, listing: Listing | None = None, listed: Listed | None = None) -> Listing:
    """Open every volume's file system and list its streams; volume problems are recorded, not raised.

    The listing is filled as the walk goes (into ``listing`` when given), so that a Ctrl-C during a long walk
    still leaves what was listed so far for the partial summary; ``listed`` (default: ``listing.add``) adds each
    new record (the scan plans its reading and hands out pictures while the walk goes on).
    """
    listing = listing if listing is not None else Listing([], [], [])
    device = Device(listing, listed or listing.add)
    layout = listing.layout = find_volumes(evidence)
    queue: deque[Pending] = deque()
    for slot in layout.slots:
        info = slot.describe()
        info.update({"scheme": layout.scheme, "fs": None, "label": None, "files": 0, "errors": []})
        listing.volumes.append(info)
        if slot.role == "partition":
            queue.append(Pending(evidence, slot, info))
    device.next_index = max([s.index for s in layout.slots if s.index is not None], default=-1) + 1
    while queue:
        item = queue.popleft()
        queue.extend(device.volume(item))
    if (not listing.filesystems and not listing.encryption and not listing.layers and layout.scheme == "none"
            and evidence.format in ("raw", "split_raw")):
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


def list_extraction(evidence: ExtractionEvidence, listing: Listing) -> Listing:
    """List a logical extraction: one lister, no volumes; its problems and bounds go to the summary."""
    source = evidence.extraction
    listing.filesystems.append(source)
    for record in source.walk():
        interrupts.check()
        record.id = str(len(listing.records))
        listing.add(record, source)
    interrupts.check()
    listing.errors.extend(f"extraction: {problem}" for problem in source.errors)
    listing.limits.extend({"volume": None, "fs": source.kind, "limit": "extraction", "value": None, "count": 1,
                           "effect": text} for text in source.limits)
    return listing
