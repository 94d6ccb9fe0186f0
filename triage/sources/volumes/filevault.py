"""FileVault 2 on Core Storage (OS X 10.7 to 10.12) through libfvde: each logical volume of the volume group is
unlocked with the held passwords or recovery keys and becomes a volume.

(FileVault on APFS is an encrypted APFS volume: ``filesystems/apfs.py`` unlocks those.)
"""

from __future__ import annotations

from typing import Any

import pyfvde

from triage.errors import VolumeError, one_line
from triage.model.locator import Locator
from triage.sources.registry import register
from triage.sources.volumes.layers import Peeled, register_layer, slice_of
from triage.sources.volumes.media import LayerMedia, LibyalReader, media_locator
from triage.sources.volumes.secrets import held, scrub

KIND = "fvde"
SETTERS = {
    "recovery key": lambda lv, key: lv.set_recovery_password(key),
    "password": lambda lv, password: lv.set_password(password),
}


def _open(media: Any, offset: int, size: int) -> Any:
    volume = pyfvde.volume()
    try:
        volume.open_file_object(slice_of(media, offset, size))
        return volume
    except (OSError, ValueError) as exc:
        raise VolumeError(f"Core Storage volume could not be opened ({scrub(one_line(exc, last=True))})") from None


def _unlock(volume: Any, index: int, only: tuple[str, int] | None = None) -> tuple[Any, str | None, str]:
    """(logical volume, which secret opened it "kind:n" or None, how for people)."""
    lv = volume.get_volume_group().get_logical_volume(index)
    if not lv.is_locked():
        return lv, "clear", "not protected"
    tried = 0
    for how, setter in SETTERS.items():
        for n, value in enumerate(held().of(how)):
            if only is not None and only != (how, n):
                continue
            tried += 1
            try:
                setter(lv, value)
                if lv.unlock() and not lv.is_locked():
                    return lv, f"{how}:{n}", f"{how} {n + 1}"
            except (OSError, ValueError, TypeError):
                continue
    return lv, None, (f"locked: none of the {tried} secrets given opened it" if tried
                      else "locked: no password or recovery key given (--password, --recovery-key)")


class FileVault:
    name = "FileVault 2"

    def detect(self, media: Any, offset: int, size: int) -> bool:
        return bool(pyfvde.check_volume_signature_file_object(slice_of(media, offset, size)))

    def peel(self, media: Any, offset: int, size: int) -> Peeled:
        volume = _open(media, offset, size)
        group = volume.get_volume_group()
        entry: dict[str, Any] = {"scheme": "FileVault 2 (Core Storage)", "unlocked": False, "how": None,
                                 "identifier": str(group.get_identifier() or "") or None, "logical_volumes": []}
        peeled = Peeled("encryption", entry)
        for index in range(int(group.get_number_of_logical_volumes())):
            lv, which, how = _unlock(volume, index)
            name = lv.get_name() or f"logical volume {index}"
            entry["logical_volumes"].append({"name": name, "unlocked": which is not None, "how": how})
            if which is None:
                continue
            locator = Locator(KIND, (offset, size, f"{index}/{which}"), media_locator(media))
            peeled.children.append((f"FileVault 2 {name} (unlocked, {how})",
                                    LayerMedia(KIND, LibyalReader(lv, int(lv.get_size()), owner=volume), media,
                                               locator)))
        unlocked = [lv for lv in entry["logical_volumes"] if lv["unlocked"]]
        entry["unlocked"] = bool(unlocked) and len(unlocked) == len(entry["logical_volumes"])
        entry["how"] = ", ".join(lv["how"] for lv in entry["logical_volumes"]) or "no logical volume"
        return peeled


def _reopen(locator: Locator, parent: Any) -> LayerMedia:
    offset, size, which = locator.args
    index_text, _, secret = str(which).partition("/")
    volume = _open(parent, int(offset), int(size))
    only = None
    if secret != "clear":
        how, _, n = secret.rpartition(":")
        only = (how, int(n))
    lv, opened, how = _unlock(volume, int(index_text), only)
    if opened is None:
        raise VolumeError(f"FileVault 2 logical volume {index_text} could not be unlocked again ({how})")
    return LayerMedia(KIND, LibyalReader(lv, int(lv.get_size()), owner=volume), parent, locator)


register_layer(FileVault())
register(KIND, _reopen)
