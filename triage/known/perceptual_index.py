"""Hamming-distance search over PDQ (256-bit) and pHash (64-bit) hashes by multi-index hashing.

Why multi-index hashing (Norouzi et al.): split each hash into ``m`` chunks of 16 bits. If two hashes differ
in at most ``r`` bits, then by the pigeonhole principle at least one chunk differs in at most ``r // m`` bits.
So a query only has to look at entries that share, in some chunk, a value within ``r // m`` bits of its own
chunk: for PDQ (m = 16, r = 31) that is 16 chunks x 17 probe values; for pHash (m = 4, r = 10) 4 x 137. Each
probe is a binary search in one sorted array of ``chunk_index << 16 | chunk_value`` keys, all probes of a
query in one vectorised ``np.searchsorted``. Candidates are then checked exactly with a popcount. The result
is exact (no false negatives), unlike a BK-tree it needs no pointers, and every array can be memory-mapped.

When the set is so small that the probes outnumber the entries, scanning everything is cheaper and the index
does that (same answer).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from triage.known.exact_index import sort_unique

CHUNK_BITS = 16


@lru_cache(maxsize=32)
def probe_masks(radius: int) -> np.ndarray:
    """All 16-bit XOR masks with at most ``radius`` bits set (the chunk values to probe around a query)."""
    values = np.arange(1 << CHUNK_BITS, dtype=np.uint32)
    counts = np.bitwise_count(values)
    masks = values[counts <= radius]
    return masks[np.argsort(np.bitwise_count(masks), kind="stable")]


def build_perceptual(keys: np.ndarray, tags: np.ndarray) -> dict[str, np.ndarray]:
    """Build the arrays of a perceptual index from raw hashes (uint8 matrix) and their tag ids.

    Returns:
        ``hashes`` (n x width uint8, sorted and de-duplicated with ``tags``), ``tags``, ``mih_keys`` (uint32,
        sorted) and ``mih_ids`` (uint32 row of ``hashes`` for each key).
    """
    width = keys.shape[1]
    sorted_keys, sorted_tags = sort_unique(keys, tags)
    hashes = sorted_keys.view(np.uint8).reshape(-1, width)
    n = len(hashes)
    chunks = width * 8 // CHUNK_BITS
    values = hashes.view(">u2").astype(np.uint32)  # n x chunks
    combined = (np.arange(chunks, dtype=np.uint32) << CHUNK_BITS)[None, :] | values
    flat = combined.ravel()
    order = np.argsort(flat, kind="stable")
    return {
        "hashes": np.ascontiguousarray(hashes),
        "tags": sorted_tags,
        "mih_keys": flat[order],
        "mih_ids": (order // chunks).astype(np.uint32) if n else np.zeros(0, dtype=np.uint32),
    }


class PerceptualIndex:
    """Exact r-neighbour search by Hamming distance over one perceptual algorithm of one set."""

    def __init__(
        self, hashes: np.ndarray, tags: np.ndarray, mih_keys: np.ndarray, mih_ids: np.ndarray
    ) -> None:
        self.hashes = hashes
        self.words = hashes.view(np.uint64)  # n x (width / 8), for popcount
        self.tags = tags
        self.mih_keys = mih_keys
        self.mih_ids = mih_ids
        self.width = hashes.shape[1]
        self.chunks = self.width * 8 // CHUNK_BITS

    def __len__(self) -> int:
        return len(self.hashes)

    def _distances(self, rows: np.ndarray, query: bytes) -> np.ndarray:
        q = np.frombuffer(query, dtype=np.uint64)
        return np.bitwise_count(self.words[rows] ^ q).sum(axis=1, dtype=np.int64)

    def _candidates(self, query: bytes, radius: int) -> np.ndarray:
        masks = probe_masks(radius)
        q = np.frombuffer(query, dtype=">u2").astype(np.uint32)
        base = (np.arange(self.chunks, dtype=np.uint32) << CHUNK_BITS)[:, None]
        probes = (base | (q[:, None] ^ masks[None, :])).ravel()
        lo = np.searchsorted(self.mih_keys, probes, side="left")
        hi = np.searchsorted(self.mih_keys, probes, side="right")
        lengths = hi - lo
        hit = lengths > 0
        lo, lengths = lo[hit], lengths[hit]
        total = int(lengths.sum())
        if total == 0:
            return np.zeros(0, dtype=np.int64)
        starts = np.repeat(lo - (np.cumsum(lengths) - lengths), lengths)
        return np.unique(self.mih_ids[starts + np.arange(total)])

    def search(self, query: bytes, threshold: int, strategy: str = "auto") -> tuple[np.ndarray, np.ndarray]:
        """Rows within ``threshold`` bits of ``query``.

        Args:
            query: the hash, ``width`` bytes.
            threshold: largest Hamming distance that counts as a match.
            strategy: "mih", "linear", or "auto" (linear only when probes would outnumber entries).

        Returns:
            (row indices, distances), both sorted by row.
        """
        n = len(self.hashes)
        if n == 0 or len(query) != self.width or threshold < 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        radius = min(threshold // self.chunks, CHUNK_BITS)
        if strategy == "auto":
            strategy = "linear" if self.chunks * len(probe_masks(radius)) >= n else "mih"
        rows = np.arange(n) if strategy == "linear" else self._candidates(query, radius)
        distances = self._distances(rows, query)
        keep = distances <= threshold
        return rows[keep], distances[keep]
