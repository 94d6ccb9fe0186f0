"""Opening evidence: every container gives the same media; unusable evidence fails with one clear reason."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from tests.conftest import realdata
from triage.errors import EvidenceError
from triage.sources.containers import open_evidence
from triage.sources.containers.detect import detect_format

# ../shared/realdata/README.md: ext2.raw media md5 196066add11fb71c4c49cf1bb50d6d24; ext2.E01 stores the same.
EXT2_MEDIA_MD5 = "196066add11fb71c4c49cf1bb50d6d24"


def media_md5(path: Path) -> str:
    evidence = open_evidence(path)
    digest = hashlib.md5()
    offset = 0
    while offset < evidence.media_size:
        chunk = evidence.read(offset, 1 << 20)
        digest.update(chunk)
        offset += len(chunk)
    evidence.close()
    return digest.hexdigest()


@pytest.mark.parametrize(
    ("name", "fmt", "segments"),
    [
        ("ext2.raw", "raw", 1),
        ("ext2.E01", "ewf", 1),
        ("ext2.split.E01", "ewf", 2),
        ("ext2.splitraw.000", "split_raw", 2),
    ],
)
def test_same_media_in_every_container(name: str, fmt: str, segments: int) -> None:
    path = realdata(name)
    evidence = open_evidence(path)
    assert evidence.format == fmt
    assert len(evidence.paths) == segments
    assert evidence.media_size == 4194304
    evidence.close()
    assert media_md5(path) == EXT2_MEDIA_MD5


def test_ewf_metadata_and_stored_hash() -> None:
    # ewfinfo ext2.E01:  Case number: case / Evidence number: evidence / Examiner name: examiner / MD5 196066ad…
    evidence = open_evidence(realdata("ext2.E01"))
    assert evidence.stored_hashes == {"md5": EXT2_MEDIA_MD5}
    assert evidence.metadata["case_number"] == "case"
    assert evidence.metadata["examiner_name"] == "examiner"
    assert evidence.metadata["evidence_number"] == "evidence"
    assert evidence.metadata["notes"] == "notes"
    evidence.close()


def test_vhd_detected_by_content(tmp_path: Path) -> None:
    copy = tmp_path / "renamed.bin"
    shutil.copy(realdata("ext2.vhd"), copy)
    assert detect_format(copy) == "vhd"


def test_e01_detected_by_content(tmp_path: Path) -> None:
    copy = tmp_path / "disk.bin"
    shutil.copy(realdata("ext2.E01"), copy)
    assert detect_format(copy) == "ewf"
    assert open_evidence(copy).stored_hashes["md5"] == EXT2_MEDIA_MD5


def test_missing_middle_e01_segment(tmp_path: Path) -> None:
    src = realdata("ext2.split.E01")
    shutil.copy(src, tmp_path / "x.E01")
    shutil.copy(src.with_suffix(".E02"), tmp_path / "x.E03")
    with pytest.raises(EvidenceError, match=r"incomplete.*x\.E03"):
        open_evidence(tmp_path / "x.E01")


def test_missing_last_e01_segment_is_truncated(tmp_path: Path) -> None:
    shutil.copy(realdata("ext2.split.E01"), tmp_path / "x.E01")
    with pytest.raises(EvidenceError, match=r"x\.E01"):
        open_evidence(tmp_path / "x.E01")


def test_truncated_e01(tmp_path: Path) -> None:
    data = realdata("ext2.E01").read_bytes()
    (tmp_path / "t.E01").write_bytes(data[: len(data) // 2])
    with pytest.raises(EvidenceError, match=r"t\.E01"):
        open_evidence(tmp_path / "t.E01")


def test_split_raw_gap(tmp_path: Path) -> None:
    for n in (1, 3):
        (tmp_path / f"d.{n:03d}").write_bytes(b"\0" * 512)
    with pytest.raises(EvidenceError, match=r"gap.*d\.002"):
        open_evidence(tmp_path / "d.001")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(b""), "empty file"),
    ],
)
def test_unusable(tmp_path: Path, make, message: str) -> None:
    target = tmp_path / "evidence.E01"
    make(target)
    with pytest.raises(EvidenceError, match=message):
        open_evidence(target)


def test_raw_is_opened_read_only() -> None:
    evidence = open_evidence(realdata("ext2.raw"))
    import os

    for fd in evidence.reader._fds:  # type: ignore[attr-defined]
        assert os.get_blocking(fd)  # a real descriptor
        import fcntl

        assert fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY
    evidence.close()
