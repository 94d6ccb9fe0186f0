"""Thumbnail caches on a device: every thumbnail a child record (origin thumbcache), hashed, matched and located.

fixtures/make_embedded.py puts fixtures/make_thumbcaches.py's Windows 10 thumbcache_256.db and XP Thumbs.db on a
FAT16 image where Windows keeps them. Oracle for the media offsets:

    $ fls -r -p embedded.raw | grep -i thumb
    r/r ...:  Users/alex/AppData/Local/Microsoft/Windows/Explorer/thumbcache_256.db
    r/r ...:  Pictures/Thumbs.db
    $ dd if=embedded.raw bs=1 skip=<child byte_runs media offset> count=<size> | md5sum  -> the thumbnail's md5
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, need_tool
from triage.known import HashSets
from triage.reading.embedded import map_runs
from triage.scan import ScanSettings, scan_device


def _module(name: str):  # type: ignore[no-untyped-def]
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "fixtures" / f"{name}.py")
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_map_runs_through_fragments() -> None:
    parent = [(0, 1000, 100), (100, 5000, 100)]
    assert map_runs(parent, 90, 20) == [(0, 1090, 10), (10, 5000, 10)]
    assert map_runs(parent, 150, 100) is None  # past the known runs: no runs rather than wrong ones
    assert map_runs(None, 0, 10) is None


@pytest.mark.parametrize("jobs", [1, 2])
def test_thumbnails_in_caches_found_and_matched(tmp_path: Path, jobs: int) -> None:
    need_tool("mkfs.fat")
    caches = _module("make_thumbcaches")
    image = tmp_path / "embedded.raw"
    _module("make_embedded").fat_with_pictures(image)
    known = tmp_path / "thumbs.md5"
    known.write_text(f"{md5(caches.picture('sunset'))}\n{md5(caches.picture('holiday'))}\n")
    sets = HashSets.load([str(known)], cache_dir=tmp_path / "cache")
    target, summary = scan_device(image, tmp_path / "out", ScanSettings(hashsets=sets, jobs=jobs))
    rows = {row["location"]: row for row in map(json.loads, (target / "files.jsonl").read_text().splitlines())}
    cache = rows["/Users/alex/AppData/Local/Microsoft/Windows/Explorer/thumbcache_256.db"]
    sunset = rows[f"{cache['location']} » 79dea834bece3f6b.jpg"]
    assert sunset["origin"] == "thumbcache" and sunset["parent"] == cache["id"]
    assert sunset["identifier"] == "79dea834bece3f6b" and sunset["md5"] == md5(caches.picture("sunset"))
    assert [m["algorithm"] for m in sunset["matches"]] == ["md5"]
    (run,) = sunset["byte_runs"]
    with image.open("rb") as media:
        media.seek(run[1])
        assert md5(media.read(run[2])) == sunset["md5"]
    assert "thumbcache: 1 entries hold data that is not a JPEG, PNG or BMP" in cache["notes"]
    assert cache["errors"] == []
    thumbs = rows["/Pictures/Thumbs.db"]
    gone = rows["/Pictures/Thumbs.db » 12 gone.jpg"]
    assert gone["origin"] == "thumbcache" and gone["identifier"] == "21"
    assert "thumbnail of C:\\Documents and Settings\\synthetic\\My Documents\\My Pictures\\gone.jpg" in gone["notes"]
    assert "byte_runs" not in gone  # a compound file's sectors are not contiguous: no runs rather than wrong ones
    holiday = rows["/Pictures/Thumbs.db » 1 holiday.jpg"]
    assert holiday["md5"] == md5(caches.picture("holiday")) and holiday["matches"]
    children = [row for row in rows.values() if row["parent"] in (cache["id"], thumbs["id"])]
    assert len(children) == 7 and all(row["origin"] == "thumbcache" for row in children)
    assert summary["matches_by_origin"] == {"thumbcache": 3}  # sunset once, holiday in both caches
