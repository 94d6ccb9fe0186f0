"""Structure checks of one candidate picture: where it ends, or why it is not one (PNG, GIF, BMP, WebP; JPEG
in ``jpeg``, ftyp files in ``isobmff``).

Why walk the structure instead of searching for a footer: a footer search cuts a JPEG at its EXIF thumbnail's
EOI and takes any ``IEND`` in random data; walking the marker segments, chunks and blocks by their lengths finds
the real end and rejects most false headers within a few bytes, before any decoding. What survives the walk is
decoded by Pillow (``decode_problem``): an item is kept only when it decodes. Only contiguous items are found: a
fragmented file fails its walk (or its decode) and is counted as dropped with the reason.

Every check returns a ``Check``; none raises for bad data. Reasons are short and few (they key the summary's
counts), never built from the bytes read.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from dataclasses import dataclass
from typing import Protocol

from PIL import Image

CHUNK = 1 << 20  # bytes fetched at a time while walking one item
_MIN_REST = 64 << 10  # a kept chunk is searched on while it still holds this much


class Source(Protocol):
    """The media bytes of one contiguous range; reads past ``end`` come back short."""

    end: int

    def get(self, offset: int, length: int) -> bytes: ...


@dataclass(frozen=True)
class Check:
    """The verdict on one header: ``length`` and ``mime`` when its structure holds, else ``reason``."""

    length: int = 0
    mime: str | None = None
    reason: str | None = None
    note: str | None = None


def drop(reason: str) -> Check:
    return Check(reason=reason)


def size_text(n: int) -> str:
    """64 MiB, 8 GiB: limits as the summary prints them."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} bytes"


def too_long(start: int, limit: int, src: Source, what: str) -> str:
    """Why a walk ran out: the item's size bound, or the end of the contiguous range (a fragmented file)."""
    if limit < src.end:
        return f"no {what} within {size_text(limit - start)}"
    return f"no {what} before the end of the range"


class Cursor:
    """Reads of one item in order, from a chunk kept in memory, never past ``limit``."""

    def __init__(self, src: Source, limit: int) -> None:
        self.src = src
        self.limit = min(limit, src.end)
        self.base = 0
        self.buf = b""

    def at(self, offset: int, length: int) -> bytes | None:
        """``length`` bytes at ``offset``, or None when they would pass the limit (or the media is short)."""
        if offset + length > self.limit:
            return None
        rel = offset - self.base
        if rel < 0 or rel + length > len(self.buf):
            self.base = offset
            self.buf = self.src.get(offset, min(max(length, CHUNK), self.limit - offset))
            rel = 0
            if len(self.buf) < length:
                return None
        return self.buf[rel : rel + length]

    def upto(self, offset: int) -> bytes:
        """The bytes from ``offset`` on: what the kept chunk still holds, or a new chunk (empty past the limit)."""
        rel = offset - self.base
        if 0 <= rel < len(self.buf) and (len(self.buf) - rel >= _MIN_REST or self.base + len(self.buf) >= self.limit):
            return self.buf[rel:]
        return self.at(offset, min(CHUNK, self.limit - offset)) or b""


# ---- PNG -------------------------------------------------------------------------------------------------------

def check_png(src: Source, start: int, max_size: int, max_pixels: int) -> Check:
    """Signature, IHDR first, every chunk's CRC, at least one IDAT, up to IEND."""
    cur = Cursor(src, start + max_size)
    p = start + 8
    first = True
    idat = False
    while True:
        head = cur.at(p, 8)
        if head is None:
            return drop(too_long(start, cur.limit, src, "IEND chunk"))
        length, kind = struct.unpack(">I4s", head)
        if length > 0x7FFFFFFF or not kind.isalpha():
            return drop("bad chunk")
        if first:
            if kind != b"IHDR" or length != 13:
                return drop("no IHDR chunk")
            first = False
        body = cur.at(p + 8, length + 4)
        if body is None:
            return drop(too_long(start, cur.limit, src, "IEND chunk"))
        if zlib.crc32(body[:length], zlib.crc32(kind)) != struct.unpack(">I", body[length:])[0]:
            return drop("bad CRC")
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
            if not width or not height:
                return drop("bad IHDR chunk")
            if width * height > max_pixels:
                return drop("too many pixels")
        elif kind == b"IDAT":
            idat = True
        elif kind == b"IEND":
            return Check(p + 12 - start, "image/png") if idat else drop("no IDAT chunk")
        p += 12 + length


# ---- GIF -------------------------------------------------------------------------------------------------------

def check_gif(src: Source, start: int, max_size: int, max_pixels: int) -> Check:
    """Header, logical screen, colour tables, extension and image blocks (sub-blocks by length), trailer."""
    cur = Cursor(src, start + max_size)
    head = cur.at(start, 13)
    if head is None or head[4:6] not in (b"7a", b"9a"):
        return drop("bad header")
    width, height = struct.unpack("<HH", head[6:10])
    if not width or not height:
        return drop("bad logical screen")
    if width * height > max_pixels:
        return drop("too many pixels")
    p = start + 13
    if head[10] & 0x80:
        p += 3 << ((head[10] & 7) + 1)
    images = 0
    while True:
        block = cur.at(p, 1)
        if block is None:
            return drop(too_long(start, cur.limit, src, "trailer"))
        if block == b";":
            return Check(p + 1 - start, "image/gif") if images else drop("no image")
        if block == b"!":
            p += 2
        elif block == b",":
            desc = cur.at(p + 1, 9)  # left, top, width, height, flags
            if desc is None:
                return drop(too_long(start, cur.limit, src, "trailer"))
            p += 10
            if desc[8] & 0x80:
                p += 3 << ((desc[8] & 7) + 1)
            code = cur.at(p, 1)
            if code is None or not 1 <= code[0] <= 8:
                return drop("bad image block")
            p += 1
            images += 1
        else:
            return drop("bad block")
        while True:  # data sub-blocks, ended by a zero-length one
            size = cur.at(p, 1)
            if size is None:
                return drop(too_long(start, cur.limit, src, "trailer"))
            p += 1 + size[0]
            if not size[0]:
                break


# ---- BMP -------------------------------------------------------------------------------------------------------

_DIB_SIZES = frozenset({12, 40, 52, 56, 108, 124})


def check_bmp(src: Source, start: int, max_size: int, max_pixels: int) -> Check:
    """File header (size, reserved zero, pixel offset) and a plausible DIB header; the item is the size field."""
    head = src.get(start, 54)
    if len(head) < 26:
        return drop("implausible header")
    size, reserved, offset, dib = struct.unpack("<IIII", head[2:18])
    if reserved or dib not in _DIB_SIZES or not 14 + dib <= offset < size:
        return drop("implausible header")
    if dib == 12:
        width, height, planes, bpp = struct.unpack("<HHHH", head[18:26])
        compression = 0
    else:
        if len(head) < 34:
            return drop("implausible header")
        width, height, planes, bpp, compression = struct.unpack("<iiHHI", head[18:34])
    if planes != 1 or width <= 0 or not height or bpp not in (0, 1, 2, 4, 8, 16, 24, 32) or compression > 6:
        return drop("implausible header")
    if width * abs(height) > max_pixels:
        return drop("too many pixels")
    if compression in (0, 3, 6) and size < offset + ((width * bpp + 31) // 32) * 4 * abs(height):
        return drop("implausible header")
    if size > max_size:
        return drop(f"size field larger than {size_text(max_size)}")
    if start + size > src.end:
        return drop("runs past the end of the range")
    return Check(size, "image/bmp")


# ---- WebP ------------------------------------------------------------------------------------------------------

def check_webp(src: Source, start: int, max_size: int, max_pixels: int) -> Check:
    """RIFF size, "WEBP", a VP8/VP8L/VP8X first chunk, and chunks that fill the RIFF body exactly."""
    head = src.get(start, 16)
    if len(head) < 16 or head[:4] != b"RIFF" or head[12:16] not in (b"VP8 ", b"VP8L", b"VP8X"):
        return drop("bad RIFF header")
    total = 8 + struct.unpack("<I", head[4:8])[0]
    if total < 20 or total % 2:
        return drop("bad RIFF header")
    if total > max_size:
        return drop(f"RIFF size larger than {size_text(max_size)}")
    if start + total > src.end:
        return drop("runs past the end of the range")
    cur = Cursor(src, start + total)
    p = start + 12
    while p < start + total:
        chunk = cur.at(p, 8)
        if chunk is None or not chunk[:4].isascii():
            return drop("bad chunk")
        size = struct.unpack("<I", chunk[4:])[0]
        p += 8 + size + (size & 1)  # chunks are padded to an even size
    if p != start + total:
        return drop("chunks do not fill the RIFF size")
    return Check(total, "image/webp")


# ---- decoding --------------------------------------------------------------------------------------------------

_PIL_FORMATS = {"image/jpeg": ["JPEG"], "image/png": ["PNG"], "image/gif": ["GIF"], "image/bmp": ["BMP"],
                "image/webp": ["WEBP"], "image/avif": ["AVIF"]}
_HEIF = frozenset({"image/heic", "image/heif"})


def decode_problem(data: bytes, mime: str, max_pixels: int) -> str | None:
    """None when the picture decodes whole, else the reason to drop it.

    The pixel count is checked from the header before any pixel is decoded (decompression bombs). JPEGs are
    decoded at 1/8 scale (libjpeg's DCT scaling): every entropy-coded byte is still decoded, at a fraction of
    the cost, and the caller decodes the picture again for PDQ anyway.
    """
    formats = ["HEIF"] if mime in _HEIF else _PIL_FORMATS.get(mime)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data), formats=formats) as img:
                width, height = img.size
                if width * height > max_pixels:
                    return "too many pixels"
                if img.format == "JPEG":
                    img.draft(img.mode, (max(1, width // 8), max(1, height // 8)))
                img.load()
    except Exception:  # any decoder failure (OSError, SyntaxError, ValueError, bombs) means: not a picture
        return "does not decode"
    return None

