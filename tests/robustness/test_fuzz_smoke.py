"""A short, seeded fuzz run of every target (the long runs are ``fuzz/run_fuzz.py --seconds N``)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from fuzz.harness import Worker
from fuzz.run_fuzz import fuzz_round

EXAMPLES = 200
# Findings whose fix is outside this helper's files (see fuzz_inputs/cases.json): not failures here.
KNOWN_ELSEWHERE: set[str] = set()


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    running = Worker(timeout=60)
    yield running
    running.close()


@pytest.mark.parametrize("target", ["evidence", "hashset", "parsers"])
def test_fuzz_smoke(worker: Worker, target: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    if target == "evidence" and not all(shutil.which(t) or shutil.which(t, path="/usr/sbin:/sbin")
                                        for t in ("mkfs.ext4", "mkfs.fat", "mcopy", "mkntfs", "ewfacquire")):
        pytest.skip("Debian tools for the seed images missing (./setup.sh installs them)")
    cache = tmp_path_factory.getbasetemp() / "fuzz-seeds"  # not fuzz/.cache: a long run may be building it
    count, outcome, example = fuzz_round(target, worker, set(KNOWN_ELSEWHERE), EXAMPLES, seed=7, shrink=False,
                                         cache=cache)
    assert count >= EXAMPLES // 2
    assert outcome is None, f"{outcome.detail} on {example[0] if example else '?'}\n{outcome.traceback}"
