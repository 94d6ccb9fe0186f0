"""The one sequential read of the media: pieces in and out of order, the memory bound, read errors, no-verify.

A real raw evidence file of random bytes is read through the real reader; streams are given hand-made runs so
that every ordering case is exact. What a stream must hash to is the concatenation of its runs' bytes.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from triage import mediapass
from triage.evidence import open_evidence
from triage.mediapass import BLOCK, MediaPass
from triage.records import FileRecord

MEDIA = 3 * BLOCK + 12_345


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    data = random.Random(7).randbytes(MEDIA)
    path = tmp_path_factory.mktemp("media") / "disk.raw"
    path.write_bytes(data)
    return path, data


def stream(name: str, runs: list[tuple[int, int]]) -> tuple[FileRecord, list[tuple[int, int, int]]]:
    """A record with runs given as (media offset, length) in file order."""
    out, covered = [], 0
    for start, length in runs:
        out.append((covered, start, length))
        covered += length
    return FileRecord(name, None, "test", 1, covered, True), out


def expected(data: bytes, runs: list[tuple[int, int, int]]) -> str:
    return hashlib.sha256(b"".join(data[start:start + length] for _, start, length in runs)).hexdigest()


@pytest.fixture(params=[True, False], ids=["threads", "inline"])
def threads(request: pytest.FixtureRequest) -> bool:
    """With -j 2 and more the media is read and hashed on helper threads; with -j 1 inline."""
    return bool(request.param)


def run_pass(path: Path, plan: dict[int, tuple[FileRecord, list[tuple[int, int, int]]]],
             threads: bool) -> tuple[MediaPass, list[int]]:
    evidence = open_evidence(path)
    finished: list[int] = []
    try:
        result = MediaPass(evidence, plan, True, threads)
        assert result.run(lambda index, record, picture: finished.append(index) or False) is False
    finally:
        evidence.close()
    return result, finished


def test_pieces_in_and_out_of_order_and_across_blocks(media: tuple[Path, bytes], threads: bool) -> None:
    path, data = media
    plan = {
        0: stream("contiguous", [(512, 4096)]),
        1: stream("across-blocks", [(BLOCK - 1024, 2 * BLOCK + 4096)]),
        2: stream("backwards", [(3 * BLOCK, 8192), (BLOCK // 2, 4096), (4096, 512)]),
        3: stream("shares-blocks", [(512, 1024)]),  # the same media bytes as the start of stream 0
        4: stream("last-byte", [(MEDIA - 512, 512)]),
    }
    result, finished = run_pass(path, plan, threads)
    assert sorted(finished) == [0, 1, 2, 3, 4] and result.unread == []
    for record, runs in plan.values():
        assert record.sha256 == expected(data, runs), record.path
        assert record.errors == []
    assert result.computed == {"md5": hashlib.md5(data).hexdigest(), "sha1": hashlib.sha1(data).hexdigest()}
    assert result.error is None


def test_held_back_pieces_over_the_bound_are_handed_back(media: tuple[Path, bytes], threads: bool,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = media
    monkeypatch.setattr(mediapass, "MAX_HELD", 64 << 10)
    plan = {0: stream("far-backwards", [(2 * BLOCK, 4096), (0, 128 << 10)]),  # 128 KiB held: over the bound
            1: stream("fine", [(BLOCK, 4096)])}
    result, finished = run_pass(path, plan, threads)
    assert finished == [1] and result.unread == [0]
    record = plan[0][0]
    assert record.sha256 is None and record.errors == [] and record.type is None  # left for the file system read


def test_read_error_hands_streams_back_and_fails_verification(media: tuple[Path, bytes], threads: bool,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = media
    plan = {0: stream("in-bad-block", [(BLOCK + 100 * 512, 4096)]), 1: stream("ok", [(512, 4096)])}
    evidence = open_evidence(path)
    real = evidence.reader.read

    def failing(offset: int, size: int) -> bytes:
        if offset <= BLOCK + 100 * 512 < offset + size:
            raise OSError(5, "Input/output error")
        return real(offset, size)

    monkeypatch.setattr(evidence.reader, "read", failing)
    try:
        result = MediaPass(evidence, plan, verify=True, threads=threads)
        finished: list[int] = []
        result.run(lambda index, record, picture: finished.append(index) or False)
    finally:
        evidence.close()
    assert finished == [1] and result.unread == [0]
    assert result.computed == {}
    assert result.error == f"media read error at offset {BLOCK}: [Errno 5] Input/output error"


def test_without_verification_only_blocks_with_streams_are_read(media: tuple[Path, bytes],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path, data = media
    plan = {0: stream("second-block", [(BLOCK + 4096, 4096)])}
    evidence = open_evidence(path)
    seen: list[int] = []
    real = evidence.reader.read
    monkeypatch.setattr(evidence.reader, "read", lambda offset, size: seen.append(offset) or real(offset, size))
    try:
        result = MediaPass(evidence, plan, verify=False)
        assert result.run(lambda index, record, picture: False) is False
    finally:
        evidence.close()
    assert seen == [BLOCK]
    assert result.computed == {} and result.error is None
    assert plan[0][0].sha256 == expected(data, plan[0][1])


def test_stop_asked_by_a_finished_stream(media: tuple[Path, bytes], threads: bool) -> None:
    path, _ = media
    plan = {0: stream("first", [(512, 4096)]), 1: stream("later", [(2 * BLOCK, 4096)])}
    evidence = open_evidence(path)
    try:
        result = MediaPass(evidence, plan, verify=True, threads=threads)
        assert result.run(lambda index, record, picture: True) is True
    finally:
        evidence.close()
    assert result.computed == {} and result.error == "verification stopped before the end of the media"


def check_runs_equal_tsk(path: Path, at_least: float) -> None:
    from triage.filesystems.tsk import TskFileSystem
    from triage.scan import list_device, media_plan

    evidence = open_evidence(path)
    try:
        listing = list_device(evidence)
        plan = media_plan(listing, pictures_apart=False)
        readable = [i for i, (r, fs) in enumerate(listing.records) if r.locator and isinstance(fs, TskFileSystem)]
        assert len(plan) >= at_least * len(readable)
        for index, (record, runs) in plan.items():
            fs = listing.records[index][1]
            raw = b"".join(evidence.read(start, length) for _, start, length in runs)
            assert raw == b"".join(fs.read_stream(record.locator, record.size)), record.path
    finally:
        for fs in listing.filesystems:
            fs.close()
        evidence.close()


def test_fixture_streams_are_mapped_where_reading_raw_equals_tsk() -> None:
    """On laptop.E01 (FAT32, ext4, NTFS) most streams are completed by the media pass, with TSK's exact bytes."""
    from tests.conftest import fixture_image

    check_runs_equal_tsk(fixture_image("laptop.E01"), 0.8)


@pytest.mark.parametrize(("name", "at_least"), [("ext2.raw", 1.0), ("mbr.raw", 1.0), ("hfsplus.raw", 0.8),
                                                ("iso9660.raw", 1.0)])
def test_real_images_runs_equal_tsk(name: str, at_least: float) -> None:
    """dfVFS's images: ext2 lists sparse runs past the end; HFS+ empty forks stay with TSK (11 of 13 mapped)."""
    from tests.conftest import realdata

    check_runs_equal_tsk(realdata(name), at_least)


@pytest.mark.parametrize("early_blocks", [1, 2, 8])
def test_early_start_keeps_blocks_for_streams_placed_later(media: tuple[Path, bytes], early_blocks: int,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The media is read and hashed while the device is listed; the kept blocks serve the streams added after."""
    import threading

    path, data = media
    monkeypatch.setattr(mediapass, "EARLY_BYTES", early_blocks * BLOCK)
    evidence = open_evidence(path)
    plan = {0: stream("first-block", [(512, 4096)]), 1: stream("backwards", [(3 * BLOCK, 8192), (4096, 512)]),
            2: stream("across", [(BLOCK - 1024, BLOCK + 2048)])}
    try:
        result = MediaPass(evidence, {}, verify=True, threads=True)
        result.start_early()
        result.add(plan)
        finished: list[int] = []
        assert result.run(lambda index, record, picture: finished.append(index) or False) is False
    finally:
        evidence.close()
    assert sorted(finished) == [0, 1, 2] and result.unread == []
    for record, runs in plan.values():
        assert record.sha256 == expected(data, runs), record.path
    assert result.computed == {"md5": hashlib.md5(data).hexdigest(), "sha1": hashlib.sha1(data).hexdigest()}
    assert not [t for t in threading.enumerate() if t.name.startswith("media-")]


def test_early_start_stopped_by_an_interrupted_listing(media: tuple[Path, bytes]) -> None:
    """close() without run (Ctrl-C while listing) stops the helper threads and leaves no verdict."""
    import threading

    path, _ = media
    evidence = open_evidence(path)
    try:
        result = MediaPass(evidence, {}, verify=True, threads=True)
        result.start_early()
        result.close()
    finally:
        evidence.close()
    assert result.computed == {}
    assert not [t for t in threading.enumerate() if t.name.startswith("media-")]
