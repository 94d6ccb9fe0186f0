"""Read throughput through the storage layers (issue 14): the same bytes read plain from the image file and
through the layer's object, in 1 MiB reads, best of 3. The real images need ../shared/realdata/layers/; the LUKS2
ones are 64 MiB volumes cryptsetup encrypts here (fixtures/make_layers.py). Results: bench/RESULTS.md.

    .venv/bin/python bench/layers.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from triage.sources.containers.readers import SegmentedFileReader
from triage.sources.volumes import bitlocker, luks
from triage.sources.volumes.layers import Scheme, unlock
from triage.sources.volumes.secrets import Secrets, hold

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ROOT.parent / "shared" / "realdata" / "layers"
LUKS2 = ({}, {"sector_size": 4096, "key_bits": 512}, {"cipher": "aes-cbc-essiv:sha256"})
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
    hold(Secrets(("anaconda", "compatkey", "bench-luks2")))
    for name, scheme in (("bitlk-aes-xts-128.img", bitlocker.SCHEME), ("bitlk-togo-aes-cbc-128.img", bitlocker.SCHEME),
                         ("luks1-compatimage.img", luks.SCHEME_128)):
        if (LAYERS / name).is_file():
            measure(name, LAYERS / name, scheme)
    sys.path.insert(0, str(ROOT))
    from fixtures.make_layers import luks2_with_volume

    with tempfile.TemporaryDirectory() as tmp:
        for options in LUKS2:
            path = luks2_with_volume(Path(tmp) / "luks2.img", bytes(64 << 20), "bench-luks2", **options)
            measure(f"LUKS2 {options or 'aes-xts-plain64 256, 512 B'}", path, luks.SCHEME_2)


def measure(name: str, path: Path, scheme: Scheme) -> None:
    media = Media(path)
    size = media.reader.size
    handle, entry = unlock(scheme, media, 0, size)
    inner = int(handle.get_size())
    plain = rate(media.reader.read, size)
    layer = rate(lambda offset, want, h=handle: h.read_buffer_at_offset(want, offset), inner)
    print(f"{name:32} plain {plain:8.0f} MB/s   through {entry['scheme']} {layer:6.0f} MB/s")


if __name__ == "__main__":
    main()
