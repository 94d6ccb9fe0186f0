"""Benchmark suite (issue 17, "Must show"): every device shape, triage against fiwalk (and ewfverify), alternating.

SYNTHETIC DATA ONLY (the shapes of ``bench/shapes.py``, built once and cached under ``bench/cache/``).

For each shape, ``--repeats`` rounds; in each round every row runs once, the starting row rotated each round
(A B C, B C A, ...), so that drift of the shared machine falls on every row alike:

  triage            triage scan IMG -o OUT -j 2 [-H alert:SET]     (default settings, every report)
  fiwalk            fiwalk -X OUT.xml IMG                           (md5 + sha1 of every file)
  E01 shapes also:  ewfverify -q IMG; triage ... --no-verify; "ewfverify -q IMG && fiwalk -X OUT.xml IMG" (the
                    two tools one triage run replaces, one after the other)
  first-answer-100k: triage scan IMG -o OUT -j 2 -H alert:SET --first-hit --pictures-first, and fiwalk for scale;
                    the summary's ``first_hit_after`` is reported beside the wall time to exit.

Measured per run with ``run_bench.run_once``: wall (monotonic), CPU of the whole process
tree (``os.wait4`` plus psutil samples of forkserver-reaped workers), peak summed RSS of the tree (psutil every
100 ms) and the largest single process's RSS in any sample (``ru_maxrss`` is kept in the JSON, but for a child
forked by this Python it is at least this process's own peak). The image is read once first (page cache warm).
By default each run waits for a quiet machine and is repeated when other processes used CPU meanwhile
(as ``run_bench.measure``); ``--no-wait`` times at once (only to check that the suite works).

The floor (issue 17 item 2): the CPU the work needs, measured on this machine in this process — md5+sha1+sha256
of every byte the scan hashed (its summary's ``hashed.bytes``), md5+sha1 of the media when the scan hashed it,
inflating the E01 (``ewfverify``'s CPU less its md5 of the media) and ``PICTURE_SECONDS`` per picture — divided by
the 2 cores; each shape's distance from it is triage's median wall ÷ the floor. Videos are not in the floor.

Results: printed, merged into ``bench/cache/suite-results.json`` (by shape) and ``suite-results.md``.

Usage: ``.venv/bin/python bench/suite.py [--shapes a,b] [--repeats 5] [--triage CHECKOUT|COMMAND] [--no-wait]``
``--triage``: a checkout (its ``triage/`` run as ``python -S -m triage.cli`` with PYTHONPATH=CHECKOUT + this
venv's site-packages; default: the checkout holding this file) or a command line (e.g. ``/path/.venv/bin/triage``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import run_bench  # noqa: E402  (its import sets OPENBLAS_NUM_THREADS=1 here; children get the original env)
import shapes  # noqa: E402

CACHE = shapes.CACHE
RESULTS_JSON = CACHE / "suite-results.json"
RESULTS_MD = CACHE / "suite-results.md"
CORES = 2
# Per-picture hashing cost: triage.analysis.pictures.perceptual_hashes, 1024×768 JPEG, one core (bench/RESULTS.md,
# "Perceptual hashing": 3.2 ms/picture, 316.6 pictures/s).
PICTURE_SECONDS = 0.0032
STOCK_ENV = {k: v for k, v in run_bench.ORIGINAL_ENV.items() if k != "OPENBLAS_NUM_THREADS"}


def triage_command(spec: str | None) -> tuple[list[str], dict[str, str], str]:
    """(argv prefix, environment, description) of the triage to time."""
    path = Path(spec) if spec else BENCH.parent
    if path.is_dir() and (path / "triage" / "__init__.py").exists():
        path = path.resolve()
        commit = subprocess.run(["git", "-C", str(path), "log", "-1", "--format=%h"], capture_output=True,
                                text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(path), "status", "--porcelain", "triage"], capture_output=True,
                               text=True).stdout.strip()
        env = {**STOCK_ENV, "PYTHONPATH": os.pathsep.join([str(path), str(run_bench.SITE)])}
        return ([sys.executable, "-S", "-m", "triage.cli"], env,
                f"checkout {path} at {commit}{' (+ uncommitted edits in triage/)' if dirty else ''}")
    return shlex.split(spec or ""), STOCK_ENV, f"command {spec}"


def rows(shape: shapes.Shape, triage: list[str], env: dict[str, str], out: Path) -> dict[str, tuple[list[str],
                                                                                               dict[str, str]]]:
    """Every command timed on ``shape``, with its environment; outputs go under ``out``."""
    img, xml = shape.image, str(out / "fiwalk.xml")
    sets = ["-H", f"alert:{shape.hashset}"] if shape.hashset else []
    scan = [*triage, "scan", img, "-j", "2", *sets]
    fiwalk = (["fiwalk", "-X", xml, img], STOCK_ENV)
    if shape.name == "first-answer-100k":
        return {"triage-first-hit": ([*scan, "-o", str(out / "triage"), "--first-hit", "--pictures-first"], env),
                "fiwalk": fiwalk}
    table = {"triage": ([*scan, "-o", str(out / "triage")], env), "fiwalk": fiwalk}
    if shape.e01:
        table["ewfverify"] = (["ewfverify", "-q", img], STOCK_ENV)
        table["triage-noverify"] = ([*scan, "-o", str(out / "triage-noverify"), "--no-verify"], env)
        both = f"ewfverify -q {shlex.quote(img)} && fiwalk -X {shlex.quote(xml)} {shlex.quote(img)}"
        table["ewfverify+fiwalk"] = (["sh", "-c", both], STOCK_ENV)
    return table


def warm(shape: shapes.Shape) -> None:
    """Read the image once so that every tool reads it from the page cache."""
    image = Path(shape.image)
    files = sorted(image.parent.glob(image.stem + ".E[0-9][0-9]")) if shape.e01 else [image]
    for path in files:
        with open(path, "rb") as fh:
            while fh.read(16 << 20):
                pass


def summary_of(out: Path) -> dict[str, Any] | None:
    found = sorted(out.rglob("summary.json"))  # OUT/<row>/<device>[.incomplete]/summary.json
    return json.loads(found[0].read_text()) if found else None


def run_shape(shape: shapes.Shape, repeats: int, triage: list[str], env: dict[str, str], wait: bool) -> dict[str, Any]:
    """The alternating rounds on one shape: every run's measures, the scans' summaries (first round), medians."""
    run_bench.RUNS.mkdir(parents=True, exist_ok=True)  # run_once's working folder
    out = Path(tempfile.mkdtemp(prefix="suite-", dir=run_bench.RUNS))
    table = rows(shape, triage, env, out)
    names = list(table)
    runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    summaries: dict[str, Any] = {}
    warm(shape)
    try:
        for rep in range(repeats):
            for name in names[rep % len(names):] + names[: rep % len(names)]:
                result = measure(*table[name], out, wait)
                if result["rc"] == 0:
                    result.pop("stderr")
                if name.startswith("triage") and (summary := summary_of(out)) is not None:
                    result["first_hit_after"] = summary.get("first_hit_after")
                    result["hashed"] = summary.get("hashed")
                    summaries.setdefault(name, {k: summary.get(k) for k in ("counts", "hashed", "first_hit_after",
                                                                            "matches_by_hashset")})
                    summaries[name]["media_hashed"] = bool(summary.get("evidence", {}).get("computed_hashes"))
                    summaries[name]["verification"] = summary.get("evidence", {}).get("verification")
                runs[name].append(result)
                extra = (f"  first hit after {result.get('first_hit_after')} s" if name == "triage-first-hit" else "")
                print(f"  [{shape.name} {rep + 1}/{repeats}] {name:18s} {result['wall']:8.2f} s wall "
                      f"{result['cpu']:8.2f} s CPU {result['tree_rss_mb']:7.0f} MB tree {result['proc_rss_mb']:6.0f} "
                      f"MB largest  other CPU {result['foreign_cpu']:5.1f} s  rc={result['rc']}{extra}", flush=True)
                if result["rc"] != 0:
                    print(result.get("stderr", ""), file=sys.stderr)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    cmds = {n: " ".join(shlex.quote(c) for c in table[n][0]).replace(str(out), "OUT") for n in names}
    return {"shape": asdict(shape), "runs": runs, "summaries": summaries, "stats": stats(runs),
            "pairs": pairs(runs), "cmds": cmds}


def measure(cmd: list[str], env: dict[str, str], out: Path, wait: bool, attempts: int = 4) -> dict[str, Any]:
    """``run_bench.run_once`` into an emptied ``out``; with ``wait``, on a quiet machine and repeated while other
    processes used CPU during the run (as ``run_bench.measure``, but every attempt starts from an empty folder)."""
    for attempt in range(attempts if wait else 1):
        for stale in out.iterdir():
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
        if wait:
            run_bench.wait_quiet()
        result = run_bench.run_once(cmd, env)
        result["attempt"] = attempt + 1
        if not result["contended"]:
            break
        if wait:
            print(f"  (contended: {result['foreign_cpu']:.1f} s of CPU used by other processes; retrying)", flush=True)
    return result


def stats(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per row: median/min/max wall, median CPU, peak tree RSS and largest process RSS (max over runs)."""
    out = {}
    for name, rs in runs.items():
        walls = [r["wall"] for r in rs]
        out[name] = {"n": len(rs), "wall": statistics.median(walls), "wall_min": min(walls), "wall_max": max(walls),
                     "cpu": statistics.median(r["cpu"] for r in rs), "tree_rss_mb": max(r["tree_rss_mb"] for r in rs),
                     "proc_rss_mb": max(r.get("proc_rss_mb", 0.0) for r in rs),
                     "max_rss_mb": max(r["max_rss_mb"] for r in rs), "contended": sum(bool(r["contended"]) for r in rs)}
        hits = [r["first_hit_after"] for r in rs if r.get("first_hit_after") is not None]
        if name == "triage-first-hit":
            out[name]["first_hit_after"] = statistics.median(hits) if hits else None
    return out


PAIRS = (("triage", "fiwalk"), ("triage-noverify", "fiwalk"), ("triage", "ewfverify+fiwalk"),
         ("triage", "ewfverify"), ("triage-first-hit", "fiwalk"))


def pairs(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Wall ratios of the runs of the same round (paired: both ran back to back), median/min/max over rounds."""
    out = {}
    for a, b in PAIRS:
        if a in runs and b in runs:
            ratios = [x["wall"] / y["wall"] for x, y in zip(runs[a], runs[b], strict=False)]
            out[f"{a} / {b}"] = {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}
    return out


def hash_rates(megabytes: int = 128) -> dict[str, float]:
    """CPU seconds per byte of the digest sets triage computes, in this process (4 MB updates, as the media pass)."""
    data = memoryview(os.urandom(megabytes << 20))
    out = {}
    for label, algos in (("md5+sha1+sha256", ("md5", "sha1", "sha256")), ("md5+sha1", ("md5", "sha1")),
                         ("md5", ("md5",))):
        started = time.process_time()
        states = [hashlib.new(a) for a in algos]
        for i in range(0, len(data), 4 << 20):
            for state in states:
                state.update(data[i:i + (4 << 20)])
        out[label] = (time.process_time() - started) / len(data)
    return out


def floor(result: dict[str, Any], rates: dict[str, float]) -> dict[str, Any]:
    """The CPU the shape's work needs and the wall it would take on ``CORES`` cores; triage's distance from it."""
    shape, st = result["shape"], result["stats"]
    row = "triage-first-hit" if "triage-first-hit" in st else "triage"
    summary = result["summaries"].get(row, {})
    hashed = (summary.get("hashed") or {}).get("bytes") or shape["file_bytes"]
    media_hashed = summary.get("media_hashed", True)
    parts = {"file digests (md5+sha1+sha256)": hashed * rates["md5+sha1+sha256"],
             "media hash (md5+sha1)": shape["media_bytes"] * rates["md5+sha1"] if media_hashed else 0.0,
             "inflate (ewfverify CPU less its md5)": 0.0,
             "pictures": shape["pictures"] * PICTURE_SECONDS}
    if shape["e01"] and "ewfverify" in st:
        parts["inflate (ewfverify CPU less its md5)"] = max(0.0, st["ewfverify"]["cpu"]
                                                            - shape["media_bytes"] * rates["md5"])
    cpu = sum(parts.values())
    wall = cpu / CORES
    out = {"cpu_parts": parts, "cpu": cpu, "floor_wall": wall, "hashed_bytes": hashed, "media_hashed": media_hashed}
    if row in st and wall > 0:
        out["triage_wall"] = st[row]["wall"]
        out["distance_x"] = st[row]["wall"] / wall
        out["distance_s"] = st[row]["wall"] - wall
    return out


def markdown(results: dict[str, Any]) -> str:
    lines = [f"Machine: {results.get('machine', {}).get('cpu', '?')}, {CORES} cores used by `-j 2`. Medians of "
             "alternating runs; min–max in brackets; RSS: the largest over the runs.\n"]
    for name, res in results["shapes"].items():
        s = res["shape"]
        lines += [f"\n### {name}\n", f"{s['note']}. Image {s['image_bytes'] / 1e9:.2f} GB (media "
                  f"{s['media_bytes'] / 1e9:.2f} GB), {s['files']:,} files, {s['file_bytes'] / 1e6:,.0f} MB, "
                  f"{s['pictures']} pictures, {s['videos']} videos. triage: {res['triage']}; {res['date']}.\n",
                  "| row | runs | wall s median [min–max] | CPU s | peak tree RSS MB | largest process RSS MB "
                  "(sampled) |",
                  "|---|---:|---|---:|---:|---:|"]
        for row, m in res["stats"].items():
            hit = f" (first hit after {m['first_hit_after']:.2f} s)" if m.get("first_hit_after") is not None else ""
            lines.append(f"| {row} | {m['n']}{'*' * bool(m['contended'])} | {m['wall']:.2f} [{m['wall_min']:.2f}–"
                         f"{m['wall_max']:.2f}]{hit} | {m['cpu']:.1f} | {m['tree_rss_mb']:.0f} | "
                         f"{m['proc_rss_mb']:.0f} |")
        lines.append("")
        for pair, r in res["pairs"].items():
            lines.append(f"- {pair}: **{r['median']:.2f}×** [{r['min']:.2f}–{r['max']:.2f}] (paired by round)")
        f = res["floor"]
        if not f:
            lines += ["\nCommands:\n", *[f"- {row}: `{cmd}`" for row, cmd in res["cmds"].items()]]
            continue
        parts = ", ".join(f"{k} {v:.2f}" for k, v in f["cpu_parts"].items() if v)
        lines.append(f"- floor: {f['cpu']:.2f} CPU-s ({parts}) ÷ {CORES} cores = **{f['floor_wall']:.2f} s**"
                     + (f"; triage {f['triage_wall']:.2f} s = **{f['distance_x']:.2f}× the floor** "
                        f"(+{f['distance_s']:.2f} s)" if "distance_x" in f else ""))
        lines += ["\nCommands:\n", *[f"- {row}: `{cmd}`" for row, cmd in res["cmds"].items()]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default=",".join(shapes.BUILDERS), help="comma-separated (default: all)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--triage", help="a triage checkout or a command (default: this checkout)")
    ap.add_argument("--no-wait", action="store_true", help="do not wait for a quiet machine (checking the suite)")
    args = ap.parse_args(argv)
    triage, env, described = triage_command(args.triage)
    results = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.exists() else {"shapes": {}}
    results["machine"] = run_bench.machine()
    rates = hash_rates()
    results["hash_rates_ns_per_byte"] = {k: v * 1e9 for k, v in rates.items()}
    print(f"triage: {described}\nhash CPU ns/byte: " + ", ".join(f"{k} {v * 1e9:.2f}" for k, v in rates.items()),
          flush=True)
    for name in args.shapes.split(","):
        shape = shapes.build(name)
        print(f"{name}: {shape.image} ({shape.files:,} files, {shape.pictures} pictures)", flush=True)
        res = run_shape(shape, args.repeats, triage, env, not args.no_wait)
        res.update(triage=described, date=time.strftime("%Y-%m-%d %H:%M %Z"), repeats=args.repeats,
                   waited=not args.no_wait)
        res["floor"] = floor(res, rates) if name != "first-answer-100k" else {}  # a stopped scan: no floor
        results["shapes"][name] = res
        RESULTS_JSON.write_text(json.dumps(results, indent=1, default=str) + "\n")
        RESULTS_MD.write_text(markdown(results))
        for pair, r in res["pairs"].items():
            print(f"  {pair}: {r['median']:.2f}× [{r['min']:.2f}–{r['max']:.2f}]")
        f = res["floor"]
        if "distance_x" in f:
            print(f"  floor {f['floor_wall']:.2f} s ({f['cpu']:.2f} CPU-s / {CORES}); triage {f['triage_wall']:.2f} s"
                  f" = {f['distance_x']:.2f}× the floor", flush=True)
    print(f"\n{RESULTS_MD}:\n\n{RESULTS_MD.read_text()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
