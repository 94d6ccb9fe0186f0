"""Differencing disks (issue 14, item 5): a child image is read through the parent found next to it, or refused
naming the parent file it needs.

Built here with ``qemu-img create -b`` (QCOW2 backing file, VMDK ``parentFileNameHint``); ``qemu-io`` writes 512
bytes of 0x41 over the start of ``readme.txt`` into the child only. ``qemu-img create -f vpc -b`` answers
"Backing file not supported for file format 'vpc'" (qemu-img 7.2), so the differencing VHD is an empty dynamic VHD
made by qemu-img and turned into a child of ``base.vhd`` here (``differencing_vhd``); qemu cannot write into it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import fixture_image
from tests.robustness.conftest import assert_one_line_error

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None or shutil.which("qemu-io") is None,
                                reason="qemu-img/qemu-io missing (./setup.sh installs qemu-utils)")


def triage(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "triage.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT, check=False)


def run(*cmd: object) -> None:
    subprocess.run([str(c) for c in cmd], check=True, capture_output=True)


def scan(image: Path, out: Path, *extra: str) -> tuple[dict, list[dict]]:
    proc = triage("scan", image, "-o", out, *extra)
    assert proc.returncode == 0, proc.stderr
    folder = out / image.name.split(".")[0]
    rows = [json.loads(line) for line in (folder / "files.jsonl").read_text(encoding="utf-8").splitlines()]
    return json.loads((folder / "summary.json").read_text(encoding="utf-8")), rows


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    return scan(fixture_image("usb.raw"), tmp_path_factory.mktemp("ref"), "-j", "1")[1]


def make_child(folder: Path, fmt: str) -> tuple[Path, Path]:
    base, child = folder / f"base.{fmt}", folder / f"child.{fmt}"
    if fmt == "vpc":
        base, child = folder / "base.vhd", folder / "child.vhd"
        run("qemu-img", "convert", "-O", "vpc", "-o", "subformat=dynamic", fixture_image("usb.raw"), base)
        run("qemu-img", "create", "-f", "vpc", "-o", "subformat=dynamic", child, "4M")
        differencing_vhd(base, child)
        return base, child
    run("qemu-img", "convert", "-O", fmt, fixture_image("usb.raw"), base)
    run("qemu-img", "create", "-f", fmt, "-b", base.name, "-F", fmt, child)  # the name is resolved next to child
    return base, child


def differencing_vhd(base: Path, child: Path) -> None:
    """Make the empty dynamic VHD ``child`` a differencing disk of ``base`` (Microsoft's VHD specification:
    footer disk type 4 at both copies; dynamic header parent unique id, time stamp and UTF-16BE parent name;
    one's-complement checksums of each)."""

    def checksum(data: bytearray, at: int) -> None:
        data[at : at + 4] = bytes(4)
        struct.pack_into(">I", data, at, ~sum(data) & 0xFFFFFFFF)

    parent, data = base.read_bytes(), bytearray(child.read_bytes())
    for footer in (0, len(data) - 512):
        block = data[footer : footer + 512]
        struct.pack_into(">I", block, 0x3C, 4)
        checksum(block, 0x40)
        data[footer : footer + 512] = block
    start = struct.unpack_from(">Q", data, 0x10)[0]
    header = data[start : start + 1024]
    header[0x28:0x38] = parent[0x44:0x54]  # the parent's unique id
    header[0x38:0x3C] = parent[0x18:0x1C]  # the parent's time stamp
    header[0x40:0x240] = base.name.encode("utf-16-be").ljust(512, b"\0")
    checksum(header, 0x24)
    data[start : start + 1024] = header
    child.write_bytes(bytes(data))


def test_differencing_vhd_reads_through_its_parent(tmp_path: Path, reference: list[dict]) -> None:
    base, child = make_child(tmp_path, "vpc")
    summary, rows = scan(child, tmp_path / "out", "-j", "1")
    assert [(r["path"], r["md5"]) for r in rows] == [(r["path"], r["md5"]) for r in reference]
    assert summary["evidence"]["acquisition"]["parent_images"] == [str(base)]


@pytest.mark.parametrize("fmt", ["qcow2", "vmdk"])
def test_child_reads_through_its_parent(tmp_path: Path, reference: list[dict], fmt: str) -> None:
    base, child = make_child(tmp_path, fmt)
    base_bytes = base.read_bytes()
    summary, rows = scan(child, tmp_path / "same", "-j", "1")
    assert [(r["path"], r["md5"]) for r in rows] == [(r["path"], r["md5"]) for r in reference]
    assert summary["evidence"]["acquisition"]["parent_images"] == [str(base)]

    # One sector written into the child only: readme.txt changes there, every other file stays the parent's.
    readme = next(r for r in reference if r["path"] == "/readme.txt")
    raw = fixture_image("usb.raw").read_bytes()
    content = b"".join(raw[start : start + length] for _, start, length in readme["byte_runs"])
    offset = readme["byte_runs"][0][1]
    run("qemu-io", "-f", fmt, "-c", f"write -P 0x41 {offset} 512", child)
    expected = hashlib.md5(b"A" * min(512, len(content)) + content[512:]).hexdigest()
    _, rows = scan(child, tmp_path / "changed", "-j", "2")
    got = {r["path"]: r["md5"] for r in rows}
    assert got.pop("/readme.txt") == expected != readme["md5"]
    assert got == {r["path"]: r["md5"] for r in reference if r["path"] != "/readme.txt"}
    assert base.read_bytes() == base_bytes  # the parent was only read


@pytest.mark.parametrize("fmt", ["qcow2", "vmdk", "vpc"])
def test_missing_parent_is_named(tmp_path: Path, fmt: str) -> None:
    base, child = make_child(tmp_path, fmt)
    base.unlink()
    proc = triage("scan", child, "-o", tmp_path / "out")
    line = assert_one_line_error(proc, child.name, f"needs parent file '{base.name}'", "not found next to it")
    assert "differencing disk" in line


def test_parent_loop_is_refused(tmp_path: Path) -> None:
    """Two children naming each other as parent (a hand-edited set): refused, not followed for ever."""
    one, two = tmp_path / "one.qcow2", tmp_path / "two.qcow2"
    run("qemu-img", "create", "-f", "qcow2", one, "4M")
    run("qemu-img", "create", "-f", "qcow2", "-b", one.name, "-F", "qcow2", two)
    run("qemu-img", "rebase", "-u", "-f", "qcow2", "-b", two.name, "-F", "qcow2", one)
    assert_one_line_error(triage("scan", two, "-o", tmp_path / "out"), "parent chain loops back")
