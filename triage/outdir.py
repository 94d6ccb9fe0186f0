"""Device output folders: which name a scan may write to, names that fit the file system, write errors.

Why a module of its own: a scan must never replace another evidence file's results (two ``usb.raw`` from two
folders, or a folder left by an earlier run), every name it creates (final, ``.incomplete``, the hidden
temporary and ``.old`` folders) must fit the file system's name limit, and a full or read-only output folder is
the examiner's problem to fix, not a crash. ``results.write_outputs`` does the writing with these rules.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from triage.errors import OutputError
from triage.textsafe import from_json_safe

# Bytes the hidden folders add to a device folder name: ".<name>.XXXXXXXX.tmp" (tempfile's 8 random characters)
# is the longest; ".<name>.old.<pid>" adds at most 13 (pids have at most 7 digits), ".incomplete" 11.
DECORATION = 14
DEFAULT_NAME_MAX = 255
HASH_CHARS = 12  # hex digits of sha256(full name) that keep truncated names distinct
MAX_SUFFIX = 100_000  # usb-2 … usb-100000: past this the output folder is not a sane place any more
FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
DENIED = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})


def encoded_size(text: str) -> int:
    """Length in bytes of ``text`` as a file name (UTF-8; undecodable bytes kept by surrogateescape)."""
    try:
        return len(os.fsencode(text))
    except UnicodeEncodeError:  # a lone surrogate outside surrogateescape's range: counted as UTF-8 would
        return len(text.encode("utf-8", "surrogatepass"))


def name_limit(out_root: Path) -> int:
    """Bytes a device folder name may take in ``out_root`` so that every folder derived from it still fits.

    The limit is the file system's (``PC_NAME_MAX`` of the nearest existing folder), 255 where unknown.
    """
    probe = out_root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        limit = os.pathconf(probe, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        limit = DEFAULT_NAME_MAX
    if limit is None or limit <= 0:  # -1: no limit reported
        limit = DEFAULT_NAME_MAX
    return max(limit, 64) - DECORATION


def fit(base: str, suffix: str, limit: int) -> str:
    """``base + suffix`` if it fits in ``limit`` bytes, else ``base`` cut + ``~`` + a hash of ``base`` + ``suffix``.

    Why the hash: two long evidence names differing only at the end must still give two names, and the same
    name must give the same folder on every run (a re-scan finds its earlier results). Cut on whole characters.
    """
    if encoded_size(base + suffix) <= limit:
        return base + suffix
    digest = hashlib.sha256(base.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_CHARS]
    tail = f"~{digest}{suffix}"
    room = limit - encoded_size(tail)
    kept: list[str] = []
    for ch in base:
        room -= encoded_size(ch)
        if room < 0:
            break
        kept.append(ch)
    return "".join(kept) + tail


def evidence_key(paths: Iterable[str]) -> tuple[str, ...]:
    """The evidence set as summary.json records it (``evidence.paths``), each path resolved.

    Why resolved: ``triage scan usb.raw`` and ``triage scan /cases/usb.raw`` (or a symlink to it) are the same
    evidence; ``a/usb.raw`` and ``b/usb.raw`` are not.
    """
    key = []
    for path in paths:
        raw = from_json_safe(str(path))  # summary.json keeps undecodable bytes as \xNN
        try:
            key.append(str(Path(raw).resolve()))
        except (OSError, RuntimeError):  # a symlink loop: compare the absolute path as given
            key.append(os.path.abspath(raw))
    return tuple(key)


def holder(folder: Path) -> tuple[str, ...] | None:
    """Whose results ``folder`` holds: the evidence key from its summary.json, () when it is not a result of
    ours we can identify (a file, a symlink, no or unreadable summary), None when nothing is there."""
    if not os.path.lexists(folder):
        return None
    if folder.is_symlink() or not folder.is_dir():
        return ()
    try:
        with open(folder / "summary.json", encoding="utf-8") as fh:
            summary = json.load(fh)
        paths = summary["evidence"]["paths"]
    except (OSError, ValueError, KeyError, TypeError):
        return ()
    if not isinstance(paths, list) or not paths:
        return ()
    return evidence_key(paths)


def choose_name(out_root: Path, base: str, key: tuple[str, ...], limit: int) -> str:
    """The device folder name for evidence ``key``: ``base``, else ``base-2``, ``base-3``… (as ``triage case``).

    A name is free for this evidence when neither ``<name>`` nor ``<name>.incomplete`` holds another
    evidence's results (or anything we cannot identify): a scan never replaces another evidence file's results,
    and a re-scan of the same evidence finds the folder it wrote before.
    """
    for n in range(1, MAX_SUFFIX + 1):
        name = fit(base, "" if n == 1 else f"-{n}", limit)
        if all(holder(out_root / entry) in (None, key) for entry in (name, f"{name}.incomplete")):
            return name
    raise OutputError(f"no free output folder name for {base} in {out_root} (tried {base}-2 … {base}-{MAX_SUFFIX})")


def output_error(exc: OSError, out_root: Path, name: str) -> OutputError:
    """The one-line error for an OSError met while writing ``name``'s results into ``out_root``."""
    reason = exc.strerror or exc.__class__.__name__
    lost = f"(the results of {name} were not written)"
    if exc.errno in FULL:
        return OutputError(f"output folder full: {out_root}: {reason} {lost}")
    if exc.errno in DENIED:
        return OutputError(f"output folder not writable: {out_root}: {reason} {lost}")
    named = exc.filename if isinstance(exc.filename, (str, bytes)) else None
    where = f"{os.fsdecode(named)}: " if named and Path(os.fsdecode(named)) != out_root else ""
    return OutputError(f"cannot write to output folder {out_root}: {where}{reason} {lost}")


__all__ = ["choose_name", "evidence_key", "fit", "holder", "name_limit", "output_error"]
