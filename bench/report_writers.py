"""Benchmark: what each report writer costs on a device of many small files (issue 17, item 3).

SYNTHETIC DATA ONLY. ``build`` makes ``bench/cache/reports-<N>.raw``: a raw ext4 image (``mkfs.ext4 -d``, no mount,
no root) holding N files of 100–3,000 bytes (made-up text and random bytes, sizes from a seeded generator) in
folders of 1,000 — the shape of the issue's 200,000-file device. The tree is generated in a temporary folder under
/tmp and removed once the image is written.

``scan`` runs ``triage scan`` (default settings, every report) on it and prints wall and CPU time of the whole
process tree, and the wall of its report phase (``write_reports``, timed inside the scan process); with several
``--cwd`` checkouts (before/after) the runs alternate. ``reports`` times the writers on a scan's output folder
(summary.json + files.jsonl, as ``triage report`` reads them) with the triage on ``sys.path``: each alone, all in
this process, and as a scan runs them (with two worker processes); CPU time (``time.process_time``) and wall,
best of ``--repeats``; ``--profile`` adds a cProfile of all writers in one process. The machine is shared, so CPU
time and the best of several runs are the numbers to compare.

Usage::

    .venv/bin/python bench/report_writers.py build [--files 200000]
    .venv/bin/python bench/report_writers.py scan [--files 200000] [--jobs 2] [--keep DIR] [--cwd TREE ...]
    PYTHONPATH=TREE .venv/bin/python bench/report_writers.py reports DEVICE_DIR [--repeats 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from make_small_files import ext4_image  # noqa: E402  (a sibling script)

CACHE = ROOT / "bench" / "cache"
PER_FOLDER = 1000
REPORT_FILES = ("report.html", "files.csv", "matched.csv", "dfxml.xml", "vics.json", "case.jsonld")
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
        ext4_image(tree, image, files + files // PER_FOLDER + 1024, 64 + files * 5 // 1024)
    return image


SCAN_BOOT = """
import json, sys, time
import triage.scan as scan_module
original = scan_module.write_outputs  # every output file at the end: files.jsonl, summary, reports
def timed(*args, **kwargs):
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        return original(*args, **kwargs)
    finally:
        print('REPORTS ' + json.dumps({'wall': time.perf_counter() - wall, 'cpu': time.process_time() - cpu}),
              file=sys.stderr)
scan_module.write_outputs = timed
from triage.cli import main
sys.argv = ['triage'] + sys.argv[1:]
main()
"""


def scan(image: Path, jobs: int, keep: Path | None, python: str = sys.executable, cwd: Path = ROOT) -> dict[str, float]:
    """One ``triage scan`` of ``image`` (the tree at ``cwd``): wall and CPU of the whole process tree, and the
    wall and main-process CPU of its output phase (``write_outputs``, timed inside the scan)."""
    out = keep or Path(tempfile.mkdtemp(prefix="report-writers-out-"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([python, "-c", SCAN_BOOT, "scan", "-j", str(jobs), "-o", str(out), str(image)],
                          cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    stderr = done.stderr.decode(errors="replace")
    if done.returncode != 0:
        raise SystemExit(f"scan failed ({done.returncode}): {stderr[-2000:]}")
    phase = json.loads(next(line for line in stderr.splitlines() if line.startswith("REPORTS "))[8:])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"scan {image.name} -j {jobs} ({cwd}): wall {wall:.2f} s, CPU {cpu:.2f} s (whole tree); reports: wall "
          f"{phase['wall']:.2f} s ({100 * phase['wall'] / wall:.1f} % of the scan), main-process CPU "
          f"{phase['cpu']:.2f} s", flush=True)
    if keep is None:
        shutil.rmtree(out)
    return {"wall": wall, "cpu": cpu, "reports_wall": phase["wall"], "reports_cpu": phase["cpu"]}


def reports(device_dir: Path, repeats: int, profile: bool) -> None:
    """Time the writers of the triage on ``sys.path`` on ``device_dir`` (a scan's device folder): each alone,
    all in one process, and as the scan runs them (``write_reports`` with two worker processes). Best of
    ``repeats``; CPU is this process's (the pool's workers not included)."""
    import triage.report as report
    from triage.report import JsonlRecords, write_reports

    with tempfile.TemporaryDirectory(prefix="report-writers-") as tmp:
        folder = Path(tmp)
        for name in ("summary.json", "files.jsonl"):
            shutil.copy(device_dir / name, folder / name)
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        records = JsonlRecords(folder / "files.jsonl")
        print(f"triage from {Path(report.__file__).parent}")
        parse = _best(repeats, lambda: sum(1 for _ in records))
        print(f"{'parse only':<14} CPU {parse[0]:6.2f} s  wall {parse[1]:6.2f} s  (files.jsonl, one pass)")
        for name in report.REPORT_NAMES:
            cpu, wall = _best(repeats, lambda n=name: _write(report, folder, summary, records, [n]), folder)
            print(f"{name:<14} CPU {cpu:6.2f} s  wall {wall:6.2f} s  {(folder / name).stat().st_size / 1e6:8.1f} MB"
                  f"  (its own pass; parse included)")
        every = _best(repeats, lambda: _write(report, folder, summary, records, list(report.REPORT_NAMES)), folder)
        print(f"{'all, 1 process':<14} CPU {every[0]:6.2f} s  wall {every[1]:6.2f} s")
        from concurrent.futures import ProcessPoolExecutor

        from triage.reading import workers

        os.chdir(folder)  # the forkserver puts its working folder first on sys.path: no other triage may be there
        with ProcessPoolExecutor(max_workers=2, mp_context=workers.context()) as pool:
            list(pool.map(abs, range(2)))  # workers started, as the scan's are by then
            pooled = _best(repeats, lambda: write_reports(folder, summary, records, pool), folder)
        print(f"{'as in a scan':<14} CPU {pooled[0]:6.2f} s  wall {pooled[1]:6.2f} s  (write_reports, 2 workers; "
              "CPU of this process only)")
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            _write(report, folder, summary, records, list(report.REPORT_NAMES))
            profiler.disable()
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(30)
            print(text.getvalue())


def _write(report: Any, folder: Path, summary: dict[str, Any], records: Any, names: list[str]) -> None:
    """Write ``names`` in this process: one pass (``write_pass``) or, before it existed, one pass per report."""
    if hasattr(report, "write_pass"):
        report.write_pass(folder, summary, records, names)
        return
    from triage.report.common import atomic_write

    for name in names:
        atomic_write(folder / name, report.RENDERERS[name](summary, records))


def _best(repeats: int, action: Callable[[], object], folder: Path | None = None) -> tuple[float, float]:
    """(CPU, wall) seconds of ``action``, each the least of ``repeats`` runs; the reports an earlier run left in
    ``folder`` are removed first (untimed): a scan writes into an empty folder."""
    runs = []
    for _ in range(repeats):
        for name in REPORT_FILES if folder is not None else ():
            (folder / name).unlink(missing_ok=True)
        cpu, wall = time.process_time(), time.perf_counter()
        action()
        runs.append((time.process_time() - cpu, time.perf_counter() - wall))
    return min(c for c, _ in runs), min(w for _, w in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("build", "scan"):
        command = sub.add_parser(name)
        command.add_argument("--files", type=int, default=200_000)
        if name == "scan":
            command.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
            command.add_argument("--keep", type=Path, help="write the output here and keep it")
            command.add_argument("--cwd", type=Path, action="append",
                                 help="a triage checkout to run (repeat: the checkouts alternate)")
            command.add_argument("--repeats", type=int, default=1)
    command = sub.add_parser("reports")
    command.add_argument("device_dir", type=Path)
    command.add_argument("--repeats", type=int, default=3)
    command.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if args.command == "build":
        print(build(args.files))
    elif args.command == "scan":
        image = build(args.files)
        for _ in range(args.repeats):
            for cwd in args.cwd or [ROOT]:
                scan(image, args.jobs, args.keep, cwd=cwd)
    else:
        reports(args.device_dir, args.repeats, args.profile)


if __name__ == "__main__":
    main()
