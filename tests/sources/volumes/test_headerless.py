"""Headerless encryption: a volume or a large file that is near-random everywhere and unrecognised is flagged
"possibly encrypted container" (threshold in triage/defaults.py), never decrypted. Inputs: fixtures/make_layers.py.
LUKS2, named here while it could not be opened, is opened now: tests/sources/volumes/test_luks2.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.make_layers import fat_with_container, headerless_container
from triage.defaults import ENTROPY_THRESHOLD
from triage.sources.volumes import entropy

ROOT = Path(__file__).resolve().parents[3]
BOGUS = ROOT.parent / "shared" / "realdata" / "bogus.001"


def triage(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "triage.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT, check=False)


def test_entropy_of_random_text_and_zeros() -> None:
    random_block = headerless_container(4096)
    assert entropy.entropy(random_block) > ENTROPY_THRESHOLD
    assert entropy.entropy(b"the quick brown fox " * 205) < 5
    assert entropy.entropy(bytes(4096)) == 0


def test_headerless_container_as_evidence_is_named_not_refused(tmp_path: Path) -> None:
    """Before: exit 3 "not a disk image". Now exit 0 and the summary names a possibly encrypted container."""
    image = tmp_path / "container.raw"
    image.write_bytes(headerless_container(4 << 20))
    proc = triage("scan", image, "-o", tmp_path / "out", "-j", "1")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "out" / "container" / "summary.json").read_text(encoding="utf-8"))
    (entry,) = summary["encryption"]
    assert entry["scheme"] == "unknown (headerless)" and entry["unlocked"] is False
    assert entry["entropy"] >= ENTROPY_THRESHOLD
    assert "possibly encrypted container" in summary["volumes"][0]["signature"]
    assert "LOCKED" in proc.stderr


def test_container_file_inside_a_file_system_gets_a_note(tmp_path: Path) -> None:
    """``fls -r fat-container.raw``: ``r/r 3: secret.hc``, ``r/r 4: notes.txt``; only the container is flagged."""
    try:
        image = fat_with_container(tmp_path / "fat-container.raw")
    except (RuntimeError, OSError) as exc:
        pytest.skip(str(exc))
    proc = triage("scan", image, "-o", tmp_path / "out", "-j", "1")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in
            (tmp_path / "out" / "fat-container" / "files.jsonl").read_text(encoding="utf-8").splitlines()]
    flagged = [r["path"] for r in rows if any("possibly encrypted container" in n for n in r["notes"])]
    assert flagged == ["/secret.hc"]


def test_small_random_file_is_not_judged(tmp_path: Path) -> None:
    """dfVFS's bogus.001 (50 KiB of noise) stays "not a disk image": below the 1 MiB the test needs."""
    if not BOGUS.is_file():
        pytest.skip("../shared/realdata/bogus.001 not present")
    proc = triage("scan", BOGUS, "-o", tmp_path / "out", "-j", "1")
    assert proc.returncode == 3 and "not a disk image" in proc.stderr
