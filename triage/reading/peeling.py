"""One volume of a device at a time, from a queue: a storage layer found on it is peeled and the volumes it serves
(decrypted, logical, shadow copies) go back on the queue; a file system found on it is walked.

Why a queue: layers nest (LUKS inside an LVM logical volume, BitLocker inside a partition) and each step stays
small and flat; the summary lists every volume in the order it was met, each layer's volumes naming their parent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from triage.errors import VolumeError
from triage.model.record import FileRecord
from triage.reading import interrupts
from triage.sources.filesystems import FileSystem, guess_signature, open_filesystem
from triage.sources.volumes import Volume, entropy, shadow
from triage.sources.volumes.layers import identify
from triage.sources.volumes.media import LayerMedia
from triage.sources.volumes.secrets import scrub


@dataclass
class Pending:
    """A volume waiting to be opened: the media it lies on, where, and its summary entry."""

    media: Any  # Evidence or LayerMedia
    slot: Volume
    info: dict[str, Any]
    snapshot: int | None = None  # the shadow copy number (1 = oldest) when this volume is one
    live: set[int] | None = None  # fingerprints of the live volume's files (snapshots keep only what differs)


class Device:
    """What the queue adds to the listing besides records: layer entries, snapshot entries, new volumes."""

    def __init__(self, listing: Any, add: Callable[[FileRecord, FileSystem], Any]) -> None:
        self.listing, self.add = listing, add
        indices = [v["index"] for v in listing.volumes if isinstance(v.get("index"), int)]
        self.next_index = max(indices, default=-1) + 1

    def new_volume(self, parent: dict[str, Any], description: str, media: LayerMedia, layer: str) -> Pending:
        index = self.next_index
        self.next_index += 1
        slot = Volume(index, 0, media.media_size, description, "partition")
        info = slot.describe()
        info.update({"scheme": media.format, "parent": parent["index"], "layer": layer, "fs": None, "label": None,
                     "files": 0, "errors": []})
        self.listing.volumes.append(info)
        return Pending(media, slot, info)

    def volume(self, item: Pending) -> Iterator[Pending]:
        """Open one volume: peel a layer (yielding the volumes it serves) or walk its file system."""
        media, slot, info = item.media, item.slot, item.info
        where = f"volume {slot.index}" if slot.index is not None else "media"
        if slot.offset >= media.media_size:
            self._error(info, where, slot, "partition starts past the end of the media")
            return
        layer = identify(media, slot.offset, slot.size) if item.snapshot is None else None
        if layer is not None:
            try:
                peeled = layer.peel(media, slot.offset, slot.size)
            except VolumeError as exc:
                info["signature"] = layer.name
                self._error(info, where, slot, scrub(str(exc)))
                return
            info["layer_found"] = peeled.entry["scheme"]
            info.setdefault("notes", []).extend(peeled.notes)
            target = self.listing.encryption if peeled.layer == "encryption" else self.listing.layers
            target.append({"volume": slot.index, **peeled.entry})
            for description, child in peeled.children:
                yield self.new_volume(info, description, child, peeled.entry["scheme"])
            return
        try:
            fs = open_filesystem(media, slot)
        except VolumeError as exc:
            info["signature"] = guess_signature(media, slot)
            self._error(info, where, slot, str(exc))
            if info["signature"] is None:
                self._headerless(media, slot, info)
            return
        self.listing.filesystems.append(fs)
        self.listing.encryption.extend(getattr(fs, "encryption", ()))  # encrypted APFS volumes
        info["fs"], info["label"] = fs.name, fs.label
        stores: list[Pending] = []
        if item.snapshot is None and fs.name == "ntfs" and shadow.has_snapshots(media, slot.offset, slot.size):
            stores = self._snapshots(item)
        live = set() if stores else None
        try:
            self._walk(item, fs, live)
        finally:
            info["notes"] = [*info.get("notes", []), *fs.notes]
        for store in stores:
            store.live = live
            yield store

    def _walk(self, item: Pending, fs: FileSystem, live: set[int] | None) -> None:
        info, listing = item.info, self.listing
        kept = same = 0
        for record in fs.walk():
            interrupts.check()
            if live is not None:
                live.add(fingerprint(record))
            if item.snapshot is not None:
                if item.live is not None and fingerprint(record) in item.live:
                    same += 1
                    continue
                record.origin, record.snapshot = "snapshot", item.snapshot
                record.location = f"shadow copy {item.snapshot} » {record.path}"
                kept += 1
            record.id = str(len(listing.records))
            self.add(record, fs)
            info["files"] += 1
        interrupts.check()
        if item.snapshot is not None:
            for entry in listing.snapshots:
                if entry["volume"] == info["parent"] and entry["snapshot"] == item.snapshot:
                    entry.update(listed=kept, unchanged=same)

    def _snapshots(self, item: Pending) -> list[Pending]:
        try:
            entries, children = shadow.snapshots(item.media, item.slot.offset, item.slot.size)
        except VolumeError as exc:
            item.info["errors"].append(str(exc))
            self.listing.errors.append(f"volume {item.slot.index}: {exc}")
            return []
        out = []
        for entry, (description, media) in zip(entries, children, strict=True):
            self.listing.snapshots.append({"volume": item.slot.index, **entry, "listed": 0, "unchanged": 0})
            pending = self.new_volume(item.info, description, media, "volume shadow copy")
            pending.snapshot = entry["snapshot"]
            out.append(pending)
        return out

    def _headerless(self, media: Any, slot: Volume, info: dict[str, Any]) -> None:
        lowest = entropy.looks_encrypted(lambda off, size: media.read(slot.offset + off, size), slot.size)
        if lowest is not None:
            info["signature"] = entropy.describe(lowest)
            info.setdefault("notes", []).append(entropy.describe(lowest))
            self.listing.encryption.append({"volume": slot.index, "scheme": "unknown (headerless)", "unlocked": False,
                                            "how": "not decrypted: no header to unlock", "entropy": lowest})

    def _error(self, info: dict[str, Any], where: str, slot: Volume, text: str) -> None:
        info["errors"].append(text)
        self.listing.errors.append(f"{where} at offset {slot.offset}: {text}")


def fingerprint(record: FileRecord) -> int:
    """What makes a snapshot's file "the same" as a live one: path, stream, size, modified and changed times."""
    times = record.times
    key = f"{record.path}\0{record.size}\0{times.get('modified')}\0{times.get('changed')}"
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8", "surrogateescape"), digest_size=8).digest(), "big")

