"""Carving throughput (issue 15): MB/s per core over a scratch file of mostly random and zero space with pictures.

The scratch file (SYNTHETIC: seeded random bytes, zeros, made-up text and textured pictures) is built once at
``--path`` (default /tmp/carve_bench.img, never committed): 45 % random, 45 % zeros, 10 % text, and pictures
(JPEG, PNG, GIF, BMP, WebP) plus hand-built MP4s written at 4 KiB-aligned offsets over all of it. The whole
file is carved as one range through ``os.pread`` with the file in the page cache; the figure per core is bytes
over the process's CPU time. The signature search alone is also timed per kind of space, against the two
alternatives it replaced (one ``bytes.find`` loop per magic, one compiled ``re``). Results: bench/RESULTS.md.

    .venv/bin/python bench/carving.py [--size-mib 1024] [--path /tmp/carve_bench.img]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import struct
import time
from pathlib import Path

import numpy as np
from PIL import Image

from triage.sources.carving.carver import CarveStats, carve
from triage.sources.carving.signatures import SIGNATURES, find_headers

MIB = 1 << 20
FORMATS = (("JPEG", {"quality": 90}), ("PNG", {}), ("GIF", {}), ("BMP", {}), ("WEBP", {"quality": 80}))


def _picture(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    base = np.linspace(0, 200, w, dtype=np.float32)[None, :, None] + np.linspace(0, 55, h)[:, None, None]
    return Image.fromarray(np.clip(base + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8))


def _mp4(rng: np.random.Generator, payload: int) -> bytes:
    def box(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", 8 + len(body)) + kind + body

    mvhd = box(b"mvhd", bytes(12) + struct.pack(">II", 1000, 2000) + bytes(80))
    return (box(b"ftyp", b"isom" + bytes(4) + b"isommp41") + box(b"mdat", rng.bytes(payload))
            + box(b"moov", mvhd + box(b"trak", b"")))


def build(path: Path, size: int, pictures: int) -> dict[int, str]:
    """Write the scratch file; return {offset: md5} of the planted items."""
    rng = np.random.default_rng(15)
    text = b"".join(b"%08d user=%d action=open file=C:\\Users\\x\\doc%d.txt ok\n" % (i, i % 97, i)
                    for i in range(30_000))
    planted: dict[int, str] = {}
    with open(path, "wb") as out:
        for _ in range(size // MIB):
            r = rng.random()
            out.write(rng.bytes(MIB) if r < 0.45 else bytes(MIB) if r < 0.9 else text[:MIB])
        slots = sorted(rng.choice(size // MIB - 1, pictures + 4, replace=False).tolist())
        for i, slot in enumerate(slots):
            offset = slot * MIB + int(rng.integers(0, 64)) * 4096
            if i < 4:
                data = _mp4(rng, 512 << 10)
            else:
                fmt, options = FORMATS[i % len(FORMATS)]
                w, h = (640, 480) if fmt in ("JPEG", "WEBP") else (320, 240)
                buf = io.BytesIO()
                _picture(rng, w, h).save(buf, fmt, **options)
                data = buf.getvalue()
            out.seek(offset)
            out.write(data)
            planted[offset] = hashlib.md5(data).hexdigest()
    return planted


def _by_find(buf: bytes) -> int:
    n = 0
    for sig in SIGNATURES:
        i = buf.find(sig.magic)
        while i >= 0:
            n += 1
            i = buf.find(sig.magic, i + 1)
    return n


_ALTERNATION = re.compile(b"|".join(re.escape(sig.magic) for sig in SIGNATURES))


def _by_re(buf: bytes) -> int:
    return sum(1 for _ in _ALTERNATION.finditer(buf))


def _rate(fn, buf: bytes, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn(buf)
        best = min(best, time.process_time() - start)
    return len(buf) / best / 1e6


def search_rates() -> None:
    rng = np.random.default_rng(1)
    block = 16 * MIB
    english = Path("/usr/share/common-licenses/GPL-3").read_bytes()  # any long English text
    worst = b"The quick brown fox jumps over the lazy dog; left often WEBB GIFT. "  # 4 magic prefixes a line
    kinds = {"random": rng.bytes(block), "zeros": bytes(block), "English": (english * (block // len(english) + 1)),
             "worst": worst * (block // len(worst) + 1)}
    kinds = {name: buf[:block] for name, buf in kinds.items()}
    print("signature search, MB/s per core (best of 5, 16 MiB blocks):")
    for name, buf in kinds.items():
        ours = _rate(lambda b: find_headers(b, len(b)), buf)
        print(f"  {name:7s} numpy {ours:7.0f}   bytes.find x{len(SIGNATURES)} {_rate(_by_find, buf):6.0f}"
              f"   re {_rate(_by_re, buf):6.0f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--pictures", type=int, default=200)
    parser.add_argument("--path", type=Path, default=Path("/tmp/carve_bench.img"))
    args = parser.parse_args()
    size = args.size_mib * MIB
    listing = args.path.with_suffix(".json")
    if not args.path.exists() or args.path.stat().st_size != size or not listing.exists():
        start = time.perf_counter()
        planted = build(args.path, size, args.pictures)
        listing.write_text(json.dumps(planted))
        print(f"built {args.path} ({args.size_mib} MiB, {len(planted)} items) in {time.perf_counter() - start:.1f} s")
    planted = {int(k): v for k, v in json.loads(listing.read_text()).items()}
    search_rates()
    fd = os.open(args.path, os.O_RDONLY)
    try:
        for offset in range(0, size, 64 * MIB):  # into the page cache
            os.pread(fd, 64 * MIB, offset)
        for _ in range(3):
            stats = CarveStats()
            wall, cpu = time.perf_counter(), time.process_time()
            items = list(carve(lambda o, n: os.pread(fd, n, o), [(0, size)], stats=stats))
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(f"carve: {len(items)} items, {size / MIB:.0f} MiB in {wall:.2f} s wall, {cpu:.2f} s CPU: "
                  f"{size / cpu / 1e6:.0f} MB/s per core ({size / wall / 1e6:.0f} MB/s wall)")
        found = {item.offset: hashlib.md5(item.data or b"").hexdigest() for item in items}
        print(f"planted items found with their md5: {sum(found.get(o) == m for o, m in planted.items())} "
              f"of {len(planted)}; other items: {len(set(found) - set(planted))}")
        print("\n".join("  " + line for line in stats.lines()))
    finally:
        os.close(fd)


if __name__ == "__main__":
    main()
