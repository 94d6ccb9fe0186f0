"""Run the fuzz targets for a bounded time and print what they found.

Usage::

    .venv/bin/python fuzz/run_fuzz.py --seconds 300            # every target, time split evenly
    .venv/bin/python fuzz/run_fuzz.py --seconds 60 --target hashset --seed 1

Each target runs hypothesis in rounds until its share of the time is used. A finding is shrunk by hypothesis
to a minimal input, written to ``fuzz/found/`` (input + JSON description) and not reported again in later
rounds (same exception type and place, or same crash/hang), so one run can surface several different bugs.
Exit status: 0 when nothing was found, 1 otherwise.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as fixed_seed
from hypothesis import strategies as st

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from fuzz.harness import (  # noqa: E402
    SLOW,
    Outcome,
    Worker,
    damaged,
    evidence_seeds,
    hashset_seeds,
    nested_hashset,
    patch_from,
    random_file,
    structured_hashset,
)

CACHE = HERE / ".cache"
FOUND = HERE / "found"


class Found(Exception):
    """Raised inside a hypothesis example so that hypothesis shrinks the input."""


@functools.cache
def strategy_for(target: str, cache: Path = CACHE) -> st.SearchStrategy[tuple[str, bytes]]:
    """Inputs for ``target``: mutated seeds (built once into ``cache``), generated shapes, random bytes.

    Cached: reading the seeds and finding their non-zero regions takes a moment, and every round needs them.
    """
    if target == "evidence":
        seeds = evidence_seeds(cache / "evidence")
        return st.one_of(damaged(seeds), damaged(seeds), damaged(seeds), random_file(sorted(seeds)))
    seeds = hashset_seeds(cache / "hashset")
    return st.one_of(damaged(seeds), damaged(seeds), structured_hashset(), nested_hashset(),
                     random_file(sorted(seeds)))


def fuzz_round(target: str, worker: Worker, known: set[str], examples: int, seed: int | None,
               shrink: bool = True, tally: Counter[str] | None = None, cache: Path = CACHE,
               ) -> tuple[int, Outcome | None, tuple[str, bytes] | None]:
    """One hypothesis run; returns (examples run, new finding or None, its shrunk input).

    ``tally`` counts the outcomes by their first word ("scanned", "refused", "parsed"…), to show how deep the
    inputs get.
    """
    count = 0
    last: dict[str, object] = {}

    @settings(max_examples=examples, deadline=None, database=None, derandomize=seed is not None,
              suppress_health_check=list(HealthCheck),
              phases=[Phase.generate, Phase.shrink] if shrink else [Phase.generate])
    @given(strategy_for(target, cache))
    def check(example: tuple[str, bytes]) -> None:
        nonlocal count
        count += 1
        name, data = example
        outcome = worker.run(target, data, name)
        if tally is not None:
            tally[outcome.detail.split(" ")[0].rstrip(":") if outcome.kind == "ok" else outcome.kind] += 1
            if outcome.seconds > SLOW:
                tally[f"slower than {SLOW:.0f} s"] += 1
        if outcome.finding and outcome.signature not in known:
            last["outcome"], last["input"] = outcome, example
            raise Found(outcome.signature)

    if seed is not None:
        check = fixed_seed(seed)(check)
    try:
        check()
    except Found:
        return count, last["outcome"], last["input"]  # type: ignore[return-value]
    return count, None, None


def save(target: str, outcome: Outcome, example: tuple[str, bytes]) -> Path:
    """Keep the minimal input, what it did and how to rebuild it from its seed, for a regression test."""
    name, data = example
    FOUND.mkdir(exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()[:12]
    stem = FOUND / f"{target}-{digest}"
    Path(f"{stem}-{name}").write_bytes(data)
    seeds = evidence_seeds(CACHE / "evidence") if target == "evidence" else hashset_seeds(CACHE / "hashset")
    patch = patch_from(seeds[name], data) if name in seeds else None
    Path(f"{stem}.json").write_text(json.dumps({"target": target, "name": name, "size": len(data),
                                                "kind": outcome.kind, "signature": outcome.signature,
                                                "detail": outcome.detail, "patch": patch,
                                                "traceback": outcome.traceback}, indent=2))
    return Path(f"{stem}-{name}")


def run(targets: list[str], seconds: float, examples: int, seed: int | None,
        report: Callable[[str], None] = print) -> list[tuple[str, Outcome, Path]]:
    """Fuzz each target for ``seconds / len(targets)``; returns every distinct finding."""
    findings: list[tuple[str, Outcome, Path]] = []
    worker = Worker()
    try:
        for target in targets:
            known: set[str] = set()
            tally: Counter[str] = Counter()
            deadline = time.monotonic() + seconds / len(targets)
            total, rounds = 0, 0
            while time.monotonic() < deadline:
                round_seed = None if seed is None else seed + rounds
                count, outcome, example = fuzz_round(target, worker, known, examples, round_seed, tally=tally)
                total, rounds = total + count, rounds + 1
                if outcome is not None and example is not None:
                    known.add(outcome.signature)
                    path = save(target, outcome, example)
                    findings.append((target, outcome, path))
                    report(f"[{target}] FOUND {outcome.kind}: {outcome.detail} ({outcome.signature}) -> {path}")
            shares = ", ".join(f"{k} {v}" for k, v in tally.most_common())
            report(f"[{target}] {total} examples in {rounds} rounds ({shares}), {len(known)} distinct finding(s)")
    finally:
        worker.close()
    return findings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="total time budget (default 120)")
    parser.add_argument("--target", choices=["all", "evidence", "hashset", "parsers"], default="all")
    parser.add_argument("--examples", type=int, default=300, help="examples per hypothesis round")
    parser.add_argument("--seed", type=int, default=None, help="fixed seed (reproducible rounds)")
    args = parser.parse_args()
    targets = ["evidence", "hashset", "parsers"] if args.target == "all" else [args.target]
    warnings.filterwarnings("ignore", message="Generating overly large repr")  # a shrunk image is still big
    findings = run(targets, args.seconds, args.examples, args.seed)
    print(f"{len(findings)} distinct finding(s)" + ("; inputs in fuzz/found/" if findings else ""))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
