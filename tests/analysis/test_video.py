"""Video frames sampled and PDQ-hashed (issue 16): known pictures found inside a video, bounds on bad videos.

The videos are built by fixtures/make_videos.py into a temporary folder (synthetic scenes, the known pictures of
make_pictures.py as stills). The known hashes are the PDQ of the known picture files, as a hash set lists them.
"""

from __future__ import annotations

import importlib.util
import io
import itertools
import json
import os
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import ROOT, run_measured
from triage.analysis.pdq import luma_from_rgb, pdq_from_luma
from triage.analysis.pictures import perceptual_hashes
from triage.analysis.typesniff import HEAD_SIZE, kind_of, sniff
from triage.analysis.video import VideoLimits, analyse_video, frame_luma
from triage.defaults import PDQ_MIN_QUALITY, PDQ_THRESHOLD

spec = importlib.util.spec_from_file_location("make_videos", ROOT / "fixtures" / "make_videos.py")
make_videos = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_videos)


def distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_videos.build_videos(tmp_path_factory.mktemp("videos"))


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_videos.containers(tmp_path_factory.mktemp("containers"))


@pytest.fixture(scope="module")
def known(videos: dict[str, Path]) -> dict[str, str]:
    """PDQ of known_01.jpg and known_04.jpg, computed from the files as for a picture on a disk."""
    hashes = {}
    for name in make_videos.STILLS:
        result = perceptual_hashes(videos[f"known/{name}"].read_bytes())
        assert result.pdq_quality == 100
        hashes[name] = result.pdq
    return hashes


def matches(frames, pdq: str) -> list:
    """Frames a matcher would report for one known picture (PDQ ≤ 31 at quality ≥ 50)."""
    return [f for f in frames if f.quality >= PDQ_MIN_QUALITY and distance(f.pdq, pdq) <= PDQ_THRESHOLD]


@pytest.mark.parametrize("gap,nonref", [(2.0, True), (0.0, True), (0.0, False)],
                         ids=["scan-default", "every-gop-whole", "every-frame-decoded"])
def test_known_pictures_found_in_a_at_their_times(videos, known, gap, nonref):
    result = analyse_video(str(videos["a"]), VideoLimits(keyframe_gap=gap, skip_nonref=nonref))
    assert result.error is None and result.limits == ()
    assert (result.width, result.height, result.codec, result.duration) == (320, 240, "h264", 20.0)
    for name, (start, end) in make_videos.STILLS.items():
        found = matches(result.frames, known[name])
        assert found, name
        assert abs(found[0].time - start) <= 1.0
        assert all(start - 1.0 <= f.time <= end + 1.0 for f in found)
        assert found[0].number == round(found[0].time * 30)
    others = [f for f in result.frames if not any(s - 1 <= f.time <= e + 1 for s, e in make_videos.STILLS.values())]
    assert others and not any(matches(others, pdq) for pdq in known.values())


def test_keyframe_sampling_decodes_less(videos):
    """x264 put keyframes at the stills' cuts: their GOPs (≤ 2 s) cost one decoded frame each."""
    short = analyse_video(str(videos["a"]))
    whole = analyse_video(str(videos["a"]), VideoLimits(keyframe_gap=0, skip_nonref=False))
    assert short.keyframe_gops >= 2 and short.full_gops >= 1
    assert short.frames_decoded < whole.frames_decoded == 600
    assert whole.frames_sampled == 20  # one a second
    assert [f.time for f in whole.frames[:5]] == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_non_reference_frames_skipped(videos):
    """Without the B-frames no other frame refers to, each second's sample is its first reference frame."""
    exact = analyse_video(str(videos["a"]), VideoLimits(keyframe_gap=0, skip_nonref=False, dedupe_distance=-1))
    fast = analyse_video(str(videos["a"]), VideoLimits(keyframe_gap=0, dedupe_distance=-1))
    assert fast.frames_decoded < 500 < exact.frames_decoded
    assert len(fast.frames) == len(exact.frames) == 20
    for quick, slow in zip(fast.frames, exact.frames, strict=True):
        assert 0.0 <= quick.time - slow.time <= 0.1  # x264's default: at most 3 B-frames in a row


def test_file_object_gives_the_same_frames(videos):
    data = videos["a"].read_bytes()
    assert analyse_video(io.BytesIO(data)).frames == analyse_video(str(videos["a"])).frames


def test_frame_hash_agrees_with_hashing_the_frame_as_a_picture(videos):
    """The Y plane, stretched from limited range, against vPDQ's path: RGB24 then PDQ's luminance weights."""
    with av.open(str(videos["a"])) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % 45:
                continue
            ours = pdq_from_luma(frame_luma(frame))
            theirs = pdq_from_luma(luma_from_rgb(frame.to_ndarray(format="rgb24")))
            assert distance(ours[0], theirs[0]) <= 6 and abs(ours[1] - theirs[1]) <= 2, index


def test_near_identical_frames_collapse(videos, known):
    """Sampled every second, each 2 s still gives two frames within 2 bits: the first is kept, with its time."""
    collapsed = analyse_video(str(videos["a"]), VideoLimits(keyframe_gap=0, skip_nonref=False))
    every = analyse_video(str(videos["a"]), VideoLimits(keyframe_gap=0, skip_nonref=False, dedupe_distance=-1))
    assert len(every.frames) == 20 > len(collapsed.frames)
    assert [f.time for f in matches(every.frames, known["known_01"])] == [5.0, 6.0]
    assert [f.time for f in matches(collapsed.frames, known["known_01"])] == [5.0]
    times = [f.time for f in collapsed.frames]
    assert times == sorted(times)


def test_fade_in_keeps_the_bright_frames(videos):
    """PDQ ignores brightness, quality does not: a dark frame of low quality must not stand for the bright ones."""
    result = analyse_video(str(videos["h"]), VideoLimits(dedupe_distance=64))
    qualities = [f.quality for f in result.frames]
    assert qualities[0] < PDQ_MIN_QUALITY and max(qualities) == 100


def test_distractor_never_matches_and_keeps_its_flat_frames(videos, known):
    result = analyse_video(str(videos["c"]))
    assert result.error is None and result.duration == 10.0
    for pdq in known.values():
        assert not matches(result.frames, pdq)
    low = [f for f in result.frames if f.quality < PDQ_MIN_QUALITY]
    assert len(low) >= 3  # black (0 s, 6 s), flat grey and flat red stay in the list, gated by quality
    assert any(f.pdq == "0" * 64 and f.quality == 0 for f in low)


def test_truncated_mp4_gives_the_frames_before_the_cut(videos, known):
    result = analyse_video(str(videos["d"]))
    assert result.frames and max(f.time for f in result.frames) < 10.5
    assert matches(result.frames, known["known_01"])  # the first still is in the first half
    assert result.error and "\n" not in result.error
    lost = analyse_video(str(videos["d_moov_at_end"]))
    assert lost.frames == () and lost.error == "cannot open: Invalid data found when processing input " \
                                               "(moov atom not found)"


def test_truncated_webm_says_so(videos):
    """Matroska declares only the whole file's duration: with one stream it is the video's."""
    data = videos["b"].read_bytes()
    result = analyse_video(io.BytesIO(data[: len(data) // 2]))
    assert 5 <= len(result.frames) <= 12 and result.error.startswith("video ends at ")


def test_avi_with_broken_index_is_bounded(videos):
    garbage = analyse_video(str(videos["e"]))  # FFmpeg follows the garbage offsets and stops early
    assert garbage.duration == 8.0 and len(garbage.frames) < 8
    assert garbage.error and "truncated or damaged" in garbage.error
    zeroed = analyse_video(str(videos["e2"]))  # FFmpeg reads the frames in file order instead
    assert zeroed.error is None and [f.time for f in zeroed.frames] == [float(t) for t in range(8)]


def test_header_claiming_a_huge_frame_is_not_decoded(videos):
    result = analyse_video(str(videos["f"]))
    assert result.frames == () and result.frames_decoded == 0
    assert (result.width, result.height) == (12000, 8000)
    assert result.limits == ("frame size 12000x8000 over 35389440 pixels: not decoded",)


def test_huge_frame_costs_little_memory(videos, tmp_path):
    """Even with the bound raised past the claim, the decoder refuses the packets; peak RSS stays small."""
    code = (
        "import json, sys\nfrom triage.analysis.video import VideoLimits, analyse_video\n"
        "r = analyse_video(sys.argv[1], VideoLimits(max_pixels=200_000_000))\n"
        "print(json.dumps([len(r.frames), r.error]))\n"
    )
    script = tmp_path / "huge.py"
    script.write_text(code)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's triage
    status, stderr, peak_kib = run_measured([sys.executable, str(script), str(videos["f"])], cwd=ROOT, env=env)
    assert status == 0, stderr
    assert peak_kib < 200 * 1024  # measured 54 MiB; one 12000x8000 RGB frame alone would be 275 MiB


@pytest.mark.parametrize("name", list(make_videos.CONTAINERS))
def test_every_container_the_sniffer_calls_video(clips, name):
    """3 s clips in MOV, 3GP, MKV, WMV, FLV, MPEG-PS, MPEG-TS and M2TS: sniffed as video, one frame a second."""
    path = clips[name]
    assert kind_of(sniff(path.read_bytes()[:HEAD_SIZE])) == "video"
    result = analyse_video(str(path))
    assert result.error is None and result.limits == ()
    assert (result.width, result.height) == (160, 120)
    times = [f.time for f in result.frames]
    # at most a second apart, or a frame or two more where a B-frame on the second was not decoded (H.264)
    assert times[0] == 0.0 and all(b - a <= 1.1 for a, b in itertools.pairwise(times))
    assert all(any(second <= t < second + 0.5 for t in times) for second in (0, 1, 2))  # near each whole second
    assert all(f.quality == 100 for f in result.frames)


@pytest.mark.parametrize("name", ["g", "i"])
def test_nothing_to_decode(videos, name):
    result = analyse_video(str(videos[name]))
    assert result.frames == ()
    if name == "g":  # nothing but an ftyp box
        assert result.error == "cannot open: Invalid data found when processing input (moov atom not found)"
    else:  # an audio-only MP4 (.m4a) sniffs as video/mp4: a fact, not a failure
        assert result.error is None and result.notes == ("no video stream",)


@pytest.mark.parametrize("data", [b"", b"\x00" * 4096, bytes(range(256)) * 64], ids=["empty", "zeros", "bytes"])
def test_not_a_video(data):
    result = analyse_video(io.BytesIO(data))
    assert result.frames == () and result.error.startswith("cannot open")


def test_damaged_samples_never_raise(videos):
    """Bytes of the H.264 samples overwritten in the middle: frames around the damage, no exception."""
    data = bytearray(videos["a"].read_bytes())
    rng = np.random.default_rng(5)
    middle = len(data) // 2
    data[middle : middle + 20000] = rng.integers(0, 256, 20000, dtype=np.uint8).tobytes()
    result = analyse_video(io.BytesIO(bytes(data)))
    assert len(result.frames) >= 10


def test_limits_stop_the_work_and_say_so(videos):
    path = str(videos["a"])
    capped = analyse_video(path, VideoLimits(max_frames=3, keyframe_gap=0, skip_nonref=False))
    assert len(capped.frames) == capped.frames_sampled == 3
    assert capped.limits == ("frame cap of 3 sampled frames reached at 3.0 s",)
    short = analyse_video(path, VideoLimits(max_duration=5.0))
    assert max(f.time for f in short.frames) <= 5.0 and short.limits == ("only the first 5 s considered",)
    assert short.error is None  # stopping on purpose is not truncation
    budget = analyse_video(path, VideoLimits(time_budget=0.0))
    assert budget.limits[0].startswith("time budget of 0 s reached")
    small = analyse_video(path, VideoLimits(max_pixels=320 * 240 - 1))
    assert small.frames == () and small.limits == ("frame size 320x240 over 76799 pixels: not decoded",)


def test_result_is_json_ready(videos):
    """Everything but the frames is plain data a record can carry."""
    result = analyse_video(str(videos["b"]))
    facts = {k: v for k, v in vars(result).items() if k != "frames"}
    json.dumps(facts)
    assert result.codec == "vp9" and result.container == "matroska,webm" and (result.width, result.height) == (160, 120)
    assert all(len(f.pdq_dihedral) == 7 for f in result.frames)
