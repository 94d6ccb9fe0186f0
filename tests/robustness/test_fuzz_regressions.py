"""Every input the fuzzer found (fuzz/run_fuzz.py) replayed through the same worker: no finding any more.

Inputs live in ``fuzz_inputs/`` (images gzip-compressed), described in ``fuzz_inputs/cases.json``: the target,
the file name the input is given (an E01 must be called .E01), what it used to do, and an ``xfail`` reason
when the fix belongs to code outside this helper's files. An input derived from one of the team's real images
(``../shared/realdata``, never copied into the repository) is kept as a recipe instead: ``base``, the byte
``patch`` and the ``size``; it is rebuilt when the image is present and skipped otherwise.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fuzz.harness import Worker, apply_patch
from tests.conftest import REALDATA

INPUTS = Path(__file__).resolve().parent / "fuzz_inputs"
CASES: list[dict[str, Any]] = json.loads((INPUTS / "cases.json").read_text())


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    running = Worker(timeout=60)
    yield running
    running.close()


def params() -> list[Any]:
    marks = []
    for entry in CASES:
        mark = [pytest.mark.xfail(strict=True, reason=entry["xfail"])] if entry.get("xfail") else []
        marks.append(pytest.param(entry, marks=mark, id=f"{entry['target']}-{entry['file']}"))
    return marks


@pytest.mark.parametrize("entry", params())
def test_found_input_is_handled(worker: Worker, entry: dict[str, Any]) -> None:
    if "base" in entry:
        base = REALDATA / entry["base"].removeprefix("realdata:")
        if not base.exists():
            pytest.skip(f"real test image {base.name} not present (../shared/realdata)")
        data = apply_patch(base.read_bytes(), [tuple(p) for p in entry["patch"]], entry["size"])
    else:
        data = (INPUTS / entry["file"]).read_bytes()
    if entry["file"].endswith(".gz"):
        data = gzip.decompress(data)
    outcome = worker.run(entry["target"], data, entry["name"])
    assert not outcome.finding, f"{outcome.detail}\n{outcome.traceback}"
