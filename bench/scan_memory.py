"""Benchmark: peak memory of ``triage scan`` over images of N tiny files (issue 13, bounded memory).

Usage: ``.venv/bin/python bench/scan_memory.py [--jobs 2] N [N ...]`` (images from ``make_small_files.py``).

Two peaks per scan, both of the whole process tree (the scan, its forkserver and worker processes):
``tree`` is the largest sum of the RSS of every live process, sampled every 20 ms (psutil); ``largest`` is the
largest single process's peak, from ``RUSAGE_CHILDREN`` after the scan exits (exact, but not a sum). Each scan
runs in its own child so that the peaks are its own; the output goes to a temporary folder.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from make_small_files import make_image  # noqa: E402


def tree_rss(pid: int) -> int:
    """Bytes resident in ``pid`` and all its descendants now (0 once it is gone)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total


def measure(image: Path, jobs: int, python: str = sys.executable, cwd: Path = ROOT) -> dict[str, float]:
    """Scan ``image`` in a child process; its peaks in MB and its wall time in seconds."""
    with tempfile.TemporaryDirectory(prefix="scan-memory-") as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.perf_counter()
        child = subprocess.Popen([python, "-m", "triage.cli", "scan", "-j", str(jobs), "-o", out, str(image)],
                                 cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        peak = 0
        while child.poll() is None:
            peak = max(peak, tree_rss(child.pid))
            time.sleep(0.02)
        wall = time.perf_counter() - started
        stderr = child.stderr.read().decode(errors="replace") if child.stderr else ""
        if child.returncode != 0:
            raise SystemExit(f"scan failed ({child.returncode}): {stderr[-2000:]}")
        largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"tree_mb": peak / 1e6, "largest_mb": largest / 1e3 if largest > before else float("nan"),
            "wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", type=int, nargs="+")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--cwd", type=Path, default=ROOT, help="the triage checkout to run (before/after)")
    args = parser.parse_args()
    for files in args.files:
        result = measure(make_image(files), args.jobs, args.python, args.cwd)
        print(f"{files:>8} files  tree peak {result['tree_mb']:7.0f} MB  largest process {result['largest_mb']:7.0f}"
              f" MB  wall {result['wall_s']:6.1f} s", flush=True)


if __name__ == "__main__":
    main()
