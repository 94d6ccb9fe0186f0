"""The one sequential read of the media: pieces in and out of order, the memory bound, read errors, no-verify.

A real raw evidence file of random bytes is read through the real reader; streams are given hand-made runs so
that every ordering case is exact. What a stream must hash to is the concatenation of its runs' bytes.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest

from triage.model.record import FileRecord
from triage.reading import mediapass
from triage.reading.mediapass import BLOCK, MediaPass
from triage.sources.containers import open_evidence

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
    from triage.reading.plan import media_plan
    from triage.scan import list_device
    from triage.sources.filesystems.tsk import TskFileSystem

    evidence = open_evidence(path)
    try:
        listing = list_device(evidence)
        plan = media_plan(listing.records, pictures_apart=False)
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


@pytest.mark.parametrize("name", ["laptop.E01", "camera.E01"])
def test_fixture_streams_are_mapped_where_reading_raw_equals_tsk(name: str) -> None:
    """On laptop.E01 (FAT32, ext4, NTFS) and camera.E01 (exFAT, a deleted picture) most streams are completed by
    the media pass, with TSK's exact bytes."""
    from tests.conftest import fixture_image

    check_runs_equal_tsk(fixture_image(name), 0.8)


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


def test_hostile_mft_records_leave_streams_to_tsk() -> None:
    """The initialised-size check parses raw MFT records: any damage there means 'not mapped', never a crash."""
    import struct

    from triage.sources.filesystems.tsk_runs import _parse_initialised_size

    def record(usa_offset: int, usa_count: int, first_attr: int = 0x38, body: bytes = b"") -> bytearray:
        data = bytearray(1024)
        data[0:4] = b"FILE"
        struct.pack_into("<HHH", data, 4, usa_offset, usa_count, 0)
        struct.pack_into("<H", data, 0x14, first_attr)
        data[first_attr:first_attr + len(body)] = body
        return data

    data_attr = struct.pack("<IIBBHHH", 0x80, 0x48, 1, 0, 0, 0, 3) + bytes(0x38 - 16) + struct.pack("<Q", 4096)
    end = struct.pack("<I", 0xFFFFFFFF)
    good = record(0x30, 3, body=data_attr + end)
    for i in (1, 2):  # fixups: the last two bytes of each sector hold the check value
        good[i * 512 - 2:i * 512] = good[0x30:0x32]
    assert _parse_initialised_size(bytearray(good), 512, 1024, 3) == 4096
    assert _parse_initialised_size(bytearray(good), 512, 1024, 4) is None  # attribute not in this record
    hostile = [
        bytearray(1024),                            # not a FILE record
        record(1020, 200),                          # update sequence array past the end of the record
        record(0x30, 0),                            # no update sequence at all
        record(0x30, 3),                            # fixups that do not check out (torn write)
        record(0x30, 3, first_attr=1020),           # first attribute past the end
        good[:1000],                                # short read
    ]
    for data in hostile:
        assert _parse_initialised_size(bytearray(data), 512, 1024, 3) is None


def test_ntfs_stream_initialised_below_its_size_is_left_to_tsk(tmp_path: Path) -> None:
    """NTFS reads zeros past a stream's initialised size while its clusters hold older bytes: such a stream
    must not be hashed from the raw clusters. nf4.bin (8,700 bytes) gets an initialised size of 1,000 by
    editing its MFT record; TSK (like `icat`) then gives 1,000 bytes of content and 7,700 zeros."""
    import hashlib
    import struct
    import sys

    from tests.conftest import need_tool
    from triage.reading.plan import media_plan
    from triage.scan import list_device

    need_tool("mkntfs")
    need_tool("ntfscp")
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fixtures"))
    from corpus_base import ntfs_base

    image = ntfs_base(tmp_path)
    evidence = open_evidence(image)
    try:
        listing = list_device(evidence)
        record, fs = next((r, f) for r, f in listing.records if r.path == "/nf4.bin")
        mft_run = next(iter(next(a for a in fs.fs.open_meta(inode=0) if int(a.info.type) == 0x80)))
        at = int(mft_run.addr) * int(fs.fs.info.block_size) + record.locator.inode * 1024
        mft_record = bytearray(evidence.read(at, 1024))
    finally:
        evidence.close()
    position = struct.unpack_from("<H", mft_record, 0x14)[0]
    while struct.unpack_from("<I", mft_record, position)[0] != 0x80:
        position += struct.unpack_from("<I", mft_record, position + 4)[0]
    field = at + position + 0x38
    assert (position + 0x38) % 512 < 504  # the field does not touch a sector's fixup bytes
    with open(image, "r+b") as fh:
        fh.seek(field)
        fh.write(struct.pack("<Q", 1000))

    evidence = open_evidence(image)
    try:
        listing = list_device(evidence)
        plan = media_plan(listing.records, pictures_apart=False)
        index, (record, fs) = next((i, p) for i, p in enumerate(listing.records) if p[0].path == "/nf4.bin")
        through_tsk = b"".join(fs.read_stream(record.locator, record.size))
        assert index not in plan and record.byte_runs is None
        assert through_tsk[1000:] == bytes(7700) and any(through_tsk[:1000])
        assert next(i for i, (r, _) in enumerate(listing.records) if r.path == "/nf3.bin") in plan  # untouched
    finally:
        for f in listing.filesystems:
            f.close()
        evidence.close()
    from triage.scan import ScanSettings, scan_device

    target, _ = scan_device(image, tmp_path / "out", ScanSettings(jobs=1))
    rows = {r["path"]: r for r in (json.loads(line) for line in (target / "files.jsonl").read_text().splitlines())}
    assert rows["/nf4.bin"]["md5"] == hashlib.md5(through_tsk).hexdigest()


def test_exfat_valid_data_length_is_what_tsk_ignores(tmp_path: Path) -> None:
    """exFAT streams are mapped because TSK reads their whole data length from the clusters even when the
    ValidDataLength is lower. Oracle: `icat camera_vdl.raw 643 | md5sum` equals `icat camera.raw 643 | md5sum`
    (9764165adfd3659ff87e510809de8e0a) after IMG_0001.JPG's ValidDataLength is lowered to 1,000. Should a TSK
    release start giving zeros past it, this test fails and exFAT must leave MAPPED_FS."""
    import struct

    from tests.conftest import fixture_image

    data = bytearray(fixture_image("camera.raw").read_bytes())
    size = 180480  # IMG_0001.JPG, inode 643 (`istat camera.raw 643`: Size: 180480)
    at = data.find(struct.pack("<Q", size))
    while at >= 0 and not (at >= 24 and data[at - 24] == 0xC0):  # stream extension entry: type 0xC0, size at +24
        at = data.find(struct.pack("<Q", size), at + 1)
    at -= 24
    struct.pack_into("<Q", data, at + 8, 1000)  # ValidDataLength
    image = tmp_path / "camera_vdl.raw"
    image.write_bytes(bytes(data))
    check_runs_equal_tsk(image, 0.8)
    evidence = open_evidence(image)
    try:
        from triage.scan import list_device

        listing = list_device(evidence)
        record, fs = next((r, f) for r, f in listing.records if r.path == "/DCIM/100CANON/IMG_0001.JPG")
        content = b"".join(fs.read_stream(record.locator, record.size))
    finally:
        for f in listing.filesystems:
            f.close()
        evidence.close()
    assert hashlib.md5(content).hexdigest() == "9764165adfd3659ff87e510809de8e0a"


def test_a_stream_whole_in_one_piece_is_digested_at_once_with_the_same_results(
        tmp_path: Path, threads: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The usual small file arrives whole in one piece and skips the running digests (``MediaPass._one_piece``,
    issue 17: 200,000 small files in an E01); every field comes out as the general path gives it."""
    data = bytearray(random.Random(11).randbytes(2 * BLOCK))
    data[8192:8200] = b"\x89PNG\r\n\x1a\n"
    path = tmp_path / "disk.raw"
    path.write_bytes(bytes(data))

    def plan() -> dict[int, tuple[FileRecord, list[tuple[int, int, int]]]]:
        return {0: stream("a.txt", [(512, 4096)]), 1: stream("b.png", [(8192, 2000)]),
                2: stream("across", [(BLOCK - 100, 300)]), 3: stream("two-runs", [(0, 100), (1000, 100)])}

    taken: list[str] = []
    real = mediapass.digest_whole
    monkeypatch.setattr(mediapass, "digest_whole",
                        lambda record, piece: taken.append(record.path) or real(record, piece))
    quick = plan()
    run_pass(path, quick, threads)
    monkeypatch.setattr(mediapass, "ONE_PIECE", 0)  # every stream through the running digests
    general = plan()
    run_pass(path, general, threads)
    assert sorted(taken) == ["a.txt", "b.png"]
    for index, (record, runs) in quick.items():
        other = general[index][0]
        assert record.sha256 == other.sha256 == expected(bytes(data), runs)
        assert (record.md5, record.sha1, record.type, record.ext_mismatch, record.errors) == (
            other.md5, other.sha1, other.type, other.ext_mismatch, other.errors)
    assert quick[1][0].type == "image/png"
