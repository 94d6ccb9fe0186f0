"""Storage layers between a volume and its file system: each format is one small module that registers itself.

A layer (BitLocker, LUKS, FileVault 2, LVM2, volume shadow copies) is recognised from the volume's bytes and
*peeled*: it yields the summary's entry for it (``encryption``, ``layers``, ``snapshots``) and the media it serves
(a decrypted volume, each logical volume, each shadow copy), which go back on the listing's queue as volumes of
their own. Each module also registers its locator kind, so a worker reopens a peeled layer from the locator alone:
``(kind, (offset, size, which), parent media)``; ``which`` names the logical volume, the shadow copy, or which
secret unlocked it (its kind and position, never its value).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from triage.errors import VolumeError, one_line
from triage.model.locator import Locator
from triage.sources.registry import register
from triage.sources.volumes.media import LayerMedia, LibyalReader, MediaSlice, media_locator
from triage.sources.volumes.secrets import held, scrub

# The layer modules, imported on first use (each registers itself), in the order they are tried.
LAYER_MODULES = (
    "triage.sources.volumes.bitlocker",
    "triage.sources.volumes.luks",
    "triage.sources.volumes.filevault",
    "triage.sources.volumes.lvm",
)


@dataclass
class Peeled:
    """What opening one layer gave: its summary entry and the volumes it serves."""

    layer: str  # "encryption" or "lvm": which summary list the entry goes to
    entry: dict[str, Any]
    children: list[tuple[str, LayerMedia]] = field(default_factory=list)  # (description, media)
    notes: list[str] = field(default_factory=list)


class Layer(Protocol):
    name: str

    def detect(self, media: Any, offset: int, size: int) -> bool: ...

    def peel(self, media: Any, offset: int, size: int) -> Peeled: ...


_LAYERS: list[Layer] = []
_loaded = [False]


def register_layer(layer: Layer) -> None:
    _LAYERS.append(layer)


def layers() -> list[Layer]:
    if not _loaded[0]:
        _loaded[0] = True
        for module in LAYER_MODULES:
            importlib.import_module(module)
    return list(_LAYERS)


def identify(media: Any, offset: int, size: int) -> Layer | None:
    """The layer whose signature the volume at ``offset`` carries, if any."""
    for layer in layers():
        try:
            if layer.detect(media, offset, size):
                return layer
        except (OSError, ValueError):  # an unreadable volume start: no layer recognised
            continue
    return None


def slice_of(media: Any, offset: int, size: int) -> MediaSlice:
    return MediaSlice(media.reader, offset, size)


# Encryption: one loop that tries every secret of the kinds a scheme takes, shared by the encryption modules.

@dataclass(frozen=True)
class Scheme:
    """One encryption format and how its libyal library is driven."""

    name: str  # "BitLocker", "LUKS", "FileVault 2"
    kind: str  # locator kind of the decrypted volume
    new: Callable[[], Any]  # a new library volume object
    setters: dict[str, Callable[[Any, str], None]]  # secret kind -> how to give it to the volume object
    facts: Callable[[Any], dict[str, Any]] = lambda handle: {}


def unlock(scheme: Scheme, media: Any, offset: int, size: int, only: tuple[str, int] | None = None
           ) -> tuple[Any, dict[str, Any]]:
    """Open the encrypted volume at ``offset`` and unlock it with the first held secret that works.

    Returns the library object and the summary entry {scheme, unlocked, how, …}; a locked volume is returned
    locked (``unlocked`` False, ``how`` says why). ``only`` reopens with the one secret named (a worker).
    """
    handle = _open(scheme, media, offset, size)
    entry: dict[str, Any] = {"scheme": scheme.name, "unlocked": False, "how": None}
    entry.update(_facts(scheme, handle))
    if not handle.is_locked():
        entry.update(unlocked=True, how="clear key (volume not protected)")
        return handle, entry
    secrets = held()
    tried = 0
    for how, setter in scheme.setters.items():
        for index, value in enumerate(secrets.of(how)):
            if only is not None and only != (how, index):
                continue
            tried += 1
            if tried > 1:  # a failed attempt may leave keys behind in the object: start each try afresh
                handle.close()
                handle = _open(scheme, media, offset, size)
            try:
                setter(handle, value)
                ok = bool(handle.unlock())
            except (OSError, ValueError, TypeError) as exc:
                entry.setdefault("errors", []).append(f"{how} {index + 1}: {scrub(one_line(exc, last=True))}")
                continue
            if ok and not handle.is_locked():
                entry.update(unlocked=True, how=f"{how} {index + 1}", secret=(how, index))
                return handle, entry
    entry["how"] = (f"locked: none of the {tried} secrets given opened it" if tried
                    else "locked: no password or recovery key given (--password, --recovery-key)")
    return handle, entry


def _open(scheme: Scheme, media: Any, offset: int, size: int) -> Any:
    handle = scheme.new()
    try:
        handle.open_file_object(slice_of(media, offset, size))
    except (OSError, ValueError) as exc:
        raise VolumeError(f"{scheme.name} volume could not be opened ({scrub(one_line(exc, last=True))})") from None
    return handle


def _facts(scheme: Scheme, handle: Any) -> dict[str, Any]:
    try:
        return scheme.facts(handle)
    except (OSError, ValueError, AttributeError):
        return {}


def peel_encrypted(scheme: Scheme, media: Any, offset: int, size: int) -> Peeled:
    """The summary entry of an encrypted volume and, when unlocked, its decrypted bytes as a volume.

    A volume its library cannot even open (an unsupported version) is still named, locked, with the reason.
    """
    try:
        handle, entry = unlock(scheme, media, offset, size)
    except VolumeError as exc:
        return Peeled("encryption", {"scheme": scheme.name, "unlocked": False, "how": f"not opened: {exc}"})
    secret = entry.pop("secret", None)
    peeled = Peeled("encryption", entry)
    if entry["unlocked"]:
        which = "clear" if secret is None else f"{secret[0]}:{secret[1]}"
        locator = Locator(scheme.kind, (offset, size, which), media_locator(media))
        reader = LibyalReader(handle, int(handle.get_size()))
        peeled.children.append((f"{scheme.name} (unlocked, {entry['how']})", LayerMedia(scheme.kind, reader, media,
                                                                                         locator)))
    else:
        handle.close()
    return peeled


def register_reopen(scheme: Scheme) -> None:
    """Register the locator kind that reopens ``scheme``'s decrypted volume in another process."""

    def reopen(locator: Locator, parent: Any) -> LayerMedia:
        offset, size, which = locator.args
        only = None
        if which != "clear":
            how, _, index = str(which).rpartition(":")
            only = (how, int(index))
        handle, entry = unlock(scheme, parent, int(offset), int(size), only)  # type: ignore[arg-type]
        if not entry["unlocked"]:
            handle.close()
            raise VolumeError(f"{scheme.name} volume at offset {offset} could not be unlocked again ({entry['how']})")
        return LayerMedia(scheme.kind, LibyalReader(handle, int(handle.get_size())), parent, locator)

    register(scheme.kind, reopen)
