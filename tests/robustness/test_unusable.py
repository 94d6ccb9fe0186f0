"""Unusable evidence: exit 3, one line on stderr naming the file and the problem, no traceback, no output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.make_corpus import Case
from fixtures.special_files import make_special
from tests.robustness.conftest import ROOT, assert_one_line_error, case, triage, without_dac_override
from triage.errors import EvidenceError
from triage.scan import ScanSettings, scan_device
from triage.sources.containers import open_evidence

UNUSABLE = ["missing", "empty", "truncated_e01", "e01_missing_middle", "e01_foreign_segment",
            "e01_foreign_geometry", "gzip"]
# A folder and a zip were refused before issue 13; they are logical extractions now (tests/sources/extractions).
EXTRACTIONS = ["directory", "zip"]


@pytest.mark.parametrize("name", EXTRACTIONS)
def test_folder_and_zip_are_extractions(corpus: dict[str, Case], tmp_path: Path, name: str) -> None:
    """Once refused ("is a directory", "ZIP archive"), now scanned: the zipped raw image is one hashed member."""
    found = case(corpus, name)
    assert found.evidence is not None
    proc = triage("scan", found.evidence, "-o", tmp_path / "out", "-j", "1")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(next((tmp_path / "out").glob("*/summary.json")).read_text(encoding="utf-8"))
    assert summary["evidence"]["extraction"] == ("folder" if name == "directory" else "zip")
    assert summary["counts"]["files"] == (0 if name == "directory" else 1)


@pytest.mark.parametrize("name", UNUSABLE)
def test_unusable_exit_3(corpus: dict[str, Case], tmp_path: Path, name: str) -> None:
    found = case(corpus, name)
    assert found.evidence is not None
    proc = triage("scan", found.evidence, "-o", tmp_path / "out", "-j", "1")
    assert_one_line_error(proc, *found.expect)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("name", UNUSABLE)
def test_unusable_in_process(corpus: dict[str, Case], tmp_path: Path, name: str) -> None:
    """scan_device raises EvidenceError (the CLI's exit 3) and writes nothing."""
    found = case(corpus, name)
    assert found.evidence is not None
    with pytest.raises(EvidenceError) as raised:
        scan_device(found.evidence, tmp_path / "out", ScanSettings(jobs=1))
    assert found.expect[-1] in str(raised.value)
    assert not (tmp_path / "out").exists()


def test_segments_in_the_wrong_order_still_open(corpus: dict[str, Case], tmp_path: Path) -> None:
    """libewf orders segments by the number in their header, so swapped file names are not damage."""
    first = case(corpus, "e01_bad_crc").evidence
    assert first is not None
    for segment in first.parent.glob("disk.E0*"):
        shutil.copy(segment, tmp_path / segment.name)
    (tmp_path / "disk.E02").rename(tmp_path / "swap")
    (tmp_path / "disk.E03").rename(tmp_path / "disk.E02")
    (tmp_path / "swap").rename(tmp_path / "disk.E03")
    evidence = open_evidence(tmp_path / "disk.E01")
    assert evidence.media_size == 4 << 20 and len(evidence.paths) == 5
    evidence.close()


def test_permission_denied_in_process(corpus: dict[str, Case], tmp_path: Path) -> None:
    locked = case(corpus, "permission").evidence
    assert locked is not None
    prefix = without_dac_override()
    if prefix is None:
        pytest.skip("setpriv cannot drop CAP_DAC_OVERRIDE here (not root, or no util-linux setpriv)")
    code = ("import sys; from pathlib import Path; from triage.scan import ScanSettings, scan_device\n"
            "from triage.errors import EvidenceError\n"
            "try:\n    scan_device(Path(sys.argv[1]), Path(sys.argv[2]), ScanSettings(jobs=1))\n"
            "except EvidenceError as exc:\n    print(exc)\n    sys.exit(3)\n")
    proc = subprocess.run([*prefix, sys.executable, "-c", code, str(locked), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 3, proc.stderr
    assert "locked.raw: permission denied" in proc.stdout


def test_permission_denied_cli(corpus: dict[str, Case], tmp_path: Path) -> None:
    locked = case(corpus, "permission").evidence
    assert locked is not None
    prefix = without_dac_override()
    if prefix is None:
        pytest.skip("setpriv cannot drop CAP_DAC_OVERRIDE here (not root, or no util-linux setpriv)")
    proc = subprocess.run([*prefix, sys.executable, "-m", "triage.cli", "scan", str(locked), "-o",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=60, check=False)
    assert_one_line_error(proc, "locked.raw", "permission denied")


@pytest.mark.parametrize(("head", "kind"), [(b"PK\x03\x04rest", "ZIP archive"), (b"\x1f\x8b\x08\x00", "gzip"),
                                            (b"7z\xbc\xaf\x27\x1c", "7-Zip"), (b"BZh91AY", "bzip2"),
                                            (b"\x00" * 257 + b"ustar\x00", "tar archive"), (b"\xeb\x3c\x90", None)])
def test_archive_kind(head: bytes, kind: str | None) -> None:
    from triage.sources.containers.detect import archive_kind

    found = archive_kind(head)
    assert (found is None) if kind is None else (found is not None and kind in found)


# ---- links and special files (issue 12 item 6): exit 3 and one line, never a hang ------------------------------

def _special(tmp_path: Path, kind: str) -> Path:
    """Build one evidence path that is not a usable file (fixtures/special_files.py)."""
    return make_special(tmp_path, kind, f"{kind}.raw")


SPECIAL = [("loop", "symlink loop"), ("ring", "symlink loop"), ("dangling", "broken symlink"),
           ("fifo", "is a FIFO (named pipe), not an evidence file"),
           ("socket", "is a socket, not an evidence file")]


@pytest.mark.parametrize(("kind", "message"), SPECIAL)
def test_special_evidence_exit_3(tmp_path: Path, kind: str, message: str) -> None:
    path = _special(tmp_path, kind)
    proc = triage("scan", path, "-o", tmp_path / "out", "-j", "1", timeout=60)  # a FIFO opened would hang here
    assert_one_line_error(proc, path.name, message)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_character_device_refused(tmp_path: Path) -> None:
    """/dev/zero never ends: character devices are refused; block devices (a write-blocked disk) are evidence."""
    proc = triage("scan", "/dev/zero", "-o", tmp_path / "out", timeout=60)
    assert_one_line_error(proc, "/dev/zero", "is a character device, not an evidence file")


@pytest.mark.parametrize(("first", "fifo"), [("disk.001", "disk.002"), ("disk.E01", "disk.E02")])
def test_fifo_segment_refused(tmp_path: Path, first: str, fifo: str) -> None:
    """A FIFO named like the next segment of a set would block the open of the whole set."""
    source = "usb.raw" if first.endswith(".001") else "usb.E01"
    shutil.copyfile(ROOT / "fixtures/images" / source, tmp_path / first)
    os.mkfifo(tmp_path / fifo)
    proc = triage("scan", tmp_path / first, "-o", tmp_path / "out", "-j", "1", timeout=60)
    assert_one_line_error(proc, fifo, "is a FIFO (named pipe)")


def test_loop_among_images_does_not_stop_the_others(tmp_path: Path) -> None:
    loop = _special(tmp_path, "loop")
    shutil.copyfile(ROOT / "fixtures/images/phone.raw", tmp_path / "phone.raw")
    proc = triage("scan", loop, tmp_path / "phone.raw", "-o", tmp_path / "out", "-j", "1", timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert "loop.raw: symlink loop" in proc.stderr and "internal error" not in proc.stderr
    assert (tmp_path / "out/phone/summary.json").exists()


def test_looping_output_folder_is_a_usage_error(tmp_path: Path) -> None:
    os.symlink("out-b", tmp_path / "out-a")
    os.symlink("out-a", tmp_path / "out-b")
    shutil.copyfile(ROOT / "fixtures/images/phone.raw", tmp_path / "phone.raw")
    proc = triage("scan", tmp_path / "phone.raw", "-o", tmp_path / "out-a" / "x", timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "symlink loop" in proc.stderr and "internal error" not in proc.stderr
