"""A split raw set with a truncated piece (issue 12, "also seen"): exit 3 naming the segment and the sizes.

Splitting tools cut equal pieces, so only the last may be shorter; a short piece before it shifts every later
byte, and the scan used to finish with exit 0 and only volume errors. The set is the committed
``laptop_split.001..003`` (16 MiB, 16 MiB, 9 MiB) copied into tmp_path and cut there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.robustness.conftest import ROOT, assert_one_line_error, triage
from triage.errors import EvidenceError
from triage.sources.containers import open_evidence

SEGMENTS = [ROOT / "fixtures" / "images" / f"laptop_split.00{n}" for n in (1, 2, 3)]
PIECE = 16 << 20


def split_set(folder: Path) -> list[Path]:
    folder.mkdir()
    return [Path(shutil.copyfile(segment, folder / segment.name)) for segment in SEGMENTS]


@pytest.mark.parametrize(("cut", "size", "expected_from"), [
    (1, 5_000_000, "laptop_split.001"),  # the middle piece, as found
    (1, 0, "laptop_split.001"),  # the middle piece empty
    (0, PIECE - 512, "laptop_split.002"),  # the first piece, one sector short
], ids=["middle", "middle-empty", "first"])
def test_truncated_piece_is_refused(tmp_path: Path, cut: int, size: int, expected_from: str) -> None:
    pieces = split_set(tmp_path / "set")
    os.truncate(pieces[cut], size)
    proc = triage("scan", pieces[0], "-o", tmp_path / "out", "-j", "1")
    assert_one_line_error(proc, str(pieces[0]), "split raw set is truncated",
                          f"segment {pieces[cut].name} is {size:,} bytes",
                          f"expected {PIECE:,} like {expected_from}", "only the last segment may be shorter")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert pieces[cut].stat().st_size == size  # evidence untouched


def test_short_last_piece_is_normal(tmp_path: Path) -> None:
    """The committed set itself: the last piece is shorter, as splitting leaves it."""
    pieces = split_set(tmp_path / "set")
    evidence = open_evidence(pieces[0])
    try:
        assert evidence.format == "split_raw" and evidence.paths == pieces
        assert evidence.media_size == sum(p.stat().st_size for p in pieces)
    finally:
        evidence.close()


def test_truncated_last_piece_is_not_told_apart(tmp_path: Path) -> None:
    """A last piece cut short cannot be told from a short last piece: it opens (the probe still reads its end)."""
    pieces = split_set(tmp_path / "set")
    os.truncate(pieces[2], 1 << 20)
    evidence = open_evidence(pieces[0])
    evidence.close()


def test_in_process_error(tmp_path: Path) -> None:
    pieces = split_set(tmp_path / "set")
    os.truncate(pieces[1], PIECE - 1)
    with pytest.raises(EvidenceError, match=r"segment laptop_split\.002 is 16,777,215 bytes"):
        open_evidence(pieces[0])
