"""The LUKS2 header: its two binary copies and the JSON metadata they carry (keyslots, digests, data segment).

Why both copies: cryptsetup writes the header twice (the secondary ``hdr_size`` bytes in, magic ``SKUL\\xba\\xbe``)
so that a damaged start does not lose the volume. A copy counts only when its SHA-256 checksum (over the binary
header and JSON area, the checksum field zeroed) holds; of two good copies the newer (higher ``seqid``) is used, as
cryptsetup does. Layout: Milan Broz, "LUKS2 On-Disk Format Specification" 1.1. Every value the JSON claims is
checked here, against triage/defaults.py's bounds too, before anything uses it: a fault is a one-line
``VolumeError`` reason or a keyslot set aside with its reason, never a crash.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from triage.defaults import (
    LUKS2_ARGON2_MAX_LANES,
    LUKS2_ARGON2_MAX_MEMORY,
    LUKS2_ARGON2_MAX_TIME,
    LUKS2_ARGON2_MAX_WORK,
    LUKS2_MAX_HEADER,
    LUKS2_PBKDF2_MAX_ITERATIONS,
)
from triage.errors import VolumeError

MAGIC = b"LUKS\xba\xbe"
MAGIC_SECONDARY = b"SKUL\xba\xbe"
BINARY = 4096  # the binary header; the JSON area follows it up to hdr_size
HEADER_SIZES = tuple(16384 << i for i in range(9))  # the sizes the specification allows: 16 KiB .. 4 MiB
CSUM = slice(448, 512)
SECTOR = 512
SECTOR_SIZES = (512, 1024, 2048, 4096)
MAX_STRIPES = 4000  # the only value cryptsetup writes
MAX_KEY = 128  # bytes of a volume or area key (AES-XTS-256 needs 64)
MISSING = "missing (no magic)"

Read = Callable[[int, int], bytes]


@dataclass(frozen=True)
class Copy:
    """One binary header copy that passed its checksum, with its parsed JSON."""

    which: str  # "primary" or "secondary"
    offset: int
    seqid: int
    hdr_size: int
    uuid: str
    label: str
    meta: dict[str, Any]


@dataclass(frozen=True)
class Digest:
    """A pbkdf2 digest of the volume key: the check that a candidate key is the right one."""

    hash: str
    iterations: int
    salt: bytes
    value: bytes


@dataclass(frozen=True)
class Keyslot:
    id: str
    key_size: int  # bytes of the volume key it holds
    kdf: str  # "pbkdf2", "argon2i", "argon2id"
    kdf_hash: str  # pbkdf2 only
    iterations: int  # pbkdf2 rounds or argon2 passes
    memory: int  # argon2 KiB
    lanes: int  # argon2 parallelism
    salt: bytes
    af_hash: str
    stripes: int
    area_offset: int
    area_size: int
    area_encryption: str
    area_key_size: int
    priority: int  # 0 ignore, 1 normal, 2 high: tried high first
    digest: Digest


@dataclass(frozen=True)
class Segment:
    id: str
    offset: int
    size: int | None  # None: "dynamic", to the end of the device
    iv_tweak: int  # in 512-byte sectors, as dm-crypt's iv_offset
    encryption: str
    sector_size: int


@dataclass(frozen=True)
class Metadata:
    copy: Copy
    other: str | None  # why the other copy was not used, when it was bad
    segment: Segment
    keyslots: list[Keyslot]
    skipped: list[str]  # "keyslot N: reason" for each keyslot set aside


def read_metadata(read: Read, size: int) -> Metadata:
    """The metadata of the LUKS2 volume read through ``read(offset, size)``, ``size`` bytes long."""
    copy, other = choose_copy(read, size)
    meta = copy.meta
    try:
        segment = _segment(meta)
        digests: dict[str, Digest | str] = {}
        for key, value in _obj(meta.get("digests", {})).items():
            try:
                digests[key] = _digest(value)
            except (KeyError, TypeError, ValueError) as exc:
                digests[key] = f"digest {key}: {exc}"
        keyslots, skipped = [], []
        for key, value in sorted(_obj(meta.get("keyslots", {})).items(), key=lambda kv: _order(kv[0])):
            try:
                keyslots.append(_keyslot(key, value, meta, segment.id, digests))
            except (KeyError, TypeError, ValueError) as exc:
                skipped.append(f"keyslot {key}: {exc}")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise VolumeError(f"LUKS2 metadata unreadable ({exc})") from None
    keyslots.sort(key=lambda slot: -slot.priority)
    return Metadata(copy, other, segment, keyslots, skipped)


def choose_copy(read: Read, size: int) -> tuple[Copy, str | None]:
    """The header copy to use and, when one copy is bad, why (for the summary)."""
    primary, why_primary = _copy(read, size, 0, MAGIC)
    secondary, why_secondary = None, "not found"
    for offset in [primary.hdr_size] if primary else [o for o in HEADER_SIZES if o + BINARY <= size]:
        secondary, why = _copy(read, size, offset, MAGIC_SECONDARY)
        if why != MISSING:
            why_secondary = why
            break
    if primary and secondary:
        return (secondary, None) if secondary.seqid > primary.seqid else (primary, None)
    if primary:
        return primary, f"secondary header {why_secondary}"
    if secondary:
        return secondary, f"primary header {why_primary}"
    raise VolumeError(f"LUKS2 header damaged: primary {why_primary}, secondary {why_secondary}")


def _copy(read: Read, size: int, offset: int, magic: bytes) -> tuple[Copy | None, str]:
    """One header copy at ``offset``, or None and why not."""
    head = read(offset, BINARY) if offset + BINARY <= size else b""
    if len(head) < BINARY:
        return None, "cut short"
    if head[:6] != magic:
        return None, MISSING
    version, hdr_size, seqid = struct.unpack(">HQQ", head[6:24])
    if version != 2:
        return None, f"version {version}"
    if hdr_size not in HEADER_SIZES or hdr_size > LUKS2_MAX_HEADER:
        return None, f"size {hdr_size} invalid"
    if struct.unpack(">Q", head[256:264])[0] != offset:
        return None, "offset field wrong"
    algorithm = head[72:104].split(b"\0", 1)[0].decode("ascii", "replace")
    if algorithm not in ("sha256", "sha1", "sha512"):
        return None, f"checksum algorithm {algorithm!r} unknown"
    whole = read(offset, hdr_size) if offset + hdr_size <= size else b""
    if len(whole) < hdr_size:
        return None, "cut short"
    blank = whole[:CSUM.start] + bytes(64) + whole[CSUM.stop :]
    digest = hashlib.new(algorithm, blank).digest()
    if head[CSUM][: len(digest)] != digest:
        return None, "checksum mismatch"
    try:
        meta = json.loads(whole[BINARY:].split(b"\0", 1)[0].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None, "JSON area unreadable"
    if not isinstance(meta, dict):
        return None, "JSON area not an object"
    text = [head[o : o + n].split(b"\0", 1)[0].decode("ascii", "replace") for o, n in ((168, 40), (24, 48))]
    which = "primary" if magic == MAGIC else "secondary"
    return Copy(which, offset, seqid, hdr_size, text[0], text[1], meta), ""


def _segment(meta: dict[str, Any]) -> Segment:
    requirements = _obj(meta.get("config", {})).get("requirements", {})
    mandatory = requirements.get("mandatory", []) if isinstance(requirements, dict) else []
    if mandatory:
        raise VolumeError(f"LUKS2 requirement {', '.join(map(str, mandatory))} not supported "
                          "(a reencryption under way?)")
    segments = _obj(meta.get("segments", {}))
    if not segments:
        raise VolumeError("LUKS2 metadata lists no data segment")
    if len(segments) > 1:
        raise VolumeError(f"LUKS2 with {len(segments)} data segments not supported (a reencryption under way?)")
    key, value = next(iter(segments.items()))
    value = _obj(value)
    if value.get("type") != "crypt":
        raise VolumeError(f"LUKS2 data segment of type {value.get('type')!r} not supported")
    if "integrity" in value:
        raise VolumeError("LUKS2 authenticated encryption (dm-integrity) not supported")
    sector_size = _int(value.get("sector_size", SECTOR), "sector_size")
    if sector_size not in SECTOR_SIZES:
        raise VolumeError(f"LUKS2 sector size {sector_size} not supported")
    offset = _int(value["offset"], "segment offset")
    size = None if value.get("size") == "dynamic" else _int(value["size"], "segment size")
    if offset % SECTOR or (size is not None and size % sector_size):
        raise VolumeError("LUKS2 data segment not sector aligned")
    return Segment(key, offset, size, _int(value.get("iv_tweak", 0), "iv_tweak"), _str(value["encryption"]),
                   sector_size)


def _digest(value: Any) -> Digest:
    value = _obj(value)
    if value.get("type") != "pbkdf2":
        raise ValueError(f"type {value.get('type')!r} not supported")
    iterations = _int(value["iterations"], "iterations")
    if not 0 < iterations <= LUKS2_PBKDF2_MAX_ITERATIONS:
        raise ValueError(f"pbkdf2 iterations {iterations:,} above the limit ({LUKS2_PBKDF2_MAX_ITERATIONS:,})")
    digest = _b64(value["digest"])
    if len(digest) < 16:
        raise ValueError(f"digest of {len(digest)} bytes too short to check a key")
    return Digest(_hash(value["hash"]), iterations, _b64(value["salt"]), digest)


def _keyslot(key: str, value: Any, meta: dict[str, Any], segment: str, digests: dict[str, Digest | str]
             ) -> Keyslot:
    """One keyslot, checked; ValueError says why it cannot be used."""
    value = _obj(value)
    if value.get("type") != "luks2":
        raise ValueError(f"type {value.get('type')!r} holds no key")
    key_size = _int(value["key_size"], "key_size")
    af, area, kdf = _obj(value["af"]), _obj(value["area"]), _obj(value["kdf"])
    stripes = _int(af.get("stripes", 0), "stripes")
    if af.get("type") != "luks1" or not 0 < stripes <= MAX_STRIPES or not 0 < key_size <= MAX_KEY:
        raise ValueError(f"anti-forensic split {af.get('type')!r} with {stripes} stripes not supported")
    if area.get("type") != "raw":
        raise ValueError(f"area type {area.get('type')!r} not supported")
    area_offset, area_size = _int(area["offset"], "area offset"), _int(area["size"], "area size")
    area_key = _int(area["key_size"], "area key_size")
    if area_offset % SECTOR or area_size < key_size * stripes or not 0 < area_key <= MAX_KEY:
        raise ValueError("area smaller than its key material")
    linked = [d for k, d in digests.items() if _linked(meta, k, key, segment)]
    good = [d for d in linked if isinstance(d, Digest)]
    if not good:
        raise ValueError(str(linked[0]) if linked else "no digest ties it to the data segment")
    kind = _str(kdf.get("type"))
    salt = _b64(kdf["salt"])
    if kind == "pbkdf2":
        iterations = _int(kdf["iterations"], "iterations")
        if not 0 < iterations <= LUKS2_PBKDF2_MAX_ITERATIONS:
            raise ValueError(f"pbkdf2 iterations {iterations:,} above the limit ({LUKS2_PBKDF2_MAX_ITERATIONS:,})")
        return Keyslot(key, key_size, kind, _hash(kdf["hash"]), iterations, 0, 0, salt, _hash(af["hash"]), stripes,
                       area_offset, area_size, _str(area["encryption"]), area_key, _priority(value), good[0])
    if kind not in ("argon2i", "argon2id"):
        raise ValueError(f"kdf {kind!r} not supported")
    passes, memory, lanes = (_int(kdf[name], name) for name in ("time", "memory", "cpus"))
    if memory > LUKS2_ARGON2_MAX_MEMORY:
        raise ValueError(f"argon2 memory {_kib(memory)} above the limit ({_kib(LUKS2_ARGON2_MAX_MEMORY)})")
    if passes > LUKS2_ARGON2_MAX_TIME or lanes > LUKS2_ARGON2_MAX_LANES or memory * passes > LUKS2_ARGON2_MAX_WORK:
        raise ValueError(f"argon2 cost above the limit ({passes} passes over {_kib(memory)} in {lanes} lanes)")
    if passes < 1 or lanes < 1 or memory < 8 * lanes:
        raise ValueError(f"argon2 parameters invalid ({passes} passes, {memory} KiB, {lanes} lanes)")
    return Keyslot(key, key_size, kind, "", passes, memory, lanes, salt, _hash(af["hash"]), stripes, area_offset,
                   area_size, _str(area["encryption"]), area_key, _priority(value), good[0])


def _linked(meta: dict[str, Any], digest: str, keyslot: str, segment: str) -> bool:
    value = _obj(meta["digests"][digest])
    keyslots, segments = value.get("keyslots"), value.get("segments")
    return isinstance(keyslots, list) and isinstance(segments, list) and keyslot in keyslots and segment in segments


def _priority(value: dict[str, Any]) -> int:
    priority = value.get("priority", 1)
    return priority if isinstance(priority, int) and 0 <= priority <= 2 else 1


def _order(key: str) -> tuple[int, str]:
    return (int(key), key) if key.isdigit() and len(key) < 10 else (1 << 31, key)


def _obj(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"object expected, found {type(value).__name__}")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError("text field malformed")
    return value


def _int(value: Any, name: str) -> int:
    """A JSON number or, as LUKS2 writes 64-bit values, a decimal string; never negative."""
    if isinstance(value, bool) or not isinstance(value, int | str) or (isinstance(value, str) and len(value) > 20):
        raise ValueError(f"{name} malformed")
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{name} malformed") from None
    if number < 0:
        raise ValueError(f"{name} negative")
    return number


def _hash(value: Any) -> str:
    name = _str(value).lower()
    if name not in ("sha1", "sha256", "sha512", "sha384", "sha224"):
        raise ValueError(f"hash {name!r} not supported")
    return name


def _b64(value: Any) -> bytes:
    if not isinstance(value, str) or len(value) > 256:
        raise ValueError("base64 field malformed")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise ValueError("base64 field malformed") from None


def _kib(kib: int) -> str:
    """Argon2 memory for a reason text: "64 GiB", "32 MiB"."""
    if kib >= 1 << 20 and kib % (1 << 20) == 0:
        return f"{kib >> 20} GiB"
    return f"{kib >> 10} MiB" if kib % 1024 == 0 else f"{kib} KiB"
