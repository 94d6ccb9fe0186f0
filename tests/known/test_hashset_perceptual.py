"""Multi-index hashing must return exactly what a brute-force Hamming scan returns."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triage.known.perceptual_index import PerceptualIndex, build_perceptual, probe_masks


def brute_force(hashes: np.ndarray, query: np.ndarray, threshold: int) -> dict[bytes, int]:
    """{hash bytes: distance} of every stored hash within the threshold (the oracle)."""
    bits = np.unpackbits(hashes ^ query, axis=1).sum(axis=1)
    return {bytes(h): int(d) for h, d in zip(hashes, bits, strict=True) if d <= threshold}


def flip(value: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    bits = np.unpackbits(value)
    bits[rng.choice(len(bits), count, replace=False)] ^= 1
    return np.packbits(bits)


def found(index: PerceptualIndex, query: np.ndarray, threshold: int, strategy: str) -> dict[bytes, int]:
    rows, distances = index.search(query.tobytes(), threshold, strategy)
    return {bytes(index.hashes[r]): int(d) for r, d in zip(rows.tolist(), distances.tolist(), strict=True)}


def test_probe_masks_cover_every_value_within_the_radius() -> None:
    assert [len(probe_masks(r)) for r in range(4)] == [1, 17, 137, 697]
    assert len(probe_masks(16)) == 65536
    assert probe_masks(0).tolist() == [0]


@pytest.mark.parametrize(
    ("width", "thresholds"),
    [(32, [0, 1, 15, 16, 31, 32, 47, 70]), (8, [0, 3, 4, 10, 12, 20])],
    ids=["pdq", "phash"],
)
def test_mih_equals_brute_force_with_planted_neighbours(width: int, thresholds: list[int]) -> None:
    rng = np.random.default_rng(width)
    base = rng.integers(0, 256, (4000, width), dtype=np.uint8)
    queries = [base[int(rng.integers(0, len(base)))] for _ in range(12)]
    planted = [flip(q, int(d), rng) for q in queries for d in rng.integers(0, 3 * width, 6)]
    hashes = np.concatenate([base, np.array(planted)])
    index = PerceptualIndex(**build_perceptual(hashes, np.zeros(len(hashes), dtype=np.uint32)))
    queries += [rng.integers(0, 256, width, dtype=np.uint8) for _ in range(4)]
    for query in queries:
        for threshold in thresholds:
            want = brute_force(hashes, query, threshold)
            assert found(index, query, threshold, "mih") == want
            assert found(index, query, threshold, "linear") == want
            assert found(index, query, threshold, "auto") == want


@settings(max_examples=60, deadline=None)
@given(
    stored=st.lists(st.binary(min_size=8, max_size=8), min_size=1, max_size=60),
    query=st.binary(min_size=8, max_size=8),
    threshold=st.integers(min_value=0, max_value=64),
)
def test_mih_equals_brute_force_for_any_phash_set(stored: list[bytes], query: bytes, threshold: int) -> None:
    hashes = np.frombuffer(b"".join(stored), dtype=np.uint8).reshape(-1, 8)
    index = PerceptualIndex(**build_perceptual(hashes, np.zeros(len(hashes), dtype=np.uint32)))
    q = np.frombuffer(query, dtype=np.uint8)
    assert found(index, q, threshold, "mih") == brute_force(hashes, q, threshold)


def test_duplicates_with_different_tags_are_kept_apart() -> None:
    value = np.arange(32, dtype=np.uint8)
    hashes = np.stack([value, value, value])
    index = PerceptualIndex(**build_perceptual(hashes, np.array([1, 2, 1], dtype=np.uint32)))
    rows, distances = index.search(value.tobytes(), 0, "mih")
    assert sorted(index.tags[rows].tolist()) == [1, 2]
    assert distances.tolist() == [0, 0]


def test_wrong_query_width_or_empty_index_finds_nothing() -> None:
    index = PerceptualIndex(
        **build_perceptual(np.zeros((1, 8), dtype=np.uint8), np.zeros(1, dtype=np.uint32))
    )
    assert len(index.search(b"\0" * 7, 10)[0]) == 0
    empty = PerceptualIndex(
        **build_perceptual(np.zeros((0, 8), dtype=np.uint8), np.zeros(0, dtype=np.uint32))
    )
    assert len(empty.search(b"\0" * 8, 10)[0]) == 0


@pytest.mark.parametrize("offsets", [False, True])
@pytest.mark.parametrize(("width", "thresholds"), [(32, [0, 15, 16, 31, 32, 47]), (8, [0, 4, 10, 12])],
                         ids=["pdq", "phash"])
def test_search_many_equals_one_search_per_query_and_brute_force(
    width: int, thresholds: list[int], offsets: bool
) -> None:
    """A picture's eight PDQ variants go in one call; with or without the offsets table the answer is exact."""
    rng = np.random.default_rng(width + offsets)
    base = rng.integers(0, 256, (3000, width), dtype=np.uint8)
    queries = [base[int(rng.integers(0, len(base)))] for _ in range(4)]
    planted = [flip(q, int(d), rng) for q in queries for d in rng.integers(0, 3 * width, 8)]
    hashes = np.concatenate([base, np.array(planted)])
    built = build_perceptual(hashes, np.zeros(len(hashes), dtype=np.uint32), offsets=offsets)
    assert ("mih_offsets" in built) is offsets
    index = PerceptualIndex(**built)
    queries += [rng.integers(0, 256, width, dtype=np.uint8), queries[0]]  # a stranger and a repeat
    as_bytes = [q.tobytes() for q in queries]
    for threshold in thresholds:
        for strategy in ("mih", "linear", "auto"):
            many = index.search_many([*as_bytes[:2], b"short", *as_bytes[2:]], threshold, strategy)
            assert len(many[2][0]) == 0  # a query of the wrong width finds nothing, the others are unaffected
            del many[2]
            for query, (rows, distances) in zip(queries, many, strict=True):
                assert rows.tolist() == sorted(rows.tolist())
                got = {bytes(index.hashes[r]): int(d) for r, d in zip(rows.tolist(), distances.tolist(), strict=True)}
                assert got == brute_force(hashes, query, threshold)
                assert got == found(index, query, threshold, strategy)


def test_offsets_table_only_for_large_sets() -> None:
    """Sets of OFFSETS_FROM entries or more get it (4 MiB for PDQ: no larger than their keys); smaller ones don't."""
    from triage.known.perceptual_index import OFFSETS_FROM

    small = build_perceptual(np.zeros((5, 32), dtype=np.uint8), np.zeros(5, dtype=np.uint32))
    assert "mih_offsets" not in small
    rng = np.random.default_rng(1)
    large = build_perceptual(rng.integers(0, 256, (OFFSETS_FROM, 8), dtype=np.uint8),
                             np.zeros(OFFSETS_FROM, dtype=np.uint32))
    table = large["mih_offsets"]
    assert len(table) == (4 << 16) + 1 and table[-1] == len(large["mih_keys"])
    keys = large["mih_keys"]
    for key in (0, 1, 12345, (3 << 16) | 65535):
        assert (table[key], table[key + 1]) == (np.searchsorted(keys, key), np.searchsorted(keys, key, "right"))
