"""Run the adversarial classes (fuzz/adversarial.py) in random rounds for a bounded time.

Usage::

    .venv/bin/python fuzz/run_adversarial.py --seconds 120            # every class, in turn, new draws each round
    .venv/bin/python fuzz/run_adversarial.py --class deep-tree --seed 3 --rounds 1

Each trial runs in its own temporary folder, removed afterwards unless it broke the contract (then it is kept
and its path printed, with the seed that rebuilds it). Exit status: 0 when every trial held, 1 otherwise.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fuzz.adversarial import CLASSES, run_trial


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="stop starting trials after this long")
    parser.add_argument("--rounds", type=int, default=0, help="at most this many rounds (0: until --seconds)")
    parser.add_argument("--seed", type=int, default=None, help="first round's seed (default: random)")
    parser.add_argument("--class", dest="only", action="append", choices=sorted(CLASSES), help="only this class")
    args = parser.parse_args(argv)
    names = args.only or list(CLASSES)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    deadline = time.monotonic() + args.seconds
    failed = 0
    rounds = 0
    while time.monotonic() < deadline and (not args.rounds or rounds < args.rounds):
        for name in names:
            if time.monotonic() >= deadline:
                break
            work = Path(tempfile.mkdtemp(prefix=f"adv-{name}-"))
            trial = CLASSES[name](random.Random(f"{seed}:{name}"), work)
            result = run_trial(trial)
            verdict = "ok" if not result.problems else "BROKEN"
            print(f"{verdict:6} {trial.name:28} seed {seed}  exit {result.code}  {result.seconds:6.1f} s  "
                  f"peak {result.peak_rss >> 20} MiB", flush=True)
            for problem in result.problems:
                print(f"       - {problem}", flush=True)
            if result.problems:
                failed += 1
                print(f"       kept: {work}", flush=True)
            else:
                shutil.rmtree(work, ignore_errors=True)
        seed += 1
        rounds += 1
    print(f"{failed} broken trial(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
