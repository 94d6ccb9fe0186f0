"""BitLocker (Windows Vista to 11, BitLocker To Go, AES-CBC with or without the Elephant diffuser, AES-XTS)
through libbde.

Why libbde's own signature check: a To Go volume starts like an ordinary FAT32 boot sector, and only the
BitLocker GUID inside it tells; TSK opens it as an empty FAT32.
"""

from __future__ import annotations

from typing import Any

import pybde

from triage.sources.volumes.layers import Peeled, Scheme, peel_encrypted, register_layer, register_reopen, slice_of

# libbde's encryption method numbers (libbde_definitions.h).
METHODS = {
    0x0000: "none",
    0x8000: "AES-CBC 128-bit with Elephant diffuser",
    0x8001: "AES-CBC 256-bit with Elephant diffuser",
    0x8002: "AES-CBC 128-bit",
    0x8003: "AES-CBC 256-bit",
    0x8004: "AES-XTS 128-bit",
    0x8005: "AES-XTS 256-bit",
}

PROTECTORS = {0x0000: "clear key", 0x0100: "TPM", 0x0200: "startup key", 0x0500: "TPM and PIN",
              0x0800: "recovery password", 0x2000: "password"}


def _facts(handle: Any) -> dict[str, Any]:
    method = int(handle.get_encryption_method())
    created = handle.get_creation_time()
    return {
        "method": METHODS.get(method, f"method 0x{method:04x}"),
        "identifier": str(handle.get_volume_identifier() or "") or None,
        "description": handle.get_description() or None,
        "created": created.strftime("%Y-%m-%dT%H:%M:%SZ") if created is not None else None,
        "key_protectors": [PROTECTORS.get(int(handle.get_key_protector(i).get_type()), "other")
                           for i in range(int(handle.get_number_of_key_protectors()))],
    }


SCHEME = Scheme(
    name="BitLocker",
    kind="bde",
    new=pybde.volume,
    setters={
        "startup key": lambda handle, path: handle.read_startup_key(path),
        "recovery key": lambda handle, key: handle.set_recovery_password(key),
        "password": lambda handle, password: handle.set_password(password),
    },
    facts=_facts,
)


class BitLocker:
    name = "BitLocker"

    def detect(self, media: Any, offset: int, size: int) -> bool:
        return bool(pybde.check_volume_signature_file_object(slice_of(media, offset, size)))

    def peel(self, media: Any, offset: int, size: int) -> Peeled:
        return peel_encrypted(SCHEME, media, offset, size)


register_layer(BitLocker())
register_reopen(SCHEME)
