"""Detection fixes from issue 14 that need no new library: stale VHD footers, QCOW versions, AFF4, unsupported
file systems named by signature. Inputs are built here from the committed fixtures and ``qemu-img``/``mkfs.minix``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from fixtures.make_layers import vhd_footer
from tests.conftest import fixture_image
from triage.sources.containers import detect

ROOT = Path(__file__).resolve().parents[3]
SBIN = "/usr/sbin:/sbin:/usr/bin:/bin"


def triage(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "triage.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT, check=False)


def _footer(disk_size: int, disk_type: int) -> bytes:
    return vhd_footer(disk_size, disk_type)


def test_stale_vhd_footer_is_raw(tmp_path: Path) -> None:
    """A FAT volume cut out of a bigger fixed VHD still ends in the VHD's footer: it is read as raw, not refused.

    `fls -r usb.raw` lists the same files with or without the 512 bytes appended (TSK ignores bytes past the FAT
    volume), so the scan must list what it lists for usb.raw.
    """
    volume = tmp_path / "partition.raw"
    data = fixture_image("usb.raw").read_bytes()
    volume.write_bytes(data + _footer(disk_size=64 << 20, disk_type=2))  # describes the whole 64 MiB disk
    assert detect.detect_format(volume) == "raw"
    proc = triage("scan", volume, "-o", tmp_path / "out", "-j", "1")
    assert proc.returncode == 0, proc.stderr
    rows = (tmp_path / "out" / "partition" / "files.jsonl").read_text(encoding="utf-8").splitlines()
    proc = triage("scan", fixture_image("usb.raw"), "-o", tmp_path / "ref", "-j", "1")
    reference = (tmp_path / "ref" / "usb" / "files.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(r)["md5"] for r in rows] == [json.loads(r)["md5"] for r in reference]


def test_consistent_fixed_vhd_footer_is_vhd(tmp_path: Path) -> None:
    fixed = tmp_path / "fixed.raw"
    data = fixture_image("usb.raw").read_bytes()
    fixed.write_bytes(data + _footer(disk_size=len(data), disk_type=2))
    assert detect.detect_format(fixed) == "vhd"
    assert not detect.fixed_vhd_footer(fixed, _footer(len(data), 3))  # a dynamic disk's footer is at its start too


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img missing (./setup.sh installs qemu-utils)")
@pytest.mark.parametrize(("fmt", "label"), [("qcow", "QCOW1"), ("qcow2", "QCOW2")])
def test_qcow_version_named(tmp_path: Path, fmt: str, label: str) -> None:
    image = tmp_path / f"disk.{fmt}"
    subprocess.run(["qemu-img", "convert", "-O", fmt, str(fixture_image("usb.raw")), str(image)], check=True)
    assert detect.qcow_label(image) == label
    proc = triage("scan", image, "-o", tmp_path / "out", "-j", "1")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "out" / "disk" / "summary.json").read_text(encoding="utf-8"))
    assert summary["evidence"]["format"] == label and summary["counts"]["files"] > 0


def test_aff4_named_not_taken_for_a_zip_extraction(tmp_path: Path) -> None:
    image = tmp_path / "disk.aff4"
    with zipfile.ZipFile(image, "w") as archive:
        archive.writestr("information.turtle", "@prefix aff4: <http://aff4.org/Schema#> .\n")
        archive.writestr("aff4%3A%2F%2Fx/data/00000000", b"\0" * 4096)
    proc = triage("scan", image, "-o", tmp_path / "out")
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "AFF4 image: not supported" in proc.stderr


def test_minix_named_as_unsupported(tmp_path: Path) -> None:
    mkfs = shutil.which("mkfs.minix", path=SBIN)
    if mkfs is None:
        pytest.skip("mkfs.minix missing (util-linux)")
    image = tmp_path / "minix.raw"
    with open(image, "wb") as fh:
        fh.truncate(4 << 20)
    subprocess.run([mkfs, str(image)], check=True, capture_output=True)
    proc = triage("scan", image, "-o", tmp_path / "out", "-j", "1")
    assert proc.returncode == 0, proc.stderr  # named, not "not a disk image"
    summary = json.loads((tmp_path / "out" / "minix" / "summary.json").read_text(encoding="utf-8"))
    assert summary["volumes"][0]["signature"].startswith("Minix") and "not supported" in summary["volumes"][0][
        "signature"]
