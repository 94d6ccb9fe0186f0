"""Exact-hash index: fixed-width keys sorted in byte order, searched by binary search.

Why this shape: a sorted array of fixed-width keys is the most compact structure that answers "is this md5 in
the set?" in O(log n) — 16 bytes per md5 plus a 1-4 byte tag, no pointers — and it can be memory-mapped
straight from the cache file, so a 100M-entry set costs only the pages a lookup touches (about log2(n) of
them), not gigabytes of RSS. Keys are stored as numpy ``S<width>`` strings because numpy's byte-string order
is byte-wise (memcmp) order and ``np.searchsorted`` works on them directly, without a copy.

Sorting 10M keys with a general byte-string sort is slow, so the sort is done on the first 8 bytes as a
big-endian integer (one fast integer argsort) and only the runs that share those 8 bytes — duplicates,
essentially — are re-sorted on their full key.
"""

from __future__ import annotations

import numpy as np


def tag_dtype(max_tag: int) -> np.dtype:
    """Smallest unsigned dtype for tag ids (most sets have a handful of categories: one byte per entry)."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if max_tag <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    raise ValueError("too many distinct (category, label) pairs")


def sort_unique(keys: np.ndarray, tags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort (key, tag) pairs in byte order of the key and drop exact duplicate pairs.

    Args:
        keys: uint8 matrix, one hash per row.
        tags: tag id per row.

    Returns:
        (keys as a 1-D ``S<width>`` array, tags in the smallest dtype), both sorted and de-duplicated.
    """
    n, width = keys.shape
    out_tags = tag_dtype(int(tags.max()) if len(tags) else 0)
    if n == 0:
        return np.zeros(0, dtype=f"S{width}"), np.zeros(0, dtype=out_tags)
    keys = np.ascontiguousarray(keys, dtype=np.uint8)
    head = np.zeros((n, 8), dtype=np.uint8)
    head[:, : min(8, width)] = keys[:, :8]
    prefix = head.view(">u8").ravel().astype(np.uint64)
    del head
    order = np.argsort(prefix)
    sorted_prefix = prefix[order]
    del prefix
    same = sorted_prefix[1:] == sorted_prefix[:-1]
    if same.any():
        in_tie = np.zeros(n, dtype=bool)
        in_tie[1:] |= same
        in_tie[:-1] |= same
        positions = np.flatnonzero(in_tie)
        members = order[positions]
        words_n = -(-width // 8)
        padded = np.zeros((len(members), words_n * 8), dtype=np.uint8)
        padded[:, :width] = keys[members]
        words = padded.view(">u8").astype(np.uint64)
        sort_keys = (tags[members], *(words[:, j] for j in reversed(range(words_n))))
        order[positions] = members[np.lexsort(sort_keys)]
    sorted_keys = keys[order]
    sorted_tags = tags[order].astype(out_tags)
    if n > 1:
        duplicate = (sorted_keys[1:] == sorted_keys[:-1]).all(axis=1) & (sorted_tags[1:] == sorted_tags[:-1])
        if duplicate.any():
            keep = np.concatenate(([True], ~duplicate))
            sorted_keys, sorted_tags = sorted_keys[keep], sorted_tags[keep]
    return np.ascontiguousarray(sorted_keys).view(f"S{width}").reshape(-1), sorted_tags


class ExactIndex:
    """Binary search over sorted ``S<width>`` keys (usually memory-mapped) with a parallel tag array."""

    def __init__(self, keys: np.ndarray, tags: np.ndarray) -> None:
        self.keys = keys
        self.tags = tags
        self.width = keys.dtype.itemsize

    def __len__(self) -> int:
        return len(self.keys)

    def lookup(self, value: bytes) -> np.ndarray:
        """Tag ids of every entry whose key equals ``value`` (empty array if none)."""
        if len(value) != self.width:
            return self.tags[:0]
        query = np.array(value, dtype=self.keys.dtype)
        lo = int(np.searchsorted(self.keys, query, side="left"))
        hi = int(np.searchsorted(self.keys, query, side="right"))
        return self.tags[lo:hi]

    def contains_many(self, values: np.ndarray) -> np.ndarray:
        """Vectorised membership test for an ``S<width>`` array of queries (bulk checks and benchmarks)."""
        values = values.astype(self.keys.dtype, copy=False)
        pos = np.searchsorted(self.keys, values, side="left")
        found = pos < len(self.keys)
        found[found] = self.keys[pos[found]] == values[found]
        return found
