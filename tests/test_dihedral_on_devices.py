"""Issue 15 part 4 end to end: mirrored and rotated copies of a known picture, on a real ext4 image, are matched
through PDQ's dihedral variants with the right ``transform``; a different picture matches through none.

The hash set holds only the original's PDQ, as the reference hasher (the ``pdqhash`` binding) computes it from
the original's pixels, so nothing matches by md5 and pHash (matched as stored only) misses every turned copy.
SYNTHETIC pictures only (fixtures/make_pictures.py's seeded textures). The device is built here with
``mkfs.ext4 -d`` (skipped where that is unavailable), like tests/test_scan.py's hard-link device.
"""

from __future__ import annotations

import io
import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pdqhash
import pytest
from PIL import Image

from fixtures.make_pictures import textured_picture
from triage.known import HashSets
from triage.scan import ScanSettings, scan_device

T = Image.Transpose
# file on the device -> (how it is made from the known picture (None: the picture itself), format, transform)
COPIES: dict[str, tuple[T | None, str, str | None]] = {
    "known.png": (None, "PNG", None),
    "mirror.jpg": (T.FLIP_LEFT_RIGHT, "JPEG", "flip-horizontal"),
    "turned_right.png": (T.ROTATE_270, "PNG", "rotate-90-cw"),  # Pillow's ROTATE_270 turns 90° clockwise
    "upside_down.jpg": (T.ROTATE_180, "JPEG", "rotate-180"),
    "dir/turned_left.jpg": (T.ROTATE_90, "JPEG", "rotate-90-ccw"),
    "dir/transposed.png": (T.TRANSPOSE, "PNG", "transpose"),
}
DISTRACTORS = {"other.jpg": None, "other_mirror.png": T.FLIP_LEFT_RIGHT, "other_turned.jpg": T.ROTATE_90}


def encoded(picture: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    picture.save(out, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return out.getvalue()


@pytest.fixture(scope="module")
def device(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("dihedral")
    src = tmp / "src"
    (src / "dir").mkdir(parents=True)
    known, other = textured_picture(4242, (640, 480)), textured_picture(4343, (640, 480))
    for name, (how, fmt, _) in COPIES.items():
        (src / name).write_bytes(encoded(known if how is None else known.transpose(how), fmt))
    for name, how in DISTRACTORS.items():
        (src / name).write_bytes(encoded(other if how is None else other.transpose(how), name[-3:].replace(
            "jpg", "JPEG").replace("png", "PNG")))
    with zipfile.ZipFile(src / "pack.zip", "w") as pack:  # an archive member, hashed on a worker
        pack.writestr("inside/flipped.jpg", encoded(known.transpose(T.FLIP_TOP_BOTTOM), "JPEG"))
    image = tmp / "dihedral.raw"
    try:
        subprocess.run(["mkfs.ext4", "-q", "-F", "-b", "1024", "-d", str(src), str(image), "16M"], check=True,
                       capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"mkfs.ext4 -d not usable: {exc}")
    bits, quality = pdqhash.compute(np.ascontiguousarray(np.asarray(known)))
    assert quality >= 50
    hashset = tmp / "known_pdq.csv"
    hashset.write_text(f"pdq,category,label\n{np.packbits(bits.astype(np.uint8)).tobytes().hex()},1,synthetic\n")
    return image, hashset


@pytest.mark.parametrize("jobs", [1, 2])
def test_turned_copies_match_with_their_transform(device: tuple[Path, Path], tmp_path: Path, jobs: int) -> None:
    image, hashset = device
    sets = HashSets.load([str(hashset)], cache_dir=tmp_path / "cache")
    target, summary = scan_device(image, tmp_path / "out", ScanSettings(hashsets=sets, jobs=jobs))
    text = (target / "files.jsonl").read_text()
    assert "pdq_dihedral" not in text  # the variants are matched, never written
    rows = {r["location"]: r for r in map(json.loads, text.splitlines())}
    for name, (_, _, transform) in [*COPIES.items(), ("pack.zip » inside/flipped.jpg", (None, "", "flip-vertical"))]:
        row = rows["/" + name]
        assert len(row["matches"]) == 1, (name, row["matches"])
        match = row["matches"][0]
        assert (match["algorithm"], match["category"], match.get("transform")) == ("pdq", 1, transform), name
        assert match["distance"] <= 8, (name, match)  # printed by this scan: 0 for every copy (-j 1 and -j 2)
        if transform is None:
            assert set(match) == {"hashset", "algorithm", "distance", "category", "label"}
    for name in DISTRACTORS:  # nearest of their 8 hashes to the known PDQ: 120 bits (computed once, by hand)
        assert rows["/" + name]["matches"] == [], name
    assert summary["counts"]["matched"] == len(COPIES) + 1
    assert "known_pdq.csv:1:pdq:0:flip-horizontal" in (target / "matched.csv").read_text()
    assert "· rotate-90-cw</div>" in (target / "report.html").read_text()
