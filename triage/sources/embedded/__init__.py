"""Pictures held inside other streams: thumbnail caches, EXIF thumbnails. One small module per format.

Why a registry of finders: each format (``thumbcache.py``, ``thumbsdb.py``, ``exif.py``) knows how to recognise
its parent stream and walk it; ``triage.reading.children`` only asks which finder wants a record and turns what it
yields into child records (origin = the finder's ``origin``), hashed and matched like any picture. A finder never
raises for bad data: a damaged cache yields what it can read, and the rest is a ``problems`` line on the parent.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

MODULES: tuple[str, ...] = (  # format modules, imported on first use; each calls ``register``
    "triage.sources.embedded.thumbcache",
    "triage.sources.embedded.thumbsdb",
)


@dataclass(frozen=True)
class Embedded:
    """One picture found inside a parent stream.

    Attributes:
        name: the child's name under its parent, e.g. ``"3f2a9c0d1e5b7a11.jpg"`` (used in ``location``).
        data: the picture's bytes exactly as stored (their md5 is the child's md5).
        offset: where ``data`` starts in the parent stream, when it is stored contiguously.
        identifier: the format's own key for the entry (thumbcache entry hash, Thumbs.db stream name).
        notes: facts an examiner needs about this entry (e.g. "cache entry checksum does not match").
    """

    name: str
    data: bytes
    offset: int | None = None
    identifier: str | None = None
    notes: tuple[str, ...] = ()


@dataclass
class Found:
    """What a finder got from one parent: its pictures, and one-line problems with the parent itself."""

    items: list[Embedded] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Finder:
    """One format of embedded pictures.

    ``wants`` looks only at the record's name and signature type (cheap, before any read); ``find`` reads the
    parent from a seekable binary file of ``size`` bytes and yields what it holds; ``max_size`` bounds the parents
    it is given (larger ones are noted in the summary's ``limits``).
    """

    name: str
    origin: str
    wants: Callable[[str, str | None], bool]  # (file name, signature MIME type) -> bool
    find: Callable[[BinaryIO, int], Found]
    max_size: int


FINDERS: list[Finder] = []
_loaded = [False]


def register(finder: Finder) -> None:
    """Called by each format module at import."""
    FINDERS.append(finder)


def finders() -> list[Finder]:
    if not _loaded[0]:
        _loaded[0] = True
        for module in MODULES:
            importlib.import_module(module)
    return list(FINDERS)


def finder_for(name: str, mime: str | None) -> Finder | None:
    """The finder that wants a stream of this file name and type, if any (the first registered wins)."""
    if not _loaded[0]:
        finders()
    for finder in FINDERS:  # not ``finders()``: asked once a stream, a copy of the list each time added up
        if finder.wants(name, mime):
            return finder
    return None


def walk(source: BinaryIO, size: int, finder: Finder) -> Iterator[Embedded]:
    """Convenience for tests: the items alone."""
    yield from finder.find(source, size).items
