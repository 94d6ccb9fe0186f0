"""case.jsonld's per-file text: the deterministic ``kb:`` ids and each file's node, written without dicts.

Why apart from case_uco: these run once per file (a million times on a laptop), so they build the JSON text
directly, exactly as ``json.dumps`` wrote the node dicts (``tests/report/test_fast_paths.py`` holds them to
that); case_uco builds the handful of other nodes as dicts.
"""

from __future__ import annotations

import hashlib
import json
import struct
import uuid
from array import array
from typing import Any

from triage.report.common import file_name, json_text

encode_string = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) calls for every str (C)

CASE_UUID_NS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:x-triage:case-uco")
_NAMESPACE = CASE_UUID_NS.bytes
HASH_NAMES = {"md5": "MD5", "sha1": "SHA1", "sha256": "SHA256"}
FACET_TIMES = {
    "modified": "uco-observable:modifiedTime",
    "accessed": "uco-observable:accessedTime",
    "changed": "uco-observable:metadataChangeTime",
    "created": "uco-observable:observableCreatedTime",
}


class UuidSet:
    """A set of 16-byte UUIDs in two flat arrays (open addressing), ~32 bytes an entry.

    Why not a set of bytes: ~100 bytes an entry, which made the report phase of a 1,000,000-file device the
    largest part of the scan's memory (issue 17: the 400 MB bound). Exact: the whole UUID is compared. An empty
    slot is (0, 0); the all-zero UUID (never a version-5 one) is kept apart.
    """

    def __init__(self) -> None:
        self._size = 0
        self._zero = False
        self._mask = (1 << 12) - 1
        self._high = _zeros(self._mask + 1)
        self._low = _zeros(self._mask + 1)

    def __len__(self) -> int:
        return self._size + self._zero

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, bytes) or len(value) != 16:
            return False
        high, low = _HALVES.unpack(value)
        return self._zero if not (high or low) else self._slot(high, low) is None

    def add(self, value: bytes) -> None:
        self.add_new(value)

    def add_new(self, value: bytes) -> bool:
        """Add ``value``; False when it was there already (one probe for both questions)."""
        high, low = _HALVES.unpack(value)
        if not (high or low):
            was, self._zero = self._zero, True
            return not was
        slot = self._slot(high, low)
        if slot is None:
            return False
        self._high[slot], self._low[slot] = high, low
        self._size += 1
        if self._size * 2 > self._mask:
            self._grow()
        return True

    def _slot(self, high: int, low: int) -> int | None:
        """The empty slot where a non-zero value belongs, or None when it is present."""
        mask, highs, lows = self._mask, self._high, self._low
        slot = (high ^ low) & mask
        while True:
            h, lo = highs[slot], lows[slot]
            if h == high and lo == low:
                return None
            if not (h or lo):
                return slot
            slot = (slot + 1) & mask

    def reserve(self, count: int) -> None:
        """Make room for ``count`` values at once: sized before they come, the table never holds its old and its
        doubled arrays together (a million files: 48 MB at the last doubling, 32 MB this way)."""
        mask = self._mask
        while count * 2 > mask:
            mask = mask * 2 + 1
        if mask != self._mask:
            self._resize(mask)

    def _grow(self) -> None:
        self._resize(self._mask * 2 + 1)

    def _resize(self, mask: int) -> None:
        old_high, old_low = self._high, self._low
        self._mask = mask
        self._high = _zeros(mask + 1)
        self._low = _zeros(mask + 1)
        for high, low in zip(old_high, old_low, strict=True):
            if high or low:
                slot = self._slot(high, low)
                assert slot is not None
                self._high[slot], self._low[slot] = high, low


_HALVES = struct.Struct(">QQ")
_ZERO = array("Q", [0])


def _zeros(count: int) -> array[int]:
    """``count`` zero slots, made by repetition: ``array("Q", bytes(...))`` first built a bytes object as large,
    which at the last doubling for a million files put 32 MB on the scan's peak memory for a moment (issue 17)."""
    return _ZERO * count


class Ids:
    """Deterministic ``kb:`` identifiers.

    Only file ids can collide (two streams with the same volume, path and inode, e.g. two deleted entries of
    one name); every other id derives from a file id or from data that is unique in the summary. So only file
    ids are remembered, as 16-byte UUIDs, to keep a million-file graph small in memory.
    """

    def __init__(self, device: str) -> None:
        self.device = device
        self.files = UuidSet()

    def _uuid(self, kind: str, parts: tuple[Any, ...]) -> bytes:
        seed = json_text("\x1f".join([self.device, kind, *(str(p) for p in parts)]))
        return uuid5_bytes(seed)

    def make(self, kind: str, *parts: Any) -> str:
        return f"kb:{kind}-{uuid_text(self._uuid(kind, parts))}"

    def file(self, record: dict[str, Any]) -> str:
        return f"kb:file-{uuid_text(self.file_uuid(record))}"

    def file_uuid(self, record: dict[str, Any]) -> bytes:
        """The record's file UUID, made unique by a counter in the order the records are given."""
        where = record.get("location") or record.get("path") or ""
        parts: tuple[Any, ...] = (record.get("volume"), json_text(where), record.get("inode"))
        value, counter = self._uuid("file", parts), 1
        while value in self.files:
            counter += 1
            value = self._uuid("file", (*parts, counter))
        self.files.add(value)
        return value


def uuid5_bytes(seed: str) -> bytes:
    """``uuid.uuid5(CASE_UUID_NS, seed).bytes``, without building UUID objects (seven per file: a third of the
    time this report took)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE + seed.encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    return bytes(digest)


def uuid_text(value: bytes) -> str:
    """The canonical 8-4-4-4-12 form, as ``str(uuid.UUID(bytes=value))``."""
    text = value.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _json(value: Any) -> str:
    """``json.dumps(value, ensure_ascii=False)`` for a scalar, with the C string encoder called directly."""
    kind = type(value)
    if kind is str:
        return encode_string(value)
    return str(value) if kind is int else json.dumps(value, ensure_ascii=False)


# The first hex digit of the RFC 4122 variant byte, from the digest's: (nibble & 0x3) | 0x8.
_VARIANT = {f"{n:x}": f"{(n & 0x3) | 0x8:x}" for n in range(16)}


class FastIds:
    """The ``kb:`` ids of a file and of the nodes around it, exactly as ``Ids`` gives them, at a third of the cost.

    Why it can skip ``json_text`` for the derived ids: their seeds are the device name (escaped already), ASCII
    kinds and ASCII ids. The hash input is ``uuid5``'s: the namespace's bytes, then the seed in UTF-8.
    """

    def __init__(self, ids: Ids) -> None:
        self.ids = ids
        self.prefix = _NAMESPACE + ids.device.encode("utf-8") + b"\x1f"
        self.kinds = {kind: self.prefix + kind.encode("ascii") + b"\x1f"
                      for kind in ("file-facet", "content-data-facet", "hash", "relationship")}

    def make(self, kind: str, seed: bytes) -> str:
        """``Ids.make(kind, ...)`` where ``seed`` is the parts joined by \\x1f, in UTF-8."""
        d = hashlib.sha1(self.kinds[kind] + seed).hexdigest()
        return f"kb:{kind}-{d[:8]}-{d[8:12]}-5{d[13:16]}-{_VARIANT[d[16]]}{d[17:20]}-{d[20:32]}"

    def file(self, record: dict[str, Any]) -> tuple[bytes, str]:
        """``Ids.file_uuid(record)`` (a repeat made unique by a counter) and its ``kb:file-`` id."""
        value = self.plain(record)
        if not self.ids.files.add_new(value):  # a second stream with the same volume, path and inode: rare
            value = self.ids.file_uuid(record)
        return value, "kb:file-" + uuid_text(value)

    def plain(self, record: dict[str, Any]) -> bytes:
        """The record's file UUID before any counter: what it is unless an earlier file had the same."""
        get = record.get
        where = get("location") or get("path") or ""
        seed = f"{self.ids.device}\x1ffile\x1f{get('volume')}\x1f{json_text(where)}\x1f{get('inode')}"
        return uuid5_bytes(json_text(seed))


def file_json(fast: FastIds, record: dict[str, Any], file_id: str) -> str:
    """The file's node (FileFacet; ContentDataFacet with size, MIME type and hashes) as ``json.dumps`` writes the
    node's dict (``tests/report/test_fast_paths.py``: ``dict_file``)."""
    get = record.get
    make = fast.make
    owner = file_id.encode("ascii")
    size = get("size")
    sized = f', "uco-observable:sizeInBytes": {_json(size)}' if isinstance(size, int) else ""
    path = get("path") or ""
    name, where = file_name(json_text(path)), json_text(get("location") or path)
    parts = [
        f'{{"@id": "{file_id}", "@type": "uco-observable:File", "uco-core:hasFacet": [{{"@id": '
        f'"{make("file-facet", owner)}", "@type": "uco-observable:FileFacet", "uco-observable:fileName": '
        f'{encode_string(name) if type(name) is str else _json(name)}, "uco-observable:filePath": '
        f'{encode_string(where)}, "uco-observable:allocationStatus": '
        f'"{"allocated" if get("allocated", True) else "unallocated"}", "uco-observable:isDirectory": false{sized}'
    ]
    times = get("times") or {}
    for key, label in FACET_TIMES.items():
        value = times.get(key)
        if value:
            text = encode_string(value) if type(value) is str else _json(value)
            parts.append(f', "{label}": {{"@type": "xsd:dateTime", "@value": {text}}}')
    parts.append(f'}}, {{"@id": "{make("content-data-facet", owner)}", '
                 f'"@type": "uco-observable:ContentDataFacet"{sized}')
    if get("type"):
        parts.append(f', "uco-observable:mimeType": {encode_string(json_text(str(record["type"])))}')
    hashes = []
    for alg, method, suffix in _HASH_PARTS:
        value = get(alg)
        if value:
            text = encode_string(value) if type(value) is str else _json(value)
            hashes.append(f'{{"@id": "{make("hash", owner + suffix)}", "@type": "uco-types:Hash", '
                          f'"uco-types:hashMethod": "{method}", "uco-types:hashValue": {{"@type": "xsd:hexBinary", '
                          f'"@value": {text}}}}}')
    if hashes:
        parts.append(f', "uco-observable:hash": [{", ".join(hashes)}]')
    parts.append("}]}")
    return "".join(parts)


_HASH_PARTS = tuple((alg, method, b"\x1f" + alg.encode("ascii")) for alg, method in HASH_NAMES.items())


def relationship_json(fast: FastIds, source: str, target: str) -> str:
    """A Contained_Within relationship as ``json.dumps`` writes case_uco's ``_relationship`` (ids are ASCII)."""
    seed = (source + "\x1f" + target).encode("ascii")
    return (f'{{"@id": "{fast.make("relationship", seed)}", '
            f'"@type": "uco-core:Relationship", "uco-core:source": {{"@id": "{source}"}}, '
            f'"uco-core:target": {{"@id": "{target}"}}, "uco-core:kindOfRelationship": "Contained_Within", '
            f'"uco-core:isDirectional": true}}')


class Positions:
    """Which earlier record had a given id, for an archive member's Contained_Within its archive.

    Why not a dict of every id: a million entries. files.jsonl ids are the record's position ("0", "1", …), so
    only ids that are not are remembered; as before, the last earlier record with that id is the one meant.
    """

    def __init__(self) -> None:
        self.odd: dict[Any, int] = {}
        self.odd_positions: set[int] = set()

    def add(self, record_id: Any, number: int) -> None:
        if record_id == str(number):
            self.odd.pop(record_id, None)
        else:
            self.odd_positions.add(number)
            self.odd[record_id] = number

    def find(self, record_id: Any, before: int) -> int | None:
        """The position of the last record before ``before`` whose id is ``record_id``, if any."""
        if record_id in self.odd:
            return self.odd[record_id]
        if type(record_id) is str and record_id.isdecimal() and record_id == str(int(record_id)):
            number = int(record_id)
            if number < before and number not in self.odd_positions:
                return number
        return None


def file_id_text(file_ids: bytearray, number: int) -> str:
    """The ``kb:file-`` id of the ``number``-th file from the 16-byte UUIDs kept for them."""
    return f"kb:file-{uuid_text(bytes(file_ids[number * 16:number * 16 + 16]))}"


