"""Logical extractions given as evidence, through the real command line (issue 13): `triage scan phone.tar`.

The extractions are built by ``fixtures/make_extractions.py`` (Android-style tar and its compressed twins, an
iOS-style zip, a Cellebrite-style zip, a folder). The hash set knows IMG_0001.jpg by md5; a zip holding it is
added to a second tar, so an archive inside an extraction is expanded too.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from fixtures.make_archives import zip_bytes
from fixtures.make_extractions import android_entries, build

ROOT = Path(__file__).resolve().parents[3]


def triage(*args: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "triage.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT, check=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("extractions")
    paths = build(work / "ev")
    camera = next(e for e in android_entries() if e.path.endswith("IMG_0001.jpg"))
    known = hashlib.md5(camera.data).hexdigest()
    (work / "known.md5").write_text(f"{known}\n")
    with_zip = work / "ev" / "with_zip.tar"
    with tarfile.open(with_zip, "w") as tar:
        data = zip_bytes({"holiday/IMG_0001.jpg": camera.data})
        info = tarfile.TarInfo("sdcard/Download/photos.zip")
        info.size, info.mtime = len(data), 1_700_000_000
        tar.addfile(info, io.BytesIO(data))
    paths["with_zip.tar"] = with_zip
    return {"paths": paths, "hashset": work / "known.md5", "md5": known, "work": work}


def _load(folder: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    rows = [json.loads(line) for line in (folder / "files.jsonl").read_text(encoding="utf-8").splitlines()]
    return summary, rows


def _fingerprint(path: Path) -> list[tuple[str, int, int, int]]:
    if path.is_file():
        return [(hashlib.sha256(path.read_bytes()).hexdigest(), 0, 0, 0)]
    out = []
    for root, _dirs, files in os.walk(path):  # files only: this walk itself reads (and so touches) directories
        for name in sorted(files):
            st = os.lstat(os.path.join(root, name))
            out.append((os.path.join(root, name), st.st_size, st.st_mtime_ns, st.st_atime_ns))
    return sorted(out)


@pytest.mark.parametrize("name", ["android.tar", "android.tar.gz", "android.tar.bz2", "android.tar.xz",
                                  "folder"])
def test_android_extraction_scanned(built: dict[str, Any], tmp_path: Path, name: str) -> None:
    evidence = built["paths"][name]
    before = _fingerprint(evidence)
    proc = triage("scan", evidence, "-H", built["hashset"], "-o", tmp_path, "-j", "2")
    assert proc.returncode == 0, proc.stderr
    assert _fingerprint(evidence) == before  # content, and for the folder every atime, untouched
    summary, rows = _load(next(p for p in tmp_path.iterdir() if p.is_dir()))
    assert summary["volumes"] == [] and summary["evidence"]["extraction"] in ("tar", "tar.gz", "tar.bz2", "tar.xz",
                                                                              "folder")
    assert {r["origin"] for r in rows} == {"extraction"}
    hit = next(r for r in rows if r["path"] == "/sdcard/DCIM/Camera/IMG_0001.jpg")
    assert hit["md5"] == built["md5"] and hit["matches"][0]["algorithm"] == "md5"
    assert hit["pdq"] and hit["times"]["modified"]
    loop = next(r for r in rows if r["path"] == "/sdcard/Pictures/a")
    assert loop["md5"] is None and loop["notes"] == ["symlink to b"]  # recorded, never followed
    if evidence.is_file():
        computed = summary["evidence"]["computed_hashes"]
        assert computed["sha256"] == hashlib.sha256(evidence.read_bytes()).hexdigest()


def test_tar_and_compressed_tar_agree(built: dict[str, Any], tmp_path: Path) -> None:
    """The compressed tar is digested as it is walked; the plain one read by member: the same records."""
    got = {}
    for name in ("android.tar", "android.tar.xz"):
        assert triage("scan", built["paths"][name], "-o", tmp_path / name, "-j", "1").returncode == 0
        _, rows = _load(next((tmp_path / name).iterdir()))
        got[name] = [(r["path"], r["md5"], r["sha256"], r.get("pdq"), r["notes"]) for r in rows]
    assert got["android.tar"] == got["android.tar.xz"]


@pytest.mark.parametrize("name", ["ios.zip", "cellebrite.zip"])
def test_zip_extractions(built: dict[str, Any], tmp_path: Path, name: str) -> None:
    proc = triage("scan", built["paths"][name], "-o", tmp_path, "-j", "1")
    assert proc.returncode == 0, proc.stderr
    summary, rows = _load(next(tmp_path.iterdir()))
    assert summary["evidence"]["extraction"] == "zip" and rows
    assert all(r["origin"] == "extraction" for r in rows)
    if name == "cellebrite.zip":
        assert any(r["path"].endswith("Report.xml") or r["path"].endswith("report.xml") for r in rows)


def test_archive_inside_an_extraction_is_expanded(built: dict[str, Any], tmp_path: Path) -> None:
    proc = triage("scan", built["paths"]["with_zip.tar"], "-H", built["hashset"], "-o", tmp_path, "-j", "1")
    assert proc.returncode == 0, proc.stderr
    _, rows = _load(next(tmp_path.iterdir()))
    member = next(r for r in rows if r["origin"] == "archive")
    assert member["location"] == "/sdcard/Download/photos.zip » holiday/IMG_0001.jpg"
    assert member["md5"] == built["md5"] and member["matches"]
    assert member["parent"] == next(r["id"] for r in rows if r["path"] == "/sdcard/Download/photos.zip")


def test_case_discovers_extractions(built: dict[str, Any], tmp_path: Path) -> None:
    case = tmp_path / "case"
    case.mkdir()
    for name in ("android.tar.gz", "ios.zip"):
        (case / name).write_bytes(built["paths"][name].read_bytes())
    proc = triage("case", case, "-o", tmp_path / "out", "-j", "1")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "out" / "case.json").read_text(encoding="utf-8"))
    done = sorted((d["name"], d["status"]) for d in report["devices"])
    assert done == [("android.tar", "done"), ("ios", "done")], report["devices"]
