"""The archive expander on synthetic archives built at test time (fixtures/make_archives.py)."""

from __future__ import annotations

import gzip
import hashlib
import io
import resource
import shutil
import threading
import time
from pathlib import Path

import pytest

from fixtures import make_archives as mk
from triage.model.record import FileRecord
from triage.sources.archives import ARCHIVE_TYPES, Limits, expand, is_archive, sniff_archive

MTIME_ISO = "2020-09-13T12:26:40Z"
DOS_ISO = "2020-09-13T12:26:40"  # a zip's or RAR 4's DOS time is local time with no zone: no "Z"


@pytest.fixture(scope="module")
def contents() -> dict[str, bytes]:
    return mk.payloads()


def run(path: Path, limits: Limits | None = None, parent_sha256: str | None = None):
    """Expand the archive file at ``path``; return (children, parent, limits_hit, archive_errors)."""
    data = path.read_bytes()
    parent = FileRecord(path="/evidence/" + path.name, volume=1, fs="ext4", inode=42, size=len(data),
                        allocated=True)
    parent.sha256 = parent_sha256
    hits: list[dict] = []
    errors: list[dict] = []
    mime = sniff_archive(data[:512])
    assert mime is not None
    with open(path, "rb") as source:
        kwargs = {"limits": limits} if limits else {}
        children = list(expand(source, mime, parent, limits_hit=hits, archive_errors=errors, **kwargs))
    return children, parent, hits, errors


def by_path(children) -> dict[str, object]:
    return {c.record.path: c for c in children}


@pytest.mark.parametrize(("name", "kind", "fs"), [
    ("mixed.zip", "zip", "zip"), ("solid.7z", "7z", "7z"), ("plain.tar", "", "tar"), ("pack.tar.gz", "gz", "tar"),
    ("pack.tar.bz2", "bz2", "tar"), ("pack.tar.xz", "xz", "tar"),
])
def test_members_digests_and_pictures(tmp_path, contents, name, kind, fs):
    path = tmp_path / name
    if fs == "zip":
        mk.write_zip(path, contents)
    elif fs == "7z":
        mk.write_7z(path, contents)
    else:
        mk.write_tar(path, kind, contents)
    children, parent, hits, errors = run(path)
    found = {c.record.path: c.record.md5 for c in children if c.record.md5}
    assert found == mk.md5s(contents)
    assert not hits and not errors and not parent.errors
    for child in children:
        record = child.record
        assert record.fs == fs and record.volume == 1 and record.inode == 42 and record.allocated
        assert child.chain == (record.path,) and child.depth == 1 and child.parent_index is None
        if record.md5:
            assert record.size == len(contents[record.path[1:]])
            assert record.sha256 == hashlib.sha256(contents[record.path[1:]]).hexdigest()
        if record.path.endswith((".jpg", ".png")) and record.md5:
            assert record.type in ("image/jpeg", "image/png")
            assert record.pdq and len(record.pdq) == 64 and record.phash and record.pdq_quality
    if fs != "7z":  # 7z members carry the time they were written
        assert all(c.record.times["modified"] == (DOS_ISO if fs == "zip" else MTIME_ISO) for c in children)
    if fs in ("zip", "tar"):
        link = by_path(children)["/photos/link.jpg"].record
        assert link.notes == ["symlink to pic_a.jpg"] and link.md5 is None and not link.errors
    assert "/photos" not in by_path(children)  # directories are not records


def test_single_file_compressed(tmp_path, contents):
    picture = contents["photos/pic_a.jpg"]
    md5 = hashlib.md5(picture).hexdigest()
    named = mk.write_single(tmp_path / "x.gz", picture, "gz", "holiday.jpg")
    (child,), _, _, _ = run(named)
    assert child.record.path == "/holiday.jpg" and child.record.fs == "gzip" and child.record.md5 == md5
    assert child.record.size == len(picture) and child.record.pdq and child.record.times["modified"] == MTIME_ISO
    for kind, fs in (("gz", "gzip"), ("bz2", "bzip2"), ("xz", "xz")):
        path = mk.write_single(tmp_path / f"photo.jpg.{kind}", picture, kind, None)
        (child,), _, _, _ = run(path)
        assert (child.record.path, child.record.fs, child.record.md5) == ("/photo.jpg", fs, md5)


def test_deflate64_member(tmp_path, contents):
    (child,), _, _, _ = run(mk.write_zip_deflate64(tmp_path / "d64.zip", contents["docs/notes.txt"]))
    assert child.record.md5 == hashlib.md5(contents["docs/notes.txt"]).hexdigest() and not child.record.errors


def test_nested_zip_depth_three(tmp_path, contents):
    picture = contents["photos/pic_a.jpg"]
    children, _, hits, _ = run(mk.write_nested_zip(tmp_path / "outer.zip", picture))
    assert [c.depth for c in children] == [1, 2, 3]
    assert [c.parent_index for c in children] == [None, 0, 1]
    deepest = children[2]
    assert deepest.chain == ("/level1/middle.zip", "/level2/inner.zip", "/photos/nested.jpg")
    assert deepest.record.md5 == hashlib.md5(picture).hexdigest() and deepest.record.pdq
    assert children[0].record.type == "application/zip" and children[0].record.md5 and not hits


def test_deep_nesting_stops_at_max_depth(tmp_path):
    children, _, hits, _ = run(mk.write_deep_zip(tmp_path / "deep.zip", depth=20))
    assert max(c.depth for c in children) == 8 and len(children) == 8
    last = children[-1]
    assert last.record.md5 and "not expanded" in last.record.notes[0]
    assert [h["limit"] for h in hits] == ["max_depth"] and hits[0]["value"] == 8
    assert hits[0]["archive"].startswith("/evidence/deep.zip » level_02.zip")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_zip_bomb_ratio(tmp_path):
    path = mk.write_zip_bomb(tmp_path / "bomb.zip")  # 10 GiB of zeros, ~10 MB on disk
    before, start = _rss_mb(), time.monotonic()
    (child,), _, hits, _ = run(path)
    assert time.monotonic() - start < 30
    assert _rss_mb() - before < 400
    assert child.record.md5 is None and child.record.errors[0].startswith("expansion stopped: compression ratio")
    assert hits == [{"limit": "max_ratio", "value": 1000, "archive": "/evidence/bomb.zip",
                     "effect": "expansion of this archive stopped"}]


def test_zip_bomb_total(tmp_path):
    path = mk.write_zip_bomb(tmp_path / "bomb.zip", size=1 << 30)
    before = _rss_mb()
    (child,), _, hits, _ = run(path, Limits(max_ratio=10**9, max_total=64 << 20))
    assert _rss_mb() - before < 400
    assert child.record.errors[0].startswith("expansion stopped: more than 67108864 bytes")
    assert [h["limit"] for h in hits] == ["max_total"]


def test_nested_bomb_in_zip_stops_whole_archive(tmp_path):
    bomb = mk.write_zip_bomb(tmp_path / "inner.zip", size=256 << 20).read_bytes()
    outer = tmp_path / "outer.zip"
    outer.write_bytes(mk.zip_bytes({"a.zip": bomb, "after.txt": b"later\n"}))
    children, _, hits, _ = run(outer, Limits(max_ratio=10**9, max_total=128 << 20))
    assert [c.record.path for c in children] == ["/a.zip", "/zeros.bin"]
    assert children[1].record.errors and hits[0]["limit"] == "max_total"


def test_encrypted_member(tmp_path):
    children, _, _, _ = run(mk.write_encrypted_zip(tmp_path / "enc.zip", b"secret\n", b"plain\n"))
    secret, plain = children
    assert secret.record.errors == ["encrypted member: not decrypted"] and secret.record.md5 is None
    assert plain.record.md5 == hashlib.md5(b"plain\n").hexdigest()


def test_truncated_7z_is_an_error_not_an_exception(tmp_path):
    children, parent, _, errors = run(mk.write_truncated_7z(tmp_path / "cut.7z"))
    assert children == []
    assert parent.errors and parent.errors[0].startswith("archive not expanded:")
    assert errors[0]["archive"] == "/evidence/cut.7z"


def test_corrupt_7z_keeps_what_could_be_read(tmp_path, contents):
    children, _, _, _ = run(mk.write_corrupt_7z(tmp_path / "bad.7z", contents))
    good = {c.record.path: c.record.md5 for c in children if c.record.md5}
    assert len(good) == len(contents) - 1
    bad = [c.record for c in children if not c.record.md5]
    assert len(bad) == 1 and "Crc" in bad[0].errors[0]


def test_closing_early_stops_the_7z_thread(tmp_path, contents):
    path = mk.write_7z(tmp_path / "s.7z", contents)
    parent = FileRecord(path="/s.7z", volume=None, fs="ext4", inode=None, size=1, allocated=True)
    with open(path, "rb") as source:
        iterator = expand(source, "application/x-7z-compressed", parent)
        next(iterator)
        iterator.close()
    time.sleep(0.5)
    assert not [t for t in threading.enumerate() if t.name == "triage-7z" and t.is_alive()]


@pytest.mark.parametrize("version", [4, 5])
def test_rar_stored_members(tmp_path, contents, version):
    pytest.importorskip("rarfile")
    writer = mk.write_rar4 if version == 4 else mk.write_rar5
    path = writer(tmp_path / ("legacy.rar" if version == 4 else "modern.rar"), contents)
    children, _, _, _ = run(path)
    assert {c.record.path: c.record.md5 for c in children} == mk.md5s(contents)
    want = DOS_ISO if version == 4 else MTIME_ISO
    assert all(c.record.fs == "rar" and c.record.times["modified"] == want for c in children)
    assert all(c.record.pdq for c in children if c.record.path.endswith((".jpg", ".png")))
    if shutil.which("lsar"):  # the generator's output is a RAR the reference tools accept
        import subprocess

        listing = subprocess.run(["lsar", str(path)], capture_output=True, text=True, check=False).stdout
        assert "photos/pic_a.jpg" in listing and "failed" not in listing


def test_archive_containing_itself(tmp_path):
    inner = mk.zip_bytes({"a.txt": b"a\n"})
    outer = tmp_path / "outer.zip"
    outer.write_bytes(mk.zip_bytes({"copy.zip": inner}))
    # Expanding ``inner`` whose sha256 is an ancestor's: as when a quine's member equals the archive.
    children, _, hits, _ = run(outer, parent_sha256=hashlib.sha256(inner).hexdigest())
    assert len(children) == 1 and children[0].record.notes == ["archive contains itself: not expanded"]
    assert hits[0]["limit"] == "self_contained"


def test_max_members(tmp_path, contents):
    children, _, hits, _ = run(mk.write_zip(tmp_path / "m.zip", contents), Limits(max_members=2))
    assert len(children) == 2 and hits[0]["limit"] == "max_members"


def test_not_an_archive_is_an_error_on_the_parent(tmp_path):
    path = tmp_path / "fake.zip"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    children, parent, _, _ = run(path)
    assert children == [] and parent.errors[0].startswith("archive not expanded:")


def test_sniff_and_is_archive(tmp_path, contents):
    tar = mk.write_tar(tmp_path / "t.tar", "", contents).read_bytes()
    assert sniff_archive(tar[:512]) == "application/x-tar" and is_archive(None, tar[:512])
    assert sniff_archive(gzip.compress(b"x")) == "application/gzip"
    assert not is_archive("image/jpeg", contents["photos/pic_a.jpg"][:512])
    assert not is_archive(None, b"\x00" * 512) and is_archive("application/x-7z-compressed")
    assert {"application/zip", "application/vnd.rar", "application/x-xz"} <= ARCHIVE_TYPES
    assert sniff_archive(io.BytesIO(b"Rar!\x1a\x07\x01\x00").read()) == "application/vnd.rar"
