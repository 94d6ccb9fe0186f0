"""File systems: open whatever a volume holds, or say what it probably is when it cannot be opened.

``open_filesystem`` tries The Sleuth Kit first, then APFS (by its container signature). A volume that neither
opens is reported with a signature guess (BitLocker, LUKS, …) so that an encrypted disk is never mistaken for
an empty one.
"""

from __future__ import annotations

from triage.errors import VolumeError
from triage.sources.containers import Evidence
from triage.sources.filesystems.apfs import APFS_MAGIC, ApfsFileSystem
from triage.sources.filesystems.tsk import TskFileSystem
from triage.sources.signatures import SIGNATURE_SPAN, volume_signature
from triage.sources.volumes import Volume

FileSystem = TskFileSystem | ApfsFileSystem

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
    if head == APFS_MAGIC:
        return ApfsFileSystem(evidence.reader, volume.offset, volume.size, volume.index)
    try:
        return TskFileSystem(evidence.img, volume.offset, volume.index, volume.size)
    except VolumeError as exc:
        guess = guess_signature(evidence, volume)
        if guess:
            raise VolumeError(f"no file system opened; signature suggests: {guess}") from None
        raise VolumeError(str(exc)) from None
