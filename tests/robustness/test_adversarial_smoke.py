"""Every adversarial class of fuzz/adversarial.py once, with a fixed seed, through the real command line.

The classes are issue 12's hostile cases (same-name evidence, 255-byte and control-character names, symlink
loops and FIFOs, deep trees, petabyte containers, sparse files, nested hash sets, unwritable output, undecodable
case names) with drawn parameters; each run is held to the shared contract (documented exit code, one line, no
control characters on stderr, no temporary output left, evidence unchanged, bounded RSS). The long random rounds
are ``fuzz/run_adversarial.py``'s.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from fuzz.adversarial import CLASSES, run_trial

NEEDS = {"deep-tree": ("mkfs.ext4", "debugfs"), "sparse-file": ("mkfs.ext4", "debugfs"),
         "huge-container": ("qemu-img",)}


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_adversarial_class_holds_the_contract(name: str, tmp_path: Path) -> None:
    missing = [t for t in NEEDS.get(name, ()) if not shutil.which(t, path="/usr/sbin:/sbin:/usr/bin:/bin")]
    if missing:
        pytest.skip(f"Debian tools missing: {', '.join(missing)}")
    trial = CLASSES[name](random.Random(f"12:{name}"), tmp_path)
    result = run_trial(trial)
    assert not result.problems, (trial.name, result.problems)
