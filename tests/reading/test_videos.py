"""Videos on a scanned device: decoded on the workers, known pictures found at their times, a re-encoded copy of a
known video matched by Meta's vPDQ rule, each frame list written as a vPDQ signature, damaged videos bounded.

The videos are fixtures/make_videos.py's (synthetic scenes; known_01 shown from 4.5 s to 6.5 s, known_04 from
12.2 s to 14.2 s), put on an ext4 image with ``mkfs.ext4 -d`` (no mounting). Oracle for the listing:

    $ fls -r videos.raw    -> the twelve files of make_videos.py's folder (a_known.mp4 … i_audio_only.m4a)
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, need_tool
from triage.analysis.video import analyse_video
from triage.analysis.vpdq import read_vpdq, write_vpdq
from triage.known import HashSets
from triage.scan import ScanSettings, scan_device


@pytest.fixture(scope="module")
def device(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Any]:
    need_tool("mkfs.ext4")
    tmp = tmp_path_factory.mktemp("videos")
    if "make_videos" not in sys.modules:
        spec = importlib.util.spec_from_file_location("make_videos", ROOT / "fixtures" / "make_videos.py")
        assert spec is not None and spec.loader is not None
        sys.modules["make_videos"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["make_videos"])
    module = sys.modules["make_videos"]
    files = tmp / "files"
    module.build_videos(files)
    shutil.rmtree(files / "known")
    known = tmp / "known-videos" / "1"  # a vPDQ set: one signature file per known video, folder = category
    known.mkdir(parents=True)
    write_vpdq(analyse_video(str(files / "a_known.mp4")).frames, known / "a_known.txt")
    image = tmp / "videos.raw"
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(files), str(image), "64M"], check=True, capture_output=True,
                   env={"PATH": "/usr/sbin:/sbin:/usr/bin:/bin"})
    return image, known.parent, module


@pytest.mark.parametrize("jobs", [1, 2])
def test_videos_matched_and_signed(device: tuple[Path, Path, Any], tmp_path: Path, jobs: int) -> None:
    image, known_videos, module = device
    sets = HashSets.load([str(ROOT / "hashsets" / "demo_vics2.json"), str(known_videos)], cache_dir=tmp_path / "c")
    target, summary = scan_device(image, tmp_path / "out", ScanSettings(hashsets=sets, jobs=jobs))
    rows = {row["path"]: row for row in map(json.loads, (target / "files.jsonl").read_text().splitlines())}

    a = rows["/a_known.mp4"]
    seen = {m["label"]: m["time"] for m in a["matches"] if m["algorithm"] == "pdq-frame"}
    assert len(seen) == 2  # known_01 and known_04, each within a second of when it is shown
    starts = sorted(start for start, _ in module.STILLS.values())
    assert all(abs(found - start) <= 1.0 for found, start in zip(sorted(seen.values()), starts, strict=True))
    small = rows["/b_small.webm"]  # re-encoded at half size as VP9 in WebM: matched to the known video
    (video_match,) = [m for m in small["matches"] if m["algorithm"] == "vpdq"]
    assert video_match["query_match"] >= 80 and video_match["category"] == 1
    assert rows["/c_distractor.mp4"]["matches"] == []  # fades, black and flat frames never match
    assert rows["/h_fade_in.mp4"]["matches"] == []

    assert rows["/d_truncated_moov_at_end.mp4"]["errors"][0].startswith("video: cannot open")
    assert rows["/g_ftyp_only.mp4"]["errors"][0].startswith("video: cannot open")
    assert any(limit["limit"] == "video" and "12000x8000" in limit["effect"] for limit in summary["limits"])
    assert summary["videos"]["decoded"] == 12 and summary["videos"]["signatures"] == "vpdq/<record id>.txt"

    signature = target / "vpdq" / f"{a['id']}.txt"  # Meta's layout, read back by our reader
    assert f"vPDQ signature: vpdq/{a['id']}.txt ({len(read_vpdq(signature))} frames)" in a["notes"]
    page = (target / "report.html").read_text()
    assert "<img" not in page and "<video" not in page and "data:image" not in page
    assert "at 4.5s" in (target / "matched.csv").read_text()
