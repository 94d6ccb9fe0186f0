"""Benchmark ``triage scan`` against ``fiwalk -X`` and ``ewfverify`` on the same ~1 GB synthetic E01 (issue 6).

SYNTHETIC DATA ONLY (``bench/make_bench_image.py`` builds the image once and caches it under ``bench/cache``).

One run, tools alternated (round-robin, the starting tool rotated every repeat), ``--repeats`` times:

  fiwalk      fiwalk -Z -X OUT.xml bench.E01          (md5 + sha1 of every file: fiwalk's default)
  ewfverify   ewfverify -q bench.E01                  (the media read limit: decompress + md5 of the media)
  triage-j1   triage scan bench.E01 -j 1 -H md5 -H csv
  triage-j2   triage scan bench.E01 -j 2 -H md5 -H csv
  triage-j2-noverify   ... -j 2 --no-verify

Each run's wall time (monotonic clock), CPU time of the process and all its children (``os.wait4``), the peak
of the summed RSS of the process tree (psutil, every 100 ms: ``POLL_SECONDS``) and the largest single-process RSS
(``ru_maxrss``). The E01 is read once before timing so that every tool reads it from the page cache.
The triage rows run the shipped configuration (triage limits numpy's BLAS to one thread itself; ``setup.sh``
installs pyewf built with libdeflate, ``scripts/build_pyewf.py``); ``--pyewf DIR`` adds ``+pyewf-other`` rows,
the same scans with ``DIR`` first on ``PYTHONPATH``. A run during which other processes used CPU is repeated
(see ``measure``).

Then: the perceptual-hash micro-benchmark (one core, in this process) on every 1024×768 JPEG of the image,
split into decode / PDQ / pHash, plus the prototype fast paths of ``bench/fastpath.py``, each checked against
the full-resolution reference stored in the manifest (PDQ within 10 bits, pHash within 2 bits, on pictures of
reference PDQ quality ≥ 80); and the profiles: cProfile of ``triage scan -j 1`` (in-process work) and, when
installed, ``py-spy record --subprocesses`` of ``triage scan -j 2``.

Results: printed, and kept in ``bench/cache/results.json`` (+ ``results.md``, the tables for RESULTS.md).

Usage: ``.venv/bin/python bench/run_bench.py [--repeats 3] [--skip-scans] [--skip-profile] [--pyewf DIR]``
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ORIGINAL_ENV = dict(os.environ)
# The micro-benchmark measures one core: numpy's BLAS must not start helper threads in this process. Scans get
# the environment they are given (see ``tools``), so the stock rows run as an examiner's shell would run them.
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402
import psutil  # noqa: E402

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import make_bench_image as image  # noqa: E402

CACHE = BENCH / "cache"
RUNS = CACHE / "runs"
PROF = CACHE / "prof"
VENV_BIN = Path(sys.executable).parent
SITE = Path(np.__file__).resolve().parent.parent
SNAPSHOTS = CACHE / "snapshot"
# Set by use_snapshot(): the triage package timed (a frozen ``git archive`` of one commit, so that edits other
# sessions make to the work tree while the benchmark runs cannot change what is measured).
SNAP: dict[str, str] = {"dir": str(ROOT), "commit": "work tree"}
TRIAGE = [sys.executable, "-S", "-m", "triage.cli"]
# psutil sampling of the measured tree (RSS, CPU of forkserver-reaped workers). Every 20 ms cost the 2-core
# machine enough CPU to slow a multi-process scan by ~0.3 s; every 100 ms it is lost in the noise.
POLL_SECONDS = 0.1


def use_snapshot(ref: str) -> None:
    """Extract ``triage/`` at ``ref`` under bench/cache/snapshot/<sha>/ and import triage from there.

    Scans run as ``python -S -m triage.cli`` with PYTHONPATH=<snapshot>:<site-packages>: ``-S`` skips the
    editable install's import hook, and multiprocessing passes ``-S`` on to the spawned workers.
    """
    if ref == "worktree":
        SNAP.update(dir=str(ROOT), commit="work tree (uncommitted edits included)")
    else:
        sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", ref], check=True, capture_output=True,
                             text=True).stdout.strip()
        target = SNAPSHOTS / sha
        if not (target / "triage" / "__init__.py").exists():
            target.mkdir(parents=True, exist_ok=True)
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", sha, "triage"], check=True,
                                     capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
        subject = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%s", sha], capture_output=True,
                                 text=True).stdout.strip()
        SNAP.update(dir=str(target), commit=f"{sha} {subject}")
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
    sys.path.insert(0, SNAP["dir"])


def triage_env(base: dict[str, str], first: str | None = None) -> dict[str, str]:
    path = [p for p in (first, SNAP["dir"], str(SITE)) if p]
    return {**base, "PYTHONPATH": os.pathsep.join(path)}


# ---------------------------------------------------------------------------------------------------- timing


def busy_seconds() -> float:
    """CPU seconds spent busy by the whole machine since boot (all cores, /proc/stat)."""
    vals = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(vals) - vals[3] - vals[4]) / os.sysconf("SC_CLK_TCK")


def wait_quiet(max_wait: float = 1800.0) -> float:
    """Wait until the rest of the machine uses < 0.15 core (other sessions' test runs skew timings)."""
    waited = 0.0
    while True:
        b0, t0 = busy_seconds(), time.monotonic()
        time.sleep(2.0)
        load = (busy_seconds() - b0) / (time.monotonic() - t0)
        if load < 0.15 or waited >= max_wait:
            return load
        if waited == 0.0:
            print(f"  waiting for a quiet machine (other load {load:.2f} cores)", flush=True)
        waited += 2.0


def measure(cmd: list[str], env: dict[str, str] | None = None, attempts: int = 4) -> dict[str, Any]:
    """``run_once`` on a quiet machine; retried when other processes used CPU during the run."""
    for attempt in range(attempts):
        wait_quiet()
        result = run_once(cmd, env)
        result["attempt"] = attempt + 1
        if not result["contended"]:
            return result
        print(f"  (contended: {result['foreign_cpu']:.1f} s of CPU used by other processes; retrying)", flush=True)
    return result


def run_once(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``cmd``; wall, CPU (self + every descendant), peak summed RSS of the tree, max single RSS (``max_rss_mb``:
    ``ru_maxrss``, which for a child this process forked is at least this process's own peak, the kernel carries it
    over the exec; ``proc_rss_mb``: the largest process in any sample), exit code, and
    ``foreign_cpu``: CPU that processes outside the measured tree (and this script) used meanwhile."""
    peak = [0, 0]  # summed RSS of the tree, and of its largest process, at any one sample
    own_cpu: dict[int, float] = {}  # last sampled user+sys of every process seen in the tree
    busy0 = busy_seconds()
    self0 = sum(os.times()[:2])
    done = threading.Event()
    started = time.monotonic()
    # cwd outside the checkout: ``python -m`` puts the cwd first on sys.path, which would import the working
    # tree's triage instead of the frozen snapshot.
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=RUNS)

    def poll() -> None:
        try:
            root = psutil.Process(proc.pid)
        except psutil.Error:
            return
        while not done.is_set():
            total = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                break
            for p in procs:
                with contextlib.suppress(psutil.Error):
                    rss = p.memory_info().rss
                    total += rss
                    peak[1] = max(peak[1], rss)
                    times = p.cpu_times()
                    own_cpu[p.pid] = times.user + times.system
            peak[0] = max(peak[0], total)
            done.wait(POLL_SECONDS)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    stderr = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    poller.join()
    # rusage covers the process and the children it reaped; triage's workers are forked by a forkserver and
    # reaped by it, so their CPU is taken from the samples (to within one sample per process).
    cpu = max(usage.ru_utime + usage.ru_stime, sum(own_cpu.values()))
    foreign = max(0.0, busy_seconds() - busy0 - cpu - (sum(os.times()[:2]) - self0))
    return {"wall": wall, "cpu": cpu, "user": usage.ru_utime, "sys": usage.ru_stime,
            "tree_rss_mb": peak[0] / 2**20, "max_rss_mb": usage.ru_maxrss / 1024, "proc_rss_mb": peak[1] / 2**20,
            "rc": proc.returncode,
            "foreign_cpu": foreign, "contended": foreign > 0.5 + 0.05 * wall,
            "stderr": stderr.decode(errors="replace")[-2000:]}


def hashset_args() -> list[str]:
    return ["-H", str(image.MD5_SET), "-H", str(image.PERCEPTUAL_SET)]


def tools(pyewf_dir: str | None) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Every command of the timed loop with its environment.

    Suffix ``+pyewf-other``: another pyewf first on PYTHONPATH (``--pyewf``).
    """
    e01 = str(image.E01)
    stock = {k: v for k, v in ORIGINAL_ENV.items() if k != "OPENBLAS_NUM_THREADS"}
    out: dict[str, tuple[list[str], dict[str, str]]] = {
        "fiwalk": (["fiwalk", "-Z", "-X", str(RUNS / "fiwalk.xml"), e01], stock),
        "ewfverify": (["ewfverify", "-q", e01], stock),
    }
    # triage sets OPENBLAS_NUM_THREADS=1 itself and setup.sh installs the libdeflate pyewf, so the stock row is
    # the shipped configuration; ``--pyewf DIR`` adds rows with another pyewf first on PYTHONPATH.
    envs: list[tuple[str, dict[str, str]]] = [("", triage_env(stock))]
    if pyewf_dir:
        envs.append(("+pyewf-other", triage_env(stock, pyewf_dir)))
    variants = [("triage-j1", ["-j", "1"]), ("triage-j2", ["-j", "2"]),
                ("triage-j1-noverify", ["-j", "1", "--no-verify"]), ("triage-j2-noverify", ["-j", "2", "--no-verify"])]
    for suffix, env in envs:
        for name, extra in variants:
            folder = RUNS / (name + suffix.replace("+", "_"))
            out[name + suffix] = ([*TRIAGE, "scan", e01, "-o", str(folder), *extra, *hashset_args()], env)
    return out


def warm_cache() -> None:
    for seg in sorted(CACHE.glob("bench.E[0-9][0-9]")):
        with open(seg, "rb") as fh:
            while fh.read(16 << 20):
                pass


def check_triage(out_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """What the scan found against what the image holds: counts, matches, verification, md5 agreement."""
    dev = out_dir / "bench"
    summary = json.loads((dev / "summary.json").read_text())
    by_path = {"/" + f["path"]: f for f in manifest["files"] if not f["deleted"]}
    seen = differ = 0
    pictures_hashed = 0
    with open(dev / "files.jsonl", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec.get("pdq"):
                pictures_hashed += 1
            want = by_path.get(rec["path"])
            if want is not None and rec["allocated"]:
                seen += 1
                differ += rec["md5"] != want["md5"]
    return {"verification": summary["evidence"].get("verification"), "counts": summary["counts"],
            "allocated_files_compared": seen, "md5_differ": differ, "of_manifest": len(by_path),
            "pictures_hashed": pictures_hashed}


def check_fiwalk(xml: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    import xml.etree.ElementTree as ET

    by_path = {f["path"]: f for f in manifest["files"] if not f["deleted"]}
    objects = with_md5 = seen = differ = 0
    for _, el in ET.iterparse(xml):
        if el.tag.rsplit("}", 1)[-1] != "fileobject":
            continue
        objects += 1
        name = md5 = None
        for child in el:
            tag = child.tag.rsplit("}", 1)[-1]
            if tag == "filename":
                name = child.text
            elif tag == "hashdigest" and child.get("type", "").lower() == "md5":
                md5 = child.text
        with_md5 += md5 is not None
        want = by_path.get(name or "")
        if want is not None and md5 is not None:
            seen += 1
            differ += md5 != want["md5"]
        el.clear()
    return {"fileobjects": objects, "with_md5": with_md5, "allocated_files_compared": seen, "md5_differ": differ}


def run_scans(repeats: int, pyewf_dir: str | None, manifest: dict[str, Any], rows: list[str] | None = None,
              partial: Path | None = None) -> dict[str, Any]:
    """The timed loop; every finished run is also appended to ``partial`` (JSON lines) so nothing is lost."""
    table = tools(pyewf_dir)
    names = [n for n in table if not rows or n in rows]
    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    checks: dict[str, Any] = {}
    RUNS.mkdir(parents=True, exist_ok=True)
    warm_cache()
    for rep in range(repeats):
        order = names[rep % len(names):] + names[: rep % len(names)]
        for name in order:
            cmd, env = table[name]
            if name.startswith("triage"):
                shutil.rmtree(Path(cmd[cmd.index("-o") + 1]), ignore_errors=True)
            result = measure(cmd, env)
            runs[name].append(result)
            if partial is not None:
                with open(partial, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"rep": rep + 1, "name": name, **result}) + "\n")
            print(f"  [{rep + 1}/{repeats}] {name:28s} {result['wall']:7.2f} s wall  {result['cpu']:7.2f} s cpu  "
                  f"{result['tree_rss_mb']:7.0f} MB tree RSS  other CPU {result['foreign_cpu']:4.1f} s  "
                  f"rc={result['rc']}", flush=True)
            if result["rc"] != 0:
                print(result["stderr"], file=sys.stderr)
            if rep == 0 and result["rc"] == 0:
                if name.startswith("triage"):
                    checks[name] = check_triage(Path(cmd[cmd.index("-o") + 1]), manifest)
                elif name == "fiwalk":
                    checks[name] = check_fiwalk(RUNS / "fiwalk.xml", manifest)
    cmds = {name: " ".join(table[name][0]).replace(str(ROOT) + "/", "") for name in runs}
    return {"medians": medians(runs, cmds), "checks": checks, "runs": runs}


def medians(runs: dict[str, list[dict[str, Any]]], cmds: dict[str, str]) -> dict[str, Any]:
    """Medians per row over the runs nobody else disturbed (all runs when every attempt was contended)."""
    med = {}
    for name, rs in runs.items():
        clean = [r for r in rs if not r.get("contended")] or rs
        med[name] = {k: statistics.median(r[k] for r in clean) for k in ("wall", "cpu", "tree_rss_mb", "max_rss_mb")}
        med[name]["walls"] = [f"{r['wall']:.2f}{'*' if r.get('contended') else ''}" for r in rs]
        med[name]["cmd"] = cmds[name]
    return med


# ---------------------------------------------------------------------------------------------------- pictures


def hamming(a: str | None, b: str | None) -> int:
    if a is None or b is None:
        return 999
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def perceptual_bench(manifest: dict[str, Any]) -> dict[str, Any]:
    """Decode / PDQ / pHash split of the current path and every prototype, on 1024×768 JPEGs, one core."""
    import fastpath
    import imagehash
    import pdqhash
    from PIL import Image

    from triage.analysis.pictures import perceptual_hashes

    wait_quiet()
    busy0, self0 = busy_seconds(), sum(os.times()[:2])
    pics = [p for p in manifest["pictures"] if p["format"] == "JPEG" and (p["width"], p["height"]) == (1024, 768)]
    data = [(p, (image.PICTURES / p["file"]).read_bytes()) for p in pics]
    strict = [i for i, (p, _) in enumerate(data) if p["pdq_quality"] >= 80]

    def timed(fn: Any) -> tuple[float, list[Any]]:
        fn(data[0][1])
        t0 = time.perf_counter()
        out = [fn(d) for _, d in data]
        return time.perf_counter() - t0, out

    def agreement(results: list[tuple[str, int, str]]) -> dict[str, Any]:
        dp = [hamming(results[i][0], data[i][0]["pdq"]) for i in strict]
        dh = [hamming(results[i][2], data[i][0]["phash"]) for i in strict]
        return {"pdq_max": max(dp), "pdq_mean": round(float(np.mean(dp)), 2), "pdq_over_10": sum(d > 10 for d in dp),
                "phash_max": max(dh), "phash_mean": round(float(np.mean(dh)), 2),
                "phash_over_2": sum(d > 2 for d in dh)}

    # Stage split of the current path (what triage.analysis.pictures does today).
    decoded: list[Any] = []

    def decode(d: bytes) -> Any:
        with Image.open(io.BytesIO(d)) as img:
            img.load()
            rgb = img.convert("RGB")
        return rgb, np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))

    t_decode, decoded = timed(decode)
    t0 = time.perf_counter()
    for _, arr in decoded:
        pdqhash.compute(arr)
    t_pdq = time.perf_counter() - t0
    t0 = time.perf_counter()
    for rgb, _ in decoded:
        imagehash.phash(rgb)
    t_phash = time.perf_counter() - t0
    t_total, res = timed(lambda d: (lambda r: (r.pdq, r.pdq_quality, r.phash))(perceptual_hashes(d)))
    n = len(data)
    out: dict[str, Any] = {
        "pictures": n, "strict_pictures": len(strict),
        "current": {"per_s": n / t_total, "decode_ms": 1e3 * t_decode / n, "pdq_ms": 1e3 * t_pdq / n,
                    "phash_ms": 1e3 * t_phash / n, "total_ms": 1e3 * t_total / n, **agreement(res)},
        "candidates": {},
    }
    # Stage split of the best prototype: Y-plane decode, numpy PDQ, pHash on Y.
    def decode_y(d: bytes) -> Any:
        with Image.open(io.BytesIO(d)) as img:
            img.draft("L", img.size)
            return img.convert("L")

    t_dy, ys = timed(decode_y)
    t0 = time.perf_counter()
    for y in ys:
        fastpath.pdq_numpy(np.asarray(y, dtype=np.float32))
    t_np = time.perf_counter() - t0
    t0 = time.perf_counter()
    for y in ys:
        fastpath.phash_from_l(y)
    t_ph = time.perf_counter() - t0
    out["y_plane_split"] = {"decode_ms": 1e3 * t_dy / n, "pdq_ms": 1e3 * t_np / n, "phash_ms": 1e3 * t_ph / n}
    for name, fn in fastpath.CANDIDATES.items():
        t, res = timed(fn)
        out["candidates"][name] = {"per_s": n / t, "total_ms": 1e3 * t / n, **agreement(res)}
    out["foreign_cpu"] = busy_seconds() - busy0 - (sum(os.times()[:2]) - self0)
    return out


# ---------------------------------------------------------------------------------------------------- profiles


def profile_cprofile() -> dict[str, Any]:
    PROF.mkdir(parents=True, exist_ok=True)
    target = PROF / "scan_j1.prof"
    out = RUNS / "cprofile"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-S", "-m", "cProfile", "-o", str(target), "-m", "triage.cli", "scan", str(image.E01),
           "-o", str(out), "-j", "1", *hashset_args()]
    wait_quiet()
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=RUNS,
                   env=triage_env(ORIGINAL_ENV))
    wall = time.monotonic() - t0
    stats = pstats.Stats(str(target))
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = []
    for func, (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append({"func": _fname(func), "calls": nc, "tottime": tt, "cumtime": ct})
    top_cum = sorted(rows, key=lambda r: -r["cumtime"])
    top_cum = [r for r in top_cum if not _boring(r["func"])][:15]
    top_self = sorted(rows, key=lambda r: -r["tottime"])[:15]
    return {"wall": wall, "total": total, "cmd": " ".join(cmd).replace(str(ROOT) + "/", ""),
            "top_cumulative": top_cum, "top_self": top_self}


def _fname(func: tuple[str, int, str]) -> str:
    path, line, name = func
    if path == "~":
        return name
    short = path.replace(SNAP["dir"] + "/", "").replace(str(ROOT) + "/", "").replace(str(SITE) + "/", "")
    return f"{short}:{line}({name})"


def _boring(name: str) -> bool:
    """Wrapper frames that add nothing to the picture (click dispatch, runpy, exec)."""
    return any(s in name for s in ("click/core.py", "<frozen runpy>", "builtins.exec", "<string>:1",
                                   "cli.py:1(<module>)", "run_guarded", "cli.py:90(scan)", "(body)",
                                   "cli/__init__.py:"))  # the command line, since it became a package


CATEGORIES = [  # (label, substrings of a frame); a sample goes to the first category its leaf-most frame matches
    ("E01 read: pyewf inflate", ("LibReader.read ", "read_buffer_at_offset")),
    ("media md5+sha1 (media hasher thread)", ("MediaHasher.run", "MediaVerifier.run")),
    ("file md5+sha1+sha256 (hashlib)", ("digest_record ", "Digester.update")),
    ("media pass (cutting blocks into streams)", ("triage/reading/mediapass.py",)),
    ("PDQ", ("triage/analysis/pdq.py", "pdqhash", "bindings.pyx")),
    ("pHash (imagehash, resize, dct)", ("imagehash", "fftpack", "resize (PIL")),
    ("picture decode (Pillow)", ("PIL/",)),
    ("perceptual_hashes (other)", ("triage/analysis/pictures.py",)),
    ("TSK read (pytsk3 read_random, img cache)", ("read_stream ",)),
    ("TSK walk (listing)", ("walk (triage", "_entry (triage", "_streams (triage", "list_device")),
    ("matching (HashSets)", ("triage/known/",)),
    ("outputs (jsonl, summary, reports)", ("write_outputs", "triage/report/", "to_json")),
    ("result transfer (pickle, pipes, pool)", ("pickle", "connection.py", "queues.py", "concurrent/futures",
                                               "multiprocessing/")),
]


def categorise(frames: list[str]) -> str:
    if any("_find_and_load" in f for f in frames):
        return "imports (process start)"
    for frame in reversed(frames):
        for label, keys in CATEGORIES:
            if any(k in frame for k in keys):
                return label
    return "other"


def profile_pyspy(pyewf_dir: str | None = None, blas1: bool = False, name: str = "scan_j2"
                  ) -> dict[str, Any] | None:
    """py-spy (100 Hz, every process, runnable threads only): seconds by process and activity.

    Note: py-spy counts a thread whenever it is not idle, including when it waits for a core, so with more
    runnable threads than cores the sums exceed CPU time; the proportions are what matter.
    """
    spy = shutil.which("py-spy") or (str(VENV_BIN / "py-spy") if (VENV_BIN / "py-spy").exists() else None)
    if spy is None:
        return None
    PROF.mkdir(parents=True, exist_ok=True)
    raw = PROF / f"{name}.pyspy.txt"
    out = RUNS / f"pyspy-{name}"
    shutil.rmtree(out, ignore_errors=True)
    rate = 100
    cmd = [spy, "record", "--subprocesses", "--rate", str(rate), "--format", "raw", "--output", str(raw),
           "--", *TRIAGE, "scan", str(image.E01), "-o", str(out), "-j", "2", *hashset_args()]
    wait_quiet()
    t0 = time.monotonic()
    base = {**ORIGINAL_ENV, "OPENBLAS_NUM_THREADS": "1"} if blas1 else ORIGINAL_ENV
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=triage_env(base, pyewf_dir),
                          cwd=RUNS)
    wall = time.monotonic() - t0
    if proc.returncode != 0 or not raw.exists():
        return {"error": proc.stderr.decode(errors="replace")[-500:]}
    by_role: dict[str, Counter[str]] = defaultdict(Counter)
    leaf: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = stack.split(";")
        if any("MediaHasher.run" in f or "MediaVerifier.run" in f for f in frames):
            role = "main process, media hasher thread"
        elif any("Prefetch.run" in f for f in frames):
            role = "main process, media reader thread"
        elif any(f.startswith("process ") and ("spawn_main" in f or "forkserver" in f) for f in frames[:3]):
            role = "workers"
        else:
            role = "main process"
        by_role[role][categorise(frames)] += n
        leaf[frames[-1]] += n
    return {"cmd": " ".join(cmd).replace(str(ROOT) + "/", ""), "wall": wall, "rate": rate,
            "cpu_seconds": {r: {k: round(v / rate, 2) for k, v in c.most_common()} for r, c in by_role.items()},
            "top_leaves": [(f, round(n / rate, 2)) for f, n in leaf.most_common(20)]}


# ---------------------------------------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    import imagehash
    import pdqhash
    import PIL
    import pyewf
    import pytsk3

    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), "?")
    flags = next((ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags")), "")
    tool_versions = {}
    for tool, args in (("fiwalk", ["-V"]), ("ewfverify", ["-V"])):
        try:
            text = subprocess.run([tool, *args], capture_output=True, text=True).stdout.strip().splitlines()
            tool_versions[tool] = text[0] if text else "?"
        except OSError:
            tool_versions[tool] = "missing"
    return {
        "triage_commit": SNAP["commit"],
        "openblas_env": {k: v for k, v in ORIGINAL_ENV.items() if k.startswith("OPENBLAS")},
        "date": time.strftime("%Y-%m-%d %H:%M %Z"), "nproc": os.cpu_count(), "cpu": cpu,
        "cpu_flags": [f for f in ("sha_ni", "avx2", "avx512f") if f" {f}" in flags],
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1), "python": platform.python_version(),
        "kernel": platform.release(),
        "libs": {"pyewf": pyewf.get_version(), "pytsk3": pytsk3.get_version(), "numpy": np.__version__,
                 "pillow": PIL.__version__, "pdqhash": getattr(pdqhash, "__version__", "?"),
                 "imagehash": getattr(imagehash, "__version__", "?")},
        "tools": tool_versions,
    }


def markdown(res: dict[str, Any], tags: list[str] | None = None) -> str:
    """The tables of the timing runs ``tags`` (default: every run in ``res``) and of the picture benchmark."""
    lines = []
    for tag in tags if tags is not None else sorted(k for k in res if isinstance(res[k], dict) and "medians" in res[k]):
        if tag in res:
            lines += [f"\n### {tag}\n", *_scan_table(res[tag]["medians"])]
    lines += _picture_table(res)
    return "\n".join(lines) + "\n"


def _scan_table(med: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if "fiwalk" in med and "ewfverify" in med:
        fw, ev = med["fiwalk"]["wall"], med["ewfverify"]["wall"]
        lines += ["| run | median wall s | walls s | CPU s (incl. children) | peak tree RSS MB | max process RSS MB | "
                  "÷ fiwalk | ÷ ewfverify |", "|---|---:|---|---:|---:|---:|---:|---:|"]
        lines.insert(0, "(* = run during which other processes used CPU even after 4 attempts; left out of the "
                        "median when the row has an undisturbed run)\n")
        for name, m in med.items():
            lines.append(f"| {name} | {m['wall']:.2f} | {', '.join(map(str, m['walls']))} | {m['cpu']:.1f} | "
                         f"{m['tree_rss_mb']:.0f} | {m['max_rss_mb']:.0f} | {m['wall'] / fw:.2f}× | "
                         f"{m['wall'] / ev:.2f}× |")
        for suffix in ("", "+pyewf-other"):
            for verify in ("", "-noverify"):
                j1, j2 = med.get(f"triage-j1{verify}{suffix}"), med.get(f"triage-j2{verify}{suffix}")
                if j1 and j2:
                    lines.append(f"\n1 → 2 jobs speed-up {verify or '(verify on)'} {suffix}: "
                                 f"{j1['wall'] / j2['wall']:.2f}×")
        lines.append("\nCommands:\n")
        lines += [f"- {name}: `{m['cmd']}`" for name, m in med.items()]
        lines.append("\n(`python -S -m triage.cli` = the `triage` entry point run from the frozen snapshot; "
                     "PYTHONPATH as described in RESULTS.md.)")
    return lines


def _picture_table(res: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    pic = res.get("perceptual")
    if pic:
        c = pic["current"]
        lines += [f"\nPerceptual hashing, {pic['pictures']} JPEGs 1024×768 ({pic['strict_pictures']} of quality ≥ 80), "
                  "one core:\n",
                  "| path | pictures/s | ms/picture | PDQ max / mean bits vs reference | pHash max / mean bits |",
                  "|---|---:|---:|---|---|",
                  f"| triage.analysis.pictures.perceptual_hashes (now) | {c['per_s']:.1f} | {c['total_ms']:.1f} | "
                  f"{c['pdq_max']} / {c['pdq_mean']} | {c['phash_max']} / {c['phash_mean']} |"]
        for name, k in pic["candidates"].items():
            lines.append(f"| prototype: {name} | {k['per_s']:.1f} | {k['total_ms']:.1f} | {k['pdq_max']} / "
                         f"{k['pdq_mean']} | {k['phash_max']} / {k['phash_mean']} |")
        y = pic["y_plane_split"]
        lines.append(f"\nSplit, reference path: decode (RGB) {c['decode_ms']:.1f} ms, pdqhash binding "
                     f"{c['pdq_ms']:.1f} ms, pHash {c['phash_ms']:.1f} ms. Split of the Y-plane path: decode (Y "
                     f"only) {y['decode_ms']:.1f} ms, numpy PDQ {y['pdq_ms']:.1f} ms, pHash {y['phash_ms']:.1f} ms.")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-scans", action="store_true")
    ap.add_argument("--skip-pictures", action="store_true")
    ap.add_argument("--skip-profile", action="store_true")
    ap.add_argument("--pyewf", metavar="DIR", help="also run triage with DIR first on PYTHONPATH (another pyewf)")
    ap.add_argument("--rows", help="comma-separated row names to time (default: all)")
    ap.add_argument("--tag", default="scans", help="results.json key for this timing run (default: scans)")
    ap.add_argument("--report-only", action="store_true", help="only rewrite results.md from results.json")
    ap.add_argument("--ref", default="HEAD", help="git ref of triage/ to time (frozen copy), or 'worktree'")
    args = ap.parse_args(argv)
    if args.report_only:
        res = json.loads((CACHE / "results.json").read_text())
        for tag in (k for k in res if isinstance(res[k], dict) and "runs" in res[k] and "medians" in res[k]):
            res[tag]["medians"] = medians(res[tag]["runs"], {n: m["cmd"] for n, m in res[tag]["medians"].items()})
        (CACHE / "results.json").write_text(json.dumps(res, indent=1, default=str) + "\n")
        (CACHE / "results.md").write_text(markdown(res))
        print(markdown(res))
        return 0
    use_snapshot(args.ref)
    RUNS.mkdir(parents=True, exist_ok=True)
    if args.pyewf:
        args.pyewf = str(Path(args.pyewf).resolve())
    if image.main([]) != 0:
        return 1
    manifest = json.loads(image.MANIFEST.read_text())
    results_path = CACHE / "results.json"
    res: dict[str, Any] = json.loads(results_path.read_text()) if results_path.exists() else {}
    res["machine"] = machine()
    res["image"] = {"e01_bytes": manifest["e01_bytes"], "media_bytes": manifest["disk_bytes"], **manifest["counts"],
                    "fs": manifest["fs"]}
    print(json.dumps(res["machine"]))
    if not args.skip_scans:
        res[args.tag] = run_scans(args.repeats, args.pyewf, manifest, args.rows.split(",") if args.rows else None,
                                  CACHE / f"{args.tag}.partial.jsonl")
        results_path.write_text(json.dumps(res, indent=1, default=str) + "\n")
        print(json.dumps(res[args.tag]["checks"], indent=1))
    if not args.skip_pictures:
        res["perceptual"] = perceptual_bench(manifest)
        results_path.write_text(json.dumps(res, indent=1, default=str) + "\n")
    if not args.skip_profile:
        res["cprofile"] = profile_cprofile()
        res["pyspy"] = profile_pyspy()
        if args.pyewf:
            res["pyspy_fixed"] = profile_pyspy(args.pyewf, name="scan_j2_pyewf_other")
    results_path.write_text(json.dumps(res, indent=1, default=str) + "\n")
    md = markdown(res, [] if args.skip_scans else [args.tag])  # this run's timing table, not older ones
    (CACHE / "results.md").write_text(md)
    print(md)
    if res.get("cprofile"):
        print("cProfile, triage scan -j 1, top cumulative:")
        for r in res["cprofile"]["top_cumulative"]:
            print(f"  {r['cumtime']:7.2f} s cum {r['tottime']:7.2f} s self {r['calls']:7d}  {r['func']}")
    for key in ("pyspy", "pyspy_fixed"):
        spy = res.get(key)
        if not spy or "cpu_seconds" not in spy:
            continue
        print(f"py-spy [{key}], triage scan -j 2 ({spy['wall']:.1f} s wall), seconds by process and activity:")
        for role, cats in spy["cpu_seconds"].items():
            print(f"  {role} ({sum(cats.values()):.1f} s): {cats}")
        for frame, secs in spy["top_leaves"]:
            print(f"    {secs:6.2f} s  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
