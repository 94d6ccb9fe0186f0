"""Benchmark: what each report writer costs on a device of many small files (issue 17, item 3).

SYNTHETIC DATA ONLY. ``build`` makes ``bench/cache/reports-<N>.raw``: a raw ext4 image (``mkfs.ext4 -d``, no mount,
no root) holding N files of 100–3,000 bytes (made-up text and random bytes, sizes from a seeded generator) in
folders of 1,000 — the shape of the issue's 200,000-file device. The tree is generated in a temporary folder under
/tmp and removed once the image is written.

``scan`` runs ``triage scan`` (default settings, every report) on it and prints wall and CPU time of the whole
process tree. ``reports`` times each report writer on the scan's output folder (summary.json + files.jsonl, as
``triage report`` reads them), one at a time in this process: CPU time (``time.process_time``) and wall, best of
``--repeats``; ``--profile`` adds a cProfile of one pass of all writers. The machine is shared, so CPU time and the
best of several runs are the numbers to compare.

Usage::

    .venv/bin/python bench/report_writers.py build [--files 200000]
    .venv/bin/python bench/report_writers.py scan [--files 200000] [--jobs 2] [--keep DIR]
    .venv/bin/python bench/report_writers.py reports DIR [--repeats 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / "cache"
PER_FOLDER = 1000
WORDS = ("invoice", "meeting", "report", "holiday", "budget", "draft", "minutes", "photo", "notes", "letter",
         "account", "order", "schedule", "summary", "project", "contact", "receipt", "agenda", "travel", "memo")


def _content(rng: random.Random, k: int) -> bytes:
    """One file: 100–3,000 bytes, four in five made-up text, the rest random bytes."""
    size = rng.randint(100, 3000)
    if k % 5 == 4:
        return rng.randbytes(size)
    text = " ".join(rng.choice(WORDS) for _ in range(size // 6 + 1)).encode()
    return text[:size]


def build(files: int, out_dir: Path = CACHE) -> Path:
    """The image with ``files`` small files (built once, then reused); returns its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    image = out_dir / f"reports-{files}.raw"
    if image.exists():
        return image
    rng = random.Random(17)
    with tempfile.TemporaryDirectory(prefix="report-writers-") as tmp:  # under /tmp: never committed
        tree = Path(tmp) / "tree"
        tree.mkdir()
        for k in range(files):
            folder = tree / f"Users/user{k // 50_000}/Documents/d{k // PER_FOLDER:04d}"
            if k % PER_FOLDER == 0:
                folder.mkdir(parents=True)
            suffix = ".bin" if k % 5 == 4 else ".txt"
            (folder / f"{rng.choice(WORDS)}_{k:07d}{suffix}").write_bytes(_content(rng, k))
        # One 4 KiB block and one inode per file, plus the folders, the journal and a margin.
        mib = 64 + files * 5 // 1024
        partial = image.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-b", "4096", "-N", str(files + files // PER_FOLDER + 1024),
                        "-d", str(tree), str(partial), f"{mib}M"], check=True, stdout=subprocess.DEVNULL)
        partial.rename(image)
    return image


def scan(image: Path, jobs: int, keep: Path | None, python: str = sys.executable, cwd: Path = ROOT) -> None:
    """One ``triage scan`` of ``image``: wall and CPU of the whole tree (children's rusage)."""
    out = keep or Path(tempfile.mkdtemp(prefix="report-writers-out-"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([python, "-m", "triage.cli", "scan", "-j", str(jobs), "-o", str(out), str(image)],
                          cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"scan failed ({done.returncode}): {done.stderr.decode(errors='replace')[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"scan {image.name} -j {jobs}: wall {wall:.2f} s, CPU {cpu:.2f} s (whole tree), output {out}")
    if keep is None:
        shutil.rmtree(out)


def reports(device_dir: Path, repeats: int, profile: bool) -> None:
    """Time every writer on ``device_dir`` (a scan's device folder), one after another, best of ``repeats``."""
    sys.path.insert(0, str(ROOT))
    from triage.report import REPORTS, open_dir
    from triage.report.common import atomic_write

    summary, records = open_dir(device_dir)
    with tempfile.TemporaryDirectory(prefix="report-writers-") as tmp:
        read_cpu = min(_timed(lambda: sum(1 for _ in records))[0] for _ in range(repeats))
        print(f"files.jsonl read and parsed once: CPU {read_cpu:.2f} s")
        total_cpu = total_wall = 0.0
        for name, render in REPORTS:
            runs = [_timed(lambda n=name, r=render: atomic_write(Path(tmp) / n, r(summary, records)))
                    for _ in range(repeats)]
            cpu, wall = min(c for c, _ in runs), min(w for _, w in runs)
            total_cpu, total_wall = total_cpu + cpu, total_wall + wall
            size = (Path(tmp) / name).stat().st_size
            print(f"{name:<12} CPU {cpu:6.2f} s  wall {wall:6.2f} s  {size / 1e6:8.1f} MB")
        print(f"{'all':<12} CPU {total_cpu:6.2f} s  wall {total_wall:6.2f} s (one after another, one core)")
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for name, render in REPORTS:
                atomic_write(Path(tmp) / name, render(summary, records))
            profiler.disable()
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(30)
            print(text.getvalue())


def _timed(action: object) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    action()  # type: ignore[operator]
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("build", "scan"):
        command = sub.add_parser(name)
        command.add_argument("--files", type=int, default=200_000)
        if name == "scan":
            command.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
            command.add_argument("--keep", type=Path, help="write the output here and keep it")
            command.add_argument("--cwd", type=Path, default=ROOT, help="the triage checkout to run")
    command = sub.add_parser("reports")
    command.add_argument("device_dir", type=Path)
    command.add_argument("--repeats", type=int, default=3)
    command.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if args.command == "build":
        print(build(args.files))
    elif args.command == "scan":
        scan(build(args.files), args.jobs, args.keep, cwd=args.cwd)
    else:
        reports(args.device_dir, args.repeats, args.profile)


if __name__ == "__main__":
    main()
