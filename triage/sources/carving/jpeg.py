"""Where a carved JPEG ends: a walk over its marker segments and entropy-coded data to EOI.

Why a walk and not a search for FFD9: an EXIF thumbnail (a whole JPEG inside APP1) ends with its own EOI, and
random data holds FFD9 every 64 KiB. The segments before the scan are skipped by their lengths (so the APP1
thumbnail is stepped over), the entropy-coded data is searched in C for the next real marker (FF followed by
neither a stuffed 00 nor a restart marker), and tables between a progressive JPEG's scans are walked like the
header. A multi-picture JPEG (CIPA DC-007 "MPF", written by many cameras and phones, Pillow's MPO) stores its
other pictures after the first EOI; its APP2 index gives their offsets and sizes, so the item runs to the end of
the last one when each starts with SOI where the index says, and the carved md5 is the whole file's.
"""

from __future__ import annotations

import re
import struct

from triage.sources.carving.validate import Check, Cursor, Source, drop, too_long

_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_TABLES = frozenset({0xC4, 0xCC, 0xDB, 0xDD, 0xFE, *range(0xE0, 0xF0)})  # DHT DAC DQT DRI COM APPn
_SEGMENTS = _TABLES | _SOF
_AFTER_SCAN = _TABLES | {0xDC}  # between a progressive JPEG's scans: tables, DNL, then the next SOS
_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7]")  # FF00 is a stuffed byte, FFD0-D7 restart markers
_MAX_FILL = 64  # FF fill bytes tolerated before a marker
_MAX_MPF_IMAGES = 64


def check_jpeg(src: Source, start: int, max_size: int, max_pixels: int) -> Check:
    """Walk SOI, marker segments, SOS, entropy-coded data and EOI (then an MPF file's other pictures)."""
    cur = Cursor(src, start + max_size)
    head = cur.at(start, 4)
    if head is None or head[3] not in _SEGMENTS:
        return drop("no marker segment after SOI")
    p = start + 2
    sof = False
    scans = 0
    fill = 0
    mpf: list[tuple[int, int]] = []  # (media offset, size) of the other pictures an MPF index lists
    in_header = True
    while True:
        if in_header:
            seg = cur.at(p, 4)
            if seg is None:
                return drop(too_long(start, cur.limit, src, "end marker"))
            if seg[0] != 0xFF:
                return drop("bad marker segment")
            marker = seg[1]
            if marker == 0xFF:
                fill += 1
                if fill > _MAX_FILL:
                    return drop("bad marker segment")
                p += 1
                continue
            fill = 0
            if marker == 0xD9 and scans:
                return _with_mpf(cur, start, p + 2, mpf)
            if marker not in _SEGMENTS and marker != 0xDA and not (scans and marker in _AFTER_SCAN):
                return drop("bad marker segment")
            length = seg[2] << 8 | seg[3]
            if length < 2:
                return drop("bad marker segment")
            if marker in _SOF:
                frame = cur.at(p + 4, 6)
                if frame is None:
                    return drop(too_long(start, cur.limit, src, "end marker"))
                height, width, components = frame[1] << 8 | frame[2], frame[3] << 8 | frame[4], frame[5]
                if frame[0] not in (8, 12, 16) or not width or not height or components not in (1, 2, 3, 4):
                    return drop("bad frame header")
                if width * height > max_pixels:
                    return drop("too many pixels")
                sof = True
            elif marker == 0xDA:
                if not sof:
                    return drop("scan before frame header")
                scans += 1
                in_header = False
            elif marker == 0xE2 and not mpf and not scans:
                mpf = _mpf_index(cur, p + 4, length - 2)
            p += 2 + length
            continue
        # Entropy-coded data: the next FF not followed by 00 or a restart marker is a marker.
        chunk = cur.upto(p)
        if len(chunk) < 2:
            return drop(too_long(start, cur.limit, src, "end marker"))
        found = _MARKER.search(chunk)
        if found is None:
            p += len(chunk) - 1  # the last byte may be an FF whose marker byte is in the next chunk
            continue
        q = p + found.start()
        marker = chunk[found.start() + 1]
        if marker == 0xFF:
            p = q + 1  # fill byte before a marker
            continue
        if marker == 0xD9:
            return _with_mpf(cur, start, q + 2, mpf)
        if marker not in _AFTER_SCAN and marker != 0xDA:
            return drop("bad marker in entropy data")
        p = q
        in_header = True


def _mpf_index(cur: Cursor, at: int, length: int) -> list[tuple[int, int]]:
    """(media offset, size) of the pictures after the first that an APP2 "MPF" index lists; [] if none."""
    data = cur.at(at, min(length, 1 << 16))
    if data is None or not data.startswith(b"MPF\x00") or data[4:8] not in (b"II*\x00", b"MM\x00*"):
        return []
    base = at + 4  # MPF offsets count from the byte-order mark
    tiff = data[4:]
    order = "<" if tiff[:2] == b"II" else ">"
    try:
        ifd = struct.unpack_from(order + "I", tiff, 4)[0]
        count = struct.unpack_from(order + "H", tiff, ifd)[0]
        for i in range(min(count, 64)):
            tag, _kind, size, value = struct.unpack_from(order + "HHII", tiff, ifd + 2 + 12 * i)
            if tag != 0xB002 or size % 16 or not 16 <= size <= 16 * _MAX_MPF_IMAGES:
                continue
            entries = [struct.unpack_from(order + "III", tiff, value + 16 * n) for n in range(size // 16)]
            return [(base + offset, length) for _attr, length, offset in entries[1:] if offset and length]
    except struct.error:
        return []
    return []


def _with_mpf(cur: Cursor, start: int, end: int, mpf: list[tuple[int, int]]) -> Check:
    """The JPEG ending at ``end``, extended over an MPF file's other pictures when all are where indexed."""
    if not mpf:
        return Check(end - start, "image/jpeg")
    last = max(offset + size for offset, size in mpf)
    if all(offset >= end and cur.at(offset, 2) == b"\xff\xd8" for offset, _size in mpf) and \
            cur.at(last - 2, 2) == b"\xff\xd9":
        return Check(last - start, "image/jpeg")
    return Check(end - start, "image/jpeg", note="MPF pictures after the first not found where indexed")
