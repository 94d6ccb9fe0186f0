"""Benchmark: compile a generated N-entry VICS 2.0 file; report parse/compile time and peak RSS (issue 12).

Usage: ``.venv/bin/python bench/vics_memory.py [--entries 1000000]``

Why a child process per measurement: ``ru_maxrss`` only ever grows, so the compile runs in a fresh process
and its peak (and CPU time, imports included) is read from ``RUSAGE_CHILDREN``. The file (seeded, every Media
item with MD5, SHA1, a SHA256 and a PhotoDNA alternative hash, a category and a few other fields, as exporters
write them) is kept under ``bench/cache/`` (git-ignored) so later runs skip generation.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / "cache"
SEED = 20261212

CHILD = """
import sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from triage.known.store import load_or_compile
started = time.perf_counter()
compiled, _ = load_or_compile(Path({source!r}), Path({cache!r}), force=True)
print(round(time.perf_counter() - started, 2), compiled.meta["entries"], compiled.meta["counts"])
"""


def write_vics(path: Path, entries: int, seed: int = SEED) -> Path:
    """Write an ``entries``-item VICS 2.0 (US profile) file, one Media item per line."""
    import random

    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        out.write('{"@odata.context": "http://github.com/ICMEC/ProjectVic/DataModels/2.0.xml/US/$metadata#Media",\n')
        out.write(' "value": [\n')
        for i in range(entries):
            md5, sha1, sha256 = (f"{rng.getrandbits(bits):0{bits // 4}X}" for bits in (128, 160, 256))
            out.write(
                ("," if i else "")
                + f'{{"MediaID": {i}, "Category": {i % 3 + 1}, "MD5": "{md5}", "SHA1": "{sha1}", '
                f'"MediaSize": {1000 + i}, "IsPrecategorized": false, "AlternativeHashes": ['
                f'{{"AlgorithmName": "SHA256", "HashValue": "{sha256}"}}, '
                f'{{"AlgorithmName": "PhotoDNA", "HashValue": "AAAA{i:08d}"}}]}}\n'
            )
        out.write("]}\n")
    return path


def compile_in_child(source: Path, cache_dir: Path) -> dict[str, object]:
    """Compile ``source`` in a fresh interpreter; its wall time (inside) and peak RSS (from outside)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    code = CHILD.format(root=str(ROOT), source=str(source), cache=str(cache_dir))
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {"compile_s": float(out[0]), "process_cpu_s": round(cpu, 2), "entries": int(out[1]),
            "peak_rss_mb": round(after.ru_maxrss / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    source = CACHE / f"vics2_{args.entries}.json"
    if not source.exists():
        started = time.perf_counter()
        write_vics(source.with_suffix(".tmp"), args.entries).rename(source)
        print(f"generated in {time.perf_counter() - started:.1f} s")
    report = {"entries": args.entries, "file_mb": round(source.stat().st_size / 2**20, 1)}
    report.update(compile_in_child(source, CACHE / "vics-index"))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
