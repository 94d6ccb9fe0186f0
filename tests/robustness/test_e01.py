"""E01 integrity: a chunk with a bad checksum, segments from another acquisition (with and without GUIDs).

libewf hides both from pyewf (a bad chunk reads as zeros, a foreign segment as another disk's sectors): the
file in the bad chunk must get an error instead of a digest over zeros, the summary must name the sectors
(as ``ewfverify`` does), and the verification must say "mismatch".
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures.make_corpus import Case
from tests.robustness.conftest import assert_one_line_error, case, device_dir, triage
from tests.robustness.test_damaged import check_outputs
from triage.errors import EvidenceError
from triage.scan import ScanSettings, scan_device
from triage.sources.containers import open_evidence
from triage.sources.containers.ewf_integrity import foreign_segments, set_identifier


@pytest.mark.parametrize("name", ["e01_bad_crc", "e01_foreign_unstamped"])
@pytest.mark.parametrize("jobs", [1, 2])
def test_damaged_e01_exit_0(corpus: dict[str, Case], tmp_path: Path, name: str, jobs: int) -> None:
    found = case(corpus, name)
    assert found.evidence is not None
    proc = triage("scan", found.evidence, "-o", tmp_path / "out", "-j", str(jobs))
    assert proc.returncode == 0, proc.stderr
    assert "media verification: mismatch" in proc.stderr
    summary, _ = check_outputs(found, device_dir(tmp_path / "out"))
    assert summary["evidence"]["verification"] == "mismatch"


def test_bad_chunk_crc(corpus: dict[str, Case], tmp_path: Path) -> None:
    """libewf zero-fills a bad chunk silently; the file in it gets an error and the summary the sector range."""
    found = case(corpus, "e01_bad_crc")
    assert found.evidence is not None
    _, summary = scan_device(found.evidence, tmp_path, ScanSettings(jobs=1))
    assert summary["evidence"]["verification"] == "mismatch"
    # ewfverify on the same set: "at sector(s): 2240 - 2303 (number: 64)"
    assert summary["errors"] == ["evidence: EWF chunk 35 checksum error: sectors 2240-2303 (bytes 1146880-1179647) "
                                 "unreadable in the image"]
    records = [json.loads(line) for line in (tmp_path / "disk" / "files.jsonl").read_text().splitlines()]
    broken = {r["path"] for r in records if r["errors"]}
    assert "/big.bin" in broken
    assert all(r["sha256"] for r in records if r["path"] not in broken and r["size"])


def test_bad_chunk_found_by_reads(corpus: dict[str, Case]) -> None:
    """Reading the damaged chunk returns zeros (as libewf does) but the reader remembers the damage."""
    found = case(corpus, "e01_bad_crc")
    assert found.evidence is not None
    evidence = open_evidence(found.evidence)
    checker = evidence.reader.checker  # type: ignore[attr-defined]
    assert checker.chunks == 128
    assert evidence.read(35 * 32768, 32768) == bytes(32768)
    assert evidence.img.damage_in(35 * 32768 + 5, 35 * 32768 + 6) == [checker.describe(35)]
    assert evidence.img.damage_in(0, 35 * 32768) == []
    assert checker.chunk_ok(34) is True and checker.chunk_ok(35) is False and checker.chunk_ok(999) is None
    assert checker.scan_all() == [checker.describe(35)]
    evidence.close()


def test_intact_e01_costs_no_damage(corpus: dict[str, Case]) -> None:
    """An intact set: every chunk passes, nothing is remembered, even the all-zero ones."""
    first = case(corpus, "e01_foreign_unstamped").evidence  # foreign but intact chunks
    assert first is not None
    evidence = open_evidence(first)
    offset = 0
    while offset < evidence.media_size:
        offset += len(evidence.read(offset, 1 << 20))
    assert evidence.reader.checker.damaged == {}  # type: ignore[attr-defined]
    evidence.close()


def test_foreign_segment_refused(corpus: dict[str, Case], tmp_path: Path) -> None:
    """With set identifiers (as EnCase writes them) a swapped-in segment is refused at open: exit 3."""
    found = case(corpus, "e01_foreign_segment")
    assert found.evidence is not None
    assert_one_line_error(triage("scan", found.evidence, "-o", tmp_path / "out"), *found.expect)
    with pytest.raises(EvidenceError, match=r"disk\.E02 belongs to another acquisition"):
        open_evidence(found.evidence)


def test_foreign_segment_identifiers(corpus: dict[str, Case]) -> None:
    """The stamped sets carry their GUIDs; ewfacquire's own sets carry none (so nothing can be compared)."""
    first = case(corpus, "e01_foreign_segment").evidence
    assert first is not None
    assert set_identifier(first) == b"\x11" * 16
    assert set_identifier(first.with_suffix(".E02")) == b"\x22" * 16
    assert [p.name for p, _, _ in foreign_segments(sorted(first.parent.glob("disk.E0*")))] == ["disk.E02"]
    plain = case(corpus, "e01_foreign_unstamped").evidence
    assert plain is not None and set_identifier(plain) == bytes(16)
    assert foreign_segments(sorted(plain.parent.glob("disk.E0*"))) == []
