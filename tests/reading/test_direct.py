"""Raw media read as the walk lists them (``triage.reading.direct``, ``reading.intake``): the same results as the
readers they replace, and a fall-back to them whenever the media cannot give a stream's bytes."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.conftest import ext4_from_tree, fixture_image, realdata
from triage.reading import direct
from triage.scan import ScanSettings, scan_device


def _scan(image: Path, out: Path, jobs: int, read_now: bool, monkeypatch: pytest.MonkeyPatch) -> Path:
    with monkeypatch.context() as patch:
        if not read_now:  # the readers as before: the media pass and TSK
            patch.setattr(direct.DirectReader, "of", classmethod(lambda cls, evidence: None))
        target, _ = scan_device(image, out, ScanSettings(jobs=jobs))
    return target


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("name", ["laptop.raw", "usb.raw", "phone.raw", "camera.raw", "laptop_split.001"])
def test_read_now_equals_the_media_pass(tmp_path: Path, name: str, jobs: int,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """files.jsonl and summary counts are the same whichever reader read the streams (NTFS, FAT, exFAT, ext4,
    split raw; deleted files, hard links and pictures included on these fixtures)."""
    image = fixture_image(name)
    now = _scan(image, tmp_path / "now", jobs, True, monkeypatch)
    before = _scan(image, tmp_path / "before", jobs, False, monkeypatch)
    assert (now / "files.jsonl").read_bytes() == (before / "files.jsonl").read_bytes()
    a, b = (json.loads((d / "summary.json").read_text()) for d in (now, before))
    assert a["counts"] == b["counts"] and a["evidence"]["computed_hashes"] == b["evidence"]["computed_hashes"]
    assert a["evidence"]["verification"] == b["evidence"]["verification"]


@pytest.mark.parametrize("name", ["ext2.raw", "mbr.raw", "hfsplus.raw"])
def test_read_now_equals_the_media_pass_on_real_images(tmp_path: Path, name: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    image = realdata(name)
    now = _scan(image, tmp_path / "now", 2, True, monkeypatch)
    before = _scan(image, tmp_path / "before", 2, False, monkeypatch)
    assert (now / "files.jsonl").read_bytes() == (before / "files.jsonl").read_bytes()


def test_a_cut_image_falls_back_and_records_the_error(tmp_path: Path) -> None:
    """A raw image cut short: streams whose blocks are past the cut are not read here (the bytes are not there);
    they go to the usual readers, which record the error. Nothing is dropped, nothing gets a digest of part of
    its content, and the streams before the cut keep their true digests."""
    src = tmp_path / "src"
    src.mkdir()
    contents = {f"f{k}.bin": hashlib.sha256(str(k).encode()).digest() * 2048 for k in range(12)}  # 64 KiB each
    for name, data in contents.items():
        (src / name).write_bytes(data)
    image = ext4_from_tree(src, tmp_path / "cut.raw", "8M", block=4096)
    full, _ = scan_device(image, tmp_path / "full", ScanSettings(jobs=1))
    rows = {r["path"]: r for r in map(json.loads, (full / "files.jsonl").read_text().splitlines())}
    starts = sorted((r["byte_runs"][0][1], path) for path, r in rows.items() if path.startswith("/f"))
    cut = starts[len(starts) // 2][0] + 4096  # in the middle of the file half-way up the media
    os.truncate(image, cut)
    for jobs in (1, 2):
        target, summary = scan_device(image, tmp_path / f"cut{jobs}", ScanSettings(jobs=jobs))
        after = {r["path"]: r for r in map(json.loads, (target / "files.jsonl").read_text().splitlines())}
        assert set(after) == set(rows)
        for start, path in starts:
            record = after[path]
            if start + len(contents[path[1:]]) <= cut:
                assert record["md5"] == hashlib.md5(contents[path[1:]]).hexdigest() and not record["errors"]
            else:
                assert record["md5"] is None and record["sha256"] is None and record["errors"], record
        assert summary["counts"]["errors"] == sum(1 for start, path in starts
                                                  if start + len(contents[path[1:]]) > cut)
