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

import contextlib
import os

import numpy as np

FENCE_STRIDE = 256  # keys per fence block: 4 KiB of md5 keys, one page


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


def fence_of(keys: np.ndarray, stride: int = FENCE_STRIDE) -> np.ndarray:
    """Every ``stride``-th key: a small in-memory summary that narrows a search to one block of the file."""
    return np.ascontiguousarray(keys[::stride])


class ArrayReader:
    """Reads slices of a 1-D array: with ``os.pread`` from its file when memory-mapped, else from memory.

    Why pread for lookups: touching a memory map maps the page (and, through the kernel's fault-around, up to
    15 neighbours) into the process, so after enough random lookups the whole index shows in RSS. A positional
    read of the one block that can hold the key costs about as much and leaves RSS untouched; the data still
    comes from the page cache. pread is positional, so one descriptor is safe across threads and forks.
    """

    def __init__(self, arr: np.ndarray) -> None:
        self.array = arr.view(np.ndarray)
        self.dtype = arr.dtype
        self.fd: int | None = None
        self.offset = 0
        filename = getattr(arr, "filename", None)
        if isinstance(arr, np.memmap) and filename and arr.flags.c_contiguous:
            try:
                self.fd = os.open(filename, os.O_RDONLY)
                self.offset = int(arr.offset)
            except OSError:
                self.fd = None

    def __len__(self) -> int:
        return len(self.array)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Elements ``[start, stop)``."""
        if self.fd is None or stop <= start:
            return self.array[start:stop]
        size = self.dtype.itemsize
        raw = os.pread(self.fd, (stop - start) * size, self.offset + start * size)
        return np.frombuffer(raw, dtype=self.dtype)

    def __del__(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None


class ExactIndex:
    """Sorted ``S<width>`` keys (usually memory-mapped) with a parallel tag array, searched through a fence.

    Why a fence: a plain binary search over a 1.6 GB array touches ~27 pages per lookup, most of them deep in
    the file, and with a cold cache pays ~12 random reads. Searching the small in-memory fence (every
    ``FENCE_STRIDE``-th key) first leaves one block of keys, 4-8 KiB, to read from the file.
    """

    def __init__(self, keys: np.ndarray, tags: np.ndarray, fence: np.ndarray | None = None) -> None:
        self.keys = keys.view(np.ndarray)
        self.tags = tags.view(np.ndarray)
        self.width = keys.dtype.itemsize
        self.fence = np.asarray(fence) if fence is not None else fence_of(self.keys)
        self.stride = FENCE_STRIDE
        self._keys = ArrayReader(keys)
        self._tags = ArrayReader(tags)

    def __len__(self) -> int:
        return len(self.keys)

    def lookup(self, value: bytes) -> np.ndarray:
        """Tag ids of every entry whose key equals ``value`` (empty array if none)."""
        n = len(self.keys)
        if len(value) != self.width or n == 0:
            return self.tags[:0]
        query = np.array(value, dtype=self.keys.dtype)
        block = int(np.searchsorted(self.fence, query, side="left"))
        start = max(block - 1, 0) * self.stride
        stop = min(block * self.stride + 1, n)
        keys = self._keys.read(start, stop)
        lo = start + int(np.searchsorted(keys, query, side="left"))
        hi = lo
        while True:  # the same hash under several tags: the run may cross into the next block
            j = hi - start
            while j < len(keys) and keys[j] == query:
                j += 1
            hi = start + j
            if j < len(keys) or stop >= n:
                break
            start, stop = stop, min(stop + self.stride, n)
            keys = self._keys.read(start, stop)
        return self._tags.read(lo, hi) if hi > lo else self.tags[:0]

    def contains_many(self, values: np.ndarray) -> np.ndarray:
        """Vectorised membership test for an ``S<width>`` array of queries (bulk checks and benchmarks)."""
        values = values.astype(self.keys.dtype, copy=False)
        pos = np.searchsorted(self.keys, values, side="left")
        found = pos < len(self.keys)
        found[found] = self.keys[pos[found]] == values[found]
        return found
