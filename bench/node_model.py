"""Benchmark the node model's new sources (issue 13): a phone-sized tar extraction and a zip of 10,000 members.

Shapes (built by this script into --work, synthetic bytes only):
- ``extraction.tar``: 100,000 small files (0.1-3 KB of seeded random bytes) in an Android-like tree, and its
  ``.tar.gz`` twin (digested while it is walked);
- ``zip10k.raw``: a 64 MiB ext4 holding ``Downloads/pack.zip`` with 10,000 deflated members.
Each is scanned by ``triage scan -j N`` in alternating runs; the table gives median wall time, members per second
and peak RSS of the whole process tree (sampled every 50 ms). Numbers go to bench/RESULTS.md by hand.

    .venv/bin/python bench/node_model.py --work /tmp/nm --repeats 3
"""

from __future__ import annotations

import argparse
import contextlib
import io
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]


def build_tar(path: Path, files: int, seed: int = 13) -> Path:
    rng = random.Random(seed)
    with tarfile.open(path, "w") as tar:
        for i in range(files):
            data = rng.randbytes(rng.randint(100, 3000))
            info = tarfile.TarInfo(f"data/media/0/app{i % 97}/files/{i // 97}/f{i}.bin")
            info.size, info.mtime = len(data), 1_700_000_000 + i
            tar.addfile(info, io.BytesIO(data))
    return path


def build_zip_disk(path: Path, members: int, seed: int = 14) -> Path:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "Downloads"
        folder.mkdir()
        with zipfile.ZipFile(folder / "pack.zip", "w", zipfile.ZIP_DEFLATED) as archive:
            for i in range(members):
                archive.writestr(f"pack/{i // 100}/m{i}.txt", (f"member {i} " * rng.randint(5, 100)).encode())
        with open(path, "wb") as fh:
            fh.truncate(64 << 20)
        subprocess.run(["mkfs.ext4", "-q", "-d", tmp, str(path)], check=True,
                       env={"PATH": "/usr/sbin:/sbin:/usr/bin:/bin"})
    return path


def run_once(evidence: Path, jobs: int) -> tuple[float, int, int]:
    out = Path(tempfile.mkdtemp(prefix="nm-out-"))
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "triage.cli", "scan", str(evidence), "-o", str(out),
                             "-j", str(jobs)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        handle = psutil.Process(proc.pid)
        while not done.is_set():
            with contextlib.suppress(psutil.Error):
                peak = max(peak, sum(p.memory_info().rss for p in [handle, *handle.children(recursive=True)]))
            done.wait(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    code = proc.wait()
    done.set()
    watcher.join()
    wall = time.perf_counter() - started
    records = sum(1 for _ in next(out.iterdir()).joinpath("files.jsonl").open()) if code == 0 else 0
    shutil.rmtree(out, ignore_errors=True)
    return wall, peak, records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "triage-node-bench")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--members", type=int, default=10_000)
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    shapes = {}
    tar = args.work / "extraction.tar"
    if not tar.exists():
        build_tar(tar, args.files)
    shapes["tar extraction"] = tar
    tgz = args.work / "extraction.tar.gz"
    if not tgz.exists():
        subprocess.run(["gzip", "-k", "-1", str(tar)], check=True)
    shapes["tar.gz extraction"] = tgz
    disk = args.work / "zip10k.raw"
    if not disk.exists():
        build_zip_disk(disk, args.members)
    shapes["ext4 + zip members"] = disk
    results: dict[str, list[tuple[float, int, int]]] = {name: [] for name in shapes}
    for _ in range(args.repeats):
        for name, path in shapes.items():  # alternating: one run of each shape per round
            results[name].append(run_once(path, args.jobs))
    print(f"| shape | records | median wall (s) | records/s | peak RSS (MB) |  (-j {args.jobs}, {args.repeats} runs)")
    print("|---|---|---|---|---|")
    for name, runs in results.items():
        wall = statistics.median(r[0] for r in runs)
        peak = max(r[1] for r in runs) / 1e6
        records = runs[0][2]
        print(f"| {name} | {records:,} | {wall:.2f} | {records / wall:,.0f} | {peak:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
