"""HashSets matching PDQ through a picture's rotated and mirrored variants (issue 15 part 4): the ``transform`` key."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from tests.known.test_hashset_matching import PDQ, PHASH, Write, flip_hex, md5, media, record, vics2
from triage.analysis.pdq import VARIANTS
from triage.known import HashSets

FAR = "a5" * 32  # 256 bits from PDQ ("5a" * 32): the picture as stored matches nothing


def dihedral(**found: str) -> tuple[str, ...]:
    """Seven variant hashes, FAR except those named (``flipy=...``)."""
    return tuple(found.get(name, FAR) for name in VARIANTS)


@pytest.fixture
def sets(write: Write, cache_dir: Path) -> HashSets:
    return HashSets.load([str(write("vics.json", vics2([media(1, md5("exact"), PDQ, PHASH)])))], cache_dir)


def test_a_mirrored_copy_matches_with_its_transform(sets: HashSets) -> None:
    rec = record(pdq=FAR, pdq_quality=90, pdq_dihedral=dihedral(flipy=flip_hex(PDQ, 3)))
    sets.match(rec)
    assert rec.matches == [{"hashset": "vics.json", "algorithm": "pdq", "distance": 3, "category": 1,
                            "label": "US Category 1", "transform": "flip-horizontal"}]


@pytest.mark.parametrize(("variant", "transform"), [
    ("rotate90", "rotate-90-cw"), ("rotate180", "rotate-180"), ("rotate270", "rotate-90-ccw"),
    ("flipx", "flip-vertical"), ("flipy", "flip-horizontal"), ("flipplus1", "transpose"),
    ("flipminus1", "transverse"),
])
def test_every_variant_names_its_transform(sets: HashSets, variant: str, transform: str) -> None:
    found = sets.lookup(pdq=FAR, pdq_quality=90, pdq_dihedral=dihedral(**{variant: PDQ}))[1]
    assert [(m["distance"], m["transform"]) for m in found] == [(0, transform)]


def test_the_picture_as_stored_keeps_todays_match_dict_and_wins_ties(sets: HashSets) -> None:
    """Same distance through the identity and a variant: the identity, without a ``transform`` key."""
    near = flip_hex(PDQ, 5)
    rec = record(pdq=near, pdq_quality=90, pdq_dihedral=dihedral(rotate180=near, flipy=flip_hex(PDQ, 9)))
    sets.match(rec)
    assert rec.matches == [{"hashset": "vics.json", "algorithm": "pdq", "distance": 5, "category": 1,
                            "label": "US Category 1"}]


def test_the_smallest_distance_wins_and_the_first_variant_on_ties(sets: HashSets) -> None:
    found = sets.lookup(pdq=flip_hex(PDQ, 20), pdq_quality=90,
                        pdq_dihedral=dihedral(flipx=flip_hex(PDQ, 4), rotate180=flip_hex(PDQ, 6),
                                              flipminus1=flip_hex(PDQ, 4)))[1]
    assert [(m["distance"], m.get("transform")) for m in found] == [(4, "flip-vertical")]


def test_threshold_and_quality_gate_apply_to_variants(write: Write, cache_dir: Path, sets: HashSets) -> None:
    variants = dihedral(rotate90=flip_hex(PDQ, 31))
    assert sets.lookup(pdq=FAR, pdq_quality=50, pdq_dihedral=variants)[1][0]["distance"] == 31
    assert sets.lookup(pdq=FAR, pdq_quality=49, pdq_dihedral=variants)[1] == []
    assert sets.lookup(pdq=FAR, pdq_quality=None, pdq_dihedral=variants)[1] == []
    assert sets.lookup(pdq=FAR, pdq_quality=90, pdq_dihedral=dihedral(rotate90=flip_hex(PDQ, 32)))[1] == []
    # the identity itself must be a valid hash: no PDQ, no variant matching
    assert sets.lookup(pdq=None, pdq_quality=90, pdq_dihedral=variants)[1] == []


def test_exact_match_still_suppresses_a_variant_match(sets: HashSets) -> None:
    found = sets.lookup(md5=md5("exact"), pdq=FAR, pdq_quality=90, pdq_dihedral=dihedral(flipy=PDQ))[1]
    assert [m["algorithm"] for m in found] == ["md5"]


def test_phash_is_matched_as_stored_only(sets: HashSets) -> None:
    found = sets.lookup(phash=PHASH, pdq=FAR, pdq_quality=90, pdq_dihedral=dihedral(flipy=flip_hex(PDQ, 2)))[1]
    assert [(m["algorithm"], m["distance"], m.get("transform")) for m in found] == [
        ("pdq", 2, "flip-horizontal"), ("phash", 0, None)]


def test_malformed_or_missing_variants_are_ignored(sets: HashSets) -> None:
    assert sets.lookup(pdq=FAR, pdq_quality=90, pdq_dihedral=("zz" * 32, "", PDQ[:10]))[1] == []
    assert sets.lookup(pdq=FAR, pdq_quality=90, pdq_dihedral=None)[1] == []
    assert sets.lookup(pdq=FAR, pdq_quality=90, pdq_dihedral=(FAR, PDQ))[1][0]["transform"] == "rotate-180"


def test_matching_twice_adds_nothing_and_the_variants_stay_out_of_files_jsonl(sets: HashSets) -> None:
    rec = record(pdq=FAR, pdq_quality=90, pdq_dihedral=dihedral(flipplus1=flip_hex(PDQ, 1)))
    sets.match(rec)
    sets.match(rec)
    assert [m["transform"] for m in rec.matches] == ["transpose"]
    assert "pdq_dihedral" not in rec.to_json()
    assert pickle.loads(pickle.dumps(rec)).pdq_dihedral == rec.pdq_dihedral  # survives the trip from a worker
