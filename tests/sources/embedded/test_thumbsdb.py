"""XP Thumbs.db: every thumbnail found with the md5 of the picture put in, named after the Catalog's original.

The compound file is written by ``fixtures/make_thumbcaches.py`` (its own [MS-CFB] writer: olefile only reads);
the finder is called directly.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from types import ModuleType

import olefile
import pytest

from triage import defaults
from triage.sources.embedded import Found, finder_for
from triage.sources.embedded.thumbsdb import FINDER


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def find(path: Path) -> Found:
    with path.open("rb") as handle:
        return FINDER.find(handle, path.stat().st_size)


def test_fixture_is_a_conforming_compound_file(fx: ModuleType, caches: dict[str, Path]) -> None:
    """olefile told to raise on every incorrect structure reads back each stream as written (mini and regular)."""
    streams = fx.thumbs_streams()
    with olefile.OleFileIO(str(caches["Thumbs.db"]), raise_defects=olefile.DEFECT_INCORRECT) as ole:
        assert sorted(ole.listdir()) == sorted([name] for name in streams)
        for name, data in streams.items():
            assert ole.openstream(name).read() == data
    assert any(len(data) < 4096 for data in streams.values()) and any(len(d) >= 4096 for d in streams.values())


def test_every_thumbnail_found_with_its_original_name_and_time(fx: ModuleType, caches: dict[str, Path]) -> None:
    found = find(caches["Thumbs.db"])
    rows = [(item.name, item.identifier, md5(item.data), item.notes) for item in found.items]
    gone = "C:\\Documents and Settings\\synthetic\\My Documents\\My Pictures\\gone.jpg"
    assert rows == [
        ("1 holiday.jpg", "1", md5(fx.picture("holiday")),
         ("thumbnail of holiday.jpg", "Catalog time: 2007-06-01T12:00:00Z")),
        ("2 beach party.png.jpg", "2", md5(fx.picture("small")),
         ("thumbnail of beach party.png", "Catalog time: 2007-06-02T08:30:00Z")),
        ("12 gone.jpg", "21", md5(fx.picture("old")),  # index 12 is stream "21": the digits reversed
         (f"thumbnail of {gone}", "Catalog time: 2006-12-24T18:00:00Z")),
        ("256_79dea834bece3f6b.png", "256_79dea834bece3f6b", md5(fx.picture("newstyle")),
         ("stream without a Catalog index",)),
    ]
    assert found.problems == [
        "Thumbs.db: 1 streams hold no JPEG/PNG/BMP (Windows 9x/2000 thumbnails have no signature): '7'",
        "Thumbs.db: 1 Catalog entries have no thumbnail stream: '3 missing.jpg'",
    ]


def test_damaged_catalog_still_names_what_it_can(caches: dict[str, Path]) -> None:
    found = find(caches["Thumbs_badcatalog.db"])
    assert [item.name for item in found.items] == ["1 holiday.jpg", "2 beach party.png.jpg", "12 gone.jpg",
                                                   "256_79dea834bece3f6b.png"]
    assert found.problems[0] == "Thumbs.db: Catalog ends after 4 of its 9 entries"


@pytest.mark.parametrize("name", ["Thumbs_corrupt.db", "Thumbs_truncated.db"])
def test_corrupt_compound_files_are_problems(caches: dict[str, Path], name: str) -> None:
    found = find(caches[name])
    assert found.items == []
    assert len(found.problems) == 1 and found.problems[0].startswith("Thumbs.db: damaged compound file: ")


def test_not_an_ole_file(caches: dict[str, Path]) -> None:
    found = find(caches["thumbcache_256.db"])
    assert found.items == [] and found.problems == ["Thumbs.db: not an OLE compound file (no D0CF11E0 signature)"]


def test_every_truncation_and_bit_damage_is_survived(caches: dict[str, Path],
                                                     tmp_path: Path) -> None:
    raw = caches["Thumbs.db"].read_bytes()
    rng = random.Random(3)
    copies = [raw[:cut] for cut in range(0, len(raw), 256)]
    for _ in range(60):
        damaged = bytearray(raw)
        for _ in range(8):
            damaged[rng.randrange(len(raw))] = rng.randrange(256)
        copies.append(bytes(damaged))
    for number, data in enumerate(copies):
        path = tmp_path / f"copy{number}.db"
        path.write_bytes(data)
        find(path)  # problems or pictures, never an exception


def test_limits(caches: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(defaults, "THUMBSDB_MAX_STREAM", 1000)
    found = find(caches["Thumbs.db"])
    assert [item.name for item in found.items] == ["2 beach party.png.jpg"]
    assert "Thumbs.db: stream '1' has 2498 bytes, over THUMBSDB_MAX_STREAM" in found.problems
    monkeypatch.setattr(defaults, "THUMBSDB_MAX_FILE", 4096)
    found = find(caches["Thumbs.db"])
    assert found.items == [] and found.problems == ["Thumbs.db: 13824 bytes, over THUMBSDB_MAX_FILE; not read"]


def test_wants_by_name() -> None:
    assert FINDER.wants("Thumbs.db", "application/x-ole-storage")
    assert FINDER.wants("D:\\photos\\THUMBS.DB", None)
    assert FINDER.wants("ehthumbs.db", None)
    assert not FINDER.wants("report.doc", "application/x-ole-storage")
    assert not FINDER.wants("Thumbs.db.bak", None)
    assert finder_for("Thumbs.db", "application/x-ole-storage") is FINDER
