"""Apple disk images as evidence (issue 14, item 4): UDIF ``.dmg``, ``.sparseimage``, ``.sparsebundle``.

No ``hdiutil`` here: the images are built in each test's tmp_path from the committed ``usb.raw`` (a FAT16 stick)
by fixtures/make_dmg.py, in pure Python and deterministically. Each must scan to exactly what usb.raw scans to.
Oracle for usb.raw, ``fls -r -p fixtures/images/usb.raw``: ``USBSTICK (Volume Label Entry)``, ``known_02.jpg``,
``DCIM``, ``DCIM/IMG_1001.jpg``, ``DCIM/IMG_1002.png``, ``* DCIM/_MG_1003.jpg`` (deleted), ``readme.txt`` and the
virtual ``$MBR``, ``$FAT1``, ``$FAT2``, ``$OrphanFiles``.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.make_dmg import build_sparsebundle, build_sparseimage, build_udif
from tests.conftest import fixture_image
from tests.robustness.conftest import assert_one_line_error
from triage.sources.containers import detect, open_evidence

ROOT = Path(__file__).resolve().parents[3]
FLS_FILES = {"USBSTICK    (Volume Label Entry)", "known_02.jpg", "DCIM/IMG_1001.jpg", "DCIM/IMG_1002.png",
             "DCIM/_MG_1003.jpg", "readme.txt"}  # fls's r/r entries (folders are not records)


def triage(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "triage.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT, check=False)


def scan_rows(image: Path, out: Path) -> tuple[dict, list[dict]]:
    proc = triage("scan", image, "-o", out, "-j", "1")
    assert proc.returncode == 0, proc.stderr
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    rows = [json.loads(line) for line in (folder / "files.jsonl").read_text(encoding="utf-8").splitlines()]
    return json.loads((folder / "summary.json").read_text(encoding="utf-8")), rows


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str]]:
    """(path, md5) of every record of the usb.raw scan."""
    _, rows = scan_rows(fixture_image("usb.raw"), tmp_path_factory.mktemp("ref"))
    assert {r["path"].lstrip("/") for r in rows} >= FLS_FILES
    return [(r["path"], r["md5"]) for r in rows]


def make(kind: str, folder: Path) -> Path:
    raw = fixture_image("usb.raw").read_bytes()
    if kind == "sparseimage":
        path = folder / "usb.sparseimage"
        path.write_bytes(build_sparseimage(raw))
    elif kind == "sparsebundle":
        path = folder / "usb.sparsebundle"
        build_sparsebundle(raw, path)
    else:
        path = folder / f"usb_{kind}.dmg"
        path.write_bytes(build_udif(raw, kind))
    return path


@pytest.mark.parametrize(("kind", "fmt", "label", "chunks"), [
    ("zlib", "udif", "UDIF (Apple .dmg)", ["raw", "zero-fill", "zlib"]),
    ("bzip2", "udif", "UDIF (Apple .dmg)", ["bzip2", "raw", "zero-fill"]),
    ("adc", "udif", "UDIF (Apple .dmg)", ["ADC", "raw", "zero-fill"]),
    ("lzfse", "udif", "UDIF (Apple .dmg)", ["LZFSE", "raw", "zero-fill"]),
    ("sparseimage", "sparseimage", "Apple sparse image", None),
    ("sparsebundle", "sparsebundle", "Apple sparse bundle", None),
])
def test_apple_image_scans_like_the_raw_image(tmp_path: Path, reference: list[tuple[str, str]], kind: str,
                                              fmt: str, label: str, chunks: list[str] | None) -> None:
    image = make(kind, tmp_path)
    assert detect.detect_format(image) == fmt
    evidence = open_evidence(image)
    try:
        assert evidence.media_size == fixture_image("usb.raw").stat().st_size
    finally:
        evidence.close()
    summary, rows = scan_rows(image, tmp_path / "out")
    assert [(r["path"], r["md5"]) for r in rows] == reference
    assert summary["evidence"]["format"] == label
    if chunks:
        assert summary["evidence"]["acquisition"]["chunk_kinds"] == chunks
        assert len(summary["evidence"]["acquisition"]["stored_data_fork_crc32"]) == 8
    assert summary["evidence"]["stored_hashes"] == {}  # the trailer's CRC-32 is of the data fork, not the media


def test_truncated_dmg_is_named(tmp_path: Path) -> None:
    """Cut in half, the dmg has lost its trailer and plist: one line naming the missing 'koly' trailer."""
    data = make("zlib", tmp_path).read_bytes()
    cut = tmp_path / "cut.dmg"
    cut.write_bytes(data[: len(data) // 2])
    assert_one_line_error(triage("scan", cut, "-o", tmp_path / "out"), "cut.dmg", "'koly' trailer", "truncated")


def test_dmg_with_damaged_trailer_is_refused(tmp_path: Path) -> None:
    """The trailer survives but points its plist past the end of the file (a partial copy): exit 3, one line."""
    data = bytearray(make("zlib", tmp_path).read_bytes())
    koly = len(data) - 512
    struct.pack_into(">Q", data, koly + 216, len(data) * 4)
    bad = tmp_path / "bad.dmg"
    bad.write_bytes(bytes(data))
    assert detect.detect_format(bad) == "udif"
    assert_one_line_error(triage("scan", bad, "-o", tmp_path / "out"), "bad.dmg", "cannot open Apple UDIF image")


def test_dmg_with_missing_chunks_reports_damage(tmp_path: Path, reference: list[tuple[str, str]]) -> None:
    """Chunks cut out of the data fork, trailer and plist kept (a partial copy). The first and last media bytes
    still read (the last chunks are zero-fill), so the scan runs, as for a damaged E01 mid-media: the read error
    is in the summary, and no file is given an md5 other than its true one without an error beside it."""
    data = make("zlib", tmp_path).read_bytes()
    koly = data[-512:]
    fork_size, (xml_offset, xml_size) = struct.unpack_from(">Q", koly, 32)[0], struct.unpack_from(">QQ", koly, 216)
    xml = data[xml_offset : xml_offset + xml_size]
    kept = data[: fork_size // 4]
    fixed = bytearray(koly)
    struct.pack_into(">QQ", fixed, 216, len(kept), len(xml))
    bad = tmp_path / "short.dmg"
    bad.write_bytes(kept + xml + bytes(fixed))
    summary, rows = scan_rows(bad, tmp_path / "out")
    assert "media read error" in summary["evidence"]["verification_error"]
    truth = dict(reference)
    assert any(r["errors"] for r in rows)
    assert all(r["md5"] == truth.get(r["path"]) for r in rows if not r["errors"])


def test_encrypted_dmg_is_named(tmp_path: Path) -> None:
    image = tmp_path / "secret.dmg"
    image.write_bytes(b"encrcdsa" + bytes(8184))
    assert_one_line_error(triage("scan", image, "-o", tmp_path / "out"), "encrypted Apple disk image")


def test_raw_dmg_without_trailer_is_raw(tmp_path: Path) -> None:
    """A ``dd`` copy named .dmg (no trailer, media from byte 0) is not refused: it is raw media."""
    image = tmp_path / "stick.dmg"
    image.write_bytes(fixture_image("usb.raw").read_bytes())
    assert detect.detect_format(image) == "raw"


def test_sparse_bundle_folder_is_not_an_extraction(tmp_path: Path) -> None:
    """A bundle is a folder, but its bands are media: it must not be scanned as a folder of files."""
    from triage.sources.extractions import detect_extraction

    bundle = make("sparsebundle", tmp_path)
    assert detect_extraction(bundle) is None
    (tmp_path / "plain").mkdir()
    assert detect_extraction(tmp_path / "plain") == "folder"
