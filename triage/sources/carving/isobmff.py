"""Where a carved MP4, MOV, 3GP or HEIC/HEIF/AVIF ends: a walk over its top-level ISO base media boxes.

Why a box walk: these files have no footer; they are a chain of boxes (size, type), so the item is the span of
the plausible top-level boxes that follow its ``ftyp``, and the walk stops at the first box that is not one
(unknown type, impossible size, a second ``ftyp``, a size-0 "to the end of the file" box whose end a carver
cannot know). A video must hold ``moov`` (with an ``mvhd``) and ``mdat``; a HEIF/AVIF picture a ``meta`` box
starting with its ``hdlr``. Only box headers are read, so a multi-GiB video costs a few reads. Videos are not
decoded (no decoder in the dependencies); pictures are, by the caller. The MIME type is the one
``triage.analysis.typesniff`` gives the item's first bytes, so carved and allocated files are named alike.
"""

from __future__ import annotations

import struct

from triage.analysis.typesniff import kind_of, sniff
from triage.sources.carving.validate import Check, Source, drop, size_text

# Major brands carved (ISO/IEC 14496-12 and -15, 23008-12, 3GPP TS 26.244, QuickTime, and registered camera
# brands as listed by the MP4 registration authority). Audio-only brands (M4A, M4B, M4P) are not carved.
VIDEO_BRANDS = frozenset(
    b.encode() for b in (
        "isom", "iso2", "iso3", "iso4", "iso5", "iso6", "iso7", "iso8", "iso9", "mp41", "mp42", "mp71", "avc1",
        "dash", "msdh", "msix", "M4V ", "M4VH", "M4VP", "MSNV", "NDAS", "NDSC", "NDSH", "NDSM", "NDSP", "NDSS",
        "NDXC", "NDXH", "NDXM", "NDXP", "NDXS", "F4V ", "f4v ", "XAVC", "mmp4", "KDDI", "CAEP", "caqv", "qt  ",
        "3gp4", "3gp5", "3gp6", "3gp7", "3gp8", "3gp9", "3ge6", "3ge7", "3gg6", "3g2a", "3g2b", "3g2c", "hvc1",
        "avis", "msf1", "hevc", "hevx",
    )
)
PICTURE_BRANDS = frozenset(b.encode() for b in ("heic", "heix", "heim", "heis", "mif1", "avif"))
AUDIO_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P "})

# Boxes that may stand at the top level of a file (ISO/IEC 14496-12 and QuickTime's own).
TOP_LEVEL = frozenset(
    b.encode() for b in (
        "moov", "mdat", "free", "skip", "wide", "uuid", "meta", "moof", "mfra", "sidx", "ssix", "styp", "pdin",
        "prft", "emsg", "pnot", "junk", "meco",
    )
)
MAX_FTYP = 4096  # a ftyp box lists a handful of brands; a larger one is not a real header
MAX_CHILDREN = 4096  # child boxes walked inside one moov or meta box


def _printable(code: bytes) -> bool:
    return len(code) == 4 and all(0x20 <= c < 0x7F for c in code)


def _box(src: Source, p: int) -> tuple[int, bytes, int] | None:
    """(size, type, header length) of the box at ``p``, or None when its header is short or sizes nothing."""
    head = src.get(p, 16)
    if len(head) < 8:
        return None
    size, kind = struct.unpack(">I4s", head[:8])
    if size == 1:
        if len(head) < 16:
            return None
        return struct.unpack(">Q", head[8:16])[0], kind, 16
    return size, kind, 8


def _children(src: Source, start: int, end: int) -> list[bytes] | None:
    """Types of the boxes that fill [start, end) exactly, or None when they do not."""
    kinds: list[bytes] = []
    p = start
    while p < end and len(kinds) < MAX_CHILDREN:
        box = _box(src, p)
        if box is None or box[0] < box[2] or not _printable(box[1]) or p + box[0] > end:
            return None
        kinds.append(box[1])
        p += box[0]
    return kinds if p == end else None


def check_ftyp(src: Source, start: int, max_picture: int, max_video: int) -> Check:
    """Find the end of the ISO media file whose ``ftyp`` box starts at ``start``; the caller decodes pictures."""
    head = src.get(start, 64)
    if len(head) < 16:
        return drop("implausible ftyp box")
    size = struct.unpack(">I", head[:4])[0]
    major = head[8:12]
    if not 16 <= size <= MAX_FTYP or size % 4 or not _printable(major):
        return drop("implausible ftyp box")
    if major in AUDIO_BRANDS:
        return drop("audio brand, not carved")
    if major not in VIDEO_BRANDS and major not in PICTURE_BRANDS:
        return drop("unknown brand")
    mime = sniff(head) or "video/mp4"
    picture = kind_of(mime) == "picture"
    max_size = max_picture if picture else max_video
    p = start + size
    seen: set[bytes] = set()
    stop = ""
    while True:
        if p - start >= max_size:
            stop = f"larger than {size_text(max_size)}"
            break
        box = _box(src, p)
        if box is None:
            stop = "runs past the end of the range"
            break
        length, kind, header = box
        if kind in TOP_LEVEL and length == 0:
            stop = f"{kind.decode()} box sized to the end of the file"  # its end cannot be known here
            break
        if kind not in TOP_LEVEL or length < header:
            break
        if p + length > src.end:
            stop = f"{kind.decode()} box runs past the end of the range"
            break
        if p + length - start > max_size:
            stop = f"larger than {size_text(max_size)}"
            break
        if kind == b"moov":
            inner = _children(src, p + header, p + length)
            if inner is None or not ({b"mvhd", b"cmov"} & set(inner)):
                break
        elif kind == b"meta" and not _meta_ok(src, p + header, p + length):
            break
        seen.add(kind)
        p += length
    need = (b"meta",) if picture else (b"moov", b"mdat")
    missing = [kind.decode() for kind in need if kind not in seen]
    if missing:
        return drop(stop or f"no {missing[0]} box")
    return Check(p - start, mime)


def _meta_ok(src: Source, start: int, end: int) -> bool:
    """A meta box is a full box (4 bytes of version and flags) whose first child is its handler (``hdlr``)."""
    inner = _children(src, start + 4, end)
    if inner is not None:
        return bool(inner) and inner[0] == b"hdlr"
    # QuickTime writes meta without the version/flags field.
    inner = _children(src, start, end)
    return bool(inner) and inner[0] == b"hdlr"
