"""The fast writers give exactly what the plain definitions give, on random records with hostile values.

Why: the per-record code of files.csv, dfxml.xml and case.jsonld builds text directly (issue 17: ElementTree and
``json.dumps`` of dicts cost most of a scan's report time); the reference here is the code it replaced (csv
module, ElementTree with ``indent``, ``json.dumps`` of the node dicts, ``uuid.uuid5``), run on a few thousand
random records whose strings mix markup, quotes, controls, lone surrogates, bidi overrides and NULs.
"""

from __future__ import annotations

import csv
import io
import json
import random
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from triage.report import JsonlRecords
from triage.report.case_nodes import CASE_UUID_NS, FACET_TIMES, HASH_NAMES, FastIds, Ids, file_json, relationship_json
from triage.report.case_uco import _content_facet, _datetime, _relationship
from triage.report.common import file_name, json_text, record_times, xml_text
from triage.report.csv_out import record_row, row_text
from triage.report.dfxml import DATETIME, TIME_ELEMENTS, fileobject

PIECES = ["a", "Z", "0", " ", "/", "\\", "&", "<", ">", '"', "'", "=", "+", "-", "@", "\t", "\r", "\n", "\x00",
          "\x1b", "\x7f", "\x85", "\u00a0", "é", "中", "😀", "\u202e", "\u200d", "\ud800", "\udcff", "\ufffe", " » ",
          ";", ":", "{", "\u2028", "\U000e0001", "x.jpg"]


def text(rng: random.Random, most: int = 10) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, most)))


def random_record(rng: random.Random, number: int) -> dict[str, Any]:
    """One files.jsonl object with each field drawn from plausible and hostile values."""
    path = rng.choice(["/Users/alex/" + text(rng), "/plain/file.txt", "", text(rng, 20)])
    times = {key: rng.choice([None, "2023-03-04T10:15:00Z", "2020-06-01T12:00:00.5Z", "2019-01-01T01:02:03",
                              "", text(rng, 4), 1700000000]) for key in ("modified", "accessed", "changed", "created")}
    record: dict[str, Any] = {
        "id": str(number), "parent": rng.choice([None, None, str(rng.randrange(number + 1))]),
        "origin": rng.choice(["filesystem", "carved", "archive", "=1+2"]),
        "location": rng.choice([path, path + " » " + text(rng), None]), "path": path,
        "volume": rng.choice([None, 2, 3, -1, "v" + text(rng, 2)]), "fs": rng.choice([None, "ntfs", text(rng, 3)]),
        "inode": rng.choice([None, 0, 5, -3, True, "12"]), "size": rng.choice([None, 0, 4096, -5, True, 1.5, "7"]),
        "allocated": rng.choice([True, False, None]),
        "md5": rng.choice([None, "", "d41d8cd98f00b204e9800998ecf8427e", text(rng, 3)]),
        "sha1": rng.choice([None, "da39a3ee5e6b4b0d3255bfef95601890afd80709"]),
        "sha256": rng.choice([None, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 17]),
        "type": rng.choice([None, "image/jpeg", "video/mp4", text(rng, 4)]),
        "ext_mismatch": rng.choice([True, False, None]), "times": rng.choice([times, times, None]),
        "pdq": rng.choice([None, "ab" * 32]), "pdq_quality": rng.choice([None, 88, -1, 0.5]),
        "phash": rng.choice([None, "-cd" + text(rng, 2)]), "known": rng.choice([True, False]),
        "matches": [{"hashset": text(rng, 4), "algorithm": rng.choice(["md5", "pdq"]),
                     "distance": rng.choice([None, 3]), "category": rng.choice([None, 1, "A", text(rng, 2)]),
                     "label": None}
                    for _ in range(rng.choice([0, 0, 1, 2]))],
        "errors": [text(rng) for _ in range(rng.choice([0, 0, 1, 2]))],
        "notes": [text(rng) for _ in range(rng.choice([0, 1]))],
    }
    if rng.random() < 0.3:
        record["byte_runs"] = [[0, rng.randrange(0, 10**7), rng.randrange(1, 5000)], [4096, 2048, 1]]
    for key in rng.sample(sorted(record), rng.choice([0, 0, 1, 3])):
        del record[key]
    return record


RECORDS = [random_record(random.Random(seed), seed) for seed in range(3000)]


def test_csv_rows_are_the_csv_modules() -> None:
    for record in RECORDS:
        buffer = io.StringIO(newline="")
        csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerow(record_row(record))
        assert row_text(record) == buffer.getvalue(), record


# ---- dfxml: the ElementTree code the text writer replaced (commit 67314aa) ----------------------------------------


def _sub(parent: ET.Element | None, tag: str, value: Any = None, **attrs: str) -> ET.Element:
    safe = {k: xml_text(str(v)) for k, v in attrs.items()}
    element = ET.Element(tag, safe) if parent is None else ET.SubElement(parent, tag, safe)
    if value is not None:
        element.text = xml_text(str(value))
    return element


def et_fileobject(record: dict[str, Any], partition: int, volume_offset: int | None) -> str:
    natural = lambda value: type(value) is int and value >= 0  # noqa: E731
    obj = _sub(None, "fileobject")
    location = record.get("location") or record.get("path") or ""
    _sub(obj, "filename", location.lstrip("/"))
    if record.get("errors"):
        _sub(obj, "error", "; ".join(str(error) for error in record["errors"]))
    _sub(obj, "partition", partition)
    if type(record.get("size")) is int:
        _sub(obj, "filesize", record["size"])
    _sub(obj, "alloc", "1" if record.get("allocated") else "0")
    inode = record.get("inode")
    if natural(inode):
        _sub(obj, "inode", inode)
    times = record_times(record)
    good = {key: bool(times[key]) and type(times[key]) is str and DATETIME.fullmatch(times[key]) for key in times}
    for key in TIME_ELEMENTS:
        if good[key]:
            _sub(obj, TIME_ELEMENTS[key], times[key], prec="1")
    if record.get("type"):
        _sub(obj, "libmagic", record["type"])
    if record.get("byte_runs"):
        runs = _sub(obj, "byte_runs")
        for file_offset, img_offset, length in record["byte_runs"]:
            where = {"file_offset": str(file_offset)}
            if volume_offset is not None and img_offset >= volume_offset:
                where["fs_offset"] = str(img_offset - volume_offset)
            _sub(runs, "byte_run", None, **where, img_offset=str(img_offset), len=str(length))
    for alg in ("md5", "sha1", "sha256"):
        if record.get(alg):
            _sub(obj, "hashdigest", record[alg], type=alg)
    if inode is not None and not natural(inode):
        _sub(obj, "triage:inode", inode)
    for key in TIME_ELEMENTS:
        if times[key] and not good[key]:
            _sub(obj, "triage:" + TIME_ELEMENTS[key], times[key])
    if record.get("parent") is not None and " » " in location:
        _sub(obj, "triage:container", location.rsplit(" » ", 1)[0].lstrip("/"))
    ET.indent(obj, space=" ", level=2)
    return "  " + ET.tostring(obj, encoding="unicode") + "\n"


@pytest.mark.parametrize("volume_offset", [None, 0, 1_048_576])
def test_dfxml_fileobjects_are_elementtrees(volume_offset: int | None) -> None:
    for record in RECORDS:
        assert fileobject(record, 3, volume_offset) == et_fileobject(record, 3, volume_offset), record


# ---- case.jsonld: the dict nodes and json.dumps the text writer replaced ---------------------------------------------


def dict_file(ids: Ids, record: dict[str, Any], file_id: str) -> dict[str, Any]:
    path = json_text(record.get("location") or record.get("path") or "")
    facet: dict[str, Any] = {
        "@id": ids.make("file-facet", file_id), "@type": "uco-observable:FileFacet",
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


@pytest.mark.parametrize("device", ["laptop", "dev\u00e9\\x1b\x1f", "\ud800odd"])
def test_case_nodes_are_json_dumps_of_the_dicts(device: str) -> None:
    ids, reference = Ids(json_text(device)), Ids(json_text(device))
    fast = FastIds(ids)
    for record in RECORDS + RECORDS[:50]:  # the repeats: the same volume, path and inode again get a counter
        value, file_id = fast.file(record)
        assert value == reference.file_uuid(record)
        assert file_id == f"kb:file-{uuid.UUID(bytes=value)}" and uuid.UUID(bytes=value).version == 5
        expected = json.dumps(dict_file(reference, record, file_id), ensure_ascii=False)
        assert file_json(fast, record, file_id) == expected, record
        target = "kb:volume-" + str(uuid.uuid5(CASE_UUID_NS, json_text(device)))
        assert relationship_json(fast, file_id, target) == json.dumps(
            _relationship(reference, file_id, target), ensure_ascii=False)


# ---- files.jsonl: the C scanner path reads what json.loads reads --------------------------------------------------


def test_jsonl_fast_path_reads_as_json_loads(tmp_path: Path) -> None:
    lines = [json.dumps(record) for record in RECORDS[:500]]  # as json_safe leaves them: no lone surrogate raw
    lines += ['{"name": "é中😀 » x"}', '  {"path": "/lead"}', '{"path": "/trail"}   ', "", "   ", '{"a": 1}\r',
              '{"a": "\\ud800"}', '{"a": 1, "a": 2}', '{"last": "no newline"}']
    path = tmp_path / "files.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    expected = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert list(JsonlRecords(path)) == expected


def test_uuid_set_is_a_set() -> None:
    """CASE's set of file UUIDs (``case_nodes.UuidSet``: flat arrays, for a million files) answers as a set."""
    import os

    from triage.report.case_nodes import UuidSet

    values = [os.urandom(16) for _ in range(20000)] + [bytes(16), b"\x00" * 15 + b"\x01"]
    kept, reference = UuidSet(), set()
    for value in values[::2] + values[:50]:
        assert kept.add_new(value) == (value not in reference)
        reference.add(value)
    assert len(kept) == len(reference)
    assert all((value in kept) == (value in reference) for value in values)
    assert "not bytes" not in kept and b"short" not in kept
    kept.reserve(100_000)  # room made with values in it (CaseWriter reserves before any, for the record count)
    assert len(kept) == len(reference) and all((value in kept) == (value in reference) for value in values)
    assert all(kept.add_new(value) == (value not in reference) for value in values[1::2])
    assert len(kept) == len(set(values))
