"""LUKS1 and LUKS2 through libluksde; LUKS1 volumes with a 128-bit master key, which libluksde refuses, through
``luks1`` (Python, checked against cryptsetup)."""

from __future__ import annotations

import struct
from typing import Any

import pyluksde

from triage.sources.volumes.layers import Peeled, Scheme, peel_encrypted, register_layer, register_reopen
from triage.sources.volumes.luks1 import Luks1Volume


def _facts(handle: Any) -> dict[str, Any]:
    identifier = handle.get_volume_identifier() if hasattr(handle, "get_volume_identifier") else None
    return {"identifier": str(identifier) if identifier else None}


SCHEME = Scheme(name="LUKS", kind="luks", new=pyluksde.volume,
                setters={"password": lambda handle, password: handle.set_password(password)}, facts=_facts)
SCHEME_128 = Scheme(name="LUKS", kind="luks1-128", new=Luks1Volume,
                    setters={"password": lambda handle, password: handle.set_password(password)})


class Luks:
    name = "LUKS"

    def detect(self, media: Any, offset: int, size: int) -> bool:
        return media.reader.read(offset, 6) == b"LUKS\xba\xbe"

    def peel(self, media: Any, offset: int, size: int) -> Peeled:
        head = media.reader.read(offset, 592)
        version = struct.unpack(">H", head[6:8])[0]
        if version != 1:  # LUKS2 keeps its UUID at the same offset; its JSON metadata is not read
            return Peeled("encryption", {"scheme": f"LUKS{version}", "unlocked": False,
                                         "how": "locked: LUKS2 is not supported yet (libluksde reads LUKS1 only)",
                                         "identifier": head[168:208].rstrip(b"\0").decode("ascii", "replace")})
        small_key = struct.unpack(">I", head[108:112])[0] == 16
        peeled = peel_encrypted(SCHEME_128 if small_key else SCHEME, media, offset, size)
        peeled.entry["scheme"] = f"LUKS{version}"
        cipher, mode = (head[o : o + 32].rstrip(b"\0").decode("ascii", "replace") for o in (8, 40))
        if version == 1:
            peeled.entry["method"] = f"{cipher}-{mode} {8 * struct.unpack('>I', head[108:112])[0]}-bit"
            peeled.entry["identifier"] = head[168:208].rstrip(b"\0").decode("ascii", "replace") or None
        return peeled


register_layer(Luks())
register_reopen(SCHEME)
register_reopen(SCHEME_128)
