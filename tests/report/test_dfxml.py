"""dfxml.xml: parses whatever the names hold, and gives the names back."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.report.sample import sample_records, sample_summary
from triage.report.common import xml_text
from triage.report.dfxml import DFXML_NS, TRIAGE_NS, render_dfxml

NS = {"d": DFXML_NS, "t": TRIAGE_NS, "dc": "http://purl.org/dc/elements/1.1/"}


@pytest.fixture(scope="module")
def root() -> ET.Element:
    records = sample_records()
    return ET.fromstring(render_dfxml(sample_summary(records, verification="mismatch"), records))


def test_document_shape(root: ET.Element) -> None:
    assert root.tag == f"{{{DFXML_NS}}}dfxml"
    assert root.get("version") == "1.2.0"
    assert root.findtext("d:metadata/dc:type", namespaces=NS) == "Disk Image"
    assert root.findtext("d:creator/d:program", namespaces=NS) == "triage"
    assert root.findtext("d:creator/d:version", namespaces=NS) == "0.1.0"
    command = root.findtext("d:creator/d:execution_environment/d:command_line", namespaces=NS)
    assert command == "triage scan /cases/2024-0117/laptop.E01 -H alert:demo.json -o 'out dir'"
    assert [e.text for e in root.findall("d:source/d:image_filename", NS)] == [
        "/cases/2024-0117/laptop.E01", "/cases/2024-0117/laptop.E02"]
    assert [child.tag.split("}")[1] for child in root.find("d:source", NS)] == ["image_filename"] * 2
    # What DFXML's <source> cannot hold follows the volumes, in triage's namespace (the schema's xs:any).
    assert root[-1].tag == f"{{{TRIAGE_NS}}}source"
    assert root.findtext("t:source/t:image_size", namespaces=NS) == "64424509440"
    assert root.find("t:source/t:verification", NS).get("status") == "mismatch"
    volumes = root.findall("d:volume", NS)
    assert [v.get("offset") for v in volumes] == ["1048576", "53688139776", "55835623424"]
    assert [v.findtext("d:ftype_str", namespaces=NS) for v in volumes] == ["ntfs", "fat32", "unknown"]
    assert [v.findtext("t:partition_index", namespaces=NS) for v in volumes] == ["2", "3", "4"]
    assert volumes[2].findtext("d:error", namespaces=NS) == "encrypted volume (BitLocker) not opened"


def test_one_fileobject_per_record(root: ET.Element) -> None:
    """Every record once, under its own volume, with every field DFXML has a place for."""
    records = sample_records()
    objects = {o.findtext("d:filename", namespaces=NS): o for o in root.iterfind(".//d:fileobject", NS)}
    assert len(objects) == len(records)
    for record in records:
        obj = objects[xml_text(record["path"].lstrip("/"))]
        assert obj.findtext("d:filesize", namespaces=NS) == str(record["size"])
        assert obj.findtext("d:alloc", namespaces=NS) == ("1" if record["allocated"] else "0")
        assert obj.findtext("d:inode", namespaces=NS) == str(record["inode"])
        # <partition> counts the volumes written from 1, as fiwalk does; the volume's slot is its partition_index.
        assert obj.findtext("d:partition", namespaces=NS) == {2: "1", 3: "2"}[record["volume"]]
        digests = {h.get("type"): h.text for h in obj.findall("d:hashdigest", NS)}
        expected = {alg: record[alg] for alg in ("md5", "sha1", "sha256") if record[alg]}
        assert digests == expected
        assert obj.findtext("d:mtime", namespaces=NS) == record["times"]["modified"]
        assert obj.findtext("d:crtime", namespaces=NS) == record["times"]["created"]
        # The schema allows one <error>: several are joined as files.csv joins them.
        assert obj.findtext("d:error", namespaces=NS) == ("; ".join(record["errors"]) or None)
    fat = root.findall("d:volume", NS)[1]
    assert [o.findtext("d:filename", namespaces=NS) for o in fat.iterfind("d:fileobject", NS)] == [
        "DCIM/100MEDIA/IMG_0001.JPG"]


def test_hostile_names_round_trip(root: ET.Element) -> None:
    names = {e.text for e in root.iterfind(".//d:fileobject/d:filename", NS)}
    assert "Users/alex/hostile/<script>alert(1)<.txt" in names
    assert 'Users/alex/hostile/=HYPERLINK("http://x","y")' in names
    assert 'Users/alex/hostile/"quotes".jpg' in names
    assert "Users/alex/hostile/plain & <b>bold</b>.jpg" in names
    assert "Users/alex/hostile/\\x1b[31mred.jpg" in names
    assert "Users/alex/hostile/bad\\xff.jpg" in names
    assert "Users/alex/hostile/two\\x0alines.png" in names
    assert "Users/alex/hostile/\\x09TAB.jpg" in names
    assert "Users/alex/hostile/invoice\u202egpj.exe" in names  # valid XML: kept as the character itself


@pytest.mark.parametrize("bad", ["\x00", "\x1f", "\ud800", "\udcff", "\ufffe", "\r", "\x85"])
def test_any_character_stays_valid(bad: str) -> None:
    records = sample_records()[:1]
    records[0]["path"] = f"/x{bad}y"
    summary = sample_summary(records)
    summary["volumes"][1]["label"] = f"L{bad}"
    summary["evidence"]["acquisition"]["notes"] = f"n{bad}"
    root = ET.fromstring(render_dfxml(summary, records))
    assert root.findtext(".//d:fileobject/d:filename", namespaces=NS) == xml_text(f"x{bad}y")
    assert "\\" in xml_text(f"x{bad}y")


def test_escape_rules() -> None:
    from triage.report.common import json_text, visible

    assert xml_text("plain ü 😀") == "plain ü 😀"
    assert xml_text("a\\b\x00") == "a\\\\b\\x00"  # backslash doubled once anything is escaped
    assert xml_text("\x85\udcff\ud800") == "\\u0085\\xff\\ud800"  # a character, a byte, a lone surrogate
    assert json_text("a\x1b\udcfe") == "a\x1b\\xfe"
    assert visible("a\u202eb\u00a0c") == "a\\u202eb\u00a0c"  # bidi override shown, no-break space kept
    assert visible("😀\U000e0001") == "😀\\U000e0001"


def test_byte_runs_point_at_each_streams_content(tmp_path: Path) -> None:
    """On laptop.raw every <byte_run> names media bytes that, joined, hash to the stream's md5 (fiwalk's shape:
    file_offset, fs_offset, img_offset, len); streams TSK cannot place (resident NTFS data, $BadClus:$Bad) have
    none."""
    import hashlib

    from tests.conftest import fixture_image
    from triage.scan import ScanSettings, scan_device

    image = fixture_image("laptop.raw")
    target, _ = scan_device(image, tmp_path, ScanSettings(jobs=1))
    root = ET.parse(target / "dfxml.xml").getroot()
    media = image.read_bytes()
    placed = 0
    volume_of = {obj: int(volume.get("offset")) for volume in root.iterfind("d:volume", NS)
                 for obj in volume.iterfind("d:fileobject", NS)}
    for obj in root.iterfind(".//d:fileobject", NS):
        runs = obj.findall("d:byte_runs/d:byte_run", NS)
        assert all(int(r.get("fs_offset")) == int(r.get("img_offset")) - volume_of[obj] for r in runs)
        md5 = {h.get("type"): h.text for h in obj.findall("d:hashdigest", NS)}.get("md5")
        if not runs:
            continue
        placed += 1
        offsets = [int(run.get("file_offset")) for run in runs]
        assert offsets == sorted(offsets) and offsets[0] == 0
        content = b"".join(media[int(r.get("img_offset")):int(r.get("img_offset")) + int(r.get("len"))] for r in runs)
        assert len(content) == int(obj.findtext("d:filesize", namespaces=NS))
        assert hashlib.md5(content).hexdigest() == md5, obj.findtext("d:filename", namespaces=NS)
    assert placed == 53  # of 60 streams: 7 resident, empty or sparse; 3 carved (tests/golden/laptop.files.jsonl)


@pytest.mark.parametrize("value", ["0", "1048576", "a&b<c>d", 'say "x"', "it's", "both ' and \"", "tab\tnl\ncr\r", ""])
def test_quoteattr_is_saxutils_quoteattr(value: str) -> None:
    from xml.sax.saxutils import quoteattr as reference

    from triage.report.dfxml import quoteattr

    assert quoteattr(value) == reference(value)
