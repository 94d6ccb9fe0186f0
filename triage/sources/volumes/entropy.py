"""Headerless encryption (VeraCrypt, TrueCrypt, plain dm-crypt) has no signature: a volume or a large file whose
bytes look random everywhere and that nothing recognises is flagged "possibly encrypted container", never opened.

The test: ``ENTROPY_SAMPLES`` blocks of ``ENTROPY_BLOCK`` bytes spread evenly over it; every block's Shannon
entropy must reach ``ENTROPY_THRESHOLD`` bits per byte. Why every block: compressed files and media come near 8
bits too, but they have headers (recognised first) and structure somewhere; random data has none anywhere, while
an unformatted or wiped area (zeros, patterns) is far below. A 4 KiB block of true random bytes measures ~7.95.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

from triage.defaults import ENTROPY_BLOCK, ENTROPY_MIN_SIZE, ENTROPY_SAMPLES, ENTROPY_THRESHOLD


def entropy(data: bytes) -> float:
    """Shannon entropy of ``data`` in bits per byte (0 for nothing)."""
    if not data:
        return 0.0
    total = len(data)
    return -sum(c / total * math.log2(c / total) for c in Counter(data).values())


def sample_starts(size: int) -> list[int]:
    """Where the sampled blocks start: ``ENTROPY_SAMPLES`` spread evenly, none for a small volume or file."""
    if size < ENTROPY_MIN_SIZE:
        return []
    step = max(ENTROPY_BLOCK, (size - ENTROPY_BLOCK) // max(1, ENTROPY_SAMPLES - 1))
    return list(range(0, size - ENTROPY_BLOCK + 1, step))[:ENTROPY_SAMPLES]


def judge(blocks: list[bytes]) -> float | None:
    """The lowest block entropy when there are blocks and every one is whole and near-random, else None."""
    lowest = 8.0
    for block in blocks:
        if len(block) < ENTROPY_BLOCK:
            return None
        value = entropy(block)
        if value < ENTROPY_THRESHOLD:
            return None
        lowest = min(lowest, value)
    return round(lowest, 3) if blocks else None


def looks_encrypted(read: Callable[[int, int], bytes], size: int) -> float | None:
    """``judge`` of the sampled blocks of a volume read with ``read(offset, size)``."""
    blocks = []
    for start in sample_starts(size):
        try:
            block = read(start, ENTROPY_BLOCK)
        except OSError:
            return None
        if len(block) < ENTROPY_BLOCK or entropy(block) < ENTROPY_THRESHOLD:
            return None  # stop reading at the first block that is not random
        blocks.append(block)
    return judge(blocks)


def describe(lowest: float) -> str:
    return (f"possibly encrypted container (VeraCrypt/TrueCrypt or other headerless encryption): no recognised "
            f"structure and every sampled block near-random (lowest {lowest} bits/byte, threshold "
            f"{ENTROPY_THRESHOLD}); not decrypted")
