"""case.jsonld: the shapes CASE/UCO require, stable ids, and the case-utils validator when it is installed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.report.sample import sample_records, sample_summary
from triage.report.case_uco import CONTEXT, build_case, render_case
from triage.report.common import json_text

HEX = re.compile(r"[0-9a-f]+")
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
ID = re.compile(r"kb:[a-z-]+-[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    records = sample_records()
    return json.loads(render_case(sample_summary(records), records))


def nodes(doc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [n for n in doc["@graph"] if n["@type"] == kind]


def facet(node: dict[str, Any], kind: str) -> dict[str, Any]:
    (found,) = [f for f in node["uco-core:hasFacet"] if f["@type"] == kind]
    return found


def test_context(doc: dict[str, Any]) -> None:
    for prefix in ("uco-core", "uco-observable", "uco-types", "uco-vocabulary", "kb", "xsd"):
        assert prefix in doc["@context"]
    assert doc["@context"]["uco-observable"] == "https://ontology.unifiedcyberontology.org/uco/observable/"
    assert doc["@context"] == CONTEXT


def test_image(doc: dict[str, Any]) -> None:
    (image,) = nodes(doc, "uco-observable:Image")
    assert facet(image, "uco-observable:ImageFacet")["uco-observable:imageType"] == "EWF (E01)"
    assert facet(image, "uco-observable:FileFacet")["uco-observable:fileName"] == "laptop.E01"
    content = facet(image, "uco-observable:ContentDataFacet")
    assert content["uco-observable:sizeInBytes"] == 64_424_509_440
    methods = {h["uco-types:hashMethod"] for h in content["uco-observable:hash"]}
    assert methods == {"MD5", "SHA1"}


def test_every_record_is_a_file_with_facets(doc: dict[str, Any]) -> None:
    records = sample_records()
    files = nodes(doc, "uco-observable:File")
    assert len(files) == len(records)
    for node, record in zip(files, records, strict=True):
        file_facet = facet(node, "uco-observable:FileFacet")
        assert file_facet["uco-observable:filePath"] == json_text(record["path"])
        assert file_facet["uco-observable:sizeInBytes"] == record["size"]
        modified = file_facet["uco-observable:modifiedTime"]
        assert modified["@type"] == "xsd:dateTime" and ISO.fullmatch(modified["@value"])
        content = facet(node, "uco-observable:ContentDataFacet")
        hashes = content.get("uco-observable:hash", [])
        assert len(hashes) == (0 if record["errors"] else 3)
        for h in hashes:
            assert h["@type"] == "uco-types:Hash"
            assert h["uco-types:hashMethod"] in ("MD5", "SHA1", "SHA256")
            assert h["uco-types:hashValue"]["@type"] == "xsd:hexBinary"
            assert HEX.fullmatch(h["uco-types:hashValue"]["@value"])


def test_ids_unique_and_stable(doc: dict[str, Any]) -> None:
    ids: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if "@id" in value and len(value) > 1:
                ids.append(value["@id"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(doc["@graph"])
    assert len(ids) == len(set(ids))
    assert all(ID.fullmatch(i) for i in ids), [i for i in ids if not ID.fullmatch(i)][:3]
    records = sample_records()
    assert json.loads(render_case(sample_summary(records), records)) == doc
    assert build_case(sample_summary(records), records) == doc


def test_relationships_and_action(doc: dict[str, Any]) -> None:
    known = {n["@id"] for n in doc["@graph"]}
    relationships = nodes(doc, "uco-core:Relationship")
    for rel in relationships:
        assert rel["uco-core:kindOfRelationship"] == "Contained_Within"
        assert rel["uco-core:source"]["@id"] in known and rel["uco-core:target"]["@id"] in known
    assert len(relationships) == len(nodes(doc, "uco-observable:File")) + 3  # + three partitions
    (action,) = nodes(doc, "case-investigation:InvestigativeAction")
    assert action["uco-action:startTime"]["@value"] == "2024-01-16T08:00:00Z"
    assert len(action["uco-action:result"]) == len(sample_records())


def find_case_validate() -> str | None:
    """case_validate from $CASE_VALIDATE, the PATH, or beside this Python (a dev install)."""
    candidates = [os.environ.get("CASE_VALIDATE"), shutil.which("case_validate"),
                  str(Path(sys.executable).with_name("case_validate"))]
    return next((c for c in candidates if c and Path(c).is_file()), None)


def test_case_utils_validator(tmp_path: Path) -> None:
    tool = find_case_validate()
    if tool is None:
        pytest.skip("case_validate (pip install case-utils) not installed")
    records = sample_records()
    path = tmp_path / "case.jsonld"
    path.write_bytes(render_case(sample_summary(records, verification="mismatch"), records))
    done = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "Conforms: True" in done.stdout


@pytest.mark.parametrize("seed", ["", "a", "laptop\x1ffile\x1f0\x1f/Users/x.jpg\x1f12", "\u00e9\u4e2d\U0001f600" * 40])
def test_uuid5_bytes_is_the_standard_uuid5(seed: str) -> None:
    import uuid

    from triage.report.case_uco import CASE_UUID_NS, uuid5_bytes, uuid_text

    expected = uuid.uuid5(CASE_UUID_NS, seed)
    assert uuid5_bytes(seed) == expected.bytes
    assert uuid_text(uuid5_bytes(seed)) == str(expected)
