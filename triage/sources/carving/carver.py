"""Carving: contiguous pictures and ftyp videos found by signature in byte ranges of a device.

Why this shape: unallocated space and the gaps outside partitions hold deleted pictures whose directory entries
are gone. Each range is read in large blocks (``CarveLimits.block``, a little overlap so a header straddling two
blocks is seen); the signatures are searched in C (``signatures``); each header found is validated by walking its
structure (``validate``, ``isobmff``) and, for a picture, by decoding it with Pillow. Only **contiguous** items
are found: a fragmented file fails its walk or its decode and is counted as dropped, with the reason.

Decisions an examiner needs:

- **No double counting**: once an item is kept, headers inside it (the EXIF thumbnail of a carved JPEG, a JPEG
  frame or cover picture inside a carved MP4 or MOV) are not carved again; they are counted in
  ``CarveStats.inside``. Headers inside an item that failed validation are still tried, so a picture in a region
  that looked like the start of something else is not lost.
- **Nothing is dropped silently**: every header tried is either kept (``kept`` by type) or dropped (``dropped``
  by signature and reason); read errors and the item limit are in ``errors`` and ``limit``.
- **Videos** are validated by their box structure only (no video decoder is a dependency). HEIC/HEIF pictures
  are decoded when the optional pillow-heif is installed; without it they are kept on their box structure with
  the note "not decoded: pillow-heif missing" (dropping them would lose evidence on machines without the
  plugin, and the caller's perceptual hashing reports the same gap).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from triage.analysis.pictures import HEIF_AVAILABLE
from triage.defaults import (
    CARVE_BLOCK,
    CARVE_MAX_ITEMS,
    CARVE_MAX_PICTURE,
    CARVE_MAX_VIDEO,
    MAX_PIXELS,
    PICTURE_BYTES,
)
from triage.errors import TriageError, one_line
from triage.sources.carving import isobmff, jpeg, validate
from triage.sources.carving.signatures import AHEAD, find_headers
from triage.sources.carving.validate import Check, decode_problem

HEIF_MISSING = "not decoded: pillow-heif missing"
MAX_ERRORS = 100  # read errors listed one by one; more are only counted
_LOOKAHEAD = 64 << 10  # bytes read past a block's end so most headers near it are validated from memory
_HEIF = frozenset({"image/heic", "image/heif"})


def _default_sizes() -> dict[str, int]:
    sizes = dict.fromkeys(("jpeg", "png", "gif", "bmp", "webp", "heif"), CARVE_MAX_PICTURE)
    sizes["video"] = CARVE_MAX_VIDEO
    return sizes


@dataclass(frozen=True)
class CarveLimits:
    """Bounds of one device's carving.

    ``max_size`` is keyed by signature ("jpeg", "png", "gif", "bmp", "webp"), "heif" for HEIC/HEIF/AVIF pictures
    and "video" for MP4/MOV/3GP: a header whose item would be larger is dropped with that reason.
    """

    block: int = CARVE_BLOCK
    max_items: int = CARVE_MAX_ITEMS
    max_bytes: int | None = None  # bytes searched before carving stops (a sparse container's never-stored space)
    deadline: float | None = None  # time.monotonic() past which carving stops (the time budget)
    max_size: Mapping[str, int] = field(default_factory=_default_sizes)
    max_pixels: int = MAX_PIXELS


@dataclass
class CarveStats:
    """What carving saw, for the summary: headers tried, kept and dropped (with reasons), read problems."""

    scanned: int = 0  # bytes of the ranges searched
    ranges: int = 0  # contiguous ranges (touching input ranges are joined)
    headers: Counter[str] = field(default_factory=Counter)  # signature -> headers validated
    inside: Counter[str] = field(default_factory=Counter)  # signature -> headers inside a kept item, not tried
    kept: Counter[str] = field(default_factory=Counter)  # MIME type -> items kept
    dropped: dict[str, Counter[str]] = field(default_factory=dict)  # signature -> reason -> headers dropped
    errors: list[str] = field(default_factory=list)  # read errors, one line each (the first MAX_ERRORS)
    error_count: int = 0
    limit: str | None = None  # set when max_items stopped the carving

    def drop(self, signature: str, reason: str) -> None:
        self.dropped.setdefault(signature, Counter())[reason] += 1

    def error(self, text: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(text)

    def lines(self) -> list[str]:
        """One line per count, e.g. "jpeg: no end marker within 64 MiB: 3" (for the summary and logs)."""
        out = [f"scanned: {self.scanned} bytes in {self.ranges} ranges (contiguous items only)"]
        out += [f"{mime}: {n} kept" for mime, n in sorted(self.kept.items())]
        for sig, reasons in sorted(self.dropped.items()):
            out += [f"{sig}: {reason}: {n}" for reason, n in sorted(reasons.items())]
        out += [f"{sig}: inside a kept item, not carved again: {n}" for sig, n in sorted(self.inside.items())]
        if self.error_count:
            out.append(f"read errors: {self.error_count}")
        if self.limit:
            out.append(self.limit)
        return out

    def as_dict(self) -> dict[str, object]:
        return {"scanned": self.scanned, "ranges": self.ranges, "headers": dict(self.headers),
                "inside": dict(self.inside), "kept": dict(self.kept),
                "dropped": {sig: dict(reasons) for sig, reasons in self.dropped.items()},
                "errors": list(self.errors), "error_count": self.error_count, "limit": self.limit}


@dataclass(frozen=True)
class Carved:
    """One carved item: ``offset`` and ``length`` on the media; ``data`` its bytes when ≤ PICTURE_BYTES."""

    offset: int
    length: int
    type: str
    data: bytes | None = None
    note: str | None = None


class _Range:
    """One contiguous range of media: the current block in memory, other reads straight from the media."""

    def __init__(self, read: Callable[[int, int], bytes], start: int, end: int) -> None:
        self.read = read
        self.start = start
        self.end = end
        self.base = start
        self.buf = b""

    def get(self, offset: int, length: int) -> bytes:
        length = min(length, self.end - offset)
        if length <= 0:
            return b""
        rel = offset - self.base
        if rel >= 0 and rel + length <= len(self.buf):
            return self.buf[rel : rel + length]
        return self.read(offset, length)


def _joined(ranges: Iterable[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """(start, end) of the input ranges with touching or overlapping ones joined and empty ones left out."""
    current: list[int] | None = None
    for offset, length in ranges:
        if length <= 0:
            continue
        if current is not None and offset <= current[1]:
            current[1] = max(current[1], offset + length)
            continue
        if current is not None:
            yield current[0], current[1]
        current = [offset, offset + length]
    if current is not None:
        yield current[0], current[1]


_PICTURE_CHECKS = {"jpeg": jpeg.check_jpeg, "png": validate.check_png, "gif": validate.check_gif,
                   "bmp": validate.check_bmp, "webp": validate.check_webp}


def _check(src: _Range, start: int, signature: str, limits: CarveLimits) -> tuple[Check, bytes | None]:
    """Validate the header at ``start``: the verdict and, for a kept item ≤ PICTURE_BYTES, its bytes."""
    sizes = limits.max_size
    if signature == "ftyp":
        check = isobmff.check_ftyp(src, start, sizes["heif"], sizes["video"])
    else:
        check = _PICTURE_CHECKS[signature](src, start, sizes[signature], limits.max_pixels)
    if check.reason is not None or check.mime is None:
        return check, None
    data = src.get(start, check.length) if check.length <= PICTURE_BYTES else None
    if data is not None and len(data) < check.length:
        return Check(reason="short read"), None
    if not check.mime.startswith("image/"):
        return check, data
    if check.mime in _HEIF and not HEIF_AVAILABLE:
        return Check(check.length, check.mime, note=HEIF_MISSING), data
    problem = decode_problem(data, check.mime, limits.max_pixels) if data is not None else "too large to decode"
    return (Check(reason=problem), None) if problem else (check, data)


def _stop(limits: CarveLimits, stats: CarveStats, pos: int) -> str | None:
    """Why carving stops before the block at ``pos`` (a budget reached), else None."""
    if limits.max_bytes is not None and stats.scanned >= limits.max_bytes:
        return f"carving stopped at media offset {pos}: {limits.max_bytes} bytes searched (byte budget)"
    if limits.deadline is not None and time.monotonic() > limits.deadline:
        return f"carving stopped at media offset {pos}: time budget reached"
    return None


def carve(read: Callable[[int, int], bytes], ranges: Iterable[tuple[int, int]],
          limits: CarveLimits | None = None, stats: CarveStats | None = None) -> Iterator[Carved]:
    """Yield the contiguous pictures and videos found in ``ranges`` ((media offset, length), increasing order).

    ``read(offset, length)`` returns media bytes (short only at the end of the media). Items never span two
    ranges that do not touch. ``stats`` (if given) is filled as the items are yielded.
    """
    limits = limits or CarveLimits()
    stats = stats if stats is not None else CarveStats()
    kept = 0
    for start, end in _joined(ranges):
        stats.ranges += 1
        src = _Range(read, start, end)
        skip_to = start  # end of the last kept item: headers before it are inside it
        pos = start
        while pos < end:
            stop = _stop(limits, stats, pos)
            if stop:
                stats.limit = stop
                return
            hi = min(pos + limits.block, end)
            want = min(end, hi + max(AHEAD, _LOOKAHEAD)) - pos
            try:
                buf = read(pos, want)
            except (TriageError, OSError) as exc:
                stats.error(f"carving read at offset {pos}: {one_line(exc)}")
                stats.scanned += hi - pos
                src.buf = b""
                pos = hi
                continue
            src.base, src.buf = pos, buf
            if len(buf) < want:
                stats.error(f"carving read at offset {pos}: {want} bytes asked, {len(buf)} read")
                hi = min(hi, pos + len(buf))
                end = src.end = pos + len(buf)
            stats.scanned += hi - pos
            for offset, sig in find_headers(buf, hi - pos):
                at = pos + offset
                if at < skip_to:
                    stats.inside[sig.name] += 1
                    continue
                stats.headers[sig.name] += 1
                try:
                    check, data = _check(src, at, sig.name, limits)
                except (TriageError, OSError) as exc:
                    stats.error(f"carving read near offset {at}: {one_line(exc)}")
                    stats.drop(sig.name, "read error")
                    continue
                if check.reason is not None or check.mime is None:
                    stats.drop(sig.name, check.reason or "not recognised")
                    continue
                stats.kept[check.mime] += 1
                skip_to = at + check.length
                yield Carved(at, check.length, check.mime, data, check.note)
                kept += 1
                if kept >= limits.max_items:
                    stats.limit = f"carving stopped after {kept} items (limit)"
                    return
            pos = hi
