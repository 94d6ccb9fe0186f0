"""HashSets.match: roles, thresholds, PDQ quality gate, ordering, several sets, synthetic pictures."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.known.conftest import encode, load_fixture_generator, textured_picture, variants
from triage.analysis.pictures import perceptual_hashes
from triage.errors import HashSetError
from triage.known import HashSets, parse_spec
from triage.model.record import FileRecord

Write = Callable[[str, str | bytes], Path]
PDQ = "5a" * 32
PHASH = "0123456789abcdef"


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def flip_hex(value: str, bits: int) -> str:
    """The hex hash with its lowest ``bits`` bits inverted (distance exactly ``bits``)."""
    number = int(value, 16) ^ ((1 << bits) - 1)
    return f"{number:0{len(value)}x}"


def record(**hashes: Any) -> FileRecord:
    return FileRecord(path="/p.jpg", volume=0, fs="ntfs", inode=5, size=10, allocated=True, **hashes)


def vics2(media: list[dict[str, Any]], profile: str = "US") -> str:
    context = f"http://github.com/ICMEC/ProjectVic/DataModels/2.0.xml/{profile}/$metadata#Media"
    return json.dumps({"@odata.context": context, "value": media})


def media(
    category: Any, md5_hex: str | None = None, pdq: str | None = None, phash: str | None = None
) -> dict:
    alternatives = []
    if pdq:
        alternatives.append({"AlgorithmName": "PDQ", "HashValue": pdq})
    if phash:
        alternatives.append({"AlgorithmName": "pHash", "HashValue": phash})
    item: dict[str, Any] = {"MediaID": 1, "Category": category, "AlternativeHashes": alternatives}
    if md5_hex:
        item["MD5"] = md5_hex.upper()
    return item


def nsrl(path: Path, md5s: list[str]) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE DISTINCT_HASH (sha256 VARCHAR, sha1 VARCHAR, md5 VARCHAR)")
    conn.executemany("INSERT INTO DISTINCT_HASH VALUES ('', '', ?)", [(m.upper(),) for m in md5s])
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def perceptual_set(write: Write) -> Path:
    return write("vics.json", vics2([media(1, md5("exact"), PDQ, PHASH)]))


def test_exact_match_suppresses_same_category_perceptual_duplicates(
    perceptual_set: Path, cache_dir: Path
) -> None:
    sets = HashSets.load([str(perceptual_set)], cache_dir)
    rec = record(md5=md5("exact"), pdq=PDQ, pdq_quality=90, phash=PHASH)
    sets.match(rec)
    assert rec.matches == [
        {"hashset": "vics.json", "algorithm": "md5", "distance": 0, "category": 1, "label": "US Category 1"}
    ]
    assert rec.known is False


@pytest.mark.parametrize(("bits", "hit"), [(0, True), (31, True), (32, False)])
def test_pdq_threshold(perceptual_set: Path, cache_dir: Path, bits: int, hit: bool) -> None:
    sets = HashSets.load([str(perceptual_set)], cache_dir)
    rec = record(pdq=flip_hex(PDQ, bits), pdq_quality=50)
    sets.match(rec)
    assert [(m["algorithm"], m["distance"]) for m in rec.matches] == ([("pdq", bits)] if hit else [])


def test_pdq_threshold_override_and_quality_gate(perceptual_set: Path, cache_dir: Path) -> None:
    wide = HashSets.load([str(perceptual_set)], cache_dir, pdq_threshold=40, pdq_min_quality=80)
    assert wide.thresholds == {"pdq": 40, "pdq_min_quality": 80, "phash": 10}
    assert wide.lookup(pdq=flip_hex(PDQ, 36), pdq_quality=80)[1][0]["distance"] == 36
    assert wide.lookup(pdq=PDQ, pdq_quality=79)[1] == []
    assert wide.lookup(pdq=PDQ, pdq_quality=None)[1] == []


@pytest.mark.parametrize(("bits", "threshold", "hit"), [(10, 10, True), (11, 10, False), (11, 12, True)])
def test_phash_threshold(perceptual_set: Path, cache_dir: Path, bits: int, threshold: int, hit: bool) -> None:
    sets = HashSets.load([str(perceptual_set)], cache_dir, phash_threshold=threshold)
    matches = sets.lookup(phash=flip_hex(PHASH, bits))[1]
    assert [(m["algorithm"], m["distance"]) for m in matches] == ([("phash", bits)] if hit else [])


def test_several_sets_every_match_kept_in_deterministic_order(write: Write, cache_dir: Path) -> None:
    target = md5("target")
    b_set = write(
        "b_vics.json", vics2([media(2, target, PDQ), media(1, target), media("A", None, PDQ)], "UK")
    )
    a_list = write("a_list.md5", target + "\n")
    c_csv = write("c.csv", f"md5,pdq,category,name\n{target},{PDQ},3,series x\n")
    sets = HashSets.load([str(b_set), str(a_list), str(c_csv)], cache_dir)
    assert [d["name"] for d in sets.describe()] == ["b_vics.json", "a_list.md5", "c.csv"]
    rec = record(md5=target, pdq=flip_hex(PDQ, 2), pdq_quality=100)
    sets.match(rec)
    assert [
        (m["hashset"], m["algorithm"], m["distance"], m["category"], m["label"]) for m in rec.matches
    ] == [
        ("a_list.md5", "md5", 0, None, None),
        ("b_vics.json", "md5", 0, 1, "UK Category 1"),
        ("b_vics.json", "md5", 0, 2, "UK Category 2"),
        ("b_vics.json", "pdq", 2, "A", "UK Category A"),
        ("c.csv", "md5", 0, 3, "series x"),
    ]
    before = list(rec.matches)
    sets.match(rec)
    assert rec.matches == before


def test_known_good_sets_mark_known_and_add_no_match(write: Write, cache_dir: Path, tmp_path: Path) -> None:
    good, bad = md5("notepad.exe"), md5("alert")
    db = nsrl(tmp_path / "rds.db", [good, bad])
    alert = write("alert.md5", bad + "\n")
    known_csv = write("good.csv", f"md5,pdq\n{md5('x')},{PDQ}\n")
    sets = HashSets.load([str(db), f"alert:{alert}", f"known:{known_csv}"], cache_dir)
    assert [(d["name"], d["format"], d["role"]) for d in sets.describe()] == [
        ("rds.db", "nsrl-rds-v3", "known"),
        ("alert.md5", "hash-list", "alert"),
        ("good.csv", "csv", "known"),
    ]
    rec = record(md5=good)
    sets.match(rec)
    assert rec.known is True and rec.matches == []
    both = record(md5=bad)
    sets.match(both)
    assert both.known is True and [m["hashset"] for m in both.matches] == ["alert.md5"]
    similar = record(md5=md5("other"), pdq=PDQ, pdq_quality=100)
    sets.match(similar)
    assert similar.known is False and similar.matches == []  # known-good is exact-only


def test_spec_parsing(tmp_path: Path) -> None:
    assert parse_spec("alert:/x/y.json") == ("alert", Path("/x/y.json"))
    assert parse_spec("KNOWN:rds.db") == ("known", Path("rds.db"))
    assert parse_spec("/x/y.json") == (None, Path("/x/y.json"))
    odd = tmp_path / "known:odd.md5"
    odd.write_text(md5("a"))
    assert parse_spec(str(odd)) == (None, odd)


def test_bad_thresholds_are_refused(perceptual_set: Path, cache_dir: Path) -> None:
    with pytest.raises(HashSetError, match="PDQ threshold"):
        HashSets.load([str(perceptual_set)], cache_dir, pdq_threshold=300)
    with pytest.raises(HashSetError, match="pHash threshold"):
        HashSets.load([str(perceptual_set)], cache_dir, phash_threshold=-1)


def test_no_sets_matches_nothing(cache_dir: Path) -> None:
    sets = HashSets.load([], cache_dir)
    rec = record(md5=md5("a"))
    sets.match(rec)
    assert sets.describe() == [] and rec.matches == [] and not rec.known


# --- real (synthetic) pictures ------------------------------------------------------------------------


def picture_corpus(tmp_path: Path) -> tuple[dict[str, bytes], dict[str, bytes], dict[str, bytes]]:
    """(known originals, variants of the originals, unrelated pictures) as file bytes.

    Uses fixtures/make_pictures.py when it exists, else the seeded generator of this test package.
    """
    build = load_fixture_generator()
    if build is not None:
        out = tmp_path / "pictures"
        build(out)
        read = lambda pattern: {p.name: p.read_bytes() for p in sorted(out.glob(pattern))}  # noqa: E731
        known, near, unrelated = read("known/known_*"), read("variants/*"), read("unrelated/*")
        if known and near and len(unrelated) >= 30:
            return known, near, unrelated
    originals = {f"known_{i:02d}": textured_picture(i) for i in range(1, 7)}
    known = {f"{name}.png": encode(picture) for name, picture in originals.items()}
    near = {
        f"{name}_{kind}.jpg": data for name, pic in originals.items() for kind, data in variants(pic).items()
    }
    unrelated = {
        f"unrelated_{i:02d}.jpg": encode(textured_picture(1000 + i), "JPEG", quality=85) for i in range(32)
    }
    return known, near, unrelated


def hashed_record(name: str, data: bytes) -> FileRecord:
    result = perceptual_hashes(data)
    assert result.error is None, (name, result.error)
    return record(
        md5=hashlib.md5(data).hexdigest(),
        sha1=hashlib.sha1(data).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        pdq=result.pdq,
        pdq_quality=result.pdq_quality,
        phash=result.phash,
    )


def test_known_pictures_their_variants_match_and_unrelated_pictures_do_not(
    tmp_path: Path, write: Write, cache_dir: Path
) -> None:
    known, near, unrelated = picture_corpus(tmp_path)
    items = []
    for i, (name, data) in enumerate(sorted(known.items())):
        rec = hashed_record(name, data)
        items.append(
            {
                "MediaID": i,
                "Category": i % 3 + 1,
                "MD5": rec.md5,
                "SHA1": rec.sha1,
                "AlternativeHashes": [
                    {"AlgorithmName": "SHA256", "HashValue": rec.sha256},
                    {"AlgorithmName": "PDQ", "HashValue": rec.pdq},
                    {"AlgorithmName": "pHash", "HashValue": rec.phash},
                ],
            }
        )
    sets = HashSets.load([str(write("set.json", vics2(items)))], cache_dir)

    for name, data in known.items():
        rec = hashed_record(name, data)
        sets.match(rec)
        assert {m["algorithm"] for m in rec.matches} == {"md5", "sha1", "sha256"}, name

    for name, data in near.items():
        rec = hashed_record(name, data)
        sets.match(rec)
        assert rec.matches, f"variant {name} not matched"
        assert all(m["distance"] <= 31 for m in rec.matches)
        if "crop" in name:
            assert any(m["algorithm"] == "phash" for m in rec.matches), name

    false = []
    for name, data in unrelated.items():
        rec = hashed_record(name, data)
        sets.match(rec)
        if rec.matches:
            false.append((name, rec.matches))
    assert len(unrelated) >= 30
    assert false == []
    assert np.mean([hashed_record(n, d).pdq_quality for n, d in unrelated.items()]) >= 50
