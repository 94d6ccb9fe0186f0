"""Damaged but readable evidence: exit 0, a partial result, every problem recorded where it belongs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fixtures.make_corpus import Case
from tests.robustness.conftest import case, device_dir, load, triage
from triage.scan import ScanSettings, scan_device

DAMAGED = ["ext4_overwritten", "ntfs_mft_zeroed", "mbr_past_end", "ext4_extent_outside", "fat_chain_outside",
           "fat_dir_loop", "ext_dir_loop"]
BOUNDED = ["ext4_huge_size", "picture_bomb"]
HEADERLESS = ["noise"]  # random bytes: named "possibly encrypted container", exit 0 (issue 14)


def recorded(summary: dict[str, Any], records: list[dict[str, Any]]) -> str:
    """Everything the outputs say went wrong, as one text to search."""
    parts = [*summary["errors"], *(e for r in records for e in r["errors"])]
    for volume in summary["volumes"]:
        parts += volume.get("errors", []) + volume.get("notes", []) + [volume["description"]]
    return "\n".join(parts)


def check_outputs(found: Case, folder: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    summary, records = load(folder)
    assert summary["complete"] is True
    text = recorded(summary, records)
    for expected in found.expect:
        assert expected in text, (expected, text)
    by_path = {r["path"]: r for r in records}
    for path, expected in found.records.items():
        assert path in by_path, (path, sorted(by_path))
        assert any(expected in e for e in by_path[path]["errors"]), by_path[path]
    for record in records:
        if any(not e.startswith("picture:") for e in record["errors"]):  # an unreadable stream has no digest
            assert record["md5"] is None and record["sha1"] is None and record["sha256"] is None, record
    assert summary["counts"]["errors"] == sum(1 for r in records if r["errors"])
    assert summary["counts"]["files"] == len(records)
    return summary, records


@pytest.mark.parametrize("name", DAMAGED + BOUNDED + HEADERLESS)
def test_damaged_exit_0_with_errors_recorded(corpus: dict[str, Case], tmp_path: Path, name: str) -> None:
    found = case(corpus, name)
    assert found.evidence is not None
    proc = triage("scan", found.evidence, "-o", tmp_path / "out", "-j", "2")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    check_outputs(found, device_dir(tmp_path / "out"))


def test_partial_results_survive(corpus: dict[str, Case], tmp_path: Path) -> None:
    """The streams the damage did not touch are still listed and hashed."""
    found = case(corpus, "ext4_overwritten")
    assert found.evidence is not None
    target, _ = scan_device(found.evidence, tmp_path, ScanSettings(jobs=1))
    _, records = check_outputs(found, target)
    healthy = [r for r in records if r["sha256"]]
    assert {"/big.bin", "/docs/note1.txt", "/docs/sub/deep.txt"} <= {r["path"] for r in healthy}
    lost = sorted(r["path"] for r in records if r["errors"])
    assert lost == ["/docs/note2.txt", "/docs/note3.txt", "/docs/note4.txt", "/docs/note5.txt"]
    assert not any(r["path"].startswith("/data/") for r in records)  # its entries were overwritten: a note says so


def test_partition_past_end(corpus: dict[str, Case], tmp_path: Path) -> None:
    found = case(corpus, "mbr_past_end")
    assert found.evidence is not None
    _, summary = scan_device(found.evidence, tmp_path, ScanSettings(jobs=1))
    parts = {v["index"]: v for v in summary["volumes"] if v["role"] == "partition"}
    assert parts[2]["fs"] == "fat12" and parts[2]["files"] >= 1 and not parts[2]["errors"]
    assert "extends past end of media by 5242880 bytes" in parts[3]["description"]
    assert parts[3]["fs"] == "fat12"  # what fits of the cut file system is still read
    assert parts[4]["errors"] == ["partition starts past the end of the media"]


def test_evidence_read_error_recorded(corpus: dict[str, Case], tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """An I/O error from the evidence itself (a failing disk under a raw image) is a recorded read error.

    pytsk3 turns an exception raised by the image read callback into a RuntimeError: it must not escape.
    """
    from fixtures.make_corpus import ext_block_of
    from triage.sources.containers.readers import SegmentedFileReader

    found = case(corpus, "ext4_overwritten")
    assert found.evidence is not None
    real_read = SegmentedFileReader.read
    start = ext_block_of(found.evidence, "/big.bin", 10) * 1024
    bad = range(start, start + 1024)

    def failing_read(self: SegmentedFileReader, offset: int, size: int) -> bytes:
        if offset < bad.stop and offset + size > bad.start:
            raise OSError(5, "Input/output error")
        return real_read(self, offset, size)

    monkeypatch.setattr(SegmentedFileReader, "read", failing_read)
    _, summary = scan_device(found.evidence, tmp_path, ScanSettings(jobs=1, verify=False))
    assert summary["counts"]["errors"] >= 1
    records = [json.loads(line) for line in (tmp_path / "ext4-overwritten" / "files.jsonl").read_text().splitlines()]
    failed = [r for r in records if any("Input/output error" in e for e in r["errors"])]
    assert [r["path"] for r in failed] == ["/big.bin"] and failed[0]["sha256"] is None


def test_callback_errors_unwrapped() -> None:
    """pytsk3 wraps an exception of the image read callback in a RuntimeError; the message is kept, one line."""
    from triage.sources.filesystems.tsk_read import last_line as _last_line

    assert _last_line(RuntimeError("OSError(5, 'Input/output error')")) == "Input/output error"
    assert _last_line(RuntimeError("ValueError('bad chunk')")) == "bad chunk"
    assert _last_line(OSError("x\nFS_Info: (tsk3.cpp:207) Unable to open")) == "Unable to open"
