"""Known videos in a hash set: their frame lists as parsed, as compiled arrays, and as an opened index.

A known video is an id (md5 or name), a (category, label) tag and a vPDQ frame list (frame number, quality, PDQ,
timestamp). Why one index for all frames of all videos: a scanned video is then matched by one batched search
of its frames, whatever the number of known videos, instead of a comparison with every known video in turn
(Meta's brute-force rule is O(videos x frames x frames)). The index rows are the distinct (PDQ, video) pairs
with the best quality among the frames that share them, which is what Meta's ``dedupe(quality_filter(...))``
keeps for any quality gate chosen at scan time.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from triage.defaults import VPDQ_MAX_FRAMES_PER_VIDEO
from triage.known.perceptual_index import PerceptualIndex, build_perceptual

PREFIX = "vpdq"  # array names in the compiled set: "vpdq.hashes", "vpdq.video_tags", ...
PDQ_BYTES = 32


@dataclass
class VideoFrames:
    """The known videos of one parsed set, frames of video ``v`` at ``starts[v]:starts[v + 1]``."""

    ids: list[str]
    tags: np.ndarray  # uint32 (category, label) tag id per video
    starts: np.ndarray  # int64, len(ids) + 1
    hashes: np.ndarray  # uint8 frames x 32
    quality: np.ndarray  # uint8 0..100
    times: np.ndarray  # float64 seconds
    numbers: np.ndarray  # int64 frame numbers

    @property
    def frames(self) -> int:
        return len(self.hashes)


class VideoBuilder:
    """Collects known videos while a parser walks its source; frames may come in any order of videos.

    Compact arrays, not a tuple per frame: a set of many long videos holds tens of millions of frames.
    """

    def __init__(self, max_frames: int = VPDQ_MAX_FRAMES_PER_VIDEO) -> None:
        self.ids: list[str] = []
        self.tags = array("I")
        self.counts: list[int] = []
        self.max_frames = max_frames
        self._video = array("I")
        self._numbers = array("q")
        self._quality = array("B")
        self._times = array("d")
        self._hashes = bytearray()

    def video(self, video_id: str, tag: int) -> int:
        """Start a known video; returns its number for ``frame``."""
        self.ids.append(video_id)
        self.tags.append(tag)
        self.counts.append(0)
        return len(self.ids) - 1

    def frame(self, video: int, number: int, quality: int, pdq: bytes, time: float) -> bool:
        """Add one frame; False (and nothing added) once the video has ``max_frames`` frames."""
        if self.counts[video] >= self.max_frames:
            return False
        self.counts[video] += 1
        self._video.append(video)
        self._numbers.append(number)
        self._quality.append(quality)
        self._times.append(time)
        self._hashes += pdq
        return True

    def frames_of(self, video: int) -> int:
        return self.counts[video]

    def finish(self) -> VideoFrames | None:
        """The videos that have at least one frame, frames grouped by video in the order given; None if none."""
        kept = [v for v, count in enumerate(self.counts) if count]
        if not kept:
            return None
        video = np.frombuffer(self._video, dtype=np.uint32)
        order = np.argsort(video, kind="stable")
        renumber = np.full(len(self.ids), -1, dtype=np.int64)
        renumber[kept] = np.arange(len(kept))
        counts = np.asarray([self.counts[v] for v in kept], dtype=np.int64)
        starts = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        hashes = np.frombuffer(bytes(self._hashes), dtype=np.uint8).reshape(-1, PDQ_BYTES)
        return VideoFrames(
            ids=[self.ids[v] for v in kept],
            tags=np.asarray([self.tags[v] for v in kept], dtype=np.uint32),
            starts=starts,
            hashes=np.ascontiguousarray(hashes[order]),
            quality=np.frombuffer(self._quality, dtype=np.uint8)[order].copy(),
            times=np.frombuffer(self._times, dtype=np.float64)[order].copy(),
            numbers=np.frombuffer(self._numbers, dtype=np.int64)[order].copy(),
        )


def distinct_rows(videos: VideoFrames) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (PDQ, video) pairs: (hashes, video numbers, best quality, earliest time of that PDQ).

    Why the best quality: a PDQ passes a quality gate when any of its frames does, which is Meta's
    ``dedupe(quality_filter(frames))`` for every gate; the earliest time says where the picture first appears.
    """
    video = np.repeat(np.arange(len(videos.ids), dtype=np.int64), np.diff(videos.starts))
    words = videos.hashes.view(">u8").astype(np.uint64)  # frames x 4, most significant first
    order = np.lexsort((videos.times, -videos.quality.astype(np.int16), *(words[:, j] for j in (3, 2, 1, 0)),
                        video))
    sorted_words, sorted_video = words[order], video[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (sorted_video[1:] != sorted_video[:-1]) | (sorted_words[1:] != sorted_words[:-1]).any(axis=1)
    first = np.flatnonzero(new)
    return (
        videos.hashes[order[first]],
        sorted_video[first],
        videos.quality[order[first]],  # the best: quality sorts descending within a group
        np.minimum.reduceat(videos.times[order], first) if len(first) else np.zeros(0),
    )


def video_arrays(videos: VideoFrames) -> dict[str, np.ndarray]:
    """The compiled arrays of a set's known videos (names without the ``vpdq.`` prefix added by the caller)."""
    hashes, video, quality, earliest = distinct_rows(videos)
    index = build_perceptual(hashes, np.arange(len(hashes), dtype=np.uint32))
    row = index.pop("tags").astype(np.int64)  # distinct-row number of each sorted index row
    ids = [video_id.encode("utf-8", "surrogatepass") for video_id in videos.ids]
    out = {
        **index,
        "tags": video[row].astype(np.uint32),  # the index's "tag" of a row is its video number
        "quality": quality[row],
        "time": earliest[row],
        "video_tags": videos.tags.astype(np.uint32),
        "video_ids": np.frombuffer(b"".join(ids), dtype=np.uint8).copy(),
        "video_id_starts": np.concatenate(([0], np.cumsum([len(i) for i in ids]))).astype(np.int64),
        "frame_starts": videos.starts,
        "frame_hashes": videos.hashes,
        "frame_quality": videos.quality,
        "frame_time": videos.times,
        "frame_number": videos.numbers,
    }
    return {f"{PREFIX}.{name}": value for name, value in out.items()}


class KnownVideos:
    """The opened known-video arrays of a compiled set: one perceptual index over every distinct frame."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        part = {name[len(PREFIX) + 1 :]: arr for name, arr in arrays.items() if name.startswith(PREFIX + ".")}
        self.index = PerceptualIndex(part["hashes"], part["tags"], part["mih_keys"], part["mih_ids"],
                                     part.get("mih_offsets"))
        self.quality = part["quality"]
        self.time = part["time"]
        self.video_tags = part["video_tags"]
        self.id_blob = part["video_ids"]
        self.id_starts = part["video_id_starts"]
        self.frame_starts = part["frame_starts"]

    @staticmethod
    def present(arrays: dict[str, Any]) -> bool:
        return f"{PREFIX}.hashes" in arrays

    def __len__(self) -> int:
        return len(self.video_tags)

    def video_id(self, video: int) -> str:
        start, end = int(self.id_starts[video]), int(self.id_starts[video + 1])
        return bytes(self.id_blob[start:end]).decode("utf-8", "replace")

    def usable_frames(self, min_quality: int) -> np.ndarray:
        """Distinct PDQ per video with quality at or above the gate (the denominator of "known match")."""
        return _usable(self, min_quality)


@lru_cache(maxsize=16)
def _usable(known: KnownVideos, min_quality: int) -> np.ndarray:
    keep = np.asarray(known.quality) >= min_quality
    return np.bincount(np.asarray(known.index.tags)[keep], minlength=len(known))
