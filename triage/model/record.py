"""The file record: one data stream of one file, as it flows from file systems to reports.

A record carries two kinds of fields: what the file system says (path, inode, size, times, allocation) and what
reading the content showed (digests, type, perceptual hashes, matches, errors). ``to_json`` gives the
``files.jsonl`` contract of DESIGN.md; the ``locator`` is what a worker needs to reopen the same stream and is kept
out of the JSON.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field, fields
from typing import Any

from triage.analysis.typesniff import kind_of
from triage.model.locator import Locator, stream_locator

__all__ = ["FIELD_NAMES", "FileRecord", "Locator", "decode_name", "encode_name", "field_values", "json_safe",
           "stream_locator"]

TIME_KEYS = ("modified", "accessed", "changed", "created")


def decode_name(raw: bytes) -> str:
    """Decode a file-system name so that the raw bytes can always be rebuilt.

    Why surrogateescape: names on seized media are often not valid UTF-8; replacing bytes would make two
    different names look the same and lose the evidence. ``encode_name`` reverses it exactly.
    """
    return raw.decode("utf-8", errors="surrogateescape")


def encode_name(name: str) -> bytes:
    """Rebuild the raw bytes of a name decoded by ``decode_name``."""
    return name.encode("utf-8", errors="surrogateescape")


_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")  # an undecodable byte, as surrogateescape kept it


def json_safe(text: str) -> str:
    r"""Make a surrogate-escaped string safe for JSON and UTF-8 files.

    Lone surrogates (undecodable bytes) become ``\\xNN`` escapes and a literal backslash is doubled so that the
    mapping stays reversible and the output stays valid UTF-8.
    """
    if "\\" not in text and (text.isascii() or not _ESCAPED_BYTE.search(text)):
        return text  # the usual name, checked in C: a loop over characters cost ~8 us a record (issue 17)
    out = []
    for ch in text:
        if "\udc80" <= ch <= "\udcff":
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        elif ch == "\\":
            out.append("\\\\")
        else:
            out.append(ch)
    return "".join(out)


def where_found(origin: str, allocated: bool) -> str:
    """Where a record was found, for grouping matches in reports: its origin, with deleted files apart."""
    if origin in ("filesystem", "extraction") and not allocated:
        return "deleted"
    return origin


@dataclass(slots=True)
class FileRecord:
    """One data stream of one file (see DESIGN.md, files.jsonl).

    ``errors`` are things that went wrong reading this stream (counted in the summary); ``notes`` are facts that
    explain a missing digest without being a failure (e.g. a deleted name whose inode was reused). ``pdq_dihedral``
    is transient: it lives until the record is matched and stored, and is not part of files.jsonl. Slotted: a
    device lists every record before reading, and a per-instance dict of 25 fields cost ~1 KB each.
    """

    path: str
    volume: int | None
    fs: str
    inode: int | None
    size: int
    allocated: bool
    times: dict[str, str | None] = field(default_factory=lambda: dict.fromkeys(TIME_KEYS))
    locator: Locator | None = None
    md5: str | None = None
    sha1: str | None = None
    sha256: str | None = None
    type: str | None = None
    ext_mismatch: bool = False
    pdq: str | None = None
    pdq_quality: int | None = None
    phash: str | None = None
    known: bool = False
    matches: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    byte_runs: list[tuple[int, int, int]] | None = None  # (offset in stream, offset in media, length), when known
    id: str = ""  # stable across runs: the listing position, then ".n" per child ("12", "12.3")
    parent: str | None = None  # id of the record this one came out of (an archive), None for a top-level stream
    origin: str = "filesystem"  # "filesystem", "extraction", "archive", "snapshot", "exif-thumbnail", "thumbcache",
    # (thumbcache_*.db and Thumbs.db), "carved"
    location: str = ""  # the whole chain for people: "/Users/a/pack.zip » photos/a.jpg" ("" = the path)
    snapshot: int | None = None  # the volume shadow copy (1 = oldest) a record of origin "snapshot" came from
    identifier: str | None = None  # the parent format's key for an embedded picture (thumbcache entry hash, ...)
    embedded: list[FileRecord] | None = None  # pictures found inside while reading (EXIF thumbnail); transient
    # PDQ of the 7 rotated/mirrored variants (pdq.VARIANTS order), carried from the reader to the matcher
    # only: 448 hex characters per picture that no report needs, so never in to_json (files.jsonl).
    pdq_dihedral: tuple[str, ...] | None = None

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickled as its field values in order (the workers' pipes; the pending table marshals the same values
        and pickles only what marshal cannot hold): half the time and size of the default for slots, which names
        every field in every pickle (issue 17: every record a worker reads goes there and back)."""
        return FileRecord, field_values(self)

    @property
    def extension(self) -> str:
        """Lower-case extension of the file name (without the stream suffix), '' if none."""
        name = self.path.rpartition("/")[2]
        if ":" in name:
            name = name.partition(":")[0]
        stem = name.lstrip(".")  # as os.path.splitext: leading dots do not start an extension
        dot = stem.rfind(".")
        return stem[dot + 1:].lower() if dot >= 0 else ""

    @property
    def is_picture(self) -> bool:
        return kind_of(self.type) == "picture"

    @property
    def is_video(self) -> bool:
        return kind_of(self.type) == "video"

    @property
    def is_archive(self) -> bool:
        return kind_of(self.type) == "archive"

    @property
    def order(self) -> tuple[int, ...]:
        """Sort key of files.jsonl: listing order, each archive's members right after it."""
        return tuple(int(part) for part in self.id.split(".")) if self.id else ()

    def to_json(self) -> dict[str, Any]:
        """The files.jsonl object; key order is fixed so that outputs are byte-reproducible."""
        out: dict[str, Any] = {
            "id": self.id,
            "parent": self.parent,
            "origin": self.origin,
            **({"snapshot": self.snapshot} if self.snapshot is not None else {}),
            **({"identifier": json_safe(self.identifier)} if self.identifier is not None else {}),
            "location": json_safe(self.location or self.path),
            "path": json_safe(self.path),
            "volume": self.volume,
            "fs": self.fs,
            "inode": self.inode,
            "size": self.size,
            "allocated": self.allocated,
            "md5": self.md5,
            "sha1": self.sha1,
            "sha256": self.sha256,
            "type": self.type,
            "ext_mismatch": self.ext_mismatch,
            "times": {k: self.times.get(k) for k in TIME_KEYS},
        }
        if self.byte_runs is not None:
            out["byte_runs"] = [list(run) for run in self.byte_runs]
        if self.is_picture or self.pdq or self.phash:
            out["pdq"] = self.pdq
            out["pdq_quality"] = self.pdq_quality
            out["phash"] = self.phash
        out["known"] = self.known
        out["matches"] = list(self.matches)
        out["errors"] = list(self.errors)
        out["notes"] = list(self.notes)
        return out


FIELD_NAMES = tuple(item.name for item in fields(FileRecord))  # in ``__init__``'s order
field_values = operator.attrgetter(*FIELD_NAMES)  # a record's field values, in that order
