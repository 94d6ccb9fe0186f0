"""vPDQ signatures (issue 16): Meta's file layout, Meta's matching rule, against the reference's own output.

Oracles: ThreatExchange's ``vpdq`` (C++ ``match-hashes-brute``, Python binding ``vpdq.computeHash``) built from
source (vpdq 0.2.5 from PyPI, and the ThreatExchange tree at baefb4e) in a separate venv under /tmp, against
Debian's FFmpeg 5.1 libraries. Their printed output is quoted next to the assertions that depend on it. The
tests marked ``reference`` run it again when ``TRIAGE_VPDQ_PYTHON`` names a Python with ``vpdq`` installed (and
``TRIAGE_VPDQ_BRUTE`` the ``match-hashes-brute`` binary); otherwise they are skipped.
"""

from __future__ import annotations

import importlib.util
import os
import random
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from triage.analysis.video import VideoLimits, analyse_video
from triage.analysis.vpdq import VideoFrame, format_line, format_vpdq, match_videos, parse_vpdq, read_vpdq, write_vpdq
from triage.errors import HashSetError

spec = importlib.util.spec_from_file_location("make_videos", ROOT / "fixtures" / "make_videos.py")
make_videos = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_videos)

# The first lines of ThreatExchange vpdq/sample-hashes/chair-19-sd-bar.txt, as published (a hash file's layout).
PUBLISHED = (
    "0,100,e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c,0.000\n"
    "1,100,c0f11178372c6aaccddea259648fbfd62f434c89c9e99b249772be216c8d055c,0.033\n"
    "2,100,c0f10b78372c6aacc5dea25b748fb7d22f434c89c9a9db249772b6216c8d855c,0.067\n"
)


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_videos.build_videos(tmp_path_factory.mktemp("videos"))


def test_layout_round_trip_is_byte_exact(tmp_path):
    frames = parse_vpdq(PUBLISHED)
    assert frames[1] == VideoFrame(1, 0.033, "c0f11178372c6aaccddea259648fbfd62f434c89c9e99b249772be216c8d055c", 100)
    assert format_vpdq(frames) == PUBLISHED
    write_vpdq(frames, tmp_path / "v.txt")
    assert (tmp_path / "v.txt").read_bytes() == PUBLISHED.encode()
    assert read_vpdq(tmp_path / "v.txt") == frames
    assert format_line(VideoFrame(7, 1.23456, "ab" * 32, 5, ("cd" * 32,) * 7)) == f"7,5,{'ab' * 32},1.235"


@pytest.mark.parametrize("line", ["1,100,abc,0.0", "1,101," + "0" * 64 + ",0.0", "1,100," + "0" * 64,
                                  "-1,100," + "0" * 64 + ",0.0", "1,100," + "0" * 64 + ",nan", "x,1,2,3"])
def test_bad_lines_name_their_line(line):
    with pytest.raises(HashSetError, match=r"^known\.txt line 2: "):
        parse_vpdq(PUBLISHED.splitlines()[0] + "\n" + line + "\n", "known.txt")


def _flipped(rng: random.Random, value: int, count: int) -> int:
    """``value`` with ``count`` distinct bits flipped."""
    bits: set[int] = set()
    while len(bits) < count:
        bits.add(rng.getrandbits(8))
    for bit in bits:
        value ^= 1 << bit
    return value


def synthetic_pair(seed: int) -> tuple[list[VideoFrame], list[VideoFrame]]:
    """A known video of 60 random frames (every 9th of quality 30) and a query made of 40 of them at 0-40 bits
    (30, 31, 32 and 33 included; every 7th of quality 40, every 5th repeated) and 20 unrelated frames.

    ``random.Random`` and ``getrandbits`` give the same values on every Python version.
    """
    rng = random.Random(seed)
    known_hashes = [rng.getrandbits(256) for _ in range(60)]
    known = [VideoFrame(i, float(i), f"{h:064x}", 30 if i % 9 == 4 else 100) for i, h in enumerate(known_hashes)]
    steps = (0, 5, 12, 20, 28, 30, 31, 32, 33, 40)
    query: list[VideoFrame] = []
    for i in range(40):
        pdq = f"{_flipped(rng, known_hashes[i], steps[i % 10]):064x}"
        query.append(VideoFrame(len(query), float(len(query)), pdq, 40 if i % 7 == 3 else 100))
        if i % 5 == 0:
            query.append(VideoFrame(len(query), float(len(query)), pdq, query[-1].quality))
    query += [VideoFrame(n, float(n), f"{rng.getrandbits(256):064x}", 100) for n in range(len(query), len(query) + 20)]
    return query, known


@pytest.mark.parametrize("seed", [1, 2])
def test_rule_equals_the_reference_tool(seed):
    """Oracle (both seeds; q.txt/k.txt = format_vpdq of the pair, d*.txt = quality ≥ 50, repeated hashes dropped):
        awk -F, '$2>=50 && !seen[$3]++' q.txt > dq.txt   (and k.txt > dk.txt)
        match-hashes-brute dq.txt dk.txt 32 50  -> 38.89 Percentage Query Video match / 39.62 ... Target ...
        match-hashes-brute dk.txt dq.txt 32 50  -> 39.62 / 38.89
        match-hashes-brute q.txt k.txt 31 50    -> 39.34 / 32.08  (the C++ tool's own rule: < 31, repeats counted)
    The C++ tool counts distances < its tolerance and does not drop repeated hashes; given 32 and lists without
    repeats it applies the Python reference's rule (≤ 31, each distinct hash once), which is ours.
    """
    query, known = synthetic_pair(seed)
    query_share, known_share, is_match = match_videos(query, known)
    assert (round(query_share, 2), round(known_share, 2), is_match) == (38.89, 39.62, False)
    assert [round(x, 2) for x in match_videos(known, query)[:2]] == [39.62, 38.89]
    assert match_videos(query, known, known_pct=39.0, query_pct=38.0)[2]


def test_thresholds_and_empty_sides():
    frames = [VideoFrame(0, 0.0, "f" * 64, 100), VideoFrame(1, 1.0, "0" * 64, 100)]
    near = [VideoFrame(0, 0.0, "f" * 56 + "0" * 8, 100)]  # 32 bits from the first frame
    assert match_videos(near, frames) == (0.0, 0.0, False)
    assert match_videos(near, frames, distance=32) == (100.0, 50.0, True)  # defaults: 80 % query, 0 % known
    assert match_videos(near, frames, distance=32, known_pct=80.0)[2] is False
    dark = [VideoFrame(0, 0.0, "f" * 64, 49)]
    assert match_videos(dark, frames) == (0.0, 0.0, False)  # no frame left on one side
    assert match_videos([], frames) == (0.0, 0.0, False)


def test_known_video_matches_its_smaller_re_encode(videos):
    """b (VP9, half size, WebM) is a, re-encoded: Meta's rule matches them both ways at the defaults."""
    a = analyse_video(str(videos["a"]), VideoLimits(keyframe_gap=0)).frames
    b = analyse_video(str(videos["b"])).frames
    query_share, known_share, is_match = match_videos(b, a)
    assert is_match and query_share >= 90.0 and known_share >= 90.0
    assert match_videos(a, b)[2]
    keyed = analyse_video(str(videos["a"])).frames  # a sampled at keyframes where its GOPs are short
    assert match_videos(b, keyed)[2]


def test_distractor_does_not_match_the_known_video(videos):
    a = analyse_video(str(videos["a"])).frames
    c = analyse_video(str(videos["c"])).frames
    assert match_videos(c, a) == (0.0, 0.0, False)
    assert match_videos(a, c) == (0.0, 0.0, False)


def test_known_video_inside_a_longer_one(videos):
    """A query that holds all of the known video and as much again of other content: the known share says so."""
    a = analyse_video(str(videos["a"]), VideoLimits(keyframe_gap=0)).frames
    other = [VideoFrame(100 + i, 100.0 + i, f"{random.Random(i).getrandbits(256):064x}", 100) for i in range(40)]
    query_share, known_share, is_match = match_videos([*a, *other], a)
    assert known_share == 100.0 and query_share < 80.0 and not is_match
    assert match_videos([*a, *other], a, query_pct=0.0, known_pct=80.0)[2]  # the README's example thresholds


def _reference(variable: str) -> str:
    value = os.environ.get(variable)
    if not value or not Path(value).exists():
        pytest.skip(f"{variable} does not name the reference vpdq build")
    return value


@pytest.mark.parametrize("name", ["a", "b", "c"])
def test_reference_hashes_agree(videos, name, tmp_path):
    """Oracle: vpdq.computeHash(video, seconds_per_hash=1, thread_count=1). Last run (same frame numbers and
    times in all three): a: 20 frames, quality equal, PDQ 0-2 bits apart; b: 20 frames, quality equal, 0-4 bits;
    c: 10 frames, quality within 1, 0-4 bits at quality ≥ 50; its flat grey and red frames (quality 0 on both
    sides, so their hash is noise) 100 and 103 bits apart.
    """
    python = _reference("TRIAGE_VPDQ_PYTHON")
    out = tmp_path / "ref.txt"
    code = ("import sys, vpdq\nrows = vpdq.computeHash(sys.argv[1], seconds_per_hash=1, thread_count=1)\n"
            "open(sys.argv[2], 'w').write(''.join(f'{r.frame_number},{r.quality},{r.hex},{r.timestamp:.3f}\\n' "
            "for r in rows))\n")
    subprocess.run([python, "-c", code, str(videos[name]), str(out)], check=True, timeout=300)
    reference = read_vpdq(out)
    exact = VideoLimits(keyframe_gap=0, dedupe_distance=-1, skip_nonref=False)  # vPDQ's own frames
    ours = analyse_video(str(videos[name]), exact).frames
    assert [(f.number, f.time) for f in ours] == [(f.number, f.time) for f in reference]
    for mine, theirs in zip(ours, reference, strict=True):
        assert abs(mine.quality - theirs.quality) <= 1  # Y plane against RGB24: rounding
        if theirs.quality >= 50:
            assert (int(mine.pdq, 16) ^ int(theirs.pdq, 16)).bit_count() <= 6


def test_reference_tool_matches_like_us(videos, tmp_path):
    """Our frame lists of a and b through the C++ tool (repeats dropped, tolerance 32) give our shares."""
    brute = _reference("TRIAGE_VPDQ_BRUTE")
    a = analyse_video(str(videos["a"]), VideoLimits(keyframe_gap=0)).frames
    b = analyse_video(str(videos["b"])).frames
    for frames, path in ((b, tmp_path / "b.txt"), (a, tmp_path / "a.txt")):
        seen: set[str] = set()
        write_vpdq([f for f in frames if f.quality >= 50 and not (f.pdq in seen or seen.add(f.pdq))], path)
    printed = subprocess.run([brute, str(tmp_path / "b.txt"), str(tmp_path / "a.txt"), "32", "50"], check=True,
                             capture_output=True, text=True, timeout=60).stdout.split()
    query_share, known_share, _ = match_videos(b, a)
    assert (float(printed[0]), float(printed[5])) == (round(query_share, 2), round(known_share, 2))
