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
from collections.abc import Iterable, Iterator
from typing import Any

from triage.report.common import (
    ITEMS,
    RawJson,
    evidence_name,
    file_name,
    json_text,
    layer_lines,
    record_times,
    stream_json,
)

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


def _file(ids: _Ids, record: dict[str, Any], file_id: str) -> dict[str, Any]:
    path = json_text(record.get("location") or record.get("path") or "")  # the chain, for an archive member
    facet: dict[str, Any] = {
        "@id": ids.make("file-facet", file_id),
        "@type": "uco-observable:FileFacet",
        "uco-observable:fileName": file_name(json_text(record.get("path") or "")),
        "uco-observable:filePath": path,
        "uco-observable:allocationStatus": "allocated" if record.get("allocated", True) else "unallocated",
        "uco-observable:isDirectory": False,
    }
    if isinstance(record.get("size"), int):
        facet["uco-observable:sizeInBytes"] = record["size"]
    for key, value in record_times(record).items():
        if value:
            facet[FACET_TIMES[key]] = _datetime(value)
    hashes = {alg: record.get(alg) for alg in HASH_NAMES}
    content = _content_facet(ids, file_id, record.get("size"), record.get("type"), hashes)
    return {"@id": file_id, "@type": "uco-observable:File", "uco-core:hasFacet": [facet, content]}


def _graph(summary: dict[str, Any], records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every node: tool, image, volumes, the scan action, then each file and its relationship."""
    ids = _Ids(json_text(evidence_name(summary)))
    tool = summary.get("tool") or {}
    tool_node = {
        "@id": ids.make("tool", tool.get("name"), tool.get("version")),
        "@type": "uco-tool:Tool",
        "uco-core:name": str(tool.get("name") or "triage"),
        "uco-tool:toolType": "Triage",
        "uco-tool:version": str(tool.get("version") or ""),
    }
    image = _image(ids, summary)
    yield tool_node
    yield image
    volume_ids: dict[Any, str] = {}
    for volume in summary.get("volumes") or []:
        if volume.get("role", "partition") != "partition" or volume.get("index") in volume_ids:
            continue
        node = _volume(ids, volume)
        volume_ids[volume.get("index")] = node["@id"]
        yield node
        yield _relationship(ids, node["@id"], image["@id"])
    # First pass: every file id (16 bytes each, in files.jsonl order: collisions are resolved in that order)
    # and the ids of the records that hold others (archives), for their members' Contained_Within.
    file_ids = bytearray()
    parents: set[Any] = set()
    for record in records:
        file_ids += ids.file_uuid(record)
        if record.get("parent") is not None:
            parents.add(record.get("parent"))
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
    yield RawJson(_with_list(action, (f'{{"@id": "{_file_text(file_ids, n)}"}}' for n in range(len(file_ids) // 16))))
    by_record: dict[Any, str] = {}
    for number, record in enumerate(records):
        file_id = _file_text(file_ids, number)
        if record.get("id") in parents:
            by_record[record.get("id")] = file_id
        yield _file(ids, record, file_id)
        container = by_record.get(record.get("parent")) if record.get("parent") is not None else None
        yield _relationship(ids, file_id, container or volume_ids.get(record.get("volume"), image["@id"]))


def _file_text(file_ids: bytearray, number: int) -> str:
    return f"kb:file-{uuid_text(bytes(file_ids[number * 16:number * 16 + 16]))}"


def _with_list(node: dict[str, Any], items: Iterable[str]) -> Iterator[str]:
    """``json.dumps(node)`` in chunks, its ``ITEMS`` list made of the already-encoded ``items``."""
    head, tail = json.dumps(node, ensure_ascii=False).split(json.dumps(ITEMS))
    yield head + "["
    for number, item in enumerate(items):
        yield item if number == 0 else ", " + item
    yield "]" + tail


def build_case(summary: dict[str, Any], records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The JSON-LD document as one dict (for tests; ``iter_case`` streams the same text)."""
    return {"@context": CONTEXT, "@graph": [json.loads("".join(node.chunks)) if isinstance(node, RawJson) else node
                                            for node in _graph(summary, records)]}


def iter_case(summary: dict[str, Any], records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """case.jsonld text, one graph node per chunk."""
    return stream_json({"@context": CONTEXT, "@graph": ITEMS}, _graph(summary, records))


def render_case(summary: dict[str, Any], records: Iterable[dict[str, Any]]) -> bytes:
    """case.jsonld as UTF-8 bytes."""
    return "".join(iter_case(summary, records)).encode("utf-8")
