"""Benchmark: what PDQ's eight dihedral variants cost per picture, and how near they bring turned copies (issue 15).

SYNTHETIC DATA ONLY: the 400 pictures of the speed benchmark (``bench/make_bench_image.py`` writes them to
``bench/cache/pictures`` with their full-resolution reference PDQ in ``bench.json``).

1. **Hashing, one core, in process**: ``perceptual_hashes`` on every picture with the PDQ step as it was (the
   identity hash only), with the reference's dihedral variants (one DCT, sign flips) and with the exact ones
   (mirrored downscales, the default). Same decode and pHash in all three; modes alternate, best of
   ``--repeats`` passes each (the machine is shared).
2. **Matching**: ``HashSets.lookup`` per picture with and without the seven variants, against the benchmark's
   20-entry PDQ + pHash set and a set of ``--big`` random PDQ hashes (compiled once into a scratch cache).
3. **Recall**: every picture turned/mirrored seven ways (Pillow ``transpose``, re-encoded: JPEG q 90 or PNG),
   hashed in both modes; the distance of the variant that undoes the transform to the original's reference PDQ
   (and the nearest of the other variants, the margin against a wrong transform).

Usage: ``.venv/bin/python bench/dihedral.py [--cache bench/cache] [--repeats 5] [--big 1000000] [--jpeg1024]``
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ["OPENBLAS_NUM_THREADS"] = "1"  # one core: numpy's BLAS must not start helper threads

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from triage.analysis import pdq, pictures  # noqa: E402
from triage.known import HashSets  # noqa: E402

ORIGINAL = pictures.pdq_dihedral_from_luma
TRANSPOSES = {
    "rotate-90-cw": Image.Transpose.ROTATE_270,
    "rotate-180": Image.Transpose.ROTATE_180,
    "rotate-90-ccw": Image.Transpose.ROTATE_90,
    "flip-vertical": Image.Transpose.FLIP_TOP_BOTTOM,
    "flip-horizontal": Image.Transpose.FLIP_LEFT_RIGHT,
    "transpose": Image.Transpose.TRANSPOSE,
    "transverse": Image.Transpose.TRANSVERSE,
}


def identity_only(luma: np.ndarray, full_size: tuple[int, int] | None = None,
                  exact: bool = False) -> tuple[tuple[str, ...], int]:
    """The PDQ step as before dihedral matching: one hash."""
    value, quality = pdq.pdq_from_luma(luma, full_size)
    return (value,), quality


def reference_mode(luma: np.ndarray, full_size: tuple[int, int] | None = None,
                   exact: bool = False) -> tuple[tuple[str, ...], int]:
    return ORIGINAL(luma, full_size, exact=False)


def exact_mode(luma: np.ndarray, full_size: tuple[int, int] | None = None,
               exact: bool = True) -> tuple[tuple[str, ...], int]:
    return ORIGINAL(luma, full_size, exact=True)


MODES = {"identity only (before)": identity_only, "reference dihedral": reference_mode,
         "exact dihedral (default)": exact_mode}


def busy_seconds() -> float:
    """CPU seconds the whole machine spent busy since boot (/proc/stat)."""
    vals = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(vals) - vals[3] - vals[4]) / os.sysconf("SC_CLK_TCK")


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def hashing(data: list[bytes], repeats: int) -> dict[str, Any]:
    """Best pass of ``perceptual_hashes`` over every picture, per mode (modes alternate)."""
    best: dict[str, float] = {}
    foreign = []
    for _ in range(repeats):
        for name, fn in MODES.items():
            pictures.pdq_dihedral_from_luma = fn
            pictures.perceptual_hashes(data[0])
            busy0, self0, t0 = busy_seconds(), sum(os.times()[:2]), time.perf_counter()
            for item in data:
                pictures.perceptual_hashes(item)
            elapsed = time.perf_counter() - t0
            foreign.append(max(0.0, busy_seconds() - busy0 - (sum(os.times()[:2]) - self0)) / elapsed)
            best[name] = min(best.get(name, elapsed), elapsed)
    pictures.pdq_dihedral_from_luma = ORIGINAL
    return {name: {"per_s": len(data) / t, "ms": 1e3 * t / len(data)} for name, t in best.items()} | {
        "other_load_cores_max": round(max(foreign), 2)}


def big_set(folder: Path, count: int) -> Path:
    rng = np.random.default_rng(15)
    hashes = rng.integers(0, 256, (count, 32), dtype=np.uint8)
    path = folder / f"random_pdq_{count}.csv"
    with path.open("w") as out:
        out.write("pdq,category\n")
        out.writelines(f"{bytes(row).hex()},1\n" for row in hashes)
    return path


def matching(results: list[pictures.PerceptualResult], sets: dict[str, HashSets], repeats: int) -> dict[str, Any]:
    """µs per picture of ``lookup`` without and with the seven variants, per set (best pass)."""
    out: dict[str, Any] = {}
    for name, hs in sets.items():
        row = {}
        for label, dihedral in (("without", False), ("with", True)):
            best = float("inf")
            for _ in range(repeats):
                t0 = time.perf_counter()
                for r in results:
                    hs.lookup(pdq=r.pdq, pdq_quality=r.pdq_quality, phash=r.phash,
                              pdq_dihedral=r.pdq_dihedral if dihedral else None)
                best = min(best, time.perf_counter() - t0)
            row[label] = 1e6 * best / len(results)
        out[name] = row
    return out


def recall(manifest: list[dict[str, Any]], folder: Path) -> dict[str, Any]:
    """Distance of the undoing variant to the original's reference PDQ, both modes, every picture x transform."""
    variant_of = {transform: variant for variant, transform in pdq.TRANSFORMS.items()}
    index = {name: i for i, name in enumerate(pdq.VARIANTS)}
    found: dict[str, dict[str, list[int]]] = {mode: {"right": [], "wrong": []} for mode in ("reference", "exact")}
    for entry in manifest:
        with Image.open(folder / entry["file"]) as img:
            img.load()
            original = img.convert("RGB")
        for transform, how in TRANSPOSES.items():
            buf = io.BytesIO()
            fmt = "JPEG" if entry["format"] == "JPEG" else "PNG"
            original.transpose(how).save(buf, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
            for mode, fn in (("reference", reference_mode), ("exact", exact_mode)):
                pictures.pdq_dihedral_from_luma = fn
                result = pictures.perceptual_hashes(buf.getvalue())
                assert result.pdq_dihedral is not None
                gaps = [hamming(entry["pdq"], h) for h in result.pdq_dihedral]
                right = index[variant_of[transform]]
                found[mode]["right"].append(gaps[right])
                found[mode]["wrong"].append(min([hamming(entry["pdq"], result.pdq or "0" * 64)]
                                                + [g for i, g in enumerate(gaps) if i != right]))
    pictures.pdq_dihedral_from_luma = ORIGINAL
    return {mode: {"copies": len(v["right"]), "max": max(v["right"]), "mean": round(float(np.mean(v["right"])), 2),
                   "p99": int(np.percentile(v["right"], 99)), "over_31": sum(d > 31 for d in v["right"]),
                   "over_10": sum(d > 10 for d in v["right"]), "nearest_wrong": min(v["wrong"])}
            for mode, v in found.items()}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=ROOT / "bench" / "cache")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--skip-recall", action="store_true")
    parser.add_argument("--jpeg1024", action="store_true", help="only the 1024x768 JPEGs (RESULTS.md's 317/s row)")
    args = parser.parse_args(argv)
    manifest = json.loads((args.cache / "bench.json").read_text())["pictures"]
    if args.jpeg1024:
        manifest = [p for p in manifest if p["format"] == "JPEG" and (p["width"], p["height"]) == (1024, 768)]
    data = [(args.cache / "pictures" / p["file"]).read_bytes() for p in manifest]
    report: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
                                          "python": platform.python_version(), "numpy": np.__version__},
                              "pictures": len(data)}
    print(f"hashing {len(data)} pictures, best of {args.repeats} passes per mode ...", flush=True)
    report["hashing"] = hashing(data, args.repeats)
    print(json.dumps(report["hashing"], indent=1), flush=True)
    results = [pictures.perceptual_hashes(d) for d in data]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        sets = {"bench_perceptual.csv (20 PDQ + pHash)": HashSets.load([str(args.cache / "bench_perceptual.csv")],
                                                                         Path(tmp) / "c")}
        if args.big:
            sets[f"{args.big:,} random PDQ"] = HashSets.load([str(big_set(Path(tmp), args.big))], Path(tmp) / "c")
        report["compile_s"] = round(time.perf_counter() - t0, 1)
        report["matching_us"] = matching(results, sets, args.repeats)
        hits = {name: sum(bool(hs.lookup(pdq=r.pdq, pdq_quality=r.pdq_quality, phash=r.phash,
                                         pdq_dihedral=r.pdq_dihedral)[1]) for r in results)
                for name, hs in sets.items()}
        report["pictures_matched_with_dihedral"] = hits
    print(json.dumps(report["matching_us"], indent=1), flush=True)
    if not args.skip_recall:
        print("recall: 7 transforms of every picture, both modes ...", flush=True)
        report["recall"] = recall(manifest, args.cache / "pictures")
        print(json.dumps(report["recall"], indent=1))
    out = Path(tempfile.gettempdir()) / "dihedral_bench.json"
    out.write_text(json.dumps(report, indent=1))
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
