"""Benchmark: compile a 10M-entry md5 list and look hashes up in the memory-mapped index.

Usage: ``.venv/bin/python bench/hashset_bench.py [--entries N] [--lookups N]``

Why separate processes: peak RSS (``ru_maxrss``) only ever grows, so compiling and looking up are measured in
two fresh child processes — the lookup figure is what a scan pays with an already compiled set. The md5 list
(random, seeded) and the index are kept under ``bench/cache/`` (git-ignored) so later runs skip generation.
Reported: list size, compile time, index size, RSS while compiling, load time, single lookups/s through
``ExactIndex.lookup`` and ``HashSets.lookup`` (the scan's per-file call) and the RSS they leave (peak, then
split into anonymous memory and file-backed pages), and batched lookups/s with ``contains_many`` (which
searches the memory map directly, so its RSS includes the index pages it touched; the kernel can drop those).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from triage.known import HashSets  # noqa: E402
from triage.known.store import load_or_compile  # noqa: E402

CACHE = ROOT / "bench" / "cache"
HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
SEED = 20240611


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_split_mb() -> dict[str, float]:
    """Current RSS split into anonymous memory and file-backed pages (the index's page cache, reclaimable)."""
    out: dict[str, float] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("RssAnon", "RssFile"):
            out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


def keys_for(entries: int, start: int, stop: int) -> np.ndarray:
    """Deterministic pseudo-random md5 values for rows [start, stop) (chunk-independent)."""
    rng = np.random.default_rng([SEED, entries, start])
    return rng.integers(0, 256, (stop - start, 16), dtype=np.uint8)


def make_list(entries: int) -> Path:
    """Write the md5 list once (mixed case like real exports, a comment header)."""
    path = CACHE / f"md5_{entries}.txt"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as out:
        out.write(b"# synthetic md5 list for bench/hashset_bench.py\n")
        step = 1_000_000
        for start in range(0, entries, step):
            keys = keys_for(entries, start, min(entries, start + step))
            chars = np.empty((len(keys), 33), dtype=np.uint8)
            chars[:, 0:32:2] = HEX[keys >> 4]
            chars[:, 1:32:2] = HEX[keys & 15]
            chars[:, 32] = ord("\n")
            out.write(chars.tobytes())
    tmp.rename(path)
    return path


def phase_compile(source: Path, cache_dir: Path) -> dict[str, float]:
    started = time.perf_counter()
    compiled, _reused = load_or_compile(source, cache_dir, force=True)
    seconds = time.perf_counter() - started
    return {
        "compile_s": round(seconds, 2),
        "index_mb": round(compiled.size_bytes() / 2**20, 1),
        "entries": compiled.meta["entries"],
        "compile_peak_rss_mb": round(peak_rss_mb(), 1),
    }


def phase_lookup(source: Path, cache_dir: Path, entries: int, lookups: int) -> dict[str, float]:
    started = time.perf_counter()
    sets = HashSets.load([str(source)], cache_dir=cache_dir)
    load_s = time.perf_counter() - started
    index = sets.sets[0].compiled.exact["md5"]
    rng = np.random.default_rng(1)
    present = keys_for(entries, 0, min(entries, 1_000_000))[
        rng.integers(0, min(entries, 1_000_000), lookups // 2)
    ]
    absent = rng.integers(0, 256, (lookups - len(present), 16), dtype=np.uint8)
    queries = np.concatenate([present, absent])
    rng.shuffle(queries)
    as_bytes = [bytes(q) for q in queries]
    as_hex = [q.hex() for q in as_bytes]

    started = time.perf_counter()
    hits = sum(len(index.lookup(q)) > 0 for q in as_bytes)
    single_s = time.perf_counter() - started

    count = min(lookups, 50_000)
    started = time.perf_counter()
    api_hits = sum(bool(sets.lookup(md5=h)[1]) for h in as_hex[:count])
    api_s = time.perf_counter() - started

    rss_after_lookups = {f"lookup_{k.lower()}_mb": v for k, v in rss_split_mb().items()}
    peak_after_lookups = peak_rss_mb()

    batch = np.ascontiguousarray(queries).view("S16").ravel()
    started = time.perf_counter()
    batch_hits = int(index.contains_many(batch).sum())
    batch_s = time.perf_counter() - started
    assert hits == batch_hits == len(present), (hits, batch_hits, len(present))
    assert api_hits == sum(1 for h in as_bytes[:count] if len(index.lookup(h)))
    return {
        "load_s": round(load_s, 3),
        "lookups_per_s_single": round(lookups / single_s),
        "lookups_per_s_hashsets_api": round(count / api_s),
        "lookups_per_s_batched": round(lookups / batch_s),
        "lookup_peak_rss_mb": round(peak_after_lookups, 1),
        **rss_after_lookups,
        "batched_peak_rss_mb": round(peak_rss_mb(), 1),  # contains_many searches the memory map itself
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument("--lookups", type=int, default=200_000)
    parser.add_argument("--phase", choices=["compile", "lookup"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    cache_dir = CACHE / "index"
    if args.phase:
        source = make_list(args.entries)
        if args.phase == "compile":
            result = phase_compile(source, cache_dir)
        else:
            result = phase_lookup(source, cache_dir, args.entries, args.lookups)
        print(json.dumps(result))
        return
    started = time.perf_counter()
    source = make_list(args.entries)
    report: dict[str, object] = {
        "entries": args.entries,
        "list_mb": round(source.stat().st_size / 2**20, 1),
        "list_generation_s": round(time.perf_counter() - started, 1),
    }
    for phase in ("compile", "lookup"):
        command = [sys.executable, __file__, "--phase", phase, "--entries", str(args.entries)]
        command += ["--lookups", str(args.lookups)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        report.update(json.loads(output.strip().splitlines()[-1]))
    for key, value in report.items():
        print(f"{key:28} {value}")


if __name__ == "__main__":
    main()
