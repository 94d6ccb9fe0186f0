"""thumbcache_*.db (Windows Vista to 11): every thumbnail found with the md5 of the picture put in, and its hash.

The caches are built by ``fixtures/make_thumbcaches.py`` to libwtcdb's "Windows Explorer Thumbnail Cache
database format" document; the finder is called directly (the scan pipeline wires it in elsewhere).
"""

from __future__ import annotations

import hashlib
import random
import struct
from pathlib import Path
from types import ModuleType

import pytest

from triage import defaults
from triage.analysis.typesniff import sniff
from triage.sources.embedded import Found, finder_for
from triage.sources.embedded.magic import picture_ext
from triage.sources.embedded.thumbcache import FINDER, crc64

EXT = {"JPEG": "jpg", "PNG": "png", "BMP": "bmp"}
WELL_FORMED = ["thumbcache_256_win7.db", "thumbcache_96_vista.db", "thumbcache_256_win8.db",
               "thumbcache_256_win81.db", "thumbcache_256.db"]


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def find(path: Path) -> Found:
    with path.open("rb") as handle:
        return FINDER.find(handle, path.stat().st_size)


def expected(fx: ModuleType, name: str) -> list[tuple[str, str, str, bool, bool]]:
    """(child name, identifier, md5, bad checksum, remnant) of every picture the fixture put in, in file order."""
    _, _, entries, remnants = fx.CACHES[name]
    rows = []
    for entry, remnant in [(e, False) for e in entries] + [(e, True) for e in remnants]:
        if entry.picture:
            ext = EXT[fx.PICTURES[entry.picture][1]]
            rows.append((f"{entry.entry_hash:016x}.{ext}", f"{entry.entry_hash:016x}", md5(fx.picture(entry.picture)),
                         entry.bad_checksum, remnant))
    return rows


def test_crc64_reproduces_the_documents_example_checksums() -> None:
    """Oracle: libwtcdb's format document, section "Entry hashes", prints two Windows 7 entry headers and their
    header checksums (0xa8ea5f607c65aad6 and 0x4d8b419f9128fe1d); the 40 bytes before each are rebuilt here."""
    first = struct.pack("<4sIQIIIIQ", b"CMMM", 80, 0x482D656EE647F25E, 32, 0, 0, 0, 0)
    second = struct.pack("<4sIQIIIIQ", b"CMMM", 128, 0x924BC51F9B84EE8, 80, 0, 0, 0, 0)
    assert crc64(first) == 0xA8EA5F607C65AAD6
    assert crc64(second) == 0x4D8B419F9128FE1D


def test_table_crc_equals_the_fixtures_bitwise_crc(fx: ModuleType) -> None:
    data = random.Random(1).randbytes(300)
    assert crc64(data) == fx.crc64_bitwise(data)
    assert crc64(data, 0) == fx.crc64_bitwise(data, 0)


@pytest.mark.parametrize("name", WELL_FORMED)
def test_every_thumbnail_found_with_its_md5_hash_and_offset(fx: ModuleType, caches: dict[str, Path],
                                                             name: str) -> None:
    found = find(caches[name])
    rows = [(item.name, item.identifier, md5(item.data), any("checksum does not match" in n for n in item.notes),
             any("free space" in n for n in item.notes)) for item in found.items]
    assert rows == expected(fx, name)
    raw = caches[name].read_bytes()
    for item in found.items:
        assert item.offset is not None and raw[item.offset : item.offset + len(item.data)] == item.data


def test_windows7_cache_holds_what_was_put_in(caches: dict[str, Path]) -> None:
    """Four pictures (JPEG, PNG with padding, BMP with a bad header checksum, a JPEG remnant in the free space);
    the two data-less entries (the document's examples) and the free-space entry yield nothing."""
    found = find(caches["thumbcache_256_win7.db"])
    assert [item.name for item in found.items] == ["3f2a9c0d1e5b7a11.jpg", "00c0ffee12345678.png",
                                                   "1122334455667788.bmp", "0badc0de0badc0de.jpg"]
    assert found.problems == []
    bad = found.items[2].notes
    assert "cache entry header checksum does not match (stored f8949fd4926702b4, computed f8949fd4926702b5)" in bad
    assert all("Windows 7" in item.notes[-1] for item in found.items)


def test_windows10_cache_notes_sizes_and_counts_data_that_is_no_picture(caches: dict[str, Path]) -> None:
    found = find(caches["thumbcache_256.db"])
    assert [item.name for item in found.items] == ["79dea834bece3f6b.jpg", "6c6f6e67206e616d.png",
                                                   "2b2b2b2b2b2b2b2b.jpg"]
    assert "entry header width x height: 120x90" in found.items[0].notes
    assert found.problems == ["thumbcache: 1 entries hold data that is not a JPEG, PNG or BMP"]


def test_vista_entry_notes_its_file_extension(caches: dict[str, Path]) -> None:
    found = find(caches["thumbcache_96_vista.db"])
    assert found.items[0].notes == ("file extension: jpg", "cache format: Windows Vista")


@pytest.mark.parametrize(("name", "problem"), [
    ("thumbcache_truncated.db", "thumbcache: entry at offset 2590 declares 5119 bytes, 184 remain: walk stopped"),
    ("thumbcache_hugesize.db", "thumbcache: entry at offset 2590 declares 4294967280 bytes, 5115 remain: walk "
                               "stopped"),
    ("thumbcache_garbage_entry.db", "thumbcache: entry at offset 2590 declares 2377149006 bytes, 4100 remain: "
                                    "walk stopped"),
])
def test_damaged_caches_give_what_precedes_the_damage(fx: ModuleType, caches: dict[str, Path], name: str,
                                                      problem: str) -> None:
    found = find(caches[name])
    assert [(item.name, md5(item.data)) for item in found.items] == [
        ("3f2a9c0d1e5b7a11.jpg", md5(fx.picture("holiday")))]
    assert found.problems == [problem]


def test_random_bytes_after_the_signature_are_not_read(caches: dict[str, Path]) -> None:
    found = find(caches["thumbcache_random.db"])
    assert found.items == []
    assert len(found.problems) == 1 and found.problems[0].startswith("thumbcache: unknown format version")
    assert sniff(caches["thumbcache_random.db"].read_bytes()[:512]) is None  # the version is checked


def test_every_truncation_and_bit_damage_is_survived(caches: dict[str, Path],
                                                     tmp_path: Path) -> None:
    """No prefix or damaged copy raises; whatever is yielded starts with a picture signature and is stored where
    its offset says."""
    raw = caches["thumbcache_256_win7.db"].read_bytes()
    rng = random.Random(2)
    copies = [raw[:cut] for cut in range(0, len(raw), 37)]
    for _ in range(60):
        damaged = bytearray(raw)
        for _ in range(8):
            damaged[rng.randrange(len(raw))] = rng.randrange(256)
        copies.append(bytes(damaged))
    for number, data in enumerate(copies):
        path = tmp_path / f"copy{number}.db"
        path.write_bytes(data)
        for item in find(path).items:
            assert picture_ext(item.data) is not None and item.offset is not None
            assert data[item.offset : item.offset + len(item.data)] == item.data


def test_limits_stop_the_walk_with_a_problem(caches: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(defaults, "THUMBCACHE_MAX_ENTRIES", 2)
    found = find(caches["thumbcache_256_win7.db"])
    assert len(found.items) == 2
    assert found.problems == ["thumbcache: walk stopped after 2 entries (THUMBCACHE_MAX_ENTRIES)"]
    monkeypatch.setattr(defaults, "THUMBCACHE_MAX_ENTRIES", 500_000)
    monkeypatch.setattr(defaults, "THUMBCACHE_MAX_ENTRY", 3000)
    found = find(caches["thumbcache_256_win7.db"])
    assert [item.name for item in found.items] == ["3f2a9c0d1e5b7a11.jpg"]
    assert found.problems == ["thumbcache: entry at offset 2590 declares 5119 bytes, over THUMBCACHE_MAX_ENTRY: "
                              "walk stopped"]


def test_index_file_is_not_wanted_and_holds_nothing(caches: dict[str, Path]) -> None:
    assert finder_for("thumbcache_idx.db", None) is None
    found = find(caches["thumbcache_idx.db"])
    assert found.items == [] and found.problems == ["thumbcache: an index file (IMMM), which holds no thumbnails"]


def test_wants_by_name_or_signature(caches: dict[str, Path]) -> None:
    mime = sniff(caches["thumbcache_256_win7.db"].read_bytes()[:512])
    assert mime == "application/x-thumbcache"
    assert FINDER.wants("thumbcache_256.db", None)
    assert FINDER.wants("C:\\Users\\x\\AppData\\Local\\Microsoft\\Windows\\Explorer\\THUMBCACHE_1024.DB", None)
    assert FINDER.wants("holiday-pics.bin", mime)  # a renamed cache, by its signature
    assert not FINDER.wants("iconcache_16.db", mime)  # application icons, never pictures here
    assert not FINDER.wants("Thumbs.db", "application/x-ole-storage")
    assert not FINDER.wants("thumbcache_256.db.txt", None)
    assert finder_for("thumbcache_256.db", None) is FINDER
