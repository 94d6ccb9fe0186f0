"""Carving on scanned devices: known pictures left only in unallocated space or outside every partition are
found with the original's md5 at the offsets fixtures/make_carving.py recorded, and matched (md5 and PDQ).

Oracle (on the images fixtures/make_carving.py builds; the commands it ran are in its carving.json):

    $ fls -r carve_fat32.raw            -> no KNOWN_0* entry (the volume was re-formatted after they were copied)
    $ blkls carve_fat32.raw | md5 of the 37888 bytes at the placed offset -> 3e3817d5f84a7e82cacc42caafd8206e
    $ mmls carve_mbr.raw                -> one FAT16 partition at sector 2048, 8192 sectors; known_04 at byte
                                           5632000 lies after it
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, need_tool
from triage.known import HashSets
from triage.scan import ScanSettings, scan_device

SETS = [str(ROOT / "hashsets" / "demo_vics2.json"), str(ROOT / "hashsets" / "demo_alert.md5")]


@pytest.fixture(scope="module")
def built(carving_fixtures: tuple[Path, dict[str, Any]]) -> tuple[Path, dict[str, Any]]:
    return carving_fixtures


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> HashSets:
    return HashSets.load(SETS, cache_dir=tmp_path_factory.mktemp("cache"))


def scan(image: Path, out: Path, sets: HashSets, **settings: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    target, summary = scan_device(image, out, ScanSettings(hashsets=sets, jobs=2, **settings))
    return summary, [json.loads(line) for line in (target / "files.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("image", ["carve_fat32.raw", "carve_ntfs.raw", "carve_mbr.raw"])
def test_pictures_carved_with_original_md5_and_matched(built: tuple[Path, dict[str, Any]], sets: HashSets,
                                                      tmp_path: Path, image: str) -> None:
    folder, manifest = built
    summary, rows = scan(folder / image, tmp_path, sets)
    carved = {row["byte_runs"][0][1]: row for row in rows if row["origin"] == "carved"}
    placed = manifest["images"][image]["placed"]
    for item in placed:
        if item["kind"] == "picture":
            row = carved.pop(item["offset"])
            assert row["md5"] == item["md5"] and row["size"] == item["size"]
            assert row["byte_runs"] == [[0, item["offset"], item["size"]]]
            assert "md5" in {m["algorithm"] for m in row["matches"]}  # exact matches stand for the perceptual ones
            assert row["pdq"] and row["pdq_quality"] >= 50
            assert not row["allocated"] and row["path"].startswith("$Carved/")
    assert carved == {}  # no distractor carved
    carving = summary["carving"]
    assert carving["enabled"] and carving["contiguous_only"] and carving["not_carved"] == []
    dropped = sum(n for reasons in carving["dropped"].values() for n in reasons.values())
    assert dropped == sum(item["kind"] == "distractor" for item in placed)
    assert summary["matches_by_origin"]["carved"] == sum(item["kind"] == "picture" for item in placed)


def test_no_carve(built: tuple[Path, dict[str, Any]], sets: HashSets, tmp_path: Path) -> None:
    folder, _ = built
    summary, rows = scan(folder / "carve_fat32.raw", tmp_path, sets, carve=False)
    assert summary["carving"] == {"enabled": False}
    assert not any(row["origin"] == "carved" for row in rows)


def test_carved_copy_of_an_allocated_picture_is_kept_and_marked(built: tuple[Path, dict[str, Any]], sets: HashSets,
                                                                tmp_path: Path) -> None:
    """known_04 lies outside the partition; the same picture copied into the partition is an allocated file."""
    need_tool("mcopy")
    folder, _ = built
    image = tmp_path / "carve_mbr_copy.raw"
    shutil.copyfile(folder / "carve_mbr.raw", image)
    picture = tmp_path / "known_04.jpg"
    with image.open("rb") as media:
        media.seek(5632000)
        picture.write_bytes(media.read(32389))
    subprocess.run(["mcopy", "-i", f"{image}@@{2048 * 512}", str(picture), "::/COPY.JPG"], check=True,
                   env={"PATH": "/usr/bin:/bin", "MTOOLS_SKIP_CHECK": "1"})
    summary, rows = scan(image, tmp_path / "out", sets)
    (carved,) = [row for row in rows if row["origin"] == "carved"]
    assert carved["notes"] == ["same content as allocated file /COPY.JPG"]
    assert summary["carving"]["same_as_listed_file"] == 1


def test_ctrl_c_swallowed_by_a_read_callback_still_stops_carving() -> None:
    """pytsk3 turns a KeyboardInterrupt raised in our read callback into an IOError; the carver records read
    errors and goes on, so the Ctrl-C flag (``interrupts``) must stop it."""
    from triage.reading import interrupts
    from triage.reading.carving import _interruptible
    from triage.sources.carving.carver import carve

    def swallowed(offset: int, size: int) -> bytes:
        interrupts._PRESSED.set()  # what the SIGINT handler does before its KeyboardInterrupt is swallowed
        raise OSError("tsk_img_read: read error")

    try:
        with pytest.raises(KeyboardInterrupt):
            list(carve(_interruptible(swallowed), [(0, 64 << 20)]))
    finally:
        interrupts._PRESSED.clear()
