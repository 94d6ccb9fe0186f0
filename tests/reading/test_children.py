"""Archives inside a file system: their members are records of their own (issue 13), through the real scan.

The ext4 image is built by ``mkfs.ext4 -d`` from the archives ``fixtures/make_archives.py`` writes (zip, 7z,
tar.gz/.bz2/.xz, gzip, RAR4, RAR5, a zip nested three deep, a 10 GiB zip bomb, a zip nested 20 deep, an encrypted
member, a truncated 7z). The hash set knows pic_a.jpg by md5 and pic_b.png by PDQ only, so every copy of them,
in every archive and at every depth, must be found with its chain. Oracle for the archives' own records:
``fls -r -p a.raw`` lists ``r/r 12:	Downloads/mixed.zip`` … (one per archive, 16 in all).
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fixtures.make_archives import build_all, payloads
from triage.analysis.pictures import perceptual_hashes
from triage.known import HashSets
from triage.scan import ScanSettings, scan_device

MKFS = shutil.which("mkfs.ext4", path="/usr/sbin:/sbin:/usr/bin:/bin")


@pytest.fixture(scope="module")
def archive_disk(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if MKFS is None:
        pytest.skip("mkfs.ext4 missing (./setup.sh installs e2fsprogs)")
    work = tmp_path_factory.mktemp("archives")
    (work / "src" / "Downloads").mkdir(parents=True)
    build_all(work / "src" / "Downloads")
    image = work / "a.raw"
    with open(image, "wb") as fh:
        fh.truncate(64 << 20)
    subprocess.run([MKFS, "-q", "-d", str(work / "src"), str(image)], check=True)
    contents = payloads()
    pic_a, pic_b = contents["photos/pic_a.jpg"], contents["photos/pic_b.png"]
    pdq_b = perceptual_hashes(pic_b, mime="image/png").pdq
    hashset = work / "known.csv"
    with open(hashset, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["md5", "pdq", "category", "name"])
        writer.writerow([hashlib.md5(pic_a).hexdigest(), "", "A", "synthetic series a"])
        writer.writerow(["", pdq_b, "B", "synthetic series b"])
    return {"image": image, "hashset": hashset, "md5_a": hashlib.md5(pic_a).hexdigest(),
            "md5_b": hashlib.md5(pic_b).hexdigest()}


def _scan(disk: dict[str, Any], out: Path, jobs: int) -> tuple[dict[str, Any], list[dict[str, Any]], Path]:
    sets = HashSets.load([str(disk["hashset"])])
    target, summary = scan_device(disk["image"], out, ScanSettings(hashsets=sets, jobs=jobs))
    rows = [json.loads(line) for line in (target / "files.jsonl").read_text(encoding="utf-8").splitlines()]
    return summary, rows, target


@pytest.fixture(scope="module")
def scanned(archive_disk: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    summary, rows, target = _scan(archive_disk, tmp_path_factory.mktemp("out"), 1)
    return {"summary": summary, "rows": rows, "target": target, "by_location": {r["location"]: r for r in rows}}


def test_members_found_in_every_format_with_their_chain(scanned: dict[str, Any], archive_disk: dict[str, Any]) -> None:
    rows = scanned["by_location"]
    for archive in ("mixed.zip", "solid.7z", "plain.tar", "pack.tar.gz", "pack.tar.bz2", "pack.tar.xz",
                    "legacy.rar", "modern.rar"):
        member = rows[f"/Downloads/{archive} » photos/pic_a.jpg"]
        assert member["md5"] == archive_disk["md5_a"], archive
        assert member["origin"] == "archive" and member["path"] == "/photos/pic_a.jpg"
        parent = next(r for r in scanned["rows"] if r["id"] == member["parent"])
        assert parent["location"] == f"/Downloads/{archive}" and parent["origin"] == "filesystem"
        assert [m["algorithm"] for m in member["matches"]] == ["md5"]
        assert member["matches"][0]["category"] == "A"
        png = rows[f"/Downloads/{archive} » photos/pic_b.png"]
        assert png["md5"] == archive_disk["md5_b"] and png["pdq"] and png["pdq_quality"] >= 50
        assert [m["algorithm"] for m in png["matches"]] == ["pdq"] and png["matches"][0]["distance"] == 0
    single = rows["/Downloads/single.jpg.gz » original.jpg"]
    assert single["md5"] == archive_disk["md5_a"] and single["matches"]


def test_nested_zip_three_deep(scanned: dict[str, Any], archive_disk: dict[str, Any]) -> None:
    deep = scanned["by_location"]["/Downloads/nested.zip » level1/middle.zip » level2/inner.zip » photos/nested.jpg"]
    assert deep["md5"] == archive_disk["md5_a"] and deep["matches"]
    chain = []
    node: dict[str, Any] | None = deep
    while node is not None:
        chain.append(node["location"].rsplit(" » ", 1)[-1])
        node = next((r for r in scanned["rows"] if r["id"] == node["parent"]), None)
    assert chain == ["photos/nested.jpg", "level2/inner.zip", "level1/middle.zip", "/Downloads/nested.zip"]


def test_bounds_stop_bombs_and_are_noted(scanned: dict[str, Any]) -> None:
    """The 10 GiB zip bomb stops at the ratio bound and the 20-deep zip at depth 8, both in ``limits``."""
    limits = {entry["limit"]: entry for entry in scanned["summary"]["limits"]}
    assert limits["archive max_ratio"]["value"] == 1000 and "bomb.zip" in limits["archive max_ratio"]["effect"]
    assert limits["archive max_depth"]["value"] == 8 and "deep.zip" in limits["archive max_depth"]["effect"]
    bomb = scanned["by_location"]["/Downloads/bomb.zip » zeros.bin"]
    assert bomb["md5"] is None and "expansion stopped" in bomb["errors"][0]
    deepest = max((r for r in scanned["rows"] if r["location"].startswith("/Downloads/deep.zip")),
                  key=lambda r: r["location"].count(" » "))
    assert deepest["location"].count(" » ") == 8


def test_encrypted_and_truncated_are_errors_not_crashes(scanned: dict[str, Any]) -> None:
    rows = scanned["by_location"]
    assert rows["/Downloads/encrypted.zip » secret.txt"]["errors"] == ["encrypted member: not decrypted"]
    assert rows["/Downloads/encrypted.zip » plain.txt"]["md5"]
    truncated = rows["/Downloads/truncated.7z"]
    assert truncated["md5"] and truncated["errors"][0].startswith("archive not expanded")


def test_summary_counts_by_origin(scanned: dict[str, Any]) -> None:
    counts = scanned["summary"]["counts"]
    assert counts["by_origin"]["filesystem"] == 16  # `fls -r -p a.raw`: 16 r/r entries under Downloads/
    assert counts["by_origin"]["archive"] == len(scanned["rows"]) - 16
    assert counts["archives_expanded"] == 16
    assert counts["matched"] == sum(1 for r in scanned["rows"] if r["matches"])


def test_every_report_shows_the_chain(scanned: dict[str, Any]) -> None:
    target: Path = scanned["target"]
    chain = "/Downloads/nested.zip » level1/middle.zip » level2/inner.zip » photos/nested.jpg"
    assert chain in (target / "report.html").read_text(encoding="utf-8")
    assert chain in (target / "matched.csv").read_text(encoding="utf-8-sig")
    assert chain.lstrip("/") in (target / "dfxml.xml").read_text(encoding="utf-8")
    assert chain.lstrip("/") in (target / "vics.json").read_text(encoding="utf-8")
    graph = json.loads((target / "case.jsonld").read_text(encoding="utf-8"))["@graph"]
    files = {node["@id"]: node for node in graph if node["@type"] == "uco-observable:File"}
    paths = {fid: next(f["uco-observable:filePath"] for f in node["uco-core:hasFacet"]
                       if f["@type"] == "uco-observable:FileFacet") for fid, node in files.items()}
    inner = next(fid for fid, path in paths.items() if path == chain)
    contained = next(n for n in graph if n["@type"] == "uco-core:Relationship" and n["uco-core:source"]["@id"] == inner)
    assert paths[contained["uco-core:target"]["@id"]].endswith("level2/inner.zip")


def test_same_output_with_workers(scanned: dict[str, Any], archive_disk: dict[str, Any], tmp_path: Path) -> None:
    """Children come back from worker processes in any order; files.jsonl is the same as with one job."""
    _, rows, _ = _scan(archive_disk, tmp_path, 2)
    assert rows == scanned["rows"]
