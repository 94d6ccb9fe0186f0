"""Volume shadow copies (Windows VSS) through libvshadow: each snapshot of an NTFS volume is a volume whose files
are compared with the live volume's; those that differ or are gone from it become records of origin "snapshot".

Why keep only those: a snapshot repeats most of the live volume; the older copy of a deleted or changed picture
is what an examiner needs from it, and listing every unchanged file again would double the work and the report.
"""

from __future__ import annotations

from typing import Any

import pyvshadow

from triage.errors import VolumeError, one_line
from triage.model.locator import Locator
from triage.sources.registry import register
from triage.sources.volumes.layers import slice_of
from triage.sources.volumes.media import LayerMedia, LibyalReader, media_locator

KIND = "vss"


def _open(media: Any, offset: int, size: int) -> Any:
    volume = pyvshadow.volume()
    try:
        volume.open_file_object(slice_of(media, offset, size))
    except (OSError, ValueError) as exc:
        raise VolumeError(f"volume shadow copies could not be read ({one_line(exc, last=True)})") from None
    return volume


def has_snapshots(media: Any, offset: int, size: int) -> bool:
    try:
        return bool(pyvshadow.check_volume_signature_file_object(slice_of(media, offset, size)))
    except (OSError, ValueError):
        return False


def snapshots(media: Any, offset: int, size: int) -> tuple[list[dict[str, Any]], list[tuple[str, LayerMedia]]]:
    """The summary entries of the volume's shadow copies (oldest first, as Windows numbers them) and their media."""
    volume = _open(media, offset, size)
    entries, children = [], []
    for index in range(int(volume.get_number_of_stores())):
        store = volume.get_store(index)
        created = store.get_creation_time()
        entry = {"snapshot": index + 1, "identifier": str(store.get_identifier()),
                 "created": created.strftime("%Y-%m-%dT%H:%M:%SZ") if created is not None else None,
                 "size": int(store.get_volume_size())}
        entries.append(entry)
        locator = Locator(KIND, (offset, size, index), media_locator(media))
        children.append((f"volume shadow copy {index + 1} (created {entry['created']})",
                         LayerMedia(KIND, LibyalReader(store, int(store.get_volume_size()), owner=volume), media,
                                    locator)))
    return entries, children


def _reopen(locator: Locator, parent: Any) -> LayerMedia:
    offset, size, index = locator.args
    volume = _open(parent, int(offset), int(size))
    store = volume.get_store(int(index))  # type: ignore[arg-type]
    return LayerMedia(KIND, LibyalReader(store, int(store.get_volume_size()), owner=volume), parent, locator)


register(KIND, _reopen)
