"""HashSets.match_video: known pictures in a video's frames (pdq-frame) and known videos by Meta's vPDQ rule.

SYNTHETIC DATA ONLY: frame PDQs come from seeded generated pictures (``textured_picture``) hashed by
``perceptual_hashes``, then bits flipped to stand for re-encoding; no video is decoded here.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.known.conftest import encode, textured_picture
from triage.analysis.pictures import perceptual_hashes
from triage.errors import HashSetError
from triage.known import HashSets, video_match
from triage.known import hashsets as hashsets_module
from triage.known.video_match import Frame, match_two
from triage.model.record import FileRecord
from triage.report.common import match_text

Write = Callable[[str, str | bytes], Path]


@cache
def scene(seed: int) -> str:
    """PDQ of a generated picture (quality 100): one "scene" of a synthetic video."""
    result = perceptual_hashes(encode(textured_picture(seed, 160, 120)))
    assert result.pdq_quality == 100
    return result.pdq


def flip(value: str, bits: int, seed: int = 0) -> str:
    """``value`` with ``bits`` distinct random bits inverted: exactly that Hamming distance away."""
    rng = np.random.default_rng(seed)
    number = int(value, 16)
    for bit in rng.choice(256, bits, replace=False).tolist():
        number ^= 1 << bit
    return f"{number:064x}"


def video(seeds: list[int], quality: int = 100, noise: int = 0, start: float = 0.0) -> list[Frame]:
    """One frame per second, each the scene of a seed with ``noise`` bits flipped."""
    return [Frame(i, start + i, flip(scene(s), noise, seed=i) if noise else scene(s), quality)
            for i, s in enumerate(seeds)]


def vpdq_file(frames: list[Frame]) -> str:
    return "".join(f"{f.number},{f.quality},{f.pdq},{f.time:.3f}\n" for f in frames)


def test_scenes_are_far_apart() -> None:
    """The premise of the tests below: unrelated generated pictures are much further apart than 31 + noise."""
    hashes = [int(scene(s), 16) for s in range(40)]
    nearest = min(bin(a ^ b).count("1") for i, a in enumerate(hashes) for b in hashes[i + 1 :])
    assert nearest > 62, nearest


KNOWN = list(range(10))  # the known video: scenes 0..9


@pytest.fixture
def video_set(tmp_path: Path, cache_dir: Path) -> HashSets:
    root = tmp_path / "known"
    (root / "1").mkdir(parents=True)
    (root / "1" / "clip.txt").write_text(vpdq_file(video(KNOWN)))
    (root / "other.txt").write_text(vpdq_file(video(list(range(30, 36)))))
    return HashSets.load([str(root)], cache_dir)


def vpdq_of(sets: HashSets, frames: list[Frame]) -> list[dict]:
    return [m for m in sets.lookup_video(frames)[0] if m["algorithm"] == "vpdq"]


def test_a_query_sharing_80_percent_matches(video_set: HashSets) -> None:
    query = video([*KNOWN[:8], 20, 21], noise=12)  # 8 of 10 frames re-encoded, 2 frames of other material
    assert match_two(query, video(KNOWN)) == (80.0, 80.0)
    assert vpdq_of(video_set, query) == [{
        "hashset": "known", "algorithm": "vpdq", "distance": 12, "category": 1, "label": "Category 1",
        "video": "clip", "query_match": 80.0, "known_match": 80.0, "time": 0.0,
        "times": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], "frames": 8, "known_time": 0.0}]


def test_a_query_sharing_50_percent_does_not(video_set: HashSets) -> None:
    query = video([*KNOWN[:5], 20, 21, 22, 23, 24], noise=5)
    assert match_two(query, video(KNOWN)) == (50.0, 50.0)
    assert vpdq_of(video_set, query) == []


def test_a_clip_of_a_known_video_matches_unless_the_known_share_is_required(
    video_set: HashSets, tmp_path: Path, cache_dir: Path
) -> None:
    """Meta's defaults (80 % of the query, 0 % of the known video) find a cut-out part of a known video."""
    clip = video(KNOWN[6:], start=40.0)
    found = vpdq_of(video_set, clip)
    assert [(m["query_match"], m["known_match"], m["time"], m["known_time"]) for m in found] == [
        (100.0, 40.0, 40.0, 6.0)]
    strict = HashSets.load([str(tmp_path / "known")], cache_dir, vpdq_known_match=50.0)
    assert vpdq_of(strict, clip) == []


def test_distance_threshold_is_inclusive(video_set: HashSets) -> None:
    assert vpdq_of(video_set, video(KNOWN, noise=31))[0]["distance"] == 31
    assert vpdq_of(video_set, video(KNOWN, noise=32)) == []


def test_low_quality_frames_never_count(video_set: HashSets, tmp_path: Path, cache_dir: Path) -> None:
    dark = video(KNOWN, quality=49)  # the known video itself, every frame below the gate
    assert vpdq_of(video_set, dark) == [] and video_set.lookup_video(dark) == ([], [])
    # Low-quality frames are neither matches nor part of the share: 8 good matching of 10 good frames, plus 20
    # low-quality frames that would match (or dilute) if they counted.
    query = video([*KNOWN[:8], 20, 21]) + video(KNOWN * 2, quality=30, start=100.0)
    assert [(m["query_match"], m["known_match"]) for m in vpdq_of(video_set, query)] == [(80.0, 80.0)]
    # On the known side too: a known video whose frames 8, 9 are below the gate has 8 usable frames.
    (tmp_path / "dim.txt").write_text(vpdq_file(video(KNOWN[:8]) + video(KNOWN[8:], quality=10, start=8.0)))
    dim = HashSets.load([str(tmp_path / "dim.txt")], cache_dir)
    assert [(m["query_match"], m["known_match"]) for m in vpdq_of(dim, video(KNOWN[:8]))] == [(100.0, 100.0)]
    assert vpdq_of(dim, video(KNOWN[8:])) == []


def test_repeated_frames_count_once(video_set: HashSets) -> None:
    """Frames are a bag of distinct PDQs (Meta's dedupe): a still shown for 20 s is one frame, not 20."""
    query = video([KNOWN[0]] * 20 + [20])
    assert match_two(query, video(KNOWN)) == (50.0, 10.0)
    assert vpdq_of(video_set, query) == []


def test_the_index_agrees_with_brute_force_over_many_videos(tmp_path: Path, cache_dir: Path) -> None:
    """One batched search over all known frames gives Meta's two-video percentages for every known video."""
    rng = np.random.default_rng(11)
    base = [bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex() for _ in range(120)]
    known: dict[str, list[Frame]] = {}
    lines = ["video,frame,quality,pdq,timestamp"]
    for v in range(60):
        picks = rng.choice(120, int(rng.integers(3, 25)), replace=True).tolist()
        frames = [Frame(i, float(i), flip(base[p], int(rng.integers(0, 20)), seed=v * 100 + i),
                        int(rng.choice([100, 100, 60, 40]))) for i, p in enumerate(picks)]
        known[f"v{v}"] = frames
        lines += [f"v{v},{f.number},{f.quality},{f.pdq},{f.time}" for f in frames]
    (tmp_path / "many.csv").write_text("\n".join(lines))
    sets = HashSets.load([str(tmp_path / "many.csv")], cache_dir, vpdq_query_match=0.0)
    for q in range(15):
        picks = rng.choice(120, int(rng.integers(1, 30)), replace=True).tolist()
        query = [Frame(i, float(i), flip(base[p], int(rng.integers(0, 25)), seed=9000 + q * 100 + i),
                       int(rng.choice([100, 70, 45]))) for i, p in enumerate(picks)]
        found = {m["video"]: (m["query_match"], m["known_match"]) for m in vpdq_of(sets, query)}
        expected = {}
        for name, frames in known.items():
            query_share, known_share = match_two(query, frames)
            if query_share > 0:
                expected[name] = (round(query_share, 2), round(known_share, 2))
        assert found == expected


# --- known pictures in the frames -------------------------------------------------------------------


def vics_pictures(*pictures: tuple[int, str]) -> str:
    context = "http://github.com/ICMEC/ProjectVic/DataModels/2.0.xml/US/$metadata#Media"
    return json.dumps({"@odata.context": context, "value": [
        {"MediaID": i, "Category": category, "AlternativeHashes": [{"AlgorithmName": "PDQ", "HashValue": pdq}]}
        for i, (category, pdq) in enumerate(pictures)]})


BLACK = perceptual_hashes(encode(Image.new("RGB", (160, 120)))).pdq  # quality 0: no structure


@pytest.fixture
def picture_set(write: Write, cache_dir: Path) -> HashSets:
    return HashSets.load([str(write("pics.json", vics_pictures((1, scene(100)), (2, scene(101)), (3, BLACK))))],
                         cache_dir)


def stills_video() -> list[Frame]:
    """20 s at 2 frames a second: picture 100 shown at 3.0-4.0 s (re-encoded) and again at 15 s in a dark fade
    (quality 40); picture 101 at 12.5 s; black frames at 0 and 19.5 s; other scenes elsewhere."""
    frames = []
    for i in range(40):
        t = i / 2
        if 6 <= i <= 8:
            frame = Frame(i, t, flip(scene(100), 3 + i, seed=i), 100)
        elif i == 25:
            frame = Frame(i, t, flip(scene(101), 9, seed=i), 95)
        elif i == 30:
            frame = Frame(i, t, scene(100), 40)
        elif i in (0, 39):
            frame = Frame(i, t, BLACK, 0)
        else:
            frame = Frame(i, t, scene(200 + i), 100)
        frames.append(frame)
    return frames


def test_known_pictures_are_found_with_the_times_of_their_frames(picture_set: HashSets) -> None:
    matches, notes = picture_set.lookup_video(stills_video())
    assert notes == []
    assert matches == [
        {"hashset": "pics.json", "algorithm": "pdq-frame", "distance": 9, "category": 1, "label": "US Category 1",
         "time": 3.0, "times": [3.0, 3.5, 4.0], "frames": 3, "known_pdq": scene(100)},
        {"hashset": "pics.json", "algorithm": "pdq-frame", "distance": 9, "category": 2, "label": "US Category 2",
         "time": 12.5, "times": [12.5], "frames": 1, "known_pdq": scene(101)},
    ]  # the black frames match nothing although the set lists a black picture: quality 0 is gated
    assert [match_text(m) for m in matches] == ["pics.json:1:pdq-frame:9:at 3.0s 3.5s 4.0s",
                                                "pics.json:2:pdq-frame:9:at 12.5s"]


def test_a_mirrored_still_matches_through_its_variant(picture_set: HashSets) -> None:
    mirrored = perceptual_hashes(encode(textured_picture(101, 160, 120).transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    frame = Frame(0, 7.25, mirrored.pdq, mirrored.pdq_quality, mirrored.pdq_dihedral)
    [found] = picture_set.lookup_video([frame])[0]
    assert (found["time"], found["category"], found["transform"]) == (7.25, 2, "flip-horizontal")
    assert found["distance"] <= 4  # measured 0 with exact dihedral variants
    assert picture_set.lookup_video([frame[:4]])[0] == []  # without the variants the mirror is ~128 bits away


def test_match_video_appends_once_and_notes_what_a_cap_left_out(
    picture_set: HashSets, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec = FileRecord(path="/v.mp4", volume=0, fs="ntfs", inode=9, size=10, allocated=True)
    picture_set.match_video(rec, [tuple(f) for f in stills_video()])
    picture_set.match_video(rec, stills_video())
    assert [m["time"] for m in rec.matches] == [3.0, 12.5] and rec.notes == []
    monkeypatch.setattr(video_match, "VIDEO_MATCH_MAX_PER_SET", 1)
    monkeypatch.setattr(hashsets_module, "VIDEO_MATCH_MAX_PER_SET", 1)
    monkeypatch.setattr(video_match, "VIDEO_MATCH_MAX_TIMES", 2)
    capped = FileRecord(path="/v.mp4", volume=0, fs="ntfs", inode=9, size=10, allocated=True)
    picture_set.match_video(capped, stills_video())
    assert [(m["time"], m["times"], m["frames"]) for m in capped.matches] == [(3.0, [3.0, 3.5], 3)]
    assert capped.notes == ["pics.json: 1 more listed pictures matched this video's frames; only the 1 nearest "
                            "are listed"]


def test_known_good_sets_and_malformed_frames_give_nothing(write: Write, cache_dir: Path) -> None:
    source = write("pics.json", vics_pictures((1, scene(100))))
    good = HashSets.load([f"known:{source}"], cache_dir)
    assert good.lookup_video(stills_video()) == ([], [])
    alert = HashSets.load([str(source)], cache_dir)
    bad = [(0, 1.0, "not hex", 100), (1, 2.0, scene(100), 100.0), (2, 3.0, scene(100), 101),
           (3, float("nan"), scene(100), 100), (4, 5.0, scene(100), 100, None, "extra"), (5,)]
    assert alert.lookup_video(bad) == ([], [])
    numpy_numbers = [(np.int64(7), np.float32(2.5), scene(100), np.uint8(90))]  # as a decoder may hand them over
    assert [(m["time"], m["frames"]) for m in alert.lookup_video(numpy_numbers)[0]] == [(2.5, 1)]


def test_one_set_of_pictures_and_videos(write: Write, cache_dir: Path) -> None:
    """A VICS set listing a picture and a video: a scanned video can match both, each by its own rule."""
    doc = json.loads(vics_pictures((1, scene(100))))
    doc["value"].append({"MediaID": 7, "Category": 2, "MD5": "AB" * 16, "AlternativeHashes": [
        {"AlgorithmName": "vPDQ", "HashValue": vpdq_file(video(KNOWN))}]})
    sets = HashSets.load([str(write("mixed.json", json.dumps(doc)))], cache_dir)
    frames = [*video(KNOWN[:9]), Frame(9, 9.0, scene(100), 100)]
    found = sets.lookup_video(frames)[0]
    assert [(m["algorithm"], m["category"], m.get("video"), m["time"]) for m in found] == [
        ("pdq-frame", 1, None, 9.0), ("vpdq", 2, "ab" * 16, 0.0)]
    assert sets.describe()[0]["videos"] == 1 and sets.describe()[0]["frames"] == 10
    assert match_text(found[1]).startswith("mixed.json:2:vpdq:0:at 0.0s 1.0s")


def test_thresholds_describe_and_pickle(video_set: HashSets, picture_set: HashSets, cache_dir: Path) -> None:
    assert video_set.thresholds == {"pdq": 31, "pdq_min_quality": 50, "phash": 10, "vpdq_query_match": 80.0,
                                    "vpdq_known_match": 0.0}
    assert picture_set.thresholds == {"pdq": 31, "pdq_min_quality": 50, "phash": 10}  # no videos: as before
    clone = pickle.loads(pickle.dumps(video_set))
    assert clone.thresholds == video_set.thresholds and clone.describe() == video_set.describe()
    query = video([*KNOWN[:8], 20, 21], noise=12)
    assert clone.lookup_video(query) == video_set.lookup_video(query)
    with pytest.raises(HashSetError, match="vPDQ query match must be a percentage"):
        HashSets([], cache_dir, vpdq_query_match=101)


def test_every_report_takes_video_matches(picture_set: HashSets, video_set: HashSets, tmp_path: Path) -> None:
    """The new match dicts (lists of times, percentages, ids) go through every report writer."""
    from tests.report.sample import record as sample_record
    from tests.report.sample import sample_records, sample_summary
    from triage.report import write_reports

    matches = (picture_set.lookup_video(stills_video())[0]
               + video_set.lookup_video(video([*KNOWN[:8], 20, 21], noise=12))[0])
    assert [m["algorithm"] for m in matches] == ["pdq-frame", "pdq-frame", "vpdq"]
    clip = sample_record("/Users/alex/Videos/known.mp4", inode=777, kind="video/mp4", size=999, matches=matches)
    records = [*sample_records(), clip]
    summary = sample_summary(records)
    summary["hashsets"] += video_set.describe()
    paths = write_reports(tmp_path, summary, records)
    matched = (tmp_path / "matched.csv").read_text(encoding="utf-8")
    assert ("pics.json:1:pdq-frame:9:at 3.0s 3.5s 4.0s; pics.json:2:pdq-frame:9:at 12.5s; "
            "known:1:vpdq:12:at 0.0s") in matched
    assert all("known.mp4" in path.read_text(encoding="utf-8") for path in paths)
