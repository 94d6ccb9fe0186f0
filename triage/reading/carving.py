"""Carving on a scanned device: pictures and videos in unallocated space and outside every partition.

Why after the read and in the calling process: carving needs each file system's allocation map (read once the
walk is done) and its items are few next to a device's files; the signature search runs in C at hundreds of MB/s,
so one process keeps up. It reads the unallocated ranges again rather than inside the media pass (not this
round: the pass serves file runs, and a second read of free space costs a fraction of a full read on a used disk;
bench/RESULTS.md). Only contiguous items are found; every carved item is a record of origin ``carved`` whose
``byte_runs`` give its media offsets, hashed and matched like any picture, with its EXIF thumbnail as a child.
A carved item whose md5 equals a listed picture's or video's is kept and marked with that file's location
("same content as allocated file …", or "deleted file …": a deleted file's clusters are unallocated, so carving
finds its bytes again; the note keeps it from being counted as a second copy).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from triage.analysis.digests import digest_record
from triage.defaults import carve_time_budget
from triage.errors import TriageError, one_line
from triage.model.record import FileRecord
from triage.reading import interrupts
from triage.reading.embedded import adopt, picture_record
from triage.sources.carving.carver import Carved, CarveLimits, CarveStats, carve
from triage.sources.carving.outside import outside_extents
from triage.sources.carving.unallocated import unallocated_extents
from triage.sources.containers.verify import FREE_HASH_BYTES, SPARSE_RATIO, unhashed_reason
from triage.sources.filesystems.tsk import TskFileSystem

Read = Callable[[int, int], bytes]
CHUNK = 8 << 20  # bytes per read when hashing a carved video too large to hold in memory
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/bmp": "bmp", "image/webp": "webp",
              "image/heic": "heic", "image/heif": "heif", "image/avif": "avif", "video/mp4": "mp4",
              "video/quicktime": "mov", "video/3gpp": "3gp"}


@dataclass
class Area:
    """One stretch of a device to carve: a file system's free space, or the space outside the partitions."""

    label: str  # for people: "unallocated space of volume 0 (ntfs)"
    volume: int | None
    fs: str
    read: Read
    ranges: list[tuple[int, int]]
    on_media: bool  # offsets are the evidence's (else a decrypted layer's: no media byte runs)


@dataclass
class Carving:
    """What carving did on one device, for the summary's ``carving`` object."""

    stats: CarveStats = field(default_factory=CarveStats)
    areas: list[str] = field(default_factory=list)
    not_carved: list[str] = field(default_factory=list)
    duplicates: int = 0

    def describe(self) -> dict[str, Any]:
        s = self.stats
        return {
            "contiguous_only": True,
            "areas": self.areas,
            "not_carved": self.not_carved,
            "bytes_scanned": s.scanned,
            "headers": dict(sorted(s.headers.items())),
            "kept": dict(sorted(s.kept.items())),
            "inside_kept_items": dict(sorted(s.inside.items())),
            "dropped": {sig: dict(sorted(reasons.items())) for sig, reasons in sorted(s.dropped.items())},
            "same_as_listed_file": self.duplicates,  # carved items whose md5 is a listed (allocated or deleted) file's
            "read_errors": s.error_count,
        }


def areas(evidence: Any, listing: Any, carving: Carving) -> Iterator[Area]:
    """Every file system's unallocated space that can be mapped, then the media outside every partition."""
    for fs in listing.filesystems:
        where = f"volume {fs.volume}" if fs.volume is not None else "the media"
        if not isinstance(fs, TskFileSystem):
            carving.not_carved.append(f"{where} ({fs.name}): unallocated space of {fs.name} not mapped")
            continue
        extents = unallocated_extents(fs)
        if extents.reason:
            carving.not_carved.append(f"{where} ({fs.name}): {extents.reason}")
            continue
        label = f"unallocated space of {where} ({fs.name})"
        carving.areas.append(f"{label}: {extents.total_free} bytes in {len(extents.ranges)} ranges")
        yield Area(label, fs.volume, fs.name, fs.image.read, extents.ranges, fs.on_media)
    layout = getattr(listing, "layout", None)
    if layout is not None and layout.partitions:
        extents = outside_extents(layout, evidence.media_size, evidence.read)
        if extents.ranges:
            carving.areas.append(f"outside every partition: {extents.total_free} bytes in {len(extents.ranges)} ranges")
            yield Area("outside every partition", None, "", evidence.read, extents.ranges, True)


def _hash_large(record: FileRecord, read: Read, item: Carved) -> None:
    """Digests of an item too large to hold (a carved video), read from the media in chunks."""
    def chunks() -> Iterator[bytes]:
        for start in range(item.offset, item.offset + item.length, CHUNK):
            yield read(start, min(CHUNK, item.offset + item.length - start))
    digest_record(record, chunks(), keep_pictures=False)


def carved_record(area: Area, item: Carved, number: int) -> list[FileRecord]:
    """The record of one carved item (and its EXIF thumbnail), id ``number``."""
    name = f"{item.offset}.{EXTENSIONS.get(item.type, 'bin')}"
    if item.data is not None:
        record = picture_record(name, item.data, "carved")
    else:
        record = FileRecord(name, None, "", None, item.length, False)
        record.origin = "carved"
        try:
            _hash_large(record, area.read, item)
        except (TriageError, OSError) as exc:
            record.errors.append(f"carved item not read: {one_line(exc)}")
    record.id, record.path = str(number), f"$Carved/{name}"
    record.volume, record.fs, record.allocated = area.volume, area.fs, False
    record.location = f"{area.label} » {name}"
    record.size = item.length
    if item.note:
        record.notes.append(item.note)
    if area.on_media:
        record.byte_runs = [(0, item.offset, item.length)]
    else:
        record.byte_runs = None
        record.notes.append(f"at offset {item.offset} of the decrypted volume (not an evidence offset)")
    inner, record.embedded = record.embedded, None
    return [record, *adopt(record, inner)] if inner else [record]


def _interruptible(read: Read) -> Read:
    """``read``, then a Ctrl-C check: a KeyboardInterrupt raised inside the image library's callback comes out as
    a read error, which the carver records and goes past; the flag makes it stop the scan (``interrupts``)."""
    def checked(offset: int, size: int) -> bytes:
        try:
            return read(offset, size)
        finally:
            interrupts.check()

    return checked


def budgets(evidence: Any) -> CarveLimits:
    """The device's carving bounds: the time budget, and for a sparse container without stored hashes (a 1 PB
    QCOW2 of 200 KB) the same byte budget the media hash keeps to, since what it never stored is zeros."""
    max_bytes = None
    if unhashed_reason(evidence) is not None:
        max_bytes = SPARSE_RATIO * evidence.stored_bytes + FREE_HASH_BYTES
    return CarveLimits(max_bytes=max_bytes, deadline=time.monotonic() + carve_time_budget())


def carve_device(evidence: Any, listing: Any, first_id: int, finish: Callable[[FileRecord], bool],
                 limits: CarveLimits | None = None) -> tuple[Carving, bool]:
    """Carve every area of the device; each record goes to ``finish`` (match and store). True: --first-hit stop."""
    limits = limits or budgets(evidence)
    carving = Carving()
    number = first_id
    known = listing.allocated_media
    for area in areas(evidence, listing, carving):
        interrupts.check()
        if carving.stats.limit:
            carving.not_carved.append(f"{area.label}: not carved ({carving.stats.limit})")
            continue
        for item in carve(_interruptible(area.read), area.ranges, limits, carving.stats):
            interrupts.check()
            records = carved_record(area, item, number)
            number += 1
            same = known.get(records[0].md5 or "")
            if same is not None:
                records[0].notes.append(f"same content as {same}")
                carving.duplicates += 1
            for record in records:
                if finish(record):
                    return carving, True
    return carving, False
