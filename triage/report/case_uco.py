"""case.jsonld: the scan as CASE 1.x / UCO 1.x JSON-LD, for tools that exchange provenance in CASE.

The graph holds the tool, the device image (``uco-observable:Image``, a kind of ObservableObject, with
ImageFacet, FileFacet and ContentDataFacet), one node per file system slot (``DiskPartition`` or, for a device
without a partition table, ``FileSystem``), one ``uco-observable:File`` per data stream with FileFacet and
ContentDataFacet hashes, ``Contained_Within`` relationships file → volume → image, and the scan itself as an
``InvestigativeAction`` (instrument: the tool, object: the image, results: the files).

Choices:

- ``@id``s are ``kb:<kind>-<uuid5>`` from the device name and the stream's volume, path and inode (a counter
  is added should two streams share all three), so the same scan always gives the same graph
  (``case_nodes``, which also writes each file's node as text: it runs once per file).
- ``types:hashMethod`` is a plain string ("MD5", "SHA1", "SHA256"), not a ``vocabulary:HashNameVocab`` typed
  literal: UCO 1.4 deprecated the typed form and CASE 1.5's validator warns about it. ``hashValue`` is
  ``xsd:hexBinary``.
- The image's ContentDataFacet holds the hashes computed over the media during the scan; without those, the
  hashes stored at acquisition, unless verification found a mismatch (then they describe other bytes).
- Perceptual hashes (PDQ, pHash) are not in UCO's hash vocabulary and are left to files.jsonl and vics.json.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from triage.report.case_nodes import (
    CASE_UUID_NS,
    FACET_TIMES,
    HASH_NAMES,
    FastIds,
    Ids,
    Positions,
    file_id_text,
    file_json,
    relationship_json,
    uuid5_bytes,
    uuid_text,
)
from triage.report.common import ITEMS, evidence_name, file_name, json_frame, json_text, layer_lines, partitions
from triage.report.output import Out, render

__all__ = ["CASE_UUID_NS", "CONTEXT", "FACET_TIMES", "HASH_NAMES", "CaseWriter", "build_case", "render_case",
           "uuid5_bytes", "uuid_text"]

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


def _datetime(value: str) -> dict[str, str]:
    return {"@type": "xsd:dateTime", "@value": value}


def _hashes(ids: Ids, owner: str, hashes: dict[str, str | None]) -> list[dict[str, Any]]:
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


def _content_facet(ids: Ids, owner: str, size: Any, mime: Any, hashes: dict[str, Any]) -> dict[str, Any]:
    facet: dict[str, Any] = {"@id": ids.make("content-data-facet", owner), "@type": "uco-observable:ContentDataFacet"}
    if isinstance(size, int):
        facet["uco-observable:sizeInBytes"] = size
    if mime:
        facet["uco-observable:mimeType"] = json_text(str(mime))
    found = _hashes(ids, owner, hashes)
    if found:
        facet["uco-observable:hash"] = found
    return facet


def _relationship(ids: Ids, source: str, target: str) -> dict[str, Any]:
    return {
        "@id": ids.make("relationship", source, target),
        "@type": "uco-core:Relationship",
        "uco-core:source": {"@id": source},
        "uco-core:target": {"@id": target},
        "uco-core:kindOfRelationship": "Contained_Within",
        "uco-core:isDirectional": True,
    }


def _image(ids: Ids, summary: dict[str, Any]) -> dict[str, Any]:
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


def _volume(ids: Ids, volume: dict[str, Any]) -> dict[str, Any]:
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


class CaseWriter:
    """case.jsonld in one pass: the graph's head at once, then the scan action (which lists every file), then the
    file nodes.

    The action's list is written last, into a hole left for it: every file id has the same length, so its size
    follows from the number of records (``expect``, from files.jsonl's line count or a list's length). Without
    that number the file nodes go to a spool, copied in after the action at the end.
    """

    def __init__(self, summary: dict[str, Any], out: Out) -> None:
        self.out = out
        self.ids = Ids(json_text(evidence_name(summary)))
        self.fast = FastIds(self.ids)
        head, self.pad, self.end = json_frame({"@context": CONTEXT, "@graph": ITEMS})
        nodes, self.image_id, self.volume_ids, action = _head_nodes(self.ids, summary)
        out.write(head + "[" + "".join(("\n" if n == 0 else ",\n") + self.pad + json.dumps(node, ensure_ascii=False)
                                       for n, node in enumerate(nodes)))
        before, after = json.dumps(action, ensure_ascii=False).split(json.dumps(ITEMS))
        self.action = (",\n" + self.pad + before + "[", "]" + after)
        self.files = out.spool()
        self.hole: tuple[int, int] | None = None  # offset and size of the action's place
        self.file_ids = bytearray()
        self.positions = Positions()

    def expect(self, most: int) -> None:
        """At most ``most`` records will come: leave the action's place for that many and write file nodes on."""
        head, tail = (len(part.encode("utf-8", "backslashreplace")) for part in self.action)
        size = head + most * ITEM_SIZE + max(most - 1, 0) * 2 + tail
        self.ids.files.reserve(most)
        self.files.close()
        self.out.spools.remove(self.files)
        self.hole, self.files = (self.out.reserve(size), size), self.out

    def add(self, record: dict[str, Any]) -> None:
        number = len(self.file_ids) // 16
        value, file_id = self.fast.file(record)
        self.file_ids += value
        self.positions.add(record.get("id"), number)  # first: a record that names itself as parent finds itself
        container = None
        parent = record.get("parent")
        if parent is not None:
            found = self.positions.find(parent, number + 1)
            container = file_id_text(self.file_ids, found) if found is not None else None
        target = container or self.volume_ids.get(record.get("volume"), self.image_id)
        self.files.write(node_text(self.fast, self.pad, record, file_id, target))

    def add_rendered(self, record_id: str, value: bytes, source: int, offset: int, size: int, line: str) -> None:
        """A record in no container whose text ``report.ahead`` rendered (``node_text`` with its volume as
        target): copied from ``source``, unless its file UUID ``value`` repeats an earlier file's, which ``add``
        then makes unique with a counter as for any record."""
        if not self.ids.files.add_new(value):
            self.add(json.loads(line))
            return
        number = len(self.file_ids) // 16
        self.file_ids += value
        self.positions.add(record_id, number)
        self.files.copy(source, offset, size)

    def finish(self) -> None:
        if self.hole is None:
            for chunk in self._action():
                self.out.write(chunk)
            self.out.splice(self.files)
        else:
            self.out.fill(*self.hole, self._action())
        self.out.write(self.end)

    def _action(self) -> Iterator[str]:
        """The scan action's text, its result list in chunks of 4,096 file ids."""
        count = len(self.file_ids) // 16
        yield self.action[0]
        for start in range(0, count, 4096):
            yield ("" if start == 0 else ", ") + ", ".join(
                f'{{"@id": "{file_id_text(self.file_ids, n)}"}}' for n in range(start, min(start + 4096, count)))
        yield self.action[1]


def node_text(fast: FastIds, pad: str, record: dict[str, Any], file_id: str, target: str) -> str:
    """What case.jsonld holds for one record: its file node and its Contained_Within ``target``, each on a line."""
    pad = ",\n" + pad
    return pad + file_json(fast, record, file_id) + pad + relationship_json(fast, file_id, target)


def case_targets(summary: dict[str, Any]) -> tuple[Ids, str, dict[Any, str]]:
    """The ids a file node's relationship may point at: the image's, and each partition's by its index (the
    first of a repeated index), as ``CaseWriter`` writes them."""
    ids = Ids(json_text(evidence_name(summary)))
    volume_ids = {key: _volume(ids, volume)["@id"] for key, volume in partitions(summary).items()}
    return ids, _image(ids, summary)["@id"], volume_ids


ITEM_SIZE = len(f'{{"@id": "{file_id_text(bytearray(16), 0)}"}}')  # one entry of the action's list, in bytes


def _head_nodes(
    ids: Ids, summary: dict[str, Any]
) -> tuple[list[dict[str, Any]], str, dict[Any, str], dict[str, Any]]:
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
    for key, volume in partitions(summary).items():
        node = _volume(ids, volume)
        volume_ids[key] = node["@id"]
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


def build_case(summary: dict[str, Any], records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The JSON-LD document as one dict (for tests; ``CaseWriter`` writes the same graph as text)."""
    return json.loads(render_case(summary, records))


def render_case(summary: dict[str, Any], records: Iterable[dict[str, Any]]) -> bytes:
    """case.jsonld as UTF-8 bytes."""
    return render(CaseWriter, summary, records)
