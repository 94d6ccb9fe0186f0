"""What every parser produces: per-algorithm key arrays, a table of (category, label) tags, and warnings.

Why arrays and a tag table instead of one object per entry: national sets hold tens of millions of hashes; a
Python object per hash would need gigabytes and minutes. Parsers hand over numpy byte matrices (one row per
hash) plus one small integer per row naming its (category, label) pair, which is all the index needs.
"""

from __future__ import annotations

import re
from array import array
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from triage.known.videos import VideoBuilder, VideoFrames

EXACT_ALGORITHMS: tuple[str, ...] = ("md5", "sha1", "sha256")
PERCEPTUAL_ALGORITHMS: tuple[str, ...] = ("pdq", "phash")
ALGORITHMS: tuple[str, ...] = EXACT_ALGORITHMS + PERCEPTUAL_ALGORITHMS
# Width of each hash in bytes.
WIDTH: dict[str, int] = {"md5": 16, "sha1": 20, "sha256": 32, "pdq": 32, "phash": 8}
HEX_LEN_TO_EXACT: dict[int, str] = {32: "md5", 40: "sha1", 64: "sha256"}

ROLE_ALERT = "alert"
ROLE_KNOWN = "known"
ROLES = (ROLE_ALERT, ROLE_KNOWN)

MAX_WARNINGS_KEPT = 50
_HEX_RE = re.compile(r"[0-9a-fA-F]+")

Category = int | str | None


def normalise_category(value: Any) -> Category:
    """Keep a category as given, with one normalisation so that sets agree with each other.

    VICS gives integers (``1``), CAID grades letters (``"A"``), CSV gives text for everything. Integers
    stay integers, digit-only text becomes an integer (so CSV ``"1"`` equals VICS ``1``), other text is
    stripped and kept verbatim (``"A"``), empty/None means uncategorised; whole floats become integers.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = str(value).strip()
    if not text:
        return None
    if text.isdigit():
        return int(text)
    return text


def default_label(category: Category, profile: str | None = None) -> str | None:
    """A human label for a category when the set does not give one, e.g. "UK Category A"."""
    if category is None:
        return None
    prefix = f"{profile} " if profile and profile.lower() != "default" else ""
    return f"{prefix}Category {category}"


def parse_hex(text: str, algorithm: str) -> bytes | None:
    """Decode one hex hash of the given algorithm; None if it has the wrong length or is not hex."""
    text = text.strip()
    if len(text) != 2 * WIDTH[algorithm] or not _HEX_RE.fullmatch(text):
        return None
    return bytes.fromhex(text)


class Warnings:
    """Collects parser warnings, keeping the first few messages and counting all of them.

    Why capped: a broken 10M-line file would otherwise carry 10M strings into the index metadata.
    """

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.count = 0

    def add(self, message: str) -> None:
        self.count += 1
        if len(self.messages) < MAX_WARNINGS_KEPT:
            self.messages.append(message)

    def as_list(self) -> list[str]:
        """The kept messages, with a last line saying how many more there were."""
        extra = self.count - len(self.messages)
        return self.messages + ([f"... and {extra} more warnings"] if extra > 0 else [])


class SetBuilder:
    """Accumulates hashes and tags while a parser walks its source.

    Parsers call ``add_matrix`` for vectorised batches and ``add`` for single values; ``finish`` returns one
    ParsedSet. Tag 0 is always "no category, no label".
    """

    def __init__(self) -> None:
        self._tag_ids: dict[tuple[Category, str | None], int] = {(None, None): 0}
        self.tags: list[tuple[Category, str | None]] = [(None, None)]
        self._blocks: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {a: [] for a in ALGORITHMS}
        # One byte string and one uint32 array per algorithm: 4 bytes per tag, not a list's 8-byte pointers.
        self._single: dict[str, tuple[bytearray, array[int]]] = {a: (bytearray(), array("I")) for a in ALGORITHMS}
        self.entries = 0
        self.tag_entries: list[int] = [0]
        self.warnings = Warnings()
        self.videos = VideoBuilder()  # known videos (vPDQ frame lists), for the formats that carry them

    def entry(self, tag: int = 0, count: int = 1) -> None:
        """Count source records (lines, rows, media items) that gave hashes, per tag."""
        self.entries += count
        self.tag_entries[tag] += count

    def tag(self, category: Category, label: str | None) -> int:
        """Id of a (category, label) pair, created on first use."""
        key = (category, label)
        found = self._tag_ids.get(key)
        if found is None:
            found = self._tag_ids[key] = len(self.tags)
            self.tags.append(key)
            self.tag_entries.append(0)
        return found

    def add(self, algorithm: str, value: bytes, tag: int = 0) -> None:
        """Add one decoded hash (``len(value) == WIDTH[algorithm]``)."""
        buf, tags = self._single[algorithm]
        buf += value
        tags.append(tag)

    def add_hex(self, algorithm: str, text: str, tag: int = 0) -> bool:
        """Add one hex hash; returns False (and adds nothing) if it is malformed."""
        value = parse_hex(text, algorithm)
        if value is None:
            return False
        self.add(algorithm, value, tag)
        return True

    def add_matrix(self, algorithm: str, keys: np.ndarray, tag: int = 0) -> None:
        """Add a batch of decoded hashes, one per row of a uint8 matrix."""
        if len(keys):
            tags = np.full(len(keys), tag, dtype=np.uint32)
            self._blocks[algorithm].append((np.ascontiguousarray(keys, dtype=np.uint8), tags))

    def finish(self, fmt: str, role: str, info: dict[str, Any] | None = None) -> ParsedSet:
        """Concatenate everything into a ParsedSet (call once: the arrays share the builder's buffers)."""
        columns: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for alg in ALGORITHMS:
            blocks = list(self._blocks[alg])
            buf, tags = self._single[alg]
            if tags:
                keys = np.frombuffer(buf, dtype=np.uint8).reshape(-1, WIDTH[alg])  # no copy
                blocks.append((keys, np.frombuffer(tags, dtype=np.uint32)))
            if blocks:
                columns[alg] = (
                    np.concatenate([b[0] for b in blocks]) if len(blocks) > 1 else blocks[0][0],
                    np.concatenate([b[1] for b in blocks]) if len(blocks) > 1 else blocks[0][1],
                )
        return ParsedSet(
            format=fmt,
            role=role,
            entries=self.entries,
            columns=columns,
            tags=list(self.tags),
            tag_entries=list(self.tag_entries),
            warnings=self.warnings.as_list(),
            warning_count=self.warnings.count,
            info=dict(info or {}),
            videos=self.videos.finish(),
        )


@dataclass
class ParsedSet:
    """The parse result of one hash-set file.

    Attributes:
        format: detected format name, e.g. "md5sum", "vics-2.0", "nsrl-rds-v3".
        role: role the format implies ("known" for NSRL, else "alert"); a spec prefix may override it.
        entries: records in the source that gave at least one hash (lines, media items, rows).
        columns: algorithm -> (keys uint8 matrix n x WIDTH, tag ids uint32 n).
        tags: (category, label) pairs; a tag id indexes this list.
        tag_entries: number of entries carrying each tag (the per-category counts ``info`` shows).
        warnings: kept warning messages (line numbers where the source has lines).
        warning_count: number of warnings, including those not kept.
        info: format details worth showing (VICS version and profile, hash columns...).
        videos: the known videos (id, tag, vPDQ frames) of the formats that carry them, else None.
    """

    format: str
    role: str
    entries: int
    columns: dict[str, tuple[np.ndarray, np.ndarray]]
    tags: list[tuple[Category, str | None]]
    tag_entries: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    warning_count: int = 0
    info: dict[str, Any] = field(default_factory=dict)
    videos: VideoFrames | None = None

    @property
    def video_count(self) -> int:
        return len(self.videos.ids) if self.videos is not None else 0

    @property
    def frame_count(self) -> int:
        return self.videos.frames if self.videos is not None else 0

    def counts(self) -> dict[str, int]:
        """Number of (not yet de-duplicated) hashes per algorithm."""
        return {alg: len(keys) for alg, (keys, _tags) in self.columns.items()}
