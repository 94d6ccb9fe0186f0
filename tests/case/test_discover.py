"""Discovery: which files of a case directory are evidence, how they group into devices, what is skipped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.case.conftest import DEVICES, build_case
from tests.conftest import FIXTURES, realdata
from triage.case import discover
from triage.case.classify import classify, is_text, plausible_mbr
from triage.case.discover import evidence_identity
from triage.errors import UsageError


def test_case_dir_devices_and_skipped(tmp_path: Path) -> None:
    case = build_case(tmp_path)
    found = discover(case)
    devices = {d.name: d for d in found.devices}
    assert sorted(devices) == DEVICES
    assert [p.name for p in devices["laptop_seg"].paths] == ["laptop_seg.E01", "laptop_seg.E02", "laptop_seg.E03"]
    assert devices["laptop_seg"].kind == "ewf"
    assert devices["laptop_seg"].size == sum(p.stat().st_size for p in devices["laptop_seg"].paths)
    assert (devices["phone"].kind, devices["usb-2"].kind, devices["usb"].kind) == ("raw", "raw", "ewf")
    # Same stem twice: the first by relative path keeps the plain name.
    assert devices["usb"].relpath == "broken/usb.E01"
    assert devices["usb-2"].relpath == "suspect-A/usb/usb.raw"
    assert all(d.problem is None for d in found.devices)
    skipped = {s.path: s.reason for s in found.skipped}
    assert skipped == {
        "broken/usb.E01.txt": "not evidence: acquisition log",
        "hashes.md5": "not evidence: hash list",
        "notes.txt": "not evidence: text document",
        "report.pdf": "not evidence: application/pdf by signature",
        "suspect-B/loop/": "folder already visited as ./ (symlink loop or second link)",
    }
    assert not any(s.error for s in found.skipped)


def test_names_from_earlier_runs_are_kept(tmp_path: Path) -> None:
    """A device added later never takes the name (and output folder) of one scanned before."""
    case = build_case(tmp_path)
    earlier = {"suspect-A/usb/usb.raw": "usb", "moved/laptop_seg.E01": "laptop_seg"}
    names = {d.relpath: d.name for d in discover(case, names=earlier).devices}
    assert names["suspect-A/usb/usb.raw"] == "usb"
    assert names["broken/usb.E01"] == "usb-2"
    assert names["suspect-A/laptop/laptop_seg.E01"] == "laptop_seg-2"  # the name of evidence no longer there


def test_fixture_images_folder(tmp_path: Path) -> None:
    """Every committed fixture image is found, one device per evidence set, whatever the container."""
    found = discover(FIXTURES)
    kinds = {d.relpath: (d.kind, len(d.paths)) for d in found.devices}
    assert kinds["laptop_seg.E01"] == ("ewf", 3)
    assert kinds["laptop_split.001"] == ("split_raw", 3)
    assert kinds["laptop.vmdk"] == ("vmdk", 1)
    assert kinds["laptop.qcow2"] == ("qcow", 1)
    assert kinds["laptop.vhdx"] == ("vhdx", 1)
    assert kinds["iso.iso"] == ("raw", 1)
    claimed = {p.name for d in found.devices for p in d.paths}
    images = {p.name for p in FIXTURES.iterdir() if p.is_file()}
    assert claimed == images and not found.skipped


def test_realdata_folder() -> None:
    """The team's real images: split raw from .000, a two-segment E01, the README and SHA256SUMS skipped.

    bogus.001 (random bytes, whole sectors) is taken as a device: the scan, not discovery, refuses it, so it is
    reported as a failed device instead of being silently ignored.
    """
    folder = realdata("SHA256SUMS").parent
    found = discover(folder)
    sets = {d.relpath: [p.name for p in d.paths] for d in found.devices}
    assert sets["ext2.splitraw.000"] == ["ext2.splitraw.000", "ext2.splitraw.001"]
    assert sets["ext2.split.E01"] == ["ext2.split.E01", "ext2.split.E02"]
    assert "bogus.001" in sets and "ext2.vhd" in sets and "apfs.raw" in sets
    top_level = {s.path: s.reason for s in found.skipped if "/" not in s.path}  # layers/ has its own README
    assert top_level == {"README.md": "not evidence: text document", "SHA256SUMS": "not evidence: hash list"}


def test_links_broken_links_and_output_folder(tmp_path: Path) -> None:
    case = tmp_path / "case"
    (case / "a").mkdir(parents=True)
    (case / "a/disk.dd").write_bytes(b"\x00" * 4096)
    os.symlink("a/disk.dd", case / "link.dd")  # the same file again: kept once, under its real path
    os.symlink("missing.E01", case / "gone.E01")
    (case / "out").mkdir()
    (case / "out/x.raw").write_bytes(b"\x00" * 512)
    found = discover(case, exclude=case / "out")
    assert [(d.name, d.relpath) for d in found.devices] == [("disk", "a/disk.dd")]
    reasons = {s.path: (s.reason, s.error) for s in found.skipped}
    assert reasons["link.dd"] == ("same file as a/disk.dd (link)", False)
    assert reasons["gone.E01"] == ("broken symlink to missing.E01", True)
    assert reasons["out/"] == ("output folder", False)


def test_orphan_segments_are_devices_with_a_problem(tmp_path: Path) -> None:
    """A lone E02 or a split set without .001 is evidence that cannot be scanned: failed, never ignored."""
    case = tmp_path / "case"
    case.mkdir()
    (case / "x.E02").write_bytes(b"EVF\x09\x0d\x0a\xff\x00\x01\x02\x00\x00\x00" + b"\x00" * 100)
    (case / "y.002").write_bytes(b"\x01" * 1024)
    (case / "y.003").write_bytes(b"\x01" * 1024)
    found = discover(case)
    problems = {d.name: d.problem for d in found.devices}
    assert problems["x"] == "EWF segment 2 found but the set's first segment is missing"
    assert problems["y"] == "split raw set starts at y.002: its first segment (.000 or .001) is missing"
    assert [p.name for p in next(d for d in found.devices if d.name == "y").paths] == ["y.002", "y.003"]


def test_vmdk_descriptor_claims_its_extents(tmp_path: Path) -> None:
    case = tmp_path / "case"
    case.mkdir()
    (case / "disk.vmdk").write_text(
        '# Disk DescriptorFile\nversion=1\ncreateType="twoGbMaxExtentFlat"\n'
        'RW 8 FLAT "disk-f001.vmdk" 0\nRW 8 FLAT "disk-f002.vmdk" 0\n')
    (case / "disk-f001.vmdk").write_bytes(b"\x00" * 4096)
    (case / "disk-f002.vmdk").write_bytes(b"\x00" * 4096)
    found = discover(case)
    assert len(found.devices) == 1
    dev = found.devices[0]
    assert (dev.name, dev.kind) == ("disk", "vmdk")
    assert [p.name for p in dev.paths] == ["disk.vmdk", "disk-f001.vmdk", "disk-f002.vmdk"]


@pytest.mark.parametrize(
    ("content", "name", "verdict"),
    [
        (b"\x00" * 1024 + b"\x00" * 56 + b"\x53\xef" + b"\x00" * 2000, "image.bin", "raw"),  # ext2 magic
        (b"\xff\xd8\xff\xe0" + b"\x00" * 1020, "photo.raw", "other"),  # a JPEG called .raw
        (os.urandom(4096), "dump.bin", "raw-weak"),  # binary, whole sectors: taken as raw media
        (os.urandom(4097), "blob.bin", "other"),  # binary but not whole sectors
        (b"MD5 (a) = " + b"0" * 32 + b"\n", "list.sha1", "other"),
        (b"QFI\xfb" + b"\x00" * 508, "vm.img", "qcow"),
        (b"", "empty.E01", "other"),
    ],
)
def test_classify_by_content(tmp_path: Path, content: bytes, name: str, verdict: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert classify(path, len(content)).name == verdict


def test_mbr_and_text_rules() -> None:
    sector = bytearray(512)
    sector[510:512] = b"\x55\xaa"
    assert not plausible_mbr(bytes(sector))  # boot signature but no partition in use
    sector[446 + 4] = 0x83
    sector[446 + 12 : 446 + 16] = (2048).to_bytes(4, "little")
    assert plausible_mbr(bytes(sector))
    assert is_text("Fall 2024 — notes\n".encode())
    assert is_text("case notes, exhibit list".encode("utf-16"))
    assert not is_text(b"\x00abc")


def test_identity_changes_with_evidence(tmp_path: Path) -> None:
    path = tmp_path / "d.raw"
    path.write_bytes(b"\x00" * 8192)
    first = evidence_identity([path])
    assert evidence_identity([path]) == first
    path.write_bytes(b"\x00" * 8191 + b"\x01")
    assert evidence_identity([path]) != first


def test_case_dir_must_be_a_folder(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read case directory"):
        discover(tmp_path / "nothing")
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(UsageError, match="not a directory"):
        discover(tmp_path / "file")
