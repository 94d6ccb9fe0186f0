"""The one registry: a locator's ``kind`` names the opener that turns it (and its opened parent) into a handle.

Each source module registers its own kinds when imported — containers ``evidence``, file systems ``tsk-fs`` and
``apfs-fs``, extractions ``extraction`` — the way dissect.target registers containers, without import magic:
``SOURCES`` lists the modules, imported on first use. Handles are cached per process, keyed by locator, so a
worker opens each evidence file and file system once; a locator under another evidence closes the previous
device's handles first (a worker serves one device at a time).
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from typing import Any

from triage.errors import TriageError
from triage.model.locator import Locator

Opener = Callable[[Locator, Any], Any]  # (locator, its parent's open handle or None) -> handle

SOURCES = (
    "triage.sources.containers",
    "triage.sources.filesystems",
    "triage.sources.extractions",
    "triage.sources.volumes.bitlocker",
    "triage.sources.volumes.luks",
    "triage.sources.volumes.filevault",
    "triage.sources.volumes.lvm",
    "triage.sources.volumes.shadow",
)

_OPENERS: dict[str, Opener] = {}
_OPEN: dict[Locator, Any] = {}
_ROOT: list[Locator | None] = [None]
_loaded = [False]


def register(kind: str, opener: Opener) -> None:
    """Make ``kind`` openable; called by each source module at import."""
    _OPENERS[kind] = opener


def kinds() -> list[str]:
    _load()
    return sorted(_OPENERS)


def _load() -> None:
    if not _loaded[0]:
        _loaded[0] = True
        for module in SOURCES:
            importlib.import_module(module)


def adopt(locator: Locator, handle: Any) -> None:
    """Put a handle this process already opened (the scan's own) in the cache, so ``open_node`` reuses it."""
    _OPEN[locator] = handle


def open_node(locator: Locator) -> Any:
    """The open handle of ``locator`` in this process: an evidence, a file system, an extraction."""
    handle = _OPEN.get(locator)
    if handle is not None:
        return handle
    _load()
    root = locator.chain()[0]
    if _ROOT[0] is not None and _ROOT[0] != root:
        close_all()
    _ROOT[0] = root
    opener = _OPENERS.get(locator.kind)
    if opener is None:
        raise TriageError(f"no source registered for locator kind {locator.kind!r}")
    parent = open_node(locator.parent) if locator.parent is not None else None
    handle = opener(locator, parent)
    _OPEN[locator] = handle
    return handle


def read_stream(locator: Locator, size: int) -> Iterator[bytes]:
    """The bytes of a stream, through the file system or extraction its locator's parent names."""
    if locator.parent is None:
        raise TriageError(f"stream locator of kind {locator.kind!r} has no parent to read it through")
    return open_node(locator.parent).read_stream(locator, size)


def close_all() -> None:
    """Close every cached handle, innermost first."""
    for handle in reversed(list(_OPEN.values())):
        close = getattr(handle, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                close()
    _OPEN.clear()
    _ROOT[0] = None
