"""LUKS1 through libluksde; LUKS1 volumes with a 128-bit master key, which libluksde refuses, through ``luks1``
(Python, checked against cryptsetup); LUKS2, which libluksde does not read, through ``luks2`` (likewise)."""

from __future__ import annotations

import struct
from typing import Any

import pyluksde

from triage.errors import VolumeError
from triage.sources.volumes.layers import Peeled, Scheme, peel_encrypted, register_layer, register_reopen, slice_of
from triage.sources.volumes.luks1 import Luks1Volume
from triage.sources.volumes.luks2 import Luks2Volume
from triage.sources.volumes.luks2_header import HEADER_SIZES, MAGIC, MAGIC_SECONDARY


def _facts(handle: Any) -> dict[str, Any]:
    identifier = handle.get_volume_identifier() if hasattr(handle, "get_volume_identifier") else None
    return {"identifier": str(identifier) if identifier else None}


def _password(handle: Any, password: str) -> None:
    handle.set_password(password)


SCHEME = Scheme(name="LUKS", kind="luks", new=pyluksde.volume, setters={"password": _password}, facts=_facts)
SCHEME_128 = Scheme(name="LUKS", kind="luks1-128", new=Luks1Volume, setters={"password": _password})
SCHEME_2 = Scheme(name="LUKS", kind="luks2", new=Luks2Volume, setters={"password": _password},
                  facts=lambda handle: handle.facts())


def _secondary(media: Any, offset: int, size: int) -> bool:
    """A LUKS2 volume whose first header is gone still has its secondary copy at one of the header sizes.

    Only when the first 4 KiB are zeros or still a damaged LUKS2 header: a file system made over an old LUKS2
    volume can leave the old secondary header behind, and that file system is what the volume holds now.
    """
    head = media.reader.read(offset, 4096)
    if any(head) and not (head[6:8] == b"\0\2" and head[72:79] == b"sha256\0"):
        return False
    for at in HEADER_SIZES:
        if at + 8 > size:
            break
        if media.reader.read(offset + at, 8) == MAGIC_SECONDARY + b"\0\2":
            return True
    return False


class Luks:
    name = "LUKS"

    def detect(self, media: Any, offset: int, size: int) -> bool:
        return media.reader.read(offset, 6) == MAGIC or _secondary(media, offset, size)

    def peel(self, media: Any, offset: int, size: int) -> Peeled:
        head = media.reader.read(offset, 592)
        version = struct.unpack(">H", head[6:8])[0] if head[:6] == MAGIC else 2
        if version == 2:
            return _peel_luks2(media, offset, size, head)
        if version != 1:
            return Peeled("encryption", {"scheme": f"LUKS{version}", "unlocked": False,
                                         "how": f"locked: LUKS version {version} unknown"})
        small_key = struct.unpack(">I", head[108:112])[0] == 16
        peeled = peel_encrypted(SCHEME_128 if small_key else SCHEME, media, offset, size)
        peeled.entry["scheme"] = "LUKS1"
        cipher, mode = (head[o : o + 32].rstrip(b"\0").decode("ascii", "replace") for o in (8, 40))
        peeled.entry["method"] = f"{cipher}-{mode} {8 * struct.unpack('>I', head[108:112])[0]}-bit"
        peeled.entry["identifier"] = head[168:208].rstrip(b"\0").decode("ascii", "replace") or None
        return peeled


def _peel_luks2(media: Any, offset: int, size: int, head: bytes) -> Peeled:
    """LUKS2: the header is read first, so that a volume no password could open is named with the reason."""
    probe = Luks2Volume()
    try:
        probe.open_file_object(slice_of(media, offset, size))
    except VolumeError as exc:
        identifier = head[168:208].rstrip(b"\0").decode("ascii", "replace") if head[:6] == MAGIC else ""
        return Peeled("encryption", {"scheme": "LUKS2", "unlocked": False, "how": f"locked: {exc}",
                                     "identifier": identifier or None})
    other = probe.meta.other if probe.meta else None
    which = probe.meta.copy.which if probe.meta else "primary"
    probe.close()
    peeled = peel_encrypted(SCHEME_2, media, offset, size)
    peeled.entry["scheme"] = "LUKS2"
    if other:
        peeled.entry["header"] = f"{which} copy used; {other}"
        peeled.notes.append(f"LUKS2 {other}: the {which} copy was used")
    return peeled


register_layer(Luks())
register_reopen(SCHEME)
register_reopen(SCHEME_128)
register_reopen(SCHEME_2)
