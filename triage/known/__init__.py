"""Known-image hash sets: parse any supported format, compile it once, match file records against it.

The scan uses exactly ``HashSets`` (see ``hashsets.py`` for the matching rules); ``cli_support`` holds the
plain functions behind ``triage hashset info|compile|verify``. Module map, one job each:

- ``detect``: format by content -> ``parse_lines`` (lists, *sum), ``parse_tabular`` (CSV, hashdeep),
  ``parse_vics`` (Project VIC / CAID JSON), ``parse_nsrl`` (NSRL RDS v3 SQLite); all yield a
  ``model.ParsedSet``.
- ``exact_index`` / ``perceptual_index``: sorted binary keys / multi-index hashing over Hamming distance.
- ``store``: the cache directory, atomic writes, memory-mapped opening.
"""

from __future__ import annotations

from triage.known.hashsets import HashSets, LoadedSet, match_sort_key, parse_spec

__all__ = ["HashSets", "LoadedSet", "match_sort_key", "parse_spec"]
