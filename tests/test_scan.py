"""One device end to end: outputs, reproducibility, verification, atomic output folders."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, ext4_from_tree, realdata
from triage.errors import EvidenceError
from triage.scan import ScanSettings, device_name, scan_device

TIME_FIELDS = ("started", "finished", "host", "command")


def load(out: Path) -> tuple[dict, list[dict]]:
    summary = json.loads((out / "summary.json").read_text())
    records = [json.loads(line) for line in (out / "files.jsonl").read_text().splitlines()]
    return summary, records


def test_device_name() -> None:
    assert device_name(Path("/x/laptop.E01")) == "laptop"
    assert device_name(Path("/x/ext2.split.E01")) == "ext2.split"
    assert device_name(Path("/x/disk")) == "disk"


def test_scan_e01_outputs(tmp_path: Path) -> None:
    target, summary = scan_device(realdata("ext2.E01"), tmp_path, ScanSettings())
    assert target == tmp_path / "ext2"
    on_disk, records = load(target)
    assert on_disk == summary
    assert summary["complete"] is True
    assert summary["evidence"]["format"] == "EWF (E01)"
    assert summary["evidence"]["verification"] == "verified"
    assert summary["evidence"]["computed_hashes"]["md5"] == "196066add11fb71c4c49cf1bb50d6d24"
    assert summary["evidence"]["acquisition"]["case_number"] == "case"
    assert summary["counts"]["files"] == 3
    assert [r["path"] for r in records] == ["/passwords.txt", "/a_directory/a_file", "/a_directory/another_file"]
    first = records[0]
    assert first["sha256"] == "02a2a6af2f1ecf4720d7d49d640f0d0a269a7ec733e41973bdd34f09dad0e252"
    assert first["allocated"] is True and first["fs"] == "ext2" and first["inode"] == 14
    assert not list(tmp_path.glob(".*tmp"))


def test_scan_collects_garbage_less_often_and_restores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan runs with ``GC_THRESHOLDS`` (a young pass every 20,000 allocations, not 700: issue 17) and gives
    the caller's thresholds back (``triage case`` runs many scans in one process)."""
    import gc

    import triage.scan as scan
    from triage.defaults import GC_THRESHOLDS

    seen = []
    summarise = scan.summarise
    monkeypatch.setattr(scan, "summarise", lambda *a, **k: seen.append(gc.get_threshold()) or summarise(*a, **k))
    before = gc.get_threshold()
    scan_device(FIXTURES / "usb.raw", tmp_path, ScanSettings())
    assert seen == [GC_THRESHOLDS] and gc.get_threshold() == before


def test_two_runs_identical(tmp_path: Path) -> None:
    a, _ = scan_device(realdata("mbr.raw"), tmp_path / "a", ScanSettings())
    b, _ = scan_device(realdata("mbr.raw"), tmp_path / "b", ScanSettings())
    assert (a / "files.jsonl").read_bytes() == (b / "files.jsonl").read_bytes()
    sa, sb = load(a)[0], load(b)[0]
    for key in TIME_FIELDS:
        sa.pop(key), sb.pop(key)
    assert sa == sb


def test_raw_not_stored(tmp_path: Path) -> None:
    _, summary = scan_device(realdata("ext2.raw"), tmp_path, ScanSettings())
    assert summary["evidence"]["verification"] == "not stored"
    assert summary["evidence"]["computed_hashes"]["md5"] == "196066add11fb71c4c49cf1bb50d6d24"


def test_no_verify(tmp_path: Path) -> None:
    _, summary = scan_device(realdata("ext2.E01"), tmp_path, ScanSettings(verify=False))
    assert summary["evidence"]["verification"] == "skipped (--no-verify)"


def tamper_e01(src: Path, dst: Path, at: int = 10) -> None:
    """Copy an E01 and flip one bit inside its first ``sectors`` section (chunk data)."""
    data = bytearray(src.read_bytes())
    offset = 13
    while True:
        kind = bytes(data[offset : offset + 16]).rstrip(b"\0")
        following, _size = struct.unpack_from("<QQ", data, offset + 16)
        if kind == b"sectors":
            data[offset + 76 + at] ^= 0x01
            break
        assert following > offset, "no sectors section"
        offset = following
    dst.write_bytes(bytes(data))


def test_tampered_e01_is_mismatch(tmp_path: Path) -> None:
    # ewfverify on the tampered copy: "MD5 hash calculated over data: 0fe6ad8f…" / "ewfverify: FAILURE"
    tamper_e01(realdata("ext2.E01"), tmp_path / "tampered.E01")
    _, summary = scan_device(tmp_path / "tampered.E01", tmp_path / "out", ScanSettings())
    assert summary["evidence"]["verification"] == "mismatch"
    assert summary["evidence"]["stored_hashes"]["md5"] != summary["evidence"]["computed_hashes"]["md5"]


def test_not_an_image(tmp_path: Path) -> None:
    with pytest.raises(EvidenceError, match="not a disk image"):
        scan_device(realdata("bogus.001"), tmp_path, ScanSettings())
    assert not any(tmp_path.iterdir())


def test_rescan_replaces_output(tmp_path: Path) -> None:
    shutil.rmtree(tmp_path, ignore_errors=True)
    scan_device(realdata("ext2.raw"), tmp_path, ScanSettings())
    (tmp_path / "ext2" / "stale.txt").write_text("old")
    scan_device(realdata("ext2.raw"), tmp_path, ScanSettings())
    assert not (tmp_path / "ext2" / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ext2"]


@pytest.mark.parametrize("name", ["mbr.raw", "apfs.raw", "ext2.split.E01"])
def test_jobs_give_identical_output(tmp_path: Path, name: str) -> None:
    one, _ = scan_device(realdata(name), tmp_path / "one", ScanSettings(jobs=1))
    two, _ = scan_device(realdata(name), tmp_path / "two", ScanSettings(jobs=2))
    assert (one / "files.jsonl").read_bytes() == (two / "files.jsonl").read_bytes()


@pytest.mark.parametrize("name", ["ext2.E01", "ext2.raw", "ext2.splitraw.000"])
def test_evidence_never_altered(tmp_path: Path, name: str) -> None:
    import hashlib

    evidence_dir = tmp_path / "evidence"
    evidence_dir.mkdir()
    src = realdata(name)
    for sibling in src.parent.glob(src.stem + ".*"):
        if sibling.stem == src.stem:
            shutil.copy2(sibling, evidence_dir / sibling.name)

    def state() -> dict[str, tuple[str, int]]:
        return {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
                for p in sorted(evidence_dir.iterdir())}

    before = state()
    scan_device(evidence_dir / name, tmp_path / "out", ScanSettings(jobs=2))
    assert state() == before


def test_pictures_first_keeps_output_identical(tmp_path: Path) -> None:
    a, _ = scan_device(realdata("apfs.raw"), tmp_path / "a", ScanSettings(jobs=2))
    b, _ = scan_device(realdata("apfs.raw"), tmp_path / "b", ScanSettings(jobs=2, pictures_first=True))
    assert (a / "files.jsonl").read_bytes() == (b / "files.jsonl").read_bytes()


@pytest.mark.parametrize("jobs", [1, 2])
def test_first_hit_stops_and_reports(tmp_path: Path, jobs: int) -> None:
    from triage.known import HashSets

    listed = tmp_path / "set.md5"
    listed.write_text("39cb097008d17660abd0539891a672af\n")  # md5 of passwords.txt (ext2.raw, inode 14)
    sets = HashSets.load([str(listed)], cache_dir=tmp_path / "cache")
    target, summary = scan_device(realdata("ext2.raw"), tmp_path / "out",
                                  ScanSettings(hashsets=sets, jobs=jobs, first_hit=True))
    assert target.name == "ext2.incomplete"
    assert summary["complete"] is False and summary["stopped"] == "first hit"
    assert summary["counts"]["matched"] == 1


@pytest.mark.parametrize("jobs", [1, 2])
def test_hard_links_are_read_once(tmp_path: Path, jobs: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Names of one inode (hard links; WinSxS holds thousands) are listed each, read once, digests shared.

    Oracle, `fls -r -p links.raw`:
        d/d 11:	lost+found
        r/r 12:	link-to-photo.jpg
        r/r 13:	other.bin
        r/r 12:	photo.jpg
        V/V 1025:	$OrphanFiles
    """
    import os

    from triage.analysis import digests as hashing
    from triage.reading import direct, mediapass

    src = tmp_path / "src"
    src.mkdir()
    from fixtures.make_pictures import textured_picture

    textured_picture(3, (640, 480)).save(src / "photo.jpg", "JPEG", quality=90)
    os.link(src / "photo.jpg", src / "link-to-photo.jpg")
    (src / "other.bin").write_bytes(bytes(range(256)) * 64)
    image = ext4_from_tree(src, tmp_path / "links.raw", "4M")
    finished: list[str] = []
    finish = hashing.Digester.finish

    def counting_finish(self: hashing.Digester) -> bytes | None:
        finished.append(self.record.path)
        return finish(self)

    monkeypatch.setattr(hashing.Digester, "finish", counting_finish)
    for module in (mediapass, direct):  # a stream read in one piece is digested at once (``digest_whole``)
        whole = module.digest_whole
        monkeypatch.setattr(module, "digest_whole",
                            lambda record, data, whole=whole: finished.append(record.path) or whole(record, data))
    _, summary = scan_device(image, tmp_path / "out", ScanSettings(jobs=jobs))
    rows = {r["path"]: r for r in load(tmp_path / "out" / "links")[1]}
    photo, link = rows["/photo.jpg"], rows["/link-to-photo.jpg"]
    assert photo["inode"] == link["inode"]
    assert photo["sha256"] and photo["sha256"] == link["sha256"] and photo["pdq"] == link["pdq"]
    assert photo["byte_runs"] == link["byte_runs"]
    if jobs == 1:  # with workers the reads happen in other processes, where this counter is not seen
        assert sorted(p for p in finished if "photo" in p) in (["/photo.jpg"], ["/link-to-photo.jpg"])
    assert summary["counts"]["errors"] == 0


@pytest.mark.parametrize("jobs", [1, 2])
def test_first_hit_can_stop_the_walk(tmp_path: Path, jobs: int) -> None:
    """On raw media a picture is read as it is listed (reading.direct; -j 2: a worker gets it at once), so a
    first hit among many files does not wait for the rest of the walk (issue 17, item 4)."""

    from fixtures.make_pictures import textured_picture
    from triage.known import HashSets

    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    textured_picture(5, (320, 240)).save(src / "a" / "photo.jpg", "JPEG", quality=90)
    for folder in "bcd":
        (src / folder).mkdir()
        for k in range(400):
            (src / folder / f"note{k:03d}.txt").write_text(f"note {folder} {k}\n")
    image = ext4_from_tree(src, tmp_path / "many.raw", "8M")
    listed = tmp_path / "set.md5"
    listed.write_text(hashlib.md5((src / "a" / "photo.jpg").read_bytes()).hexdigest() + "\n")
    sets = HashSets.load([str(listed)], cache_dir=tmp_path / "cache")
    target, summary = scan_device(image, tmp_path / "out",
                                  ScanSettings(hashsets=sets, jobs=jobs, first_hit=True, pictures_first=True))
    assert target.name == "many.incomplete"
    assert summary["stopped"] == "first hit" and summary["counts"]["matched"] == 1
    assert summary["first_hit_after"] is not None
    if jobs == 1:  # the picture is read as listed, before the other folders are walked
        assert summary["counts"]["files"] < 1200
        assert any("while listing" in note for note in summary.get("notes", []))
