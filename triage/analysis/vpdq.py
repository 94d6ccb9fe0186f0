"""vPDQ video signatures: Meta's frame-list file layout and its video-to-video matching rule.

Why Meta's layout and rule rather than our own: hash sets and other tools exchange video signatures as vPDQ
(ThreatExchange ``vpdq``), so a frame list written here can be read by them and theirs by us, and a match means
what it means there. This module needs no video decoder, so hash-set code can import it without PyAV.

The file layout is the reference's ``outputVPDQFeatureToFile``: one line per frame,
``frame_number,quality,pdq_hex,timestamp`` with the timestamp in seconds to 3 decimals.

The matching rule is ``match_VPDQ_hash_brute`` of ThreatExchange's Python ``vpdq`` extension (the README's
pseudocode): keep frames of quality ≥ ``quality``, drop repeated hashes (each distinct PDQ counts once), then
count the query frames having a known frame within ``distance`` bits (≤) and the known frames having a query frame
within it. Two places in the reference differ from each other and we choose, with reasons:

- The brute matcher de-duplicates before the quality filter, the index (``prepare_vpdq_feature``) after it. We
  filter first: one PDQ seen at two qualities (a fade keeps the hash and changes the quality) then still counts
  when one of them passes. The two agree whenever equal hashes carry equal qualities.
- The C++ ``matchTwoHashBrute`` counts distances strictly below the tolerance and does not de-duplicate; the
  Python reference and README count ``<=``. We follow the Python reference (the PDQ threshold 31 means "≤ 31"
  everywhere else in triage); the C++ tool gives our figures when called with ``distance + 1`` on frame lists
  without repeated hashes (tests/analysis/test_vpdq.py).

Defaults (``triage.defaults.VPDQ_*``): distance 31, quality 50, a match when ≥ 80 % of the query's frames are
found in the known video, whatever share of the known video that covers (0 %): ThreatExchange's
``VPDQ_QUERY_MATCH_THRESHOLD_PERCENT`` / ``VPDQ_INDEX_MATCH_THRESHOLD_PERCENT``. Both shares are returned, so a
report can also tell a long evidence video that contains a known one (high known share, low query share).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from triage.defaults import VPDQ_DISTANCE, VPDQ_KNOWN_PCT, VPDQ_QUALITY, VPDQ_QUERY_PCT
from triage.errors import HashSetError

TIMESTAMP_DECIMALS = 3  # the reference's TIMESTAMP_OUTPUT_PRECISION
_HEX = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class VideoFrame:
    """One hashed frame of a video: a vPDQ feature, plus the dihedral variants when we computed them.

    Attributes:
        number: frame number from 0 in presentation order (``round(time * frame rate)`` when we decode).
        time: seconds from the start of the video stream.
        pdq: 256-bit PDQ as 64 lower-case hex characters (the hash sets' order).
        quality: PDQ quality 0-100; the matchers ignore frames below their quality threshold.
        pdq_dihedral: the seven rotated/mirrored PDQs in ``pdq.VARIANTS`` order, or None (never written to
            a vPDQ file, which has no place for them).
    """

    number: int
    time: float
    pdq: str
    quality: int
    pdq_dihedral: tuple[str, ...] | None = None


class _Hashed(Protocol):
    """Anything with a PDQ and its quality (``VideoFrame`` or a hash-set entry)."""

    @property
    def pdq(self) -> str: ...

    @property
    def quality(self) -> int: ...


def format_line(frame: VideoFrame) -> str:
    """One vPDQ line: ``number,quality,pdq,timestamp`` (no newline)."""
    return f"{frame.number},{frame.quality},{frame.pdq},{frame.time:.{TIMESTAMP_DECIMALS}f}"


def format_vpdq(frames: Iterable[VideoFrame]) -> str:
    """A whole vPDQ file's text: one line per frame, each ending in a newline, as the reference writes it."""
    return "".join(format_line(frame) + "\n" for frame in frames)


def write_vpdq(frames: Iterable[VideoFrame], path: str | Path) -> None:
    """Write a frame list as a vPDQ ``.txt`` file (ASCII, ``\\n`` line ends)."""
    Path(path).write_text(format_vpdq(frames), encoding="ascii", newline="\n")


def parse_line(line: str) -> VideoFrame:
    """A ``VideoFrame`` from one vPDQ line; ValueError (one line) when it is not one.

    Like the reference reader, fields after the fourth are ignored; unlike it, a malformed hash, a quality
    outside 0-100 or a negative/non-finite timestamp is refused rather than read as whatever ``stoi`` makes of it.
    """
    fields = [field.strip() for field in line.strip().split(",")]
    if len(fields) < 4:
        raise ValueError(f"expected frame,quality,pdq,timestamp, got {len(fields)} field(s)")
    number, quality, pdq, stamp = int(fields[0]), int(fields[1]), fields[2], float(fields[3])
    if not _HEX.fullmatch(pdq):
        raise ValueError("PDQ is not 64 hex digits")
    if not 0 <= quality <= 100:
        raise ValueError(f"quality {quality} outside 0-100")
    if number < 0 or not 0 <= stamp < float("inf"):
        raise ValueError("negative frame number or timestamp")
    return VideoFrame(number, stamp, pdq.lower(), quality)


def parse_vpdq(text: str, source: str = "vPDQ text") -> list[VideoFrame]:
    """Every frame of a vPDQ file's text; blank lines are skipped. HashSetError names the first bad line."""
    frames = []
    for index, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            frames.append(parse_line(line))
        except ValueError as exc:
            raise HashSetError(f"{source} line {index}: {exc}") from None
    return frames


def read_vpdq(path: str | Path) -> list[VideoFrame]:
    """Read a vPDQ ``.txt`` file (ThreatExchange ``sample-hashes`` layout)."""
    try:
        text = Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise HashSetError(f"cannot read vPDQ file {path}: {exc}") from None
    return parse_vpdq(text, str(path))


def _usable(frames: Iterable[_Hashed], quality: int) -> list[int]:
    """Distinct PDQs (as integers, first-seen order) of the frames whose quality reaches ``quality``."""
    seen: dict[int, None] = {}
    for frame in frames:
        if frame.quality >= quality:
            seen.setdefault(int(frame.pdq, 16), None)
    return list(seen)


def _found(needles: Sequence[int], haystack: Sequence[int], distance: int) -> int:
    """How many of ``needles`` have some hash of ``haystack`` within ``distance`` bits."""
    return sum(any((needle ^ other).bit_count() <= distance for other in haystack) for needle in needles)


def match_videos(
    query_frames: Iterable[_Hashed],
    known_frames: Iterable[_Hashed],
    distance: int = VPDQ_DISTANCE,
    quality: int = VPDQ_QUALITY,
    query_pct: float = VPDQ_QUERY_PCT,
    known_pct: float = VPDQ_KNOWN_PCT,
) -> tuple[float, float, bool]:
    """Meta's vPDQ video-to-video rule: (share of query frames matched %, share of known frames matched %, match).

    A match needs both shares at or above their thresholds. When no frame of either side reaches ``quality``
    both shares are 0 and there is no match (the Python reference would divide by zero there).
    """
    query = _usable(query_frames, quality)
    known = _usable(known_frames, quality)
    if not query or not known:
        return 0.0, 0.0, False
    query_share = _found(query, known, distance) * 100.0 / len(query)
    known_share = _found(known, query, distance) * 100.0 / len(known)
    return query_share, known_share, query_share >= query_pct and known_share >= known_pct
