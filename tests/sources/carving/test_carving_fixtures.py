"""The carving fixtures (fixtures/make_carving.py): known pictures left only in unallocated space or outside any
partition, shown there by The Sleuth Kit, and covered by our extents.

Built at test time into a temporary folder (~4 s, no mount needed).
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, need_tool
from triage.sources.carving.outside import outside_extents
from triage.sources.carving.unallocated import Extents, unallocated_extents
from triage.sources.containers import open_evidence
from triage.sources.filesystems import open_filesystem
from triage.sources.volumes import find_volumes

VOLUMES = ("carve_fat32.raw", "carve_ntfs.raw")


@pytest.fixture(scope="module")
def built(carving_fixtures: tuple[Path, dict[str, Any]]) -> tuple[Path, dict[str, Any]]:
    return carving_fixtures


def covers(ranges: list[tuple[int, int]], offset: int, size: int) -> bool:
    return any(start <= offset and offset + size <= start + length for start, length in ranges)


def extents(image: Path) -> list[tuple[int, Extents]]:
    evidence = open_evidence(image)
    try:
        volumes = find_volumes(evidence).partitions
        return [(v.offset, unallocated_extents(open_filesystem(evidence, v))) for v in volumes]
    finally:
        evidence.close()


def test_every_item_sits_at_its_recorded_offset(built: tuple[Path, dict[str, Any]]) -> None:
    out, description = built
    alert = (ROOT / "hashsets" / "demo_alert.md5").read_text()
    for name, entry in description["images"].items():
        data = (out / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        for item in entry["placed"]:
            assert hashlib.md5(data[item["offset"] : item["offset"] + item["size"]]).hexdigest() == item["md5"]
            assert (item["md5"] in alert) == (item["kind"] == "picture")  # the pictures are the known ones
            assert 20_000 <= item["size"] <= 300_000 or item["kind"] == "distractor"
    kinds = {item["name"]: item["kind"] for item in description["images"]["carve_fat32.raw"]["placed"]}
    assert kinds == {"known_02.jpg": "picture", "known_03.png": "picture", "known_04.jpg": "picture",
                     "fake_jfif.jpg": "distractor", "truncated.png": "distractor",
                     "header_garbage.jpg": "distractor"}


@pytest.mark.parametrize("name", VOLUMES)
def test_no_directory_entry_is_left(built: tuple[Path, dict[str, Any]], name: str) -> None:
    # $ fls -r carve_fat32.raw
    # r/r 3:	REFORMATTED (Volume Label Entry)
    # v/v 1160995:	$MBR
    # v/v 1160996:	$FAT1
    # v/v 1160997:	$FAT2
    # V/V 1160998:	$OrphanFiles
    # $ fls -r carve_ntfs.raw | grep -v '\$'     (only the reserved MFT entries 16-23 as orphans)
    # + -/r * 16:	OrphanFile-16 ... + -/r * 23:	OrphanFile-23
    out, description = built
    listing = subprocess.run([need_tool("fls"), "-r", str(out / name)], check=True, capture_output=True,
                             text=True).stdout.lower()
    for item in description["images"][name]["placed"]:
        assert item["name"].rsplit(".", 1)[0][:8] not in listing


@pytest.mark.parametrize("name", VOLUMES)
def test_blkls_shows_the_pictures_in_unallocated_space_and_extents_cover_them(
    built: tuple[Path, dict[str, Any]], name: str
) -> None:
    # $ blkls carve_fat32.raw > out; each file's bytes found in out (python bytes.find) at:
    #   known_02.jpg 1024, known_03.png 38912, known_04.jpg 226304, fake_jfif.jpg 259072,
    #   truncated.png 299520, header_garbage.jpg 310784
    # $ blkls carve_ntfs.raw > out:
    #   known_02.jpg 1019904, known_03.png 1060864, known_04.jpg 1249280, fake_jfif.jpg 1282048,
    #   truncated.png 1323008, header_garbage.jpg 1335296
    out, description = built
    image = out / name
    unallocated = subprocess.run([need_tool("blkls"), str(image)], check=True, capture_output=True).stdout
    data = image.read_bytes()
    [(_, free)] = extents(image)
    assert free.reason is None
    ours = b"".join(data[start : start + length] for start, length in free.ranges)
    assert hashlib.md5(ours).hexdigest() == hashlib.md5(unallocated).hexdigest()
    for item in description["images"][name]["placed"]:
        content = data[item["offset"] : item["offset"] + item["size"]]
        assert unallocated.find(content) >= 0
        assert covers(free.ranges, item["offset"], item["size"])


def test_mbr_picture_lies_outside_the_partition(built: tuple[Path, dict[str, Any]]) -> None:
    # $ mmls carve_mbr.raw
    # 000:  Meta      0000000000   0000000000   0000000001   Primary Table (#0)
    # 001:  -------   0000000000   0000002047   0000002048   Unallocated
    # 002:  000:000   0000002048   0000010239   0000008192   DOS FAT16 (0x06)
    # 003:  -------   0000010240   0000016383   0000006144   Unallocated
    out, description = built
    image = out / "carve_mbr.raw"
    evidence = open_evidence(image)
    try:
        gaps = outside_extents(find_volumes(evidence), evidence.media_size, evidence.read)
    finally:
        evidence.close()
    assert gaps.ranges == [(512, 2047 * 512), (10240 * 512, 6144 * 512)]
    placed = description["images"]["carve_mbr.raw"]["placed"]
    assert [(p["name"], p["offset"]) for p in placed] == [("known_04.jpg", 11000 * 512),
                                                           ("header_garbage.jpg", 64 * 512)]
    [(offset, free)] = extents(image)
    assert offset == 2048 * 512
    for item in placed:
        assert covers(gaps.ranges, item["offset"], item["size"])
        assert not covers(free.ranges, item["offset"], item["size"])  # not inside the file system
