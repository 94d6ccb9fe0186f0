"""EXIF thumbnails: a JPEG whose thumbnail is a known picture while the main image is not is found and matched.

The fixture (fixtures/make_embedded.py) writes the thumbnail with piexif, an implementation independent of
triage's reader. Oracle for the media offset, on the FAT16 image it builds:

    $ fls -r embedded.raw
    d/d 3:  DCIM
    + r/r 517:      edited.jpg
    + r/r 518:      damaged.jpg
    + r/r 519:      plain.jpg
    $ dd if=embedded.raw bs=1 skip=<byte_runs media offset> count=<size> | md5sum   -> the thumbnail's md5
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import pytest

from tests.conftest import ROOT, need_tool
from triage.known import HashSets
from triage.scan import ScanSettings, scan_device
from triage.sources.embedded import exif

spec = importlib.util.spec_from_file_location("make_embedded", ROOT / "fixtures" / "make_embedded.py")
assert spec is not None and spec.loader is not None
make_embedded = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_embedded)


def test_reader_agrees_with_piexif() -> None:
    data, stored = make_embedded.edited_with_known_thumbnail()
    found = exif.thumbnail(data, "image/jpeg")
    assert found.data == stored
    assert found.offset is not None and data[found.offset : found.offset + len(stored)] == stored


@pytest.mark.parametrize("data", [b"", b"\xff\xd8", b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00II*\x00\xff\xff\xff\xff",
                                  b"\xff\xd8\xff\xe1\xff\xffExif\x00\x00MM\x00*\x00\x00\x00\x08\x7f\xff",
                                  bytes(range(256)) * 8])
def test_damaged_or_absent_exif_gives_nothing(data: bytes) -> None:
    found = exif.thumbnail(data, "image/jpeg")
    assert found.data is None


def test_claim_past_the_block_is_explained() -> None:
    found = exif.thumbnail(make_embedded.damaged_exif(), "image/jpeg")
    assert found.data is None and found.problem == "EXIF thumbnail (5000 bytes at 40) runs past the EXIF block"


@pytest.mark.parametrize("jobs", [1, 2])
def test_thumbnail_found_matched_and_located(tmp_path: Path, jobs: int) -> None:
    need_tool("mkfs.fat")
    image = tmp_path / "embedded.raw"
    files = make_embedded.fat_with_pictures(image)
    _, stored = make_embedded.edited_with_known_thumbnail()
    md5_list = tmp_path / "thumb.md5"
    md5_list.write_text(hashlib.md5(stored).hexdigest() + "\n")
    sets = HashSets.load([str(ROOT / "hashsets" / "demo_vics2.json"), str(md5_list)], cache_dir=tmp_path / "cache")
    target, summary = scan_device(image, tmp_path / "out", ScanSettings(hashsets=sets, jobs=jobs))
    rows = [json.loads(line) for line in (target / "files.jsonl").read_text().splitlines()]
    by_location = {row["location"]: row for row in rows}
    parent = by_location["/DCIM/edited.jpg"]
    child = by_location["/DCIM/edited.jpg » EXIF thumbnail"]
    assert parent["md5"] == hashlib.md5(files["edited.jpg"]).hexdigest()
    assert parent["matches"] == []  # the main picture is not known
    assert child["origin"] == "exif-thumbnail" and child["parent"] == parent["id"] == "0" and child["id"] == "0.1"
    assert child["md5"] == hashlib.md5(stored).hexdigest() and child["size"] == len(stored)
    assert {m["algorithm"] for m in child["matches"]} >= {"md5", "pdq"}
    (run,) = child["byte_runs"]
    with image.open("rb") as media:
        media.seek(run[1])
        assert media.read(run[2]) == stored
    damaged = by_location["/DCIM/damaged.jpg"]
    assert damaged["notes"] == ["EXIF thumbnail (5000 bytes at 40) runs past the EXIF block"]
    assert not any(row["location"].startswith("/DCIM/plain.jpg »") for row in rows)
    assert summary["counts"]["files"] == 13  # 5 files, the EXIF thumbnail, 7 thumbnails in the two caches
    assert summary["matches_by_origin"] == {"exif-thumbnail": 1}
    page = (target / "report.html").read_text()
    assert "EXIF thumbnail inside a picture (may show the picture as it was before an edit)" in page
    assert "<img" not in page and "data:image" not in page  # examiner welfare: never a picture


def test_heic_exif_item_thumbnail() -> None:
    """The EXIF item of a HEIF container (meta/iinf/iloc, ISO/IEC 23008-12), found without decoding the picture."""
    data, stored = make_embedded.heic_with_known_thumbnail()
    found = exif.thumbnail(data, "image/heic")
    assert found.data == stored
    assert found.offset is not None and data[found.offset : found.offset + len(stored)] == stored


def test_damaged_heic_gives_nothing() -> None:
    data, _ = make_embedded.heic_with_known_thumbnail()
    for cut in range(0, len(data), 7):
        assert exif.thumbnail(data[:cut], "image/heic").data in (None, exif.thumbnail(data, "image/heic").data)
    assert exif.thumbnail(data.replace(b"Exif\x00\x00", b"Exif\x00\x00"[::-1]), "image/heic").data is None
