"""Where a HEIC/HEIF picture keeps its EXIF block: the ``Exif`` item of its ``meta`` box (ISO/IEC 23008-12).

Why our own walk: the picture decoder (pillow-heif) is optional, and the EXIF thumbnail must be found without it.
The top-level boxes are walked to ``meta``; its ``iinf`` gives the item ID whose ``infe`` type is ``Exif``, and
``iloc`` gives that item's extents (construction method 0, file offsets; one extent). The item starts with a
32-bit offset to the TIFF header (ISO/IEC 23008-12 Annex A.2.1, ``exif_tiff_header_offset``). Every size is
checked against the data; anything unexpected gives None (no EXIF), never an exception.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

MAX_BOXES = 4096  # boxes walked per level; a real HEIC has a dozen


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) of the boxes between ``start`` and ``end``."""
    at, count = start, 0
    while at + 8 <= end and count < MAX_BOXES:
        size, kind = struct.unpack_from(">I4s", data, at)
        header = 8
        if size == 1:
            if at + 16 > end:
                return
            (size,) = struct.unpack_from(">Q", data, at + 8)
            header = 16
        elif size == 0:
            size = end - at
        if size < header or at + size > end:
            return
        yield kind, at + header, at + size
        at += size
        count += 1


def _exif_item(data: bytes, start: int, end: int) -> int | None:
    """The item ID of the ``Exif`` item listed in ``iinf`` (payload ``start``..``end``, after version/flags)."""
    version = data[start]
    at = start + 4
    at += 2 if version == 0 else 4
    for kind, payload, stop in _boxes(data, at, end):
        if kind != b"infe" or payload + 4 > stop:
            continue
        infe_version = data[payload]
        if infe_version < 2:
            continue
        fmt = ">H" if infe_version == 2 else ">I"
        (item,) = struct.unpack_from(fmt, data, payload + 4)
        type_at = payload + 4 + struct.calcsize(fmt) + 2
        if data[type_at : type_at + 4] == b"Exif":
            return int(item)
    return None


def _sized(data: bytes, at: int, size: int) -> tuple[int, int]:
    if size == 0:
        return 0, at
    fmt = {4: ">I", 8: ">Q", 2: ">H"}.get(size)
    if fmt is None:
        raise ValueError(f"iloc field size {size}")
    return struct.unpack_from(fmt, data, at)[0], at + size


def _location(data: bytes, start: int, item: int) -> tuple[int, int] | None:
    """(file offset, length) of ``item``'s single extent in ``iloc`` (payload at ``start``, after version/flags)."""
    version = data[start]
    at = start + 4
    offset_size, length_size = data[at] >> 4, data[at] & 15
    base_size, index_size = data[at + 1] >> 4, (data[at + 1] & 15) if version in (1, 2) else 0
    at += 2
    count_fmt = ">H" if version < 2 else ">I"
    (count,) = struct.unpack_from(count_fmt, data, at)
    at += struct.calcsize(count_fmt)
    for _ in range(count):
        (item_id,) = struct.unpack_from(count_fmt, data, at)
        at += struct.calcsize(count_fmt)
        method = 0
        if version in (1, 2):
            method = struct.unpack_from(">H", data, at)[0] & 15
            at += 2
        at += 2  # data_reference_index
        base, at = _sized(data, at, base_size)
        (extents,) = struct.unpack_from(">H", data, at)
        at += 2
        found = []
        for _ in range(extents):
            _, at = _sized(data, at, index_size)
            offset, at = _sized(data, at, offset_size)
            length, at = _sized(data, at, length_size)
            found.append((base + offset, length))
        if item_id == item:
            return found[0] if method == 0 and len(found) == 1 else None
    return None


def exif_tiff(data: bytes) -> tuple[int, int] | None:
    """(offset, end) in ``data`` of the TIFF structure of a HEIF file's EXIF item, or None when it has none."""
    try:
        for kind, payload, stop in _boxes(data, 0, len(data)):
            if kind != b"meta":
                continue
            children = {k: (p, s) for k, p, s in _boxes(data, payload + 4, stop)}
            if b"iinf" not in children or b"iloc" not in children:
                return None
            item = _exif_item(data, *children[b"iinf"])
            where = _location(data, children[b"iloc"][0], item) if item is not None else None
            if where is None:
                return None
            offset, length = where
            if offset + length > len(data) or length < 4:
                return None
            (skip,) = struct.unpack_from(">I", data, offset)
            tiff = offset + 4 + skip
            return (tiff, offset + length) if tiff < offset + length else None
    except (struct.error, IndexError, ValueError):
        return None
    return None
