"""EXIF thumbnails: the small JPEG a camera or editor stores in IFD1 of a JPEG's APP1 segment or of a TIFF.

Why it matters: editors often rewrite the main picture (crop, blur, paint over) and leave the EXIF thumbnail as it
was, so the thumbnail can still show the original. It is found from the bytes already in memory for perceptual
hashing (no second read): the marker segments are walked to the first ``Exif`` APP1 (never past the start of
scan), IFD0's "next IFD" link gives IFD1, and its JPEGInterchangeFormat (0x0201) / JPEGInterchangeFormatLength
(0x0202) tags give the thumbnail (EXIF 2.32, section 4.5.5 and 4.6.2). Only JPEG thumbnails are taken (uncompressed
TIFF-strip thumbnails are rare and are noted). HEIC/HEIF keeps its EXIF in an ``Exif`` item of the ``meta`` box
(``heif.exif_tiff`` finds it without decoding the picture). Never raises: a damaged EXIF block gives no
thumbnail and, when it claimed one, a reason.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from triage.defaults import EXIF_THUMBNAIL_MAX
from triage.sources.embedded import heif

EXIF_HEADER = b"Exif\x00\x00"
TAG_COMPRESSION = 0x0103
TAG_OFFSET = 0x0201
TAG_LENGTH = 0x0202
MAX_IFD_ENTRIES = 1024  # a real IFD has a few dozen; more is damage


@dataclass(frozen=True)
class Thumbnail:
    """An EXIF thumbnail: its bytes and where they start in the parent picture (None: nothing, see ``problem``)."""

    data: bytes | None
    offset: int | None = None
    problem: str | None = None


def _app1_tiff(data: bytes) -> int | None:
    """Offset of the TIFF header inside the first Exif APP1 segment of a JPEG, else None."""
    if not data.startswith(b"\xff\xd8"):
        return None
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            at += 2
            continue
        if marker in (0xDA, 0xD9):  # start of scan, end of image: no EXIF before them
            return None
        (length,) = struct.unpack_from(">H", data, at + 2)
        if length < 2:
            return None
        if marker == 0xE1 and data[at + 4 : at + 10] == EXIF_HEADER:
            return at + 10
        at += 2 + length
    return None


def _ifd(tiff: memoryview, offset: int, order: str) -> tuple[dict[int, tuple[int, int, int]], int] | None:
    """Entries {tag: (type, count, value)} of the IFD at ``offset`` and the next IFD's offset; None if out of range."""
    if offset < 8 or offset + 2 > len(tiff):
        return None
    (count,) = struct.unpack_from(order + "H", tiff, offset)
    if count > MAX_IFD_ENTRIES or offset + 2 + 12 * count + 4 > len(tiff):
        return None
    entries = {}
    for index in range(count):
        tag, kind, number = struct.unpack_from(order + "HHI", tiff, offset + 2 + 12 * index)
        if kind == 3:  # SHORT: the value sits in the first two bytes of the field
            (value,) = struct.unpack_from(order + "H", tiff, offset + 2 + 12 * index + 8)
        else:
            (value,) = struct.unpack_from(order + "I", tiff, offset + 2 + 12 * index + 8)
        entries[tag] = (kind, number, value)
    (following,) = struct.unpack_from(order + "I", tiff, offset + 2 + 12 * count)
    return entries, following


def _from_tiff(tiff: memoryview, base: int) -> Thumbnail:
    """The IFD1 JPEG thumbnail of the TIFF structure ``tiff`` (which starts at ``base`` in the parent)."""
    if len(tiff) < 8 or bytes(tiff[:4]) not in (b"II*\x00", b"MM\x00*"):
        return Thumbnail(None)
    order = "<" if tiff[0] == 0x49 else ">"
    (first,) = struct.unpack_from(order + "I", tiff, 4)
    ifd0 = _ifd(tiff, first, order)
    if ifd0 is None or ifd0[1] == 0:
        return Thumbnail(None)
    ifd1 = _ifd(tiff, ifd0[1], order)
    if ifd1 is None:
        return Thumbnail(None, problem="EXIF IFD1 lies outside the EXIF block: no thumbnail read")
    entries = ifd1[0]
    if TAG_OFFSET not in entries or TAG_LENGTH not in entries:
        if entries.get(TAG_COMPRESSION, (0, 0, 0))[2] == 1:
            return Thumbnail(None, problem="EXIF thumbnail is uncompressed (TIFF strips): not read")
        return Thumbnail(None)
    start, length = entries[TAG_OFFSET][2], entries[TAG_LENGTH][2]
    if length == 0:
        return Thumbnail(None)
    if length > EXIF_THUMBNAIL_MAX:
        return Thumbnail(None, problem=f"EXIF thumbnail of {length} bytes is above the limit ({EXIF_THUMBNAIL_MAX})")
    if start + length > len(tiff):
        return Thumbnail(None, problem=f"EXIF thumbnail ({length} bytes at {start}) runs past the EXIF block")
    data = bytes(tiff[start : start + length])
    if not data.startswith(b"\xff\xd8"):
        return Thumbnail(None, problem="EXIF thumbnail does not start with a JPEG marker")
    return Thumbnail(data, base + start)


def thumbnail(data: bytes, mime: str | None) -> Thumbnail:
    """The EXIF thumbnail of a JPEG, TIFF or HEIC/HEIF picture held in memory; ``Thumbnail(None)`` when it has none."""
    try:
        if mime == "image/jpeg":
            at = _app1_tiff(data)
            if at is None:
                return Thumbnail(None)
            (segment,) = struct.unpack_from(">H", data, at - 8)
            end = min(len(data), at - 8 + segment)
            return _from_tiff(memoryview(data)[at:end], at)
        if mime == "image/tiff":
            return _from_tiff(memoryview(data), 0)
        if mime in ("image/heic", "image/heif", "image/avif"):
            where = heif.exif_tiff(data)
            if where is None:
                return Thumbnail(None)
            return _from_tiff(memoryview(data)[where[0] : where[1]], where[0])
    except (struct.error, IndexError, ValueError):
        return Thumbnail(None, problem="EXIF block is damaged: no thumbnail read")
    return Thumbnail(None)
