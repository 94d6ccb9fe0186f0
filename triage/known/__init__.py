"""Known-image hash sets: parse any supported format, compile it once, match file records against it.

The scan uses exactly ``HashSets`` (see ``hashsets.py`` for the matching rules); ``cli_support`` holds the
plain functions behind ``triage hashset info|compile|verify``. Module map, one job each:

- ``detect``: format by content -> ``parse_lines`` (lists, *sum), ``parse_tabular`` (CSV, hashdeep),
  ``parse_vics`` (Project VIC / CAID JSON), ``parse_nsrl`` (NSRL RDS v3 SQLite), ``parse_vpdq`` (Meta vPDQ
  signatures of known videos: a file, a directory, a CSV); all yield a ``model.ParsedSet``.
- ``exact_index`` / ``perceptual_index``: sorted binary keys / multi-index hashing over Hamming distance.
- ``videos``: known videos' frame lists, parsed, compiled (one index over all their frames) and opened.
- ``video_match``: a scanned video's frames against picture PDQ (``pdq-frame``) and known videos (Meta's vPDQ
  rule, ``vpdq``), behind ``HashSets.match_video``.
- ``store``: the cache directory, atomic writes, memory-mapped opening.
"""

from __future__ import annotations

from triage.known.hashsets import HashSets, LoadedSet, match_sort_key, parse_spec
from triage.known.video_match import Frame

__all__ = ["Frame", "HashSets", "LoadedSet", "match_sort_key", "parse_spec"]
