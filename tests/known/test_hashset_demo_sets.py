"""The shipped demo sets: they parse cleanly, agree with the fixture pictures, and match as promised.

SYNTHETIC DATA ONLY: the demo sets list generated pictures; categories are labels.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import PIL
import pytest

from hashsets.make_demo_sets import build_demo_sets
from tests.known.conftest import ROOT, load_fixture_generator
from triage.analysis.pictures import perceptual_hashes
from triage.known import HashSets
from triage.known.detect import parse_file
from triage.model.record import FileRecord

DEMO = ROOT / "hashsets"
EXPECTED = {
    "demo_vics2.json": ("vics-2.0", "US"),
    "demo_caid.json": ("vics-2.0", "UK"),
    "demo_alert.md5": ("hash-list", None),
}


def built_with_this_pillow() -> bool:
    """Whether the demo sets were built with the Pillow here (JPEG/PNG bytes depend on its codecs)."""
    return f"# built with Pillow {PIL.__version__}" in demo_path("demo_alert.md5").read_text().splitlines()


def demo_path(name: str) -> Path:
    path = DEMO / name
    if not path.exists():
        pytest.skip(f"{name} not built yet (hashsets/make_demo_sets.py)")
    return path


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_demo_set_parses_cleanly(name: str) -> None:
    parsed = parse_file(demo_path(name))
    fmt, profile = EXPECTED[name]
    assert parsed.format == fmt
    assert parsed.info.get("profile") == profile
    assert parsed.warning_count == 0
    assert parsed.entries == 6
    if fmt.startswith("vics"):
        assert {alg: len(keys) for alg, (keys, _tags) in parsed.columns.items()} == dict.fromkeys(
            ("md5", "sha1", "sha256", "pdq", "phash"), 6
        )


@pytest.fixture(scope="module")
def fixture_pictures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    build = load_fixture_generator()
    if build is None:
        pytest.skip("fixtures/make_pictures.py not present")
    out = tmp_path_factory.mktemp("pictures")
    build(out)
    return out


def test_demo_sets_are_up_to_date_with_the_fixture_pictures(fixture_pictures: Path, tmp_path: Path) -> None:
    for name in EXPECTED:
        demo_path(name)
    if not built_with_this_pillow():
        pytest.skip("demo sets were built with another Pillow: picture bytes differ legitimately")
    rebuilt = build_demo_sets(fixture_pictures, tmp_path / "out")
    for name, path in rebuilt.items():
        assert path.read_bytes() == (DEMO / name).read_bytes(), (
            f"{name} is stale: run hashsets/make_demo_sets.py"
        )


def file_record(path: Path) -> FileRecord:
    data = path.read_bytes()
    result = perceptual_hashes(data)
    return FileRecord(
        path="/" + path.name,
        volume=0,
        fs="synthetic",
        inode=None,
        size=len(data),
        allocated=True,
        md5=hashlib.md5(data).hexdigest(),
        sha1=hashlib.sha1(data).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        pdq=result.pdq,
        pdq_quality=result.pdq_quality,
        phash=result.phash,
    )


def test_demo_sets_match_originals_and_variants_but_not_unrelated(
    fixture_pictures: Path, tmp_path: Path
) -> None:
    sets = HashSets.load([str(demo_path(name)) for name in sorted(EXPECTED)], cache_dir=tmp_path / "cache")
    exact = built_with_this_pillow()  # else the regenerated originals may differ by a few encoder bytes
    for path in sorted((fixture_pictures / "known").glob("known_*")):
        rec = file_record(path)
        sets.match(rec)
        if exact:
            assert {m["hashset"] for m in rec.matches} == set(EXPECTED), path.name
            assert {m["algorithm"] for m in rec.matches} == {"md5", "sha1", "sha256"}
            assert all(m["distance"] == 0 for m in rec.matches)
        else:
            assert {m["hashset"] for m in rec.matches} >= {"demo_vics2.json", "demo_caid.json"}, path.name
    for path in sorted((fixture_pictures / "variants").glob("*")):
        rec = file_record(path)
        sets.match(rec)
        perceptual = [m for m in rec.matches if m["algorithm"] in ("pdq", "phash")]
        assert {m["hashset"] for m in perceptual} == {"demo_vics2.json", "demo_caid.json"}, path.name
    unrelated = sorted((fixture_pictures / "unrelated").glob("*"))
    assert len(unrelated) >= 30
    for path in unrelated:
        rec = file_record(path)
        sets.match(rec)
        assert rec.matches == [], path.name
