"""Every stream of every committed fixture device against The Sleuth Kit's `fls -r -p` + `icat`.

The oracle is fixtures/oracle/expected_<device>.json, written by fixtures/tsk_oracle.py from `fls` and `icat`
output (the raw `fls` text sits beside it as <device>.o<sector>.fls.txt). Excerpts are pasted next to the
assertions they back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, ROOT
from triage.scan import ScanSettings, scan_device

ORACLE = ROOT / "fixtures" / "oracle"

# fls -r -p -o 75776 laptop.raw:
#   r/r 8-128-1:	$BadClus:$Bad        icat returns 0 bytes: the stream is sparse, nothing stored on disk
#   r/r 9-144-3:	$Secure:$SDH         an index ($INDEX_ROOT/$INDEX_ALLOCATION), not a $DATA stream
#   -/r * 16:	$OrphanFiles/OrphanFile-16   reserved MFT entries 16-23: no $DATA attribute at all
SPARSE = {"/$BadClus:$Bad"}


def oracle(device: str) -> dict[str, Any]:
    return json.loads((ORACLE / f"expected_{device}.json").read_text())


def scan(device: str, tmp: Path, image: str | None = None, jobs: int = 1,
         carve: bool = True) -> tuple[dict, list[dict]]:
    target, summary = scan_device(FIXTURES / (image or oracle(device)["image"]), tmp,
                                  ScanSettings(jobs=jobs, carve=carve))
    rows = [json.loads(line) for line in (target / "files.jsonl").read_text().splitlines()]
    # fls lists file-system entries only: carved items are checked against blkls in tests/reading/test_carving.py
    return summary, [row for row in rows if row["origin"] != "carved"]


def keyed(summary: dict, rows: list[dict]) -> dict[tuple[int, str], dict]:
    offsets = {v["index"]: v["offset"] for v in summary["volumes"] if v["role"] == "partition"}
    return {(offsets[r["volume"]], r["path"]): r for r in rows}


def expected_streams(device: str) -> dict[tuple[int, str], dict]:
    """Oracle entries that are data streams holding data (index attributes and empty reserved entries out)."""
    return {
        (f["offset"], f["path"]): f
        for f in oracle(device)["files"]
        if f["data_stream"] and f["md5"] is not None and f["path"] not in SPARSE
    }


@pytest.mark.parametrize("device", ["laptop", "usb", "phone", "iso", "camera"])
def test_streams_equal_fls_and_icat(tmp_path: Path, device: str) -> None:
    summary, rows = scan(device, tmp_path)
    ours = keyed(summary, rows)
    expected = expected_streams(device)
    got = {k: (r["md5"], r["allocated"], r["size"]) for k, r in ours.items() if k[1] not in SPARSE}
    assert got == {k: (f["md5"], f["allocated"], f["size"]) for k, f in expected.items()}
    for path in SPARSE & {k[1] for k in ours}:
        row = next(r for k, r in ours.items() if k[1] == path)
        assert row["md5"] is None and row["errors"] == [] and "sparse" in row["notes"][0]


def test_deleted_files_recovered_on_fat32_ext4_ntfs(tmp_path: Path) -> None:
    # fls -r -p -d: r/r * 48: DCIM/100SYNTH/deleted_known_03.png (FAT32), r/r * 19: home/analyst/Pictures/known_06.jpg
    # (ext4), -/r * 72-128-2: Users/analyst/Pictures/known_06_copy.jpg (NTFS); icat gives the planted bytes.
    summary, rows = scan("laptop", tmp_path)
    ours = keyed(summary, rows)
    deleted = {k: f for k, f in expected_streams("laptop").items() if not f["allocated"] and not f["system"]}
    assert {f["fs"] for f in deleted.values()} == {"fat32", "ext4", "ntfs"}
    for key, f in deleted.items():
        assert ours[key]["allocated"] is False
        assert (ours[key]["md5"], ours[key]["sha256"]) == (f["md5"], f["sha256"]), key


def test_ads_and_wrong_extension(tmp_path: Path) -> None:
    summary, rows = scan("laptop", tmp_path, carve=False)  # its counts are of file-system entries
    by_path = {r["path"]: r for r in rows}
    thumb = by_path["/Users/analyst/Documents/readme.txt:thumb.png"]
    assert thumb["type"] == "image/png" and thumb["pdq"] is not None
    assert by_path["/Users/analyst/Pictures/known_04.jpg:Zone.Identifier"]["size"] == 63
    holiday = by_path["/Documents/holiday.txt"]
    assert holiday["type"] == "image/jpeg" and holiday["ext_mismatch"] is True
    assert summary["counts"]["deleted"] == sum(1 for r in rows if not r["allocated"])


def test_exfat_deleted_picture(tmp_path: Path) -> None:
    # fls -r -d -p camera.raw:  r/r * 649:	DCIM/100CANON/IMG_0003.JPG   (icat: the planted known_02.jpg)
    summary, rows = scan("camera", tmp_path, carve=False)  # its counts are of file-system entries
    row = next(r for r in rows if r["path"] == "/DCIM/100CANON/IMG_0003.JPG")
    assert row["fs"] == "exfat" and row["allocated"] is False
    assert row["md5"] == "3e3817d5f84a7e82cacc42caafd8206e" and row["type"] == "image/jpeg"
    assert summary["counts"]["pictures"] == 3  # the up-case table is not an icon


FORMATS = ["laptop_split.001", "laptop.E01", "laptop_seg.E01", "laptop.vmdk", "laptop.vhd", "laptop.vhdx",
           "laptop.qcow2"]


def digests(rows: list[dict]) -> list[tuple]:
    return [(r["volume"], r["path"], r["md5"], r["sha1"], r["sha256"], r.get("pdq"))
            for r in rows]


@pytest.fixture(scope="module")
def raw_rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    return scan("laptop", tmp_path_factory.mktemp("raw"))[1]


@pytest.mark.parametrize("image", FORMATS)
def test_every_container_gives_identical_hashes(tmp_path: Path, raw_rows: list[dict], image: str) -> None:
    summary, rows = scan("laptop", tmp_path, image=image, jobs=2)
    assert digests(rows) == digests(raw_rows)
    assert summary["evidence"]["media_size"] == 42991616
    if image.endswith(".E01"):
        # ewfinfo laptop.E01: Case number: SYNTH-CASE-2020-001 / Examiner name: Synthetic Examiner
        assert summary["evidence"]["verification"] == "verified"
        assert summary["evidence"]["acquisition"]["case_number"] == "SYNTH-CASE-2020-001"
