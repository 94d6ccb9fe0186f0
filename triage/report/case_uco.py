"""case.jsonld: the scan as CASE 1.x / UCO 1.x JSON-LD, for tools that exchange provenance in CASE.

The graph holds the tool, the device image (``uco-observable:Image``, a kind of ObservableObject, with
ImageFacet, FileFacet and ContentDataFacet), one node per file system slot (``DiskPartition`` or, for a device
without a partition table, ``FileSystem``), one ``uco-observable:File`` per data stream with FileFacet and
ContentDataFacet hashes, ``Contained_Within`` relationships file → volume → image, and the scan itself as an
``InvestigativeAction`` (instrument: the tool, object: the image, results: the files).

Choices:

- ``@id``s are ``kb:<kind>-<uuid5>`` from the device name and the stream's volume, path and inode (a counter
  is added should two streams share all three), so the same scan always gives the same graph.
- ``types:hashMethod`` is a plain string ("MD5", "SHA1", "SHA256"), not a ``vocabulary:HashNameVocab`` typed
  literal: UCO 1.4 deprecated the typed form and CASE 1.5's validator warns about it. ``hashValue`` is
  ``xsd:hexBinary``.
- The image's ContentDataFacet holds the hashes computed over the media during the scan; without those, the
  hashes stored at acquisition, unless verification found a mismatch (then they describe other bytes).
- Perceptual hashes (PDQ, pHash) are not in UCO's hash vocabulary and are left to files.jsonl and vics.json.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from typing import Any

from triage.report.common import ITEMS, evidence_name, file_name, json_text, layer_lines
from triage.report.output import Out, render

encode_string = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) calls for every str (C)

CONTEXT: dict[str, str] = {
    "kb": "http://example.org/kb/",
    "case-investigation": "https://ontology.caseontology.org/case/investigation/",
    "uco-action": "https://ontology.unifiedcyberontology.org/uco/action/",
    "uco-core": "https://ontology.unifiedcyberontology.org/uco/core/",
    "uco-observable": "https://ontology.unifiedcyberontology.org/uco/observable/",
    "uco-tool": "https://ontology.unifiedcyberontology.org/uco/tool/",
    "uco-types": "https://ontology.unifiedcyberontology.org/uco/types/",
    "uco-vocabulary": "https://ontology.unifiedcyberontology.org/uco/vocabulary/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}
CASE_UUID_NS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:x-triage:case-uco")
_NAMESPACE = CASE_UUID_NS.bytes
HASH_NAMES = {"md5": "MD5", "sha1": "SHA1", "sha256": "SHA256"}
FACET_TIMES = {
    "modified": "uco-observable:modifiedTime",
    "accessed": "uco-observable:accessedTime",
    "changed": "uco-observable:metadataChangeTime",
    "created": "uco-observable:observableCreatedTime",
}


class _Ids:
    """Deterministic ``kb:`` identifiers.

    Only file ids can collide (two streams with the same volume, path and inode, e.g. two deleted entries of
    one name); every other id derives from a file id or from data that is unique in the summary. So only file
    ids are remembered, as 16-byte UUIDs, to keep a million-file graph small in memory.
    """

    def __init__(self, device: str) -> None:
        self.device = device
        self.files: set[bytes] = set()

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


def _datetime(value: str) -> dict[str, str]:
    return {"@type": "xsd:dateTime", "@value": value}


def _hashes(ids: _Ids, owner: str, hashes: dict[str, str | None]) -> list[dict[str, Any]]:
    return [
        {
            "@id": ids.make("hash", owner, alg),
            "@type": "uco-types:Hash",
            "uco-types:hashMethod": HASH_NAMES[alg],
            "uco-types:hashValue": {"@type": "xsd:hexBinary", "@value": value},
        }
        for alg, value in hashes.items()
        if alg in HASH_NAMES and value
    ]


def _content_facet(ids: _Ids, owner: str, size: Any, mime: Any, hashes: dict[str, Any]) -> dict[str, Any]:
    facet: dict[str, Any] = {"@id": ids.make("content-data-facet", owner), "@type": "uco-observable:ContentDataFacet"}
    if isinstance(size, int):
        facet["uco-observable:sizeInBytes"] = size
    if mime:
        facet["uco-observable:mimeType"] = json_text(str(mime))
    found = _hashes(ids, owner, hashes)
    if found:
        facet["uco-observable:hash"] = found
    return facet


def _relationship(ids: _Ids, source: str, target: str) -> dict[str, Any]:
    return {
        "@id": ids.make("relationship", source, target),
        "@type": "uco-core:Relationship",
        "uco-core:source": {"@id": source},
        "uco-core:target": {"@id": target},
        "uco-core:kindOfRelationship": "Contained_Within",
        "uco-core:isDirectional": True,
    }


def _image(ids: _Ids, summary: dict[str, Any]) -> dict[str, Any]:
    evidence = summary.get("evidence") or {}
    paths = [str(p) for p in evidence.get("paths") or []]
    image_id = ids.make("image", *paths)
    hashes = evidence.get("computed_hashes") or {}
    if not hashes and evidence.get("verification") != "mismatch":
        hashes = evidence.get("stored_hashes") or {}
    facets: list[dict[str, Any]] = [
        {
            "@id": ids.make("image-facet", image_id),
            "@type": "uco-observable:ImageFacet",
            "uco-observable:imageType": json_text(str(evidence.get("format") or "unknown")),
        }
    ]
    if paths:
        facets.append(
            {
                "@id": ids.make("file-facet", image_id),
                "@type": "uco-observable:FileFacet",
                "uco-observable:fileName": json_text(file_name(paths[0].replace("\\", "/"))),
                "uco-observable:filePath": json_text(paths[0]),
            }
        )
    facets.append(_content_facet(ids, image_id, evidence.get("media_size"), None, hashes))
    node: dict[str, Any] = {
        "@id": image_id,
        "@type": "uco-observable:Image",
        "uco-core:name": json_text(evidence_name(summary)),
        "uco-core:hasFacet": facets,
    }
    layers = [json_text(text) for _attention, text in layer_lines(summary)]
    if layers:  # encryption, volume managers and shadow copies, as the other reports say them
        node["uco-core:description"] = layers
    return node


def _volume(ids: _Ids, volume: dict[str, Any]) -> dict[str, Any]:
    index = volume.get("index")
    node_id = ids.make("volume", index, volume.get("offset"))
    facets: list[dict[str, Any]] = []
    if index is not None:
        facets.append(
            {
                "@id": ids.make("disk-partition-facet", node_id),
                "@type": "uco-observable:DiskPartitionFacet",
                "uco-observable:partitionID": str(index),
                "uco-observable:partitionOffset": int(volume.get("offset") or 0),
                "uco-observable:partitionLength": int(volume.get("size") or 0),
                "uco-observable:diskPartitionType": json_text(str(volume.get("description") or "")),
            }
        )
    if volume.get("fs"):
        facets.append(
            {
                "@id": ids.make("file-system-facet", node_id),
                "@type": "uco-observable:FileSystemFacet",
                "uco-observable:fileSystemType": json_text(str(volume["fs"])),
            }
        )
    node: dict[str, Any] = {
        "@id": node_id,
        "@type": "uco-observable:DiskPartition" if index is not None else "uco-observable:FileSystem",
    }
    if facets:
        node["uco-core:hasFacet"] = facets
    return node


def _json(value: Any) -> str:
    """``json.dumps(value, ensure_ascii=False)`` for a scalar, with the C string encoder called directly."""
    kind = type(value)
    if kind is str:
        return encode_string(value)
    return str(value) if kind is int else json.dumps(value, ensure_ascii=False)


# The first hex digit of the RFC 4122 variant byte, from the digest's: (nibble & 0x3) | 0x8.
_VARIANT = {f"{n:x}": f"{(n & 0x3) | 0x8:x}" for n in range(16)}


class _FastIds:
    """The ``kb:`` ids of a file and of the nodes around it, exactly as ``_Ids`` gives them, at a third of the cost.

    Why it can skip ``json_text`` for the derived ids: their seeds are the device name (escaped already), ASCII
    kinds and ASCII ids. The hash input is ``uuid5``'s: the namespace's bytes, then the seed in UTF-8.
    """

    def __init__(self, ids: _Ids) -> None:
        self.ids = ids
        self.prefix = _NAMESPACE + ids.device.encode("utf-8") + b"\x1f"
        self.kinds = {kind: self.prefix + kind.encode("ascii") + b"\x1f"
                      for kind in ("file-facet", "content-data-facet", "hash", "relationship")}

    def make(self, kind: str, seed: bytes) -> str:
        """``_Ids.make(kind, ...)`` where ``seed`` is the parts joined by \\x1f, in UTF-8."""
        d = hashlib.sha1(self.kinds[kind] + seed).hexdigest()
        return f"kb:{kind}-{d[:8]}-{d[8:12]}-5{d[13:16]}-{_VARIANT[d[16]]}{d[17:20]}-{d[20:32]}"

    def file(self, record: dict[str, Any]) -> tuple[bytes, str]:
        """``_Ids.file_uuid(record)`` (a repeat made unique by a counter) and its ``kb:file-`` id."""
        get = record.get
        where = get("location") or get("path") or ""
        seed = f"{self.ids.device}\x1ffile\x1f{get('volume')}\x1f{json_text(where)}\x1f{get('inode')}"
        value = _uuid5(json_text(seed))
        if value in self.ids.files:  # a second stream with the same volume, path and inode: rare
            value = self.ids.file_uuid(record)
        else:
            self.ids.files.add(value)
        return value, "kb:file-" + uuid_text(value)


def _uuid5(seed: str) -> bytes:
    digest = bytearray(hashlib.sha1(_NAMESPACE + seed.encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    return bytes(digest)


def file_json(fast: _FastIds, record: dict[str, Any], file_id: str) -> str:
    """The file's node as ``json.dumps`` wrote the ``_file`` dict: FileFacet and ContentDataFacet with hashes."""
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


def relationship_json(fast: _FastIds, source: str, target: str) -> str:
    """``_relationship`` as ``json.dumps`` wrote it (ids are ASCII: nothing to escape)."""
    seed = (source + "\x1f" + target).encode("ascii")
    return (f'{{"@id": "{fast.make("relationship", seed)}", '
            f'"@type": "uco-core:Relationship", "uco-core:source": {{"@id": "{source}"}}, '
            f'"uco-core:target": {{"@id": "{target}"}}, "uco-core:kindOfRelationship": "Contained_Within", '
            f'"uco-core:isDirectional": true}}')


class _Positions:
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


class CaseWriter:
    """case.jsonld in one pass: the graph's head at once, the file nodes to a spool while their ids are
    collected, then the scan action (which lists every file) and the spooled nodes after it."""

    def __init__(self, summary: dict[str, Any], out: Out) -> None:
        self.out = out
        self.ids = _Ids(json_text(evidence_name(summary)))
        self.fast = _FastIds(self.ids)
        head, self.pad, self.end = _frame({"@context": CONTEXT, "@graph": ITEMS})
        nodes, self.image_id, self.volume_ids, self.action = _head_nodes(self.ids, summary)
        out.write(head + "[" + "".join(("\n" if n == 0 else ",\n") + self.pad + json.dumps(node, ensure_ascii=False)
                                       for n, node in enumerate(nodes)))
        self.files = out.spool()
        self.file_ids = bytearray()
        self.positions = _Positions()

    def add(self, record: dict[str, Any]) -> None:
        number = len(self.file_ids) // 16
        value, file_id = self.fast.file(record)
        self.file_ids += value
        self.positions.add(record.get("id"), number)  # first: a record that names itself as parent finds itself
        container = None
        parent = record.get("parent")
        if parent is not None:
            found = self.positions.find(parent, number + 1)
            container = _file_text(self.file_ids, found) if found is not None else None
        target = container or self.volume_ids.get(record.get("volume"), self.image_id)
        pad = ",\n" + self.pad
        self.files.write(pad + file_json(self.fast, record, file_id) + pad
                         + relationship_json(self.fast, file_id, target))

    def finish(self) -> None:
        out, count = self.out, len(self.file_ids) // 16
        head, tail = json.dumps(self.action, ensure_ascii=False).split(json.dumps(ITEMS))
        out.write(",\n" + self.pad + head + "[")
        for start in range(0, count, 4096):
            out.write(("" if start == 0 else ", ") + ", ".join(
                f'{{"@id": "{_file_text(self.file_ids, n)}"}}' for n in range(start, min(start + 4096, count))))
        out.write("]" + tail)
        out.splice(self.files)
        out.write(self.end)


def _frame(skeleton: dict[str, Any]) -> tuple[str, str, str]:
    """``stream_json``'s head (up to its list), item indentation and end, for a writer that streams by itself."""
    text = json.dumps(skeleton, ensure_ascii=False, indent=2)
    head, tail = text.split(json.dumps(ITEMS))
    line = head[head.rfind("\n") + 1 :]
    outer = line[: len(line) - len(line.lstrip(" "))]
    return head, outer + "  ", "\n" + outer + "]" + tail + "\n"


def _head_nodes(ids: _Ids, summary: dict[str, Any]) -> tuple[list[dict[str, Any]], str, dict[Any, str], dict[str, Any]]:
    """The tool, image and volume nodes (with their relationships), the image's id, volume ids by index, and the
    scan action (its result list still the ``ITEMS`` placeholder)."""
    tool = summary.get("tool") or {}
    tool_node = {
        "@id": ids.make("tool", tool.get("name"), tool.get("version")),
        "@type": "uco-tool:Tool",
        "uco-core:name": str(tool.get("name") or "triage"),
        "uco-tool:toolType": "Triage",
        "uco-tool:version": str(tool.get("version") or ""),
    }
    image = _image(ids, summary)
    nodes = [tool_node, image]
    volume_ids: dict[Any, str] = {}
    for volume in summary.get("volumes") or []:
        if volume.get("role", "partition") != "partition" or volume.get("index") in volume_ids:
            continue
        node = _volume(ids, volume)
        volume_ids[volume.get("index")] = node["@id"]
        nodes += [node, _relationship(ids, node["@id"], image["@id"])]
    action: dict[str, Any] = {
        "@id": ids.make("investigative-action", summary.get("started")),
        "@type": "case-investigation:InvestigativeAction",
        "uco-core:name": "triage scan",
        "uco-action:instrument": {"@id": tool_node["@id"]},
        "uco-action:object": {"@id": image["@id"]},
        "uco-action:result": ITEMS,
    }
    if summary.get("started"):
        action["uco-action:startTime"] = _datetime(summary["started"])
    if summary.get("finished"):
        action["uco-action:endTime"] = _datetime(summary["finished"])
    return nodes, image["@id"], volume_ids, action


def _file_text(file_ids: bytearray, number: int) -> str:
    return f"kb:file-{uuid_text(bytes(file_ids[number * 16:number * 16 + 16]))}"


def build_case(summary: dict[str, Any], records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The JSON-LD document as one dict (for tests; ``CaseWriter`` writes the same graph as text)."""
    return json.loads(render_case(summary, records))


def render_case(summary: dict[str, Any], records: Iterable[dict[str, Any]]) -> bytes:
    """case.jsonld as UTF-8 bytes."""
    return render(CaseWriter, summary, records)
