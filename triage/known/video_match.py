"""A scanned video's frames against the hash sets: known pictures in its frames, and known videos (vPDQ).

Two questions, one batched search each per set (``VIDEO_QUERY_BATCH`` hashes at a time):

- **pdq-frame**: every frame of quality ≥ the PDQ gate (and its rotated/mirrored variants when the frame list
  carries them) against the set's picture PDQ index, threshold ``pdq_threshold``. One match dict per listed
  picture (its PDQ is ``known_pdq``): the smallest distance (the frame as decoded wins ties with a variant, as
  for pictures), ``time`` of the first matching frame, ``times`` of the matching frames (the first
  ``VIDEO_MATCH_MAX_TIMES``) and ``frames`` (how many matched).
- **vpdq**: Meta's rule for two videos (python-threatexchange ``vpdq_brute_matcher.match_VPDQ_hash_brute`` and
  ``VPDQSignal.compare_hash``, ThreatExchange commit baefb4e): each side's frames are quality-filtered
  (≥ gate) and de-duplicated by PDQ; ``query_match`` is the share of the scanned video's distinct PDQs within
  ``pdq_threshold`` (≤, as there) of some PDQ of the known video, ``known_match`` the share of the known video's
  distinct PDQs within it of some PDQ of the scanned one; a match when query_match ≥ 80 and known_match ≥ 0 (the
  reference's defaults, ``VPDQ_QUERY_MATCH_PERCENT``/``VPDQ_KNOWN_MATCH_PERCENT``). The reference's order is
  dedupe then filter in the brute matcher and filter then dedupe in its index (``prepare_vpdq_feature``); the
  two differ only when one PDQ occurs with qualities on both sides of the gate, and here a PDQ counts when any
  of its frames passes (filter then dedupe, independent of frame order). Meta's C++ ``matchTwoHashBrute``
  counts distance < threshold and does not de-duplicate; its vpdq README draws 80 % on the known side: we
  follow the Python reference that Meta's matching service (HMA) runs. A known video that shares no frame is
  never a match, even with both thresholds at 0.

  ``distance`` of a vpdq match is the mean, over the scanned video's matched PDQs, of the smallest distance to
  the known video (rounded), so that matches sort and print like the others.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from triage.analysis.pdq import TRANSFORMS, VARIANTS
from triage.defaults import (
    PDQ_MIN_QUALITY,
    PDQ_THRESHOLD,
    VIDEO_MATCH_MAX_PER_SET,
    VIDEO_MATCH_MAX_TIMES,
    VIDEO_QUERY_BATCH,
)
from triage.known.perceptual_index import PerceptualIndex
from triage.known.store import CompiledSet

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


class Frame(NamedTuple):
    """One sampled frame of a scanned video: what the frame list hands to ``HashSets.match_video``."""

    number: int
    time: float  # seconds
    pdq: str  # 64 hex
    quality: int  # 0..100
    dihedral: tuple[str, ...] | None = None  # PDQ of the 7 rotated/mirrored variants (pdq.VARIANTS order)


def as_frames(frames: Iterable[Sequence[Any]]) -> list[Frame]:
    """Frames from tuples ``(number, time, pdq, quality[, dihedral])`` (numpy numbers welcome); malformed ones
    (no 64-hex PDQ, a quality outside 0..100, a time that is not a finite number) are left out."""
    out = []
    for item in frames:
        try:
            frame = Frame(*item)
            if isinstance(frame.quality, (bool, float)) or isinstance(frame.pdq, bytes):
                continue
            frame = frame._replace(number=int(frame.number), time=float(frame.time), quality=int(frame.quality))
        except (TypeError, ValueError):
            continue
        if (isinstance(frame.pdq, str) and _HEX64.fullmatch(frame.pdq) and 0 <= frame.quality <= 100
                and math.isfinite(frame.time)):
            out.append(frame)
    return out


def _seconds(value: float) -> float:
    return round(float(value), 3)  # vPDQ's timestamp precision


def search_all(
    index: PerceptualIndex, queries: list[bytes], threshold: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(query number, row, distance) of every hit of every query, searched ``VIDEO_QUERY_BATCH`` at a time."""
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for lo in range(0, len(queries), VIDEO_QUERY_BATCH):
        for i, (rows, distances) in enumerate(index.search_many(queries[lo : lo + VIDEO_QUERY_BATCH], threshold)):
            if len(rows):
                parts.append((np.full(len(rows), lo + i, dtype=np.int64), rows, distances))
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    return tuple(np.concatenate([p[k] for p in parts]) for k in range(3))  # type: ignore[return-value]


def _capped(matches: list[dict[str, Any]], key: Any) -> tuple[list[dict[str, Any]], int]:
    matches.sort(key=key)
    return matches[:VIDEO_MATCH_MAX_PER_SET], max(0, len(matches) - VIDEO_MATCH_MAX_PER_SET)


def picture_matches(
    name: str, compiled: CompiledSet, frames: list[Frame], threshold: int, min_quality: int
) -> tuple[list[dict[str, Any]], int]:
    """The listed pictures of one set seen in the frames (``pdq-frame``); returns (matches, how many were cut)."""
    index = compiled.perceptual.get("pdq")
    gated = [frame for frame in frames if frame.quality >= min_quality]
    if index is None or not gated:
        return [], 0
    queries: dict[bytes, list[tuple[int, int]]] = {}  # hash -> (frame, variant rank: 0 = the frame as decoded)
    for number, frame in enumerate(gated):
        queries.setdefault(bytes.fromhex(frame.pdq), []).append((number, 0))
        for rank, value in enumerate(frame.dihedral or (), start=1):
            if rank <= len(VARIANTS) and isinstance(value, str) and _HEX64.fullmatch(value):
                queries.setdefault(bytes.fromhex(value), []).append((number, rank))
    keys = list(queries)
    which, rows, distances = search_all(index, keys, threshold)
    best: dict[int, tuple[int, int, float]] = {}  # row -> (distance, rank, time)
    seen: dict[int, set[int]] = {}
    for query, row, distance in zip(which.tolist(), rows.tolist(), distances.tolist(), strict=True):
        for number, rank in queries[keys[query]]:
            candidate = (distance, rank, gated[number].time)
            if row not in best or candidate < best[row]:
                best[row] = candidate
            seen.setdefault(row, set()).add(number)
    out = []
    for row, (distance, rank, _time) in best.items():
        category, label = compiled.tags[int(index.tags[row])]
        times = sorted({_seconds(gated[number].time) for number in seen[row]})
        match: dict[str, Any] = {
            "hashset": name, "algorithm": "pdq-frame", "distance": distance, "category": category, "label": label,
            "time": times[0], "times": times[:VIDEO_MATCH_MAX_TIMES], "frames": len(seen[row]),
            "known_pdq": bytes(index.hashes[row]).hex(),
        }
        if rank:
            match["transform"] = TRANSFORMS[VARIANTS[rank - 1]]
        out.append(match)
    return _capped(out, lambda m: (m["distance"], m["time"], m["known_pdq"]))


def usable(frames: Iterable[Frame], min_quality: int) -> list[bytes]:
    """Meta's ``dedupe(quality_filter(frames))``: the distinct PDQs of frames at or above the gate, in order."""
    return list(dict.fromkeys(bytes.fromhex(f.pdq) for f in frames if f.quality >= min_quality))


def video_matches(
    name: str,
    compiled: CompiledSet,
    frames: list[Frame],
    threshold: int,
    min_quality: int,
    query_percent: float,
    known_percent: float,
) -> tuple[list[dict[str, Any]], int]:
    """The known videos of one set that the frames match by Meta's rule (``vpdq``); (matches, how many cut)."""
    known = compiled.videos
    queries = usable(frames, min_quality)
    if known is None or not queries:
        return [], 0
    which, rows, distances = search_all(known.index, queries, threshold)
    keep = np.asarray(known.quality)[rows] >= min_quality
    which, rows, distances = which[keep], rows[keep], distances[keep]
    if not len(rows):
        return [], 0
    video = np.asarray(known.index.tags)[rows].astype(np.int64)
    order = np.lexsort((distances, which, video))  # per (video, query) its nearest known frame first
    video, which, rows, distances = video[order], which[order], rows[order], distances[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (video[1:] != video[:-1]) | (which[1:] != which[:-1])
    pair_video, pair_query, pair_distance = video[first], which[first], distances[first]
    n_videos = len(known)
    query_hits = np.bincount(pair_video, minlength=n_videos)
    distance_sum = np.bincount(pair_video, weights=pair_distance, minlength=n_videos)
    known_rows = np.unique(rows)
    known_hits = np.bincount(np.asarray(known.index.tags)[known_rows].astype(np.int64), minlength=n_videos)
    usable_known = known.usable_frames(min_quality)
    times_of: dict[bytes, list[float]] = {}
    for frame in frames:
        if frame.quality >= min_quality:
            times_of.setdefault(bytes.fromhex(frame.pdq), []).append(_seconds(frame.time))
    out = []
    for v in np.flatnonzero(query_hits).tolist():
        query_share = query_hits[v] * 100 / len(queries)
        known_share = known_hits[v] * 100 / usable_known[v] if usable_known[v] else 0.0
        if query_share < query_percent or known_share < known_percent:
            continue
        matched = pair_query[pair_video == v].tolist()
        times = sorted({t for q in matched for t in times_of[queries[q]]})
        category, label = compiled.tags[int(known.video_tags[v])]
        out.append({
            "hashset": name, "algorithm": "vpdq", "distance": round(float(distance_sum[v]) / int(query_hits[v])),
            "category": category, "label": label, "video": known.video_id(v),
            "query_match": round(float(query_share), 2), "known_match": round(float(known_share), 2),
            "time": times[0], "times": times[:VIDEO_MATCH_MAX_TIMES],
            "frames": sum(len(times_of[queries[q]]) for q in matched),
            "known_time": _seconds(float(np.min(np.asarray(known.time)[rows[video == v]]))),
        })
    return _capped(out, lambda m: (-m["query_match"], -m["known_match"], m["distance"], m["video"]))


def match_two(
    query: Iterable[Frame], known: Iterable[Frame], threshold: int = PDQ_THRESHOLD,
    min_quality: int = PDQ_MIN_QUALITY,
) -> tuple[float, float]:
    """Meta's two-video comparison by brute force: (query_match, known_match) percentages, 0/0 if a side is empty.

    The reference the indexed ``video_matches`` is checked against; O(query x known), for tests and single pairs.
    """
    q, k = usable(query, min_quality), usable(known, min_quality)
    if not q or not k:
        return 0.0, 0.0
    qw = np.frombuffer(b"".join(q), dtype=np.uint64).reshape(len(q), 4)
    kw = np.frombuffer(b"".join(k), dtype=np.uint64).reshape(len(k), 4)
    q_hit = np.zeros(len(q), dtype=bool)
    k_hit = np.zeros(len(k), dtype=bool)
    for lo in range(0, len(q), 256):
        near = np.bitwise_count(qw[lo : lo + 256, None, :] ^ kw[None, :, :]).sum(axis=2) <= threshold
        q_hit[lo : lo + 256] = near.any(axis=1)
        k_hit |= near.any(axis=0)
    return float(q_hit.sum() * 100 / len(q)), float(k_hit.sum() * 100 / len(k))
