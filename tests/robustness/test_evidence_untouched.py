"""Evidence is never written: not its bytes, not its times, and nothing is created beside it."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from fixtures.make_corpus import Case
from tests.robustness.conftest import case, triage

# Damaged and hostile evidence is where a careless "repair" or a journal replay would write.
CASES = ["ext4_overwritten", "ntfs_mft_zeroed", "mbr_past_end", "fat_dir_loop", "e01_bad_crc", "ext4_huge_size",
         "hostile_names", "truncated_e01", "noise"]


def state(folder: Path) -> dict[str, tuple[str, int, int, int]]:
    """Every entry of the folder: content hash, size, mtime and mode (the listing itself is the key set)."""
    found = {}
    for path in sorted(folder.iterdir()):
        st = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        found[path.name] = (digest, st.st_size, st.st_mtime_ns, st.st_mode)
    return found


@pytest.mark.parametrize("name", CASES)
def test_scan_leaves_evidence_folder_unchanged(corpus: dict[str, Case], tmp_path: Path, name: str) -> None:
    found = case(corpus, name)
    assert found.evidence is not None
    folder = tmp_path / "evidence"
    folder.mkdir()
    source = found.evidence
    for sibling in source.parent.glob(source.stem + ".*"):
        shutil.copy2(sibling, folder / sibling.name)
    os.utime(folder, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    before, folder_mtime = state(folder), folder.stat().st_mtime_ns
    proc = triage("scan", folder / source.name, "-o", tmp_path / "out", "-j", "2")
    assert proc.returncode == found.exit_code, proc.stderr
    assert state(folder) == before
    assert folder.stat().st_mtime_ns == folder_mtime  # no file was created and removed again either


def test_output_inside_evidence_folder_refused(corpus: dict[str, Case], tmp_path: Path) -> None:
    found = case(corpus, "ext4_overwritten")
    assert found.evidence is not None
    folder = tmp_path / "seized"
    folder.mkdir()
    shutil.copy2(found.evidence, folder / "disk.raw")
    before = state(folder)
    for out in (folder / "out", folder, folder / "a" / "b"):
        proc = triage("scan", folder, "-o", out)
        assert proc.returncode == 2, proc.stderr
        assert "inside the evidence folder" in proc.stderr and "Traceback" not in proc.stderr
    proc = triage("scan", folder / "disk.raw", "-o", folder / "disk.raw")
    assert proc.returncode == 2, proc.stderr
    assert state(folder) == before
