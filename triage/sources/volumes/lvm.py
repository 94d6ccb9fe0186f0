"""LVM2 through libvslvm: every logical volume of the volume group on a physical volume becomes a volume.

A volume group spanning several physical volumes is read from the one in the evidence; what lies on the others
is missing, and the summary says so.
"""

from __future__ import annotations

from typing import Any

import pyvslvm

from triage.errors import VolumeError, one_line
from triage.model.locator import Locator
from triage.sources.registry import register
from triage.sources.volumes.layers import Peeled, register_layer, slice_of
from triage.sources.volumes.media import LayerMedia, LibyalReader, media_locator

KIND = "lvm"


def _open(media: Any, offset: int, size: int) -> tuple[Any, Any]:
    handle = pyvslvm.handle()
    try:
        handle.open_file_object(slice_of(media, offset, size))
        handle.open_physical_volume_files_as_file_objects([slice_of(media, offset, size)])
        return handle, handle.get_volume_group()
    except (OSError, ValueError) as exc:
        raise VolumeError(f"LVM2 physical volume could not be opened ({one_line(exc, last=True)})") from None


class Lvm:
    name = "LVM2"

    def detect(self, media: Any, offset: int, size: int) -> bool:
        head = media.reader.read(offset, 2048)
        return any(head[s : s + 8] == b"LABELONE" and head[s + 24 : s + 32] == b"LVM2 001"
                   for s in range(0, 2048, 512))

    def peel(self, media: Any, offset: int, size: int) -> Peeled:
        handle, group = _open(media, offset, size)
        count = int(group.get_number_of_logical_volumes())
        pvs = int(group.get_number_of_physical_volumes())
        entry: dict[str, Any] = {"scheme": "LVM2", "volume_group": group.get_name(),
                                 "identifier": group.get_identifier(), "physical_volumes": pvs,
                                 "logical_volumes": []}
        peeled = Peeled("lvm", entry)
        if pvs > 1:
            peeled.notes.append(f"LVM2 volume group {group.get_name()!r} spans {pvs} physical volumes; only this one "
                                "is read: extents on the others read as errors")
        for index in range(count):
            lv = group.get_logical_volume(index)
            lv_size = int(lv.get_size())
            entry["logical_volumes"].append({"name": lv.get_name(), "size": lv_size,
                                             "identifier": lv.get_identifier()})
            locator = Locator(KIND, (offset, size, index), media_locator(media))
            peeled.children.append((f"LVM2 logical volume {group.get_name()}/{lv.get_name()}",
                                    LayerMedia(KIND, LibyalReader(lv, lv_size, owner=handle), media, locator)))
        return peeled


def _reopen(locator: Locator, parent: Any) -> LayerMedia:
    offset, size, index = locator.args
    handle, group = _open(parent, int(offset), int(size))
    lv = group.get_logical_volume(int(index))  # type: ignore[arg-type]
    return LayerMedia(KIND, LibyalReader(lv, int(lv.get_size()), owner=handle), parent, locator)


register_layer(Lvm())
register(KIND, _reopen)
