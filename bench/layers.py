"""Read throughput through the storage layers (issue 14): the same bytes read plain from the image file and
through the layer's object, in 1 MiB reads, best of 3. Needs ../shared/realdata/layers/. Results: bench/RESULTS.md.

    .venv/bin/python bench/layers.py
"""

from __future__ import annotations

import time
from pathlib import Path

from triage.sources.containers.readers import SegmentedFileReader
from triage.sources.volumes import bitlocker, luks
from triage.sources.volumes.layers import unlock
from triage.sources.volumes.secrets import Secrets, hold

LAYERS = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "layers"
CHUNK = 1 << 20


class Media:
    def __init__(self, path: Path) -> None:
        self.reader = SegmentedFileReader([path])


def rate(read, size: int) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for offset in range(0, size, CHUNK):
            read(offset, min(CHUNK, size - offset))
        best = min(best, time.perf_counter() - start)
    return size / best / 1e6


def main() -> None:
    hold(Secrets(("anaconda", "compatkey")))
    for name, scheme in (("bitlk-aes-xts-128.img", bitlocker.SCHEME), ("bitlk-togo-aes-cbc-128.img", bitlocker.SCHEME),
                         ("luks1-compatimage.img", luks.SCHEME_128)):
        media = Media(LAYERS / name)
        size = media.reader.size
        handle, entry = unlock(scheme, media, 0, size)
        inner = int(handle.get_size())
        plain = rate(media.reader.read, size)
        layer = rate(lambda offset, want, h=handle: h.read_buffer_at_offset(want, offset), inner)
        print(f"{name:32} plain {plain:8.0f} MB/s   through {entry['scheme']} {layer:6.0f} MB/s")


if __name__ == "__main__":
    main()
