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
