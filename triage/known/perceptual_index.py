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

import itertools
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


OFFSETS_FROM = 1 << CHUNK_BITS  # entries from which a set gets the offsets table (no larger than its keys then)


def build_perceptual(keys: np.ndarray, tags: np.ndarray, offsets: bool | None = None) -> dict[str, np.ndarray]:
    """Build the arrays of a perceptual index from raw hashes (uint8 matrix) and their tag ids.

    Returns:
        ``hashes`` (n x width uint8, sorted and de-duplicated with ``tags``), ``tags``, ``mih_keys`` (uint32,
        sorted), ``mih_ids`` (uint32 row of ``hashes`` for each key) and, for sets of ``OFFSETS_FROM`` entries
        or more (or as ``offsets`` says), ``mih_offsets``: where each possible key starts in ``mih_keys``.
        Why the table: a key is a chunk index and a 16-bit value, so there are only ``chunks << 16`` of them;
        a probe then costs two reads instead of two binary searches through millions of keys (~3x faster on a
        million PDQ hashes, bench/RESULTS.md), which matters once every picture is matched eight ways.
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
    out = {
        "hashes": np.ascontiguousarray(hashes),
        "tags": sorted_tags,
        "mih_keys": flat[order],
        "mih_ids": (order // chunks).astype(np.uint32) if n else np.zeros(0, dtype=np.uint32),
    }
    if offsets if offsets is not None else n >= OFFSETS_FROM:
        counts = np.bincount(out["mih_keys"], minlength=chunks << CHUNK_BITS)
        table = np.zeros(len(counts) + 1, dtype=np.uint32 if len(flat) < 2**32 else np.uint64)
        np.cumsum(counts, out=table[1:])
        out["mih_offsets"] = table
    return out


class PerceptualIndex:
    """Exact r-neighbour search by Hamming distance over one perceptual algorithm of one set."""

    def __init__(
        self, hashes: np.ndarray, tags: np.ndarray, mih_keys: np.ndarray, mih_ids: np.ndarray,
        mih_offsets: np.ndarray | None = None,
    ) -> None:
        self.hashes = hashes
        self.words = hashes.view(np.uint64)  # n x (width / 8), for popcount
        self.tags = tags
        self.mih_keys = mih_keys
        self.mih_ids = mih_ids
        self.mih_offsets = mih_offsets  # None: an index compiled without it (small, or an older cache)
        self.width = hashes.shape[1]
        self.chunks = self.width * 8 // CHUNK_BITS

    def __len__(self) -> int:
        return len(self.hashes)

    def _bounds(self, probes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where each probe key's entries start and end in ``mih_keys``."""
        if self.mih_offsets is not None:
            return self.mih_offsets[probes].astype(np.int64), self.mih_offsets[probes + 1].astype(np.int64)
        return (np.searchsorted(self.mih_keys, probes, side="left"),
                np.searchsorted(self.mih_keys, probes, side="right"))

    def _candidates(self, queries: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
        """(query number, row) of every entry sharing a chunk within ``radius`` bits with a query (repeats kept)."""
        masks = probe_masks(radius)
        values = queries.view(">u2").astype(np.uint32)  # q x chunks
        base = (np.arange(self.chunks, dtype=np.uint32) << CHUNK_BITS)[None, :, None]
        probes = (base | (values[:, :, None] ^ masks[None, None, :])).ravel()
        lo, hi = self._bounds(probes)
        lengths = hi - lo
        query_of_probe = np.repeat(np.arange(len(queries)), self.chunks * len(masks))
        hit = lengths > 0
        lo, lengths, query_of_probe = lo[hit], lengths[hit], query_of_probe[hit]
        total = int(lengths.sum())
        starts = np.repeat(lo - (np.cumsum(lengths) - lengths), lengths)
        return np.repeat(query_of_probe, lengths), self.mih_ids[starts + np.arange(total)].astype(np.int64)

    def search_many(
        self, queries: list[bytes], threshold: int, strategy: str = "auto"
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """``search`` for several queries at once (a picture's eight PDQ variants): one pass of numpy calls.

        Candidates are checked with repeats and only the few within ``threshold`` de-duplicated, rather than
        sorting every candidate first.
        """
        n = len(self.hashes)
        empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
        valid = [len(query) == self.width for query in queries]
        usable = [query for query, ok in zip(queries, valid, strict=True) if ok]
        if n == 0 or threshold < 0 or not usable:
            return [empty for _ in queries]
        radius = min(threshold // self.chunks, CHUNK_BITS)
        if strategy == "auto":
            strategy = "linear" if self.chunks * len(probe_masks(radius)) >= n else "mih"
        matrix = np.frombuffer(b"".join(usable), dtype=np.uint8).reshape(len(usable), self.width)
        if strategy == "linear":  # a small set: every row, once per query, already in order
            found = iter([self._within(self.words ^ query, threshold) for query in matrix.view(np.uint64)])
            return [next(found) if ok else empty for ok in valid]
        which, rows = self._candidates(matrix, radius)
        candidates = self.words[rows]
        cuts = np.searchsorted(which, np.arange(len(usable) + 1)).tolist()
        for number, (start, end) in enumerate(itertools.pairwise(cuts)):  # ``which`` is sorted
            candidates[start:end] ^= matrix[number].view(np.uint64)
        keep, distances = self._within(candidates, threshold)
        which, rows = which[keep], rows[keep]
        if len(rows) > 1:
            key, first = np.unique(which * n + rows, return_index=True)  # sorted by query, then row
            which, rows, distances = key // n, key % n, distances[first]
        cuts = np.searchsorted(which, np.arange(len(usable) + 1)).tolist()
        found = iter([(rows[a:b], distances[a:b]) for a, b in itertools.pairwise(cuts)])
        return [next(found) if ok else empty for ok in valid]

    @staticmethod
    def _within(xored: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray]:
        """Positions (and distances) of the XORed hashes with at most ``threshold`` bits set.

        Popcounts added column by column: several times faster than ``sum(axis=1)`` over four columns.
        """
        counts = np.bitwise_count(xored)
        distances = counts[:, 0].astype(np.int64)
        for column in range(1, counts.shape[1]):
            distances += counts[:, column]
        keep = np.flatnonzero(distances <= threshold)
        return keep, distances[keep]

    def search(self, query: bytes, threshold: int, strategy: str = "auto") -> tuple[np.ndarray, np.ndarray]:
        """Rows within ``threshold`` bits of ``query``.

        Args:
            query: the hash, ``width`` bytes.
            threshold: largest Hamming distance that counts as a match.
            strategy: "mih", "linear", or "auto" (linear only when probes would outnumber entries).

        Returns:
            (row indices, distances), both sorted by row.
        """
        return self.search_many([query], threshold, strategy)[0]
