"""``HashSets``: the hash sets of one scan, loaded once and asked about every file record.

Matching rules (what the examiner sees in ``matches``):

- Exact md5/sha1/sha256 hits are distance 0. Perceptual hits (PDQ, pHash) carry their Hamming distance; PDQ
  is only used when the file's PDQ quality reaches ``pdq_min_quality`` (flat pictures have meaningless PDQ).
- One match per (set, algorithm, category, label), with the smallest distance; a file matched by several sets
  keeps every set's matches.
- PDQ is also matched through the picture's seven rotated and mirrored variants (``pdq_dihedral``), with the
  same threshold and quality gate: a mirrored copy is ~128 bits from the original, its right variant a few bits.
  A match through a variant carries ``"transform"`` (how the found picture was made from the known one, e.g.
  ``"flip-horizontal"``, ``"rotate-90-cw"``: ``pdq.TRANSFORMS``); the smallest distance wins, the picture as
  stored (no ``transform`` key, the dict as before) on ties. pHash is matched as stored only.
- Within one set, a perceptual match is left out when an exact match of that set already gives the same
  category and label: an exact copy is not also "similar", and the duplicate would only add noise.
- Known-good sets (NSRL, or ``known:PATH``) set ``record.known`` and add no match. They are used by exact hash
  only: a picture that merely *looks like* a known-good one must stay in the examiner's workload.
- Matches are sorted by (hashset, algorithm, distance, category, label) so outputs are reproducible.
- A video's frames (``match_video``) are matched against the picture sets (``pdq-frame``, with ``time``) and
  against the sets' known videos by Meta's vPDQ rule (``vpdq``, with ``query_match``/``known_match``); the rules
  and match dicts are in ``video_match``. Known-good sets are not used for frames (exact hashes only).

The object pickles as its specs and cache paths, not its arrays, so sending it to worker processes (local pool
or Dask) is cheap; each worker re-opens the memory-mapped indexes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from triage.analysis.pdq import TRANSFORMS, VARIANTS
from triage.defaults import (
    PDQ_MIN_QUALITY,
    PDQ_THRESHOLD,
    PHASH_THRESHOLD,
    VIDEO_MATCH_MAX_PER_SET,
    VPDQ_KNOWN_MATCH_PERCENT,
    VPDQ_QUERY_MATCH_PERCENT,
)
from triage.errors import HashSetError
from triage.known.model import EXACT_ALGORITHMS, ROLE_ALERT, ROLE_KNOWN, ROLES, WIDTH, Category
from triage.known.store import CompiledSet, load_or_compile, open_index, resolve_cache_dir
from triage.known.video_match import as_frames, picture_matches, video_matches
from triage.model.record import FileRecord


def parse_spec(spec: str) -> tuple[str | None, Path]:
    """Split ``alert:PATH`` / ``known:PATH`` / ``PATH`` into (role or None, path).

    A file whose real name starts with "alert:" still works: the prefix is only taken as a role when the
    whole string is not an existing file.
    """
    role, sep, rest = spec.partition(":")
    if sep and role.lower() in ROLES and rest and not Path(spec).exists():
        return role.lower(), Path(rest)
    return None, Path(spec)


def _category_key(category: Category) -> tuple[int, int, str]:
    if category is None:
        return (2, 0, "")
    if isinstance(category, int):
        return (0, category, "")
    return (1, 0, str(category))


def match_sort_key(match: dict[str, Any]) -> tuple[Any, ...]:
    """Deterministic order of match dicts: hashset, algorithm, distance, category, label."""
    return (
        match["hashset"],
        match["algorithm"],
        match["distance"],
        _category_key(match["category"]),
        match["label"] or "",
    )


def _identity(match: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(match.get(key) for key in ("hashset", "algorithm", "distance", "category", "label"))


def _video_identity(match: dict[str, Any]) -> str:
    """A match dict as a whole (video matches differ by their time, picture and video, not only by distance)."""
    return json.dumps(match, sort_keys=True, default=str)


def _decode(value: str | None, algorithm: str) -> bytes | None:
    if not value or len(value) != 2 * WIDTH[algorithm]:
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None


@dataclass
class LoadedSet:
    """One set of the scan: its display name, role, where it came from, and its opened index."""

    name: str
    role: str
    source: Path
    compiled: CompiledSet

    @property
    def format(self) -> str:
        return str(self.compiled.meta["format"])


class HashSets:
    """The scan's hash sets (see module docstring for the matching rules)."""

    def __init__(
        self,
        sets: list[LoadedSet],
        cache_dir: Path,
        pdq_threshold: int = PDQ_THRESHOLD,
        phash_threshold: int = PHASH_THRESHOLD,
        pdq_min_quality: int = PDQ_MIN_QUALITY,
        vpdq_query_match: float = VPDQ_QUERY_MATCH_PERCENT,
        vpdq_known_match: float = VPDQ_KNOWN_MATCH_PERCENT,
    ) -> None:
        for name, value, top in (
            ("PDQ threshold", pdq_threshold, 256),
            ("pHash threshold", phash_threshold, 64),
            ("PDQ minimum quality", pdq_min_quality, 100),
        ):
            if not isinstance(value, int) or not 0 <= value <= top:
                raise HashSetError(f"{name} must be an integer from 0 to {top}, not {value!r}")
        for name, share in (("vPDQ query match", vpdq_query_match), ("vPDQ known match", vpdq_known_match)):
            if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 100:
                raise HashSetError(f"{name} must be a percentage from 0 to 100, not {share!r}")
        self.sets = sets
        self.cache_dir = cache_dir
        self.pdq_threshold = pdq_threshold
        self.phash_threshold = phash_threshold
        self.pdq_min_quality = pdq_min_quality
        self.vpdq_query_match = float(vpdq_query_match)
        self.vpdq_known_match = float(vpdq_known_match)

    @classmethod
    def load(
        cls,
        specs: list[str],
        cache_dir: Path | None = None,
        pdq_threshold: int = PDQ_THRESHOLD,
        phash_threshold: int = PHASH_THRESHOLD,
        pdq_min_quality: int = PDQ_MIN_QUALITY,
        vpdq_query_match: float = VPDQ_QUERY_MATCH_PERCENT,
        vpdq_known_match: float = VPDQ_KNOWN_MATCH_PERCENT,
    ) -> HashSets:
        """Open (compiling on first use) every set named by ``specs``, in the order given.

        Raises:
            HashSetError: a set is missing, unreadable, of unknown format or holds no usable hash.
        """
        directory = resolve_cache_dir(cache_dir)
        loaded: list[LoadedSet] = []
        names: set[str] = set()
        for spec in specs:
            role, path = parse_spec(spec)
            compiled, _reused = load_or_compile(path, directory)
            name = path.name if path.name not in names else str(path)
            names.add(name)
            loaded.append(LoadedSet(name, role or str(compiled.meta["role"]), path, compiled))
        return cls(loaded, directory, pdq_threshold, phash_threshold, pdq_min_quality, vpdq_query_match,
                   vpdq_known_match)

    @property
    def thresholds(self) -> dict[str, int | float]:
        """The matching thresholds, as the summary states them (the vPDQ shares only when a set lists videos)."""
        out: dict[str, int | float] = {
            "pdq": self.pdq_threshold,
            "pdq_min_quality": self.pdq_min_quality,
            "phash": self.phash_threshold,
        }
        if any(s.compiled.videos is not None for s in self.sets):
            out["vpdq_query_match"] = self.vpdq_query_match
            out["vpdq_known_match"] = self.vpdq_known_match
        return out

    def describe(self) -> list[dict[str, Any]]:
        """One dict per set, in the order given: name, format, role, entries, sha256, warnings (count); a set
        that lists known videos adds ``videos`` (how many) and ``frames`` (their vPDQ frames in all)."""
        out = []
        for s in self.sets:
            meta = s.compiled.meta
            row: dict[str, Any] = {"name": s.name, "format": s.format, "role": s.role,
                                   "entries": int(meta["entries"])}
            if meta.get("videos"):
                row["videos"], row["frames"] = int(meta["videos"]), int(meta["frames"])
            row["sha256"], row["warnings"] = str(meta["sha256"]), int(meta["warning_count"])
            out.append(row)
        return out

    def lookup(
        self,
        md5: str | None = None,
        sha1: str | None = None,
        sha256: str | None = None,
        pdq: str | None = None,
        pdq_quality: int | None = None,
        phash: str | None = None,
        pdq_dihedral: tuple[str, ...] | None = None,
    ) -> tuple[bool, list[dict[str, Any]]]:
        """Match one file's hashes (lower-case hex) against every set.

        ``pdq_dihedral`` holds the PDQ of the seven other dihedral variants (``pdq.VARIANTS`` order).

        Returns:
            (known, matches): whether a known-good set holds the file, and the sorted match dicts.
        """
        exact = {
            "md5": _decode(md5, "md5"),
            "sha1": _decode(sha1, "sha1"),
            "sha256": _decode(sha256, "sha256"),
        }
        # algorithm -> (threshold, [(hash, transform)]): the picture as stored first, so that it wins ties
        perceptual: dict[str, tuple[int, list[tuple[bytes, str | None]]]] = {}
        pdq_bytes = _decode(pdq, "pdq")
        if pdq_bytes is not None and pdq_quality is not None and pdq_quality >= self.pdq_min_quality:
            queries: list[tuple[bytes, str | None]] = [(pdq_bytes, None)]
            for variant, value in zip(VARIANTS, pdq_dihedral or (), strict=False):
                variant_bytes = _decode(value, "pdq")
                if variant_bytes is not None and variant_bytes not in {query for query, _ in queries}:
                    queries.append((variant_bytes, TRANSFORMS[variant]))
            perceptual["pdq"] = (self.pdq_threshold, queries)
        phash_bytes = _decode(phash, "phash")
        if phash_bytes is not None:
            perceptual["phash"] = (self.phash_threshold, [(phash_bytes, None)])
        known = False
        matches: list[dict[str, Any]] = []
        for loaded in self.sets:
            hits: dict[tuple[str, int], int] = {}
            transforms: dict[tuple[str, int], str] = {}
            for alg in EXACT_ALGORITHMS:
                value, index = exact[alg], loaded.compiled.exact.get(alg)
                if value is not None and index is not None:
                    for tag in index.lookup(value).tolist():
                        hits[(alg, tag)] = 0
            if loaded.role == ROLE_KNOWN:
                known = known or bool(hits)
                continue
            exact_tags = {tag for _alg, tag in hits}
            for alg, (threshold, queries) in perceptual.items():
                p_index = loaded.compiled.perceptual.get(alg)
                if p_index is None:
                    continue
                found = p_index.search_many([query for query, _ in queries], threshold)
                for (_, transform), (rows, distances) in zip(queries, found, strict=True):
                    for row, distance in zip(rows.tolist(), distances.tolist(), strict=True):
                        tag = int(p_index.tags[row])
                        if tag not in exact_tags and distance < hits.get((alg, tag), distance + 1):
                            hits[(alg, tag)] = distance
                            if transform is None:
                                transforms.pop((alg, tag), None)
                            else:
                                transforms[(alg, tag)] = transform
            for (alg, tag), distance in hits.items():
                category, label = loaded.compiled.tags[tag]
                match = {"hashset": loaded.name, "algorithm": alg, "distance": distance, "category": category,
                         "label": label}
                if (alg, tag) in transforms:
                    match["transform"] = transforms[(alg, tag)]
                matches.append(match)
        matches.sort(key=match_sort_key)
        return known, matches

    def match(self, record: FileRecord) -> None:
        """Set ``record.known`` and append this file's matches to ``record.matches`` (a FileRecord).

        Calling it twice adds nothing new; the whole match list is kept in the deterministic order.
        """
        known, matches = self.lookup(
            md5=record.md5,
            sha1=record.sha1,
            sha256=record.sha256,
            pdq=record.pdq,
            pdq_quality=record.pdq_quality,
            phash=record.phash,
            pdq_dihedral=record.pdq_dihedral,
        )
        if known:
            record.known = True
        present = {_identity(m) for m in record.matches}
        for found in matches:
            if _identity(found) not in present:
                record.matches.append(found)
        record.matches.sort(key=match_sort_key)

    def lookup_video(self, frames: list[Any]) -> tuple[list[dict[str, Any]], list[str]]:
        """Match a video's frames against every alert set: (sorted match dicts, notes on matches left out).

        ``frames``: ``video_match.Frame`` or tuples ``(frame number, seconds, pdq hex, quality[, dihedral])``.
        """
        checked = as_frames(frames)
        matches: list[dict[str, Any]] = []
        notes: list[str] = []
        for loaded in self.sets:
            if loaded.role == ROLE_KNOWN or not checked:
                continue
            found, cut = picture_matches(loaded.name, loaded.compiled, checked, self.pdq_threshold,
                                         self.pdq_min_quality)
            videos, cut_videos = video_matches(loaded.name, loaded.compiled, checked, self.pdq_threshold,
                                               self.pdq_min_quality, self.vpdq_query_match, self.vpdq_known_match)
            matches += found + videos
            for count, what in ((cut, "listed pictures"), (cut_videos, "known videos")):
                if count:
                    notes.append(f"{loaded.name}: {count} more {what} matched this video's frames; only the "
                                 f"{VIDEO_MATCH_MAX_PER_SET} nearest are listed")
        matches.sort(key=match_sort_key)  # stable: each kind is already in its own deterministic order
        return matches, notes

    def match_video(self, record: FileRecord, frames: list[Any]) -> None:
        """Append a video's frame matches (``pdq-frame``, ``vpdq``) to ``record.matches``; notes when capped.

        Call it besides ``match`` (which matches the file's own hashes); calling it twice adds nothing new.
        """
        matches, notes = self.lookup_video(frames)
        present = {_video_identity(m) for m in record.matches}
        for found in matches:
            if _video_identity(found) not in present:
                record.matches.append(found)
        record.matches.sort(key=match_sort_key)
        record.notes.extend(note for note in notes if note not in record.notes)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle paths, not arrays (memory maps would otherwise be copied into every worker)."""
        return {
            "sets": [(s.name, s.role, str(s.source), str(s.compiled.directory)) for s in self.sets],
            "cache_dir": str(self.cache_dir),
            "thresholds": (self.pdq_threshold, self.phash_threshold, self.pdq_min_quality, self.vpdq_query_match,
                           self.vpdq_known_match),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Re-open the indexes; recompile from the source if this machine has no copy of the cache."""
        cache_dir = Path(state["cache_dir"])
        sets = []
        for name, role, source, directory in state["sets"]:
            try:
                compiled = open_index(Path(directory))
            except HashSetError:
                compiled, _reused = load_or_compile(Path(source), cache_dir)
            sets.append(LoadedSet(name, role, Path(source), compiled))
        self.__init__(sets, cache_dir, *state["thresholds"])  # type: ignore[misc]


__all__ = ["ROLE_ALERT", "ROLE_KNOWN", "HashSets", "LoadedSet", "match_sort_key", "parse_spec"]
