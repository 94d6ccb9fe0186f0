"""TskImage: what TSK reads through its block cache is what the reader holds, byte for byte."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from triage.sources.containers import TskImage
from triage.sources.containers.readers import SegmentedFileReader


class CountingReader(SegmentedFileReader):
    """A real raw reader that counts the reads reaching it."""

    def __init__(self, paths: list[Path]) -> None:
        super().__init__(paths)
        self.calls: list[tuple[int, int]] = []

    def read(self, offset: int, size: int) -> bytes:
        self.calls.append((offset, size))
        return super().read(offset, size)


@pytest.fixture
def media(tmp_path: Path) -> tuple[bytes, list[Path]]:
    """Two raw segments of random bytes; the total is not a multiple of the cache block."""
    data = random.Random(3).randbytes(3 * TskImage.BLOCK * 7 + 1234)
    first, second = tmp_path / "disk.001", tmp_path / "disk.002"
    first.write_bytes(data[:100_000])
    second.write_bytes(data[100_000:])
    return data, [first, second]


def test_reads_equal_the_media(media: tuple[bytes, list[Path]]) -> None:
    data, paths = media
    image = TskImage(SegmentedFileReader(paths))
    rng = random.Random(4)
    sizes = [1, 512, 4096, TskImage.BLOCK - 1, TskImage.BLOCK, TskImage.BLOCK + 1, 65536, 65537, 300_000]
    for _ in range(2000):
        offset = rng.randrange(0, len(data) + 100)
        size = rng.choice(sizes)
        assert image.read(offset, size) == data[offset : offset + size], (offset, size)
    assert image.read(len(data) - 10, 65536) == data[-10:]  # the end of the media: a short read
    assert image.read(len(data), 512) == b""
    assert image.read(0, 0) == b""


def test_overlapping_small_reads_reach_the_reader_once_per_block(media: tuple[bytes, list[Path]]) -> None:
    """TSK's 64 KiB pages start wherever a read fell; the bytes under them are read from the evidence once."""
    data, paths = media
    reader = CountingReader(paths)
    image = TskImage(reader)
    for offset in range(0, 5 * TskImage.BLOCK, 512 * 7):
        assert image.read(offset, 65536) == data[offset : offset + 65536]
    starts = [offset for offset, _ in reader.calls]
    assert len(starts) == len(set(starts)) and all(offset % TskImage.BLOCK == 0 for offset in starts)
    assert all(size == TskImage.BLOCK for _, size in reader.calls)


def test_large_reads_bypass_the_cache(media: tuple[bytes, list[Path]]) -> None:
    data, paths = media
    reader = CountingReader(paths)
    image = TskImage(reader)
    assert image.read(123, 1 << 20) == data[123 : 123 + (1 << 20)]
    assert reader.calls == [(123, 1 << 20)]
