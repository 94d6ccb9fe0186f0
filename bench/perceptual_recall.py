"""Benchmark: perceptual recall on near-copies of known pictures, and false matches on unrelated pictures.

SYNTHETIC DATA ONLY. Pictures come from ``fixtures/make_pictures.py`` (known originals, their variants,
unrelated pictures) when it exists, else from the seeded generator of the tests. The fixture only derives
variants of known_01, so the same four (resized 50%, q55, 3% off each edge, greyscale) are derived here from
every other original too (``--fixture-only`` turns that off). ``--extra-unrelated N`` adds N more seeded
unrelated pictures to estimate the false-match rate on a larger sample.

A VICS 2.0 set is built from the known originals only (as ``hashsets/make_demo_sets.py`` does), then every
picture is hashed and matched through ``HashSets`` exactly as a scan would. Reported: recall per variant kind
and algorithm (with distances), false matches among unrelated pictures, the smallest distance between any
unrelated picture and any known one (the safety margin under the thresholds), and a small threshold sweep.

Usage: ``.venv/bin/python bench/perceptual_recall.py [--extra-unrelated 200]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hashsets.make_demo_sets import picture_record, vics_document  # noqa: E402
from tests.known.conftest import encode, load_fixture_generator, textured_picture, variants  # noqa: E402
from triage.known import HashSets  # noqa: E402
from triage.model.record import FileRecord  # noqa: E402


def corpus(
    workdir: Path, extra_unrelated: int, derive_variants: bool
) -> tuple[str, list[Path], list[Path], list[Path]]:
    """(source, known originals, variants, unrelated) as files under ``workdir``."""
    build = load_fixture_generator()
    source = "fixtures/make_pictures.py"
    if build is not None:
        build(workdir)
        known = sorted((workdir / "known").glob("known_*"))
        near = sorted((workdir / "variants").glob("*"))
        unrelated = sorted((workdir / "unrelated").glob("*"))
    else:
        source = "tests/known seeded generator (fixtures/make_pictures.py absent)"
        known, near, unrelated = [], [], []
        for d in ("known", "variants", "unrelated"):
            (workdir / d).mkdir(parents=True, exist_ok=True)
        for i in range(1, 7):
            picture = textured_picture(i)
            path = workdir / "known" / f"known_{i:02d}.png"
            path.write_bytes(encode(picture))
            known.append(path)
            for kind, data in variants(picture).items():
                near.append(workdir / "variants" / f"known_{i:02d}_{kind}.jpg")
                near[-1].write_bytes(data)
        for i in range(32):
            unrelated.append(workdir / "unrelated" / f"unrelated_{i + 1:02d}.jpg")
            unrelated[-1].write_bytes(encode(textured_picture(1000 + i), "JPEG", quality=85))
    if derive_variants:  # the fixture derives variants of known_01 only: do the same for every original
        have = {p.name.split("_")[1] for p in near}
        for path in known:
            number = path.stem.split("_")[1]
            if number in have:
                continue
            with Image.open(path) as src:
                original = src.convert("RGB")
            for kind, data in variants(original, edge=0.03).items():
                near.append(workdir / "variants" / f"known_{number}_{kind}.jpg")
                near[-1].write_bytes(data)
    for i in range(extra_unrelated):
        path = workdir / "unrelated" / f"extra_{i:04d}.jpg"
        path.write_bytes(encode(textured_picture(50_000 + i, 480, 360), "JPEG", quality=80))
        unrelated.append(path)
    return source, known, near, unrelated


def to_record(rec: dict[str, Any]) -> FileRecord:
    return FileRecord(
        path="/" + rec["name"],
        volume=0,
        fs="synthetic",
        inode=None,
        size=rec["size"],
        allocated=True,
        md5=rec["md5"],
        sha1=rec["sha1"],
        sha256=rec["sha256"],
        pdq=rec["pdq"],
        pdq_quality=rec["pdq_quality"],
        phash=rec["phash"],
    )


def distance(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def variant_kind(name: str) -> str:
    stem = name.rsplit(".", 1)[0]
    return stem.rsplit("_", 1)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra-unrelated", type=int, default=0)
    parser.add_argument(
        "--fixture-only", action="store_true", help="only the fixture's variants (of known_01), none derived"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="triage-recall-") as tmp:
        work = Path(tmp)
        source, known, near, unrelated = corpus(
            work / "pictures", args.extra_unrelated, not args.fixture_only
        )
        known_recs = [picture_record(p) for p in known]
        set_path = work / "recall_vics2.json"
        set_path.write_text(json.dumps(vics_document(known_recs, "US", [1] * len(known_recs))))
        near_recs = [picture_record(p) for p in near]
        unrelated_recs = [picture_record(p) for p in unrelated]
        sets = HashSets.load([str(set_path)], cache_dir=work / "cache")

        by_kind: dict[str, list[str]] = defaultdict(list)
        for rec in near_recs:
            record = to_record(rec)
            sets.match(record)
            hits = sorted({f"{m['algorithm']}:{m['distance']}" for m in record.matches})
            by_kind[variant_kind(rec["name"])].append(", ".join(hits) or "MISS")
        false_matches = []
        for rec in unrelated_recs:
            record = to_record(rec)
            sets.match(record)
            if record.matches:
                false_matches.append((rec["name"], record.matches))

        min_pdq = min(distance(u["pdq"], k["pdq"]) for u in unrelated_recs for k in known_recs)
        min_phash = min(distance(u["phash"], k["phash"]) for u in unrelated_recs for k in known_recs)
        print(f"pictures: {source}")
        print(f"thresholds: {sets.thresholds}")
        n_near, n_unrelated = len(near_recs), len(unrelated_recs)
        print(f"known originals: {len(known_recs)}, variants: {n_near}, unrelated: {n_unrelated}")
        total_hit = 0
        for kind, results in sorted(by_kind.items()):
            hit = sum(r != "MISS" for r in results)
            total_hit += hit
            print(f"  variant {kind:10} recall {hit}/{len(results)}   [{' | '.join(results)}]")
        print(f"recall (variants matched): {total_hit}/{len(near_recs)}")
        print(f"false matches (unrelated matched): {len(false_matches)}/{len(unrelated_recs)}")
        for name, matches in false_matches:
            print(f"  FALSE {name}: {matches}")
        print(
            f"closest unrelated-to-known distance: PDQ {min_pdq} (<= 31 matches), pHash {min_phash} (<= 10)"
        )

        print("sweep (variants recalled / unrelated matched):")
        all_known = {k["md5"]: k for k in known_recs}
        for pdq_t, phash_t in ((31, 6), (31, 8), (31, 10), (31, 12), (40, 10), (50, 12)):

            def hit(rec: dict[str, Any], pdq_t: int = pdq_t, phash_t: int = phash_t) -> bool:
                return any(
                    (rec["pdq_quality"] >= 50 and distance(rec["pdq"], k["pdq"]) <= pdq_t)
                    or distance(rec["phash"], k["phash"]) <= phash_t
                    for k in all_known.values()
                )

            recalled = sum(hit(r) for r in near_recs)
            false = sum(hit(r) for r in unrelated_recs)
            print(f"  PDQ<={pdq_t:<3} pHash<={phash_t:<3} {recalled}/{n_near}  {false}/{n_unrelated}")
    digest = hashlib.sha256(json.dumps(known_recs, sort_keys=True).encode()).hexdigest()[:12]
    print(f"known-set digest {digest}; {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
