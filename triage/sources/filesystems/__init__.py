"""File systems: open whatever a volume holds, or say what it probably is when it cannot be opened.

``open_filesystem`` tries The Sleuth Kit first, then APFS (by its container signature). A volume that neither
opens is reported with a signature guess (BitLocker, LUKS, …) so that an encrypted disk is never mistaken for
an empty one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from triage.errors import VolumeError
from triage.model.locator import Locator
from triage.model.record import FileRecord
from triage.sources.containers import Evidence
from triage.sources.filesystems.apfs import APFS_MAGIC, ApfsFileSystem
from triage.sources.filesystems.tsk import TskFileSystem
from triage.sources.registry import register
from triage.sources.signatures import SIGNATURE_SPAN, volume_signature
from triage.sources.volumes import Volume
from triage.sources.volumes.media import LayerMedia, media_locator


class FileSystem(Protocol):
    """What the scan needs of anything that lists streams: file systems and logical extractions alike."""

    kind: str
    name: str
    label: str | None
    offset: int
    size: int
    volume: int | None
    notes: list[str]
    locator: Locator | None

    def walk(self) -> Iterator[FileRecord]: ...

    def read_stream(self, locator: Locator, size: int) -> Iterator[bytes]: ...

    def close(self) -> None: ...


def _tsk(locator: Locator, evidence: Evidence) -> TskFileSystem:
    offset, size, volume = locator.args
    fs = TskFileSystem(evidence.img, int(offset), volume, int(size))  # type: ignore[arg-type]
    fs.locator = locator
    fs.on_media = not isinstance(evidence, LayerMedia)  # a layer's offsets are not the evidence's
    return fs


def _apfs(locator: Locator, evidence: Evidence) -> ApfsFileSystem:
    offset, size, volume = locator.args
    fs = ApfsFileSystem(evidence.reader, int(offset), int(size), volume)  # type: ignore[arg-type]
    fs.locator = locator
    return fs


register("tsk-fs", _tsk)
register("apfs-fs", _apfs)


def guess_signature(evidence: Evidence, volume: Volume) -> str | None:
    """Name the first known signature found at the start of the volume, if any."""
    try:
        head = evidence.read(volume.offset, min(volume.size, SIGNATURE_SPAN)) if volume.size else b""
    except OSError as exc:  # a damaged EWF chunk or an I/O error: nothing to guess from
        return f"unreadable ({exc})"
    label = volume_signature(head)
    if label:
        return label
    if head and head.count(0) == len(head):
        return "all zeros (wiped or never written)"
    return None


def open_filesystem(evidence: Evidence, volume: Volume) -> FileSystem:
    """Open the file system of ``volume``; raises VolumeError naming what was found instead."""
    try:
        head = evidence.read(volume.offset + 32, 4)
    except OSError as exc:
        raise VolumeError(f"volume start unreadable: {exc}") from None
    kind = "apfs-fs" if head == APFS_MAGIC else "tsk-fs"
    locator = Locator(kind, (volume.offset, volume.size, volume.index), media_locator(evidence))
    try:
        return _apfs(locator, evidence) if kind == "apfs-fs" else _tsk(locator, evidence)
    except VolumeError as exc:
        if kind == "apfs-fs":
            raise
        guess = guess_signature(evidence, volume)
        if guess:
            raise VolumeError(f"no file system opened; signature suggests: {guess}") from None
        raise VolumeError(str(exc)) from None
