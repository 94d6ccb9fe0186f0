"""Known-video hash sets: Meta's vPDQ files (alone, in a directory, in a CSV) and VICS per-frame PDQ.

SYNTHETIC DATA ONLY, except five lines of Meta's published sample output (quoted below as text): every other
hash is random or a constant.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from triage.errors import HashSetError
from triage.known import HashSets, cli_support, parse_vpdq
from triage.known.detect import parse_file
from triage.known.model import ParsedSet, SetBuilder

Write = Callable[[str, str | bytes], Path]
RNG = np.random.default_rng(7)
H = [bytes(RNG.integers(0, 256, 32, dtype=np.uint8)).hex() for _ in range(40)]

# The first lines of ThreatExchange vpdq/sample-hashes/chair-19-sd-bar.txt (commit baefb4e): the layout
# vpdq-hash-video writes (vpdqio.cpp outputVPDQFeatureToFile: frame,quality,hash,timestamp with 3 decimals).
META_SAMPLE = """0,100,e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c,0.000
1,100,c0f11178372c6aaccddea259648fbfd62f434c89c9e99b249772be216c8d055c,0.033
2,100,c0f10b78372c6aacc5dea25b748fb7d22f434c89c9a9db249772b6216c8d855c,0.067
3,100,c0f00b7837247aaccddea25b128fb7d22f434c894da9cb349776b621668dc55c,0.100
4,100,c0700b78372e7aaccddea15b128f97c22f434c896da9cb349772f621668dc55c,0.133
"""


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def vpdq_lines(hashes: list[str], quality: int = 100, step: float = 1.0) -> str:
    return "".join(f"{i},{quality},{h},{i * step:.3f}\n" for i, h in enumerate(hashes))


def frames(parsed: ParsedSet, video: int = 0) -> list[tuple[int, int, str, float]]:
    """(number, quality, pdq, seconds) of one parsed video."""
    v = parsed.videos
    assert v is not None
    lo, hi = int(v.starts[video]), int(v.starts[video + 1])
    return [(int(v.numbers[i]), int(v.quality[i]), bytes(v.hashes[i]).hex(), float(v.times[i])) for i in range(lo, hi)]


def test_meta_sample_output_is_one_known_video_named_by_the_file(write: Write) -> None:
    parsed = parse_file(write("chair-19-sd-bar.txt", META_SAMPLE))
    assert (parsed.format, parsed.entries, parsed.video_count, parsed.frame_count) == ("vpdq", 1, 1, 5)
    assert parsed.videos is not None and parsed.videos.ids == ["chair-19-sd-bar"]
    assert frames(parsed)[1] == (1, 100, "c0f11178372c6aaccddea259648fbfd62f434c89c9e99b249772be216c8d055c", 0.033)
    assert parsed.warnings == [] and parsed.columns == {}  # a name is not a hash: nothing exact is listed


def test_the_other_layouts_meta_tools_print(write: Write) -> None:
    """The Python binding's README prints frame,hash,quality,time; python-threatexchange writes hash,quality,time."""
    readme = write("a.txt", f"0,{H[0]},100,0\n1,{H[1]},98,1\n")
    compact = write("b.vpdq", f"{H[2]},90,0.5\n{H[3].upper()},80,1.5\n")
    assert frames(parse_file(readme)) == [(0, 100, H[0], 0.0), (1, 98, H[1], 1.0)]
    assert frames(parse_file(compact)) == [(0, 90, H[2], 0.5), (1, 80, H[3], 1.5)]  # numbers: the line order


def test_malformed_lines_are_warned_by_line_number_and_skipped(write: Write) -> None:
    text = "\n".join([
        "# vpdq of clip 7", "", f"0,100,{H[0]},0.000", f"1,101,{H[1]},0.033", f"2,100,{H[2][:63]},0.067",
        f"3,100,{H[3]},-1", f"4,100,{H[4]},nan", f"5,100,{H[5]}", "garbage", f"6,55,{H[6]},0.2\r",
        f"7,100,{H[7]},1e3", "x" * 5000,
    ])
    parsed = parse_file(write("clip7.txt", text))
    assert [f[0] for f in frames(parsed)] == [0, 6, 7]
    assert frames(parsed)[2][3] == 1000.0
    lines = text.splitlines()

    def shown(number: int) -> str:  # the line as warnings quote it: at most 70 characters
        line = lines[number - 1]
        return repr(line if len(line) <= 70 else line[:67] + "...")

    assert parsed.warnings == [
        f"line 4: bad quality '101' (0 to 100): {shown(4)}",
        f"line 5: not a vPDQ frame (frame,quality,pdq,timestamp): {shown(5)}",
        f"line 6: bad timestamp '-1': {shown(6)}",
        f"line 7: bad timestamp 'nan': {shown(7)}",
        f"line 8: not a vPDQ frame (frame,quality,pdq,timestamp): {shown(8)}",
        "line 9: not a vPDQ frame (frame,quality,pdq,timestamp): 'garbage'",
        "line 12: longer than 4096 bytes, not a vPDQ line",
    ]


def test_a_file_of_nothing_usable_is_refused(write: Write, cache_dir: Path) -> None:
    source = write("x.txt", f"0,101,{H[0]},0\n0,100,{H[0][:10]},0\n")  # no line is a vPDQ frame
    with pytest.raises(HashSetError, match="unknown hash-set format"):
        HashSets.load([str(source)], cache_dir)


def test_huge_lines_and_windows_are_bounded(write: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 40 MB line (more than one read window) is skipped without being copied; small windows cut lines right."""
    big = write("big.txt", f"0,100,{H[0]},0\n" + "9" * (40 << 20) + f"\n1,100,{H[1]},1\n2,100,{H[2]},2")
    parsed = parse_file(big)
    assert [f[0] for f in frames(parsed)] == [0, 1, 2] and parsed.warnings == [
        "line 2: longer than 4096 bytes, not a vPDQ line"]
    monkeypatch.setattr(parse_vpdq, "WINDOW_BYTES", 200)  # two lines and a half per window
    text = vpdq_lines(H[:12]) + "y" * 300 + "\n" + f"12,100,{H[12]},12"
    lines = list(parse_vpdq.iter_lines(np.frombuffer(text.encode(), dtype=np.uint8), max_line=120))
    assert [raw for _, raw in lines] == [line.encode() for line in vpdq_lines(H[:12]).splitlines()] + [
        None, f"12,100,{H[12]},12".encode()]
    assert [number for number, _ in lines] == list(range(1, 15))


def test_frames_beyond_the_cap_are_dropped_with_one_warning() -> None:
    builder = SetBuilder()
    builder.videos.max_frames = 3
    video = parse_vpdq.start_video(builder, "long")
    parse_vpdq.read_frames(builder, video, np.frombuffer(vpdq_lines(H[:6]).encode(), dtype=np.uint8))
    assert builder.videos.frames_of(video) == 3
    assert builder.warnings.as_list() == ["line 4: video 'long' has more than 3 frames; the rest is not read"]


def test_a_directory_is_a_set_of_videos_with_category_folders(tmp_path: Path, cache_dir: Path) -> None:
    root = tmp_path / "known videos"
    (root / "1").mkdir(parents=True)
    (root / "A" / "deeper").mkdir(parents=True)
    (root / "clip.txt").write_text(vpdq_lines(H[:3]))
    (root / "1" / f"{md5('video')}.txt").write_text(vpdq_lines(H[3:5]))
    (root / "A" / "b.vpdq").write_text(vpdq_lines(H[5:9]))
    (root / "A" / "deeper" / "c.txt").write_text(vpdq_lines(H[9:10]))
    (root / "README.md").write_text("not a video")
    (root / ".hidden.txt").write_text("junk")
    (root / "empty.txt").write_text("")
    parsed = parse_file(root)
    assert (parsed.format, parsed.entries, parsed.frame_count) == ("vpdq-dir", 3, 9)
    assert parsed.videos is not None and parsed.videos.ids == [md5("video"), "b", "clip"]  # sorted by file name
    assert [parsed.tags[int(t)] for t in parsed.videos.tags] == [(1, "Category 1"), ("A", "Category A"),
                                                                   (None, None)]
    assert [bytes(k).hex() for k in parsed.columns["md5"][0]] == [md5("video")]  # <md5>.txt: the video's md5
    assert parsed.warnings == ["A/deeper: folders below a category folder are not read",
                               "empty.txt: no usable vPDQ frame"]
    sets = HashSets.load([str(root)], cache_dir)
    assert sets.describe()[0] | {"sha256": ""} == {
        "name": "known videos", "format": "vpdq-dir", "role": "alert", "entries": 3, "videos": 3, "frames": 9,
        "sha256": "", "warnings": 2}
    digest = sets.describe()[0]["sha256"]
    (root / "notes.md").write_text("a README added beside the videos changes nothing")
    assert HashSets.load([str(root)], cache_dir).describe()[0]["sha256"] == digest
    (root / "clip.txt").rename(root / "clip2.txt")
    renamed = HashSets.load([str(root)], cache_dir)
    assert renamed.describe()[0]["sha256"] != digest
    assert renamed.sets[0].compiled.videos is not None and renamed.sets[0].compiled.videos.video_id(2) == "clip2"


def test_a_csv_lists_many_videos_with_categories_and_file_hashes(write: Write) -> None:
    rows = ["# known videos", "video;frame;quality;pdq;timestamp;category;label;md5",
            f"v1;0;100;{H[0]};0.0;1;series x;{md5('v1')}", f"v2;0;90;{H[1]};0.0;B;;",
            f"v1;1;100;{H[2]};1.0;1;series x;{md5('v1')}", f"v1;2;100;{H[3]};2.0;2;;",
            f"v2;1;100;{H[4][:20]};1.0;B;;", f";0;100;{H[5]};0;1;;", f"v3;0;100;{H[6]};0;;;nothex"]
    parsed = parse_file(write("videos.csv", "\n".join(rows)))
    assert (parsed.format, parsed.entries, parsed.video_count) == ("vpdq-csv", 3, 3)
    assert parsed.videos is not None and parsed.videos.ids == ["v1", "v2", "v3"]
    assert [f[2] for f in frames(parsed, 0)] == [H[0], H[2], H[3]]
    assert [parsed.tags[int(t)] for t in parsed.videos.tags] == [(1, "series x"), ("B", "Category B"),
                                                                   (None, None)]
    assert [bytes(k).hex() for k in parsed.columns["md5"][0]] == [md5("v1")]
    assert parsed.warnings == ["line 6: category differs from the video's first row (kept: 1)",
                               f"line 7: bad PDQ '{H[4][:20]}'", "line 8: no video id",
                               "line 9: malformed md5 'nothex'"]


def vics(*items: dict) -> str:
    return json.dumps({"@odata.context": "http://github.com/ICMEC/ProjectVic/DataModels/2.0.xml/UK/$metadata#Media",
                       "value": list(items)})


def test_vics_media_with_per_frame_pdq_are_known_videos(write: Write) -> None:
    compact = json.dumps([f"{H[8]},100,0.0", f"{H[9]},100,1.0"])  # python-threatexchange's VPDQ signal string
    objects = [{"Frame": 0, "Quality": 100, "PDQ": H[10], "Timestamp": 0.0},
               {"frameNumber": 1, "quality": 99.0, "hash": H[11], "time": 0.5},
               {"Frame": 2, "PDQ": H[12], "Timestamp": 1.0}]
    source = write("caid.json", vics(
        {"MediaID": 1, "Category": "A", "MD5": md5("one").upper(),
         "AlternativeHashes": [{"AlgorithmName": "vPDQ", "HashValue": vpdq_lines(H[:3])}]},
        {"MediaID": 2, "Category": "B", "AlternativeHashes": [{"AlgorithmName": "PDQ", "HashValue": [
            f"0,100,{H[3]},0.000", f"1,100,{H[4]},1.000", "1,100,short,2"]}]},
        {"MediaID": 3, "Category": "C", "SHA1": hashlib.sha1(b"3").hexdigest(),
         "AlternativeHashes": [{"AlgorithmName": "VideoPDQ", "HashValue": compact}]},
        {"MediaID": 4, "Category": "C", "AlternativeHashes": [{"AlgorithmName": "vPDQ", "HashValue": objects}]},
        {"MediaID": 5, "Category": "A", "AlternativeHashes": [{"AlgorithmName": "PDQ", "HashValue": H[13]}]},
        {"MediaID": 6, "Category": "A", "AlternativeHashes": [{"AlgorithmName": "vPDQ", "HashValue": "[not json"}]},
    ))
    parsed = parse_file(source)
    assert (parsed.format, parsed.entries, parsed.video_count, parsed.frame_count) == ("vics-2.0", 5, 4, 9)
    assert parsed.videos is not None and parsed.videos.ids == [md5("one"), "2", hashlib.sha1(b"3").hexdigest(), "4"]
    assert [parsed.tags[int(t)] for t in parsed.videos.tags] == [
        ("A", "UK Category A"), ("B", "UK Category B"), ("C", "UK Category C"), ("C", "UK Category C")]
    assert frames(parsed, 3) == [(0, 100, H[10], 0.0), (1, 99, H[11], 0.5)]
    assert [bytes(k).hex() for k in parsed.columns["md5"][0]] == [md5("one")]
    assert [bytes(k).hex() for k in parsed.columns["pdq"][0]] == [H[13]]  # one PDQ: a picture, as before
    assert parsed.warnings == [
        "value[1]: vPDQ frame 2: not a vPDQ frame (frame,quality,pdq,timestamp)",
        "value[3]: vPDQ frame 2: no quality (frames without a PDQ quality cannot be gated, so they are not used)",
        "value[5]: vPDQ: frame list is not valid JSON", "value[5]: no usable vPDQ frame"]


def test_cli_info_compile_verify_count_videos_and_frames(tmp_path: Path, cache_dir: Path) -> None:
    root = tmp_path / "vids"
    root.mkdir()
    (root / "a.txt").write_text(vpdq_lines(H[:4]))
    (root / "b.txt").write_text(vpdq_lines(H[2:4] * 2))  # repeated frames: 4 frames, 2 distinct PDQs
    info = cli_support.info([str(root)], cache_dir)[0]
    assert (info["format"], info["entries"], info["videos"], info["frames"]) == ("vpdq-dir", 2, 2, 8)
    assert info["hashes"] == {"vpdq": 6}  # distinct (PDQ, video) pairs in the search index
    compiled = cli_support.compile_sets([str(root)], cache_dir)[0]
    assert (compiled["videos"], compiled["frames"], compiled["reused"]) == (2, 8, False)
    verified = cli_support.verify([str(root)], cache_dir)[0]
    assert verified["ok"], verified["problems"]
    assert "videos: 2" in cli_support.render([info]) and "frames: 8" in cli_support.render([verified])
    (root / "b.txt").write_text(vpdq_lines(H[2:5]))
    stale = cli_support.verify([str(root)], cache_dir)[0]
    assert not stale["ok"] and "no compiled index" in stale["problems"][0]
