"""Huge virtual media (issue 12, item 3): a 1 PB QCOW2 of 200 KB, a 16 TB VMDK, an 8 TB sparse raw file.

Nothing the scan builds may be sized from the media size (block lists, the media hash's read), and what the
container never stored is not read: with no stored hash to verify, the media hash of a sparse container is not
computed, and the summary says why. Each scan runs the real command line in a child process under a generous
address-space limit; its peak RSS (``run_measured``) must stay well under 1 GiB. A blank medium gives what a blank
1 MB raw gives today: exit 0, the volume noted as "all zeros".
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from tests.robustness.conftest import ROOT
from triage.model.record import FileRecord
from triage.reading.mediapass import MediaPass
from triage.sources.containers import open_evidence

PB, TB = 1 << 50, 1 << 40
LIMIT_AS = 6 << 30  # the child's address space: a regression fails with MemoryError, not a dead machine
LIMIT_CPU = 900  # seconds of CPU: a regression reading petabytes stops (never a timed assertion)
MAX_RSS = 1 << 30
FIXTURES = ROOT / "fixtures" / "images"

needs_qemu_img = pytest.mark.skipif(shutil.which("qemu-img") is None,
                                    reason="qemu-img missing (apt install qemu-utils)")


def scan_bounded(evidence: Path, out: Path, *args: str) -> tuple[int, str, int]:
    """Run ``triage scan`` in a child under the limits; (exit code, stderr, peak RSS in bytes of it or a worker)."""
    from tests.conftest import run_measured

    code, stderr, peak = run_measured([sys.executable, "-m", "triage.cli", "scan", str(evidence), "-o", str(out),
                                       *args], cwd=ROOT, env={**os.environ, "COLUMNS": "400"},
                                      limits={"RLIMIT_AS": LIMIT_AS, "RLIMIT_CPU": LIMIT_CPU})
    return code, stderr, peak * 1024


def qemu_img(*args: str | Path) -> None:
    subprocess.run(["qemu-img", *(str(a) for a in args)], check=True, capture_output=True)


def summary_of(out: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    rows = [json.loads(line) for line in (folder / "files.jsonl").read_text(encoding="utf-8").splitlines()]
    return summary, rows


def assert_blank_scan(code: int, stderr: str, rss: int, out: Path, media_size: int, hashed: bool) -> None:
    """What a blank medium gives: exit 0, no file system, "all zeros", the media hash computed or said why not."""
    assert code == 0, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr
    assert rss < MAX_RSS, f"peak RSS {rss >> 20} MiB"
    assert "volume problem: media at offset 0: no file system opened; signature suggests: all zeros" in stderr
    summary, rows = summary_of(out)
    assert rows == [] and summary["evidence"]["media_size"] == media_size
    assert summary["evidence"]["verification"] == "not stored"
    lines = [line for line in stderr.splitlines() if line.startswith("media verification:")]
    assert len(lines) == 1, stderr
    if hashed:
        assert lines[0] == "media verification: not stored"
        assert summary["evidence"]["computed_hashes"]["md5"]
    else:
        assert lines[0].startswith("media verification: not stored (media hash not computed: nothing stored to "
                                   "verify against"), lines[0]
        assert summary["evidence"]["computed_hashes"] == {}
        assert summary["evidence"]["verification_error"].startswith("media hash not computed")


def test_blank_raw_is_the_reference(tmp_path: Path) -> None:
    """A blank 1 MB raw, as today: exit 0, "all zeros", and its media hash (a real read, 1 MB) is computed."""
    blank = tmp_path / "blank.raw"
    with open(blank, "wb") as fh:
        fh.truncate(1 << 20)
    code, stderr, rss = scan_bounded(blank, tmp_path / "out")
    assert_blank_scan(code, stderr, rss, tmp_path / "out", 1 << 20, hashed=True)


@needs_qemu_img
@pytest.mark.parametrize(("fmt", "size"), [
    ("qcow2", PB),
    ("vmdk", 16 * TB),
    ("vpc", 2040 << 30),  # VHD's largest
    ("vhdx", 64 * TB),
], ids=["qcow2-1PB", "vmdk-16TB", "vhd-2TB", "vhdx-64TB"])
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_empty_huge_container(tmp_path: Path, fmt: str, size: int, jobs: str) -> None:
    """``qemu-img create -f qcow2 e.qcow2 1P`` and friends: finished with bounded RSS, nothing read end to end."""
    image = tmp_path / f"empty.{fmt}"
    qemu_img("create", "-f", fmt, image, str(size))
    code, stderr, rss = scan_bounded(image, tmp_path / "out", "-j", jobs)
    assert_blank_scan(code, stderr, rss, tmp_path / "out", size, hashed=False)


def test_sparse_raw_8tb(tmp_path: Path) -> None:
    """A raw file made with ``truncate -s 8T`` (ext4 stops at 16 TB files): holes are not read for a hash."""
    image = tmp_path / "sparse.raw"
    try:
        with open(image, "wb") as fh:
            fh.truncate(8 * TB)
    except OSError as exc:
        pytest.skip(f"this file system cannot hold an 8 TB sparse file: {exc}")
    code, stderr, rss = scan_bounded(image, tmp_path / "out")
    assert_blank_scan(code, stderr, rss, tmp_path / "out", 8 * TB, hashed=False)


def golden_streams() -> set[tuple[int, str, str]]:
    rows = [json.loads(line) for line in (ROOT / "tests" / "golden" / "laptop.files.jsonl").read_text().splitlines()]
    return {(row["volume"], row["path"], row["md5"]) for row in rows}


@needs_qemu_img
def test_file_systems_inside_a_1pb_qcow2(tmp_path: Path) -> None:
    """The laptop fixture grown to a 1 PB QCOW2: every file found and hashed as in the golden output, bounded."""
    image = tmp_path / "big.qcow2"
    qemu_img("convert", "-f", "raw", "-O", "qcow2", FIXTURES / "laptop.raw", image)
    qemu_img("resize", "-f", "qcow2", image, str(PB))
    code, stderr, rss = scan_bounded(image, tmp_path / "out", "-j", "2")
    assert code == 0, stderr
    assert rss < MAX_RSS, f"peak RSS {rss >> 20} MiB"
    summary, rows = summary_of(tmp_path / "out")
    assert summary["evidence"]["media_size"] == PB
    assert summary["evidence"]["verification_error"].startswith("media hash not computed")
    assert {(row["volume"], row["path"], row["md5"]) for row in rows} == golden_streams()


def test_file_systems_inside_an_8tb_sparse_raw(tmp_path: Path) -> None:
    """The laptop raw fixture extended to 8 TB with a hole: the files as in the golden output, bounded."""
    image = tmp_path / "big.raw"
    shutil.copyfile(FIXTURES / "laptop.raw", image)
    try:
        os.truncate(image, 8 * TB)
    except OSError as exc:
        pytest.skip(f"this file system cannot hold an 8 TB sparse file: {exc}")
    code, stderr, rss = scan_bounded(image, tmp_path / "out", "-j", "1")
    assert code == 0, stderr
    assert rss < MAX_RSS, f"peak RSS {rss >> 20} MiB"
    summary, rows = summary_of(tmp_path / "out")
    assert summary["evidence"]["media_size"] == 8 * TB
    assert {(row["volume"], row["path"], row["md5"]) for row in rows} == golden_streams()


@pytest.mark.parametrize("threads", [True, False], ids=["threads", "inline"])
def test_forged_run_is_not_listed_block_by_block(tmp_path: Path, threads: bool) -> None:
    """A stream claiming a 16 TiB run on a 1 MiB medium: the pass's blocks are made as read (4 million blocks
    were once a list and a set), the run stops at the media's end and the stream goes back to its file system."""
    media = tmp_path / "small.raw"
    media.write_bytes(os.urandom(1 << 20))
    evidence = open_evidence(media)
    record = FileRecord("/forged", None, "test", 1, 16 * TB, True)
    tracemalloc.start()
    try:
        media_pass = MediaPass(evidence, {0: (record, [(0, 0, 16 * TB)])}, False, threads)
        assert media_pass.run(lambda index, record, picture: False) is False
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        evidence.close()
    assert media_pass.unread == [0]
    assert peak < 64 << 20, f"peak {peak >> 20} MiB"
