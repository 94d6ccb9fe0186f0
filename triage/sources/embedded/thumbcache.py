"""Windows Explorer thumbnail caches, ``thumbcache_*.db`` of Windows Vista, 7, 8, 8.1, 10 and 11.

Why: Explorer keeps a thumbnail of every picture it has shown, long after the picture is deleted, so a cache
can hold the only copy left on a disk. Every entry whose data is a JPEG, PNG or BMP becomes an ``Embedded``
named ``<entry hash>.<ext>`` (the 64-bit entry hash in 16 hex digits is its identifier).

Format followed: Joachim Metz, "Windows Explorer Thumbnail Cache database file format specification",
libyal/libwtcdb ``documentation/Windows Explorer Thumbnail Cache database format.asciidoc`` (revision 0.0.7,
May 2024; read at libwtcdb commit 4994324f), sections 2.1 "Format versions" (20 Vista, 21 Windows 7,
30 Windows 8.0, 31 Windows 8.1, 32 Windows 10 and 11), 3.1 "File header" (24 bytes: "CMMM", version, cache
type, offset of the first cache entry, 0 meaning 24) and 3.2 "Cache entry" for format version 20 (56-byte
entry header with an 8-byte file extension), 21 (48 bytes) and "30 (and later)" (56 bytes). The note of 3.2 (the
first available entry, with no data, may span the rest of the file) is why a data-less entry with a zero hash
is stepped over by its header only: what follows in that free space is searched for the remnants of older
entries, as Thumbcache Viewer does. The two 4-byte fields at offsets 28 and 32 of a version 30+ entry are
"unknown" in that document; Eric Kutcher's Thumbcache Viewer (``read_thumbcache.h``, struct
``database_cache_entry_8``) names them width and height, and they are only reported in notes under that name.
The two sources also disagree on the version 30+ file header (Thumbcache Viewer reads offset 12 as unknown and
the first entry offset at 16), so for those versions entries are read from offset 24, where Thumbcache Viewer
always starts and libwtcdb starts when the field is 0. Wherever the walk finds no "CMMM" where an entry should
start, it searches on for the next one.

Checksums: the header checksum is checked as section 3.2 documents it, a CRC-64 over the entry header up to
the checksum with initial value -1 and no final XOR. The document calls the polynomial unknown; the look-up
table it says thumbcache.dll holds is published in libwtcdb's ``libwtcdb_crc.c`` and is the reflected table of
0x92C64265D32139A4, the polynomial used here (it reproduces both example checksums of the document's section
5 "Entry hashes"). A mismatch is a note on the thumbnail, which is still yielded. The data checksum is NOT
checked: the document says only "Contains a CRC-64", not over which bytes nor from which initial value.

``thumbcache_idx.db`` (signature "IMMM") maps entry hashes to offsets in the caches and holds no pictures, so
the finder does not want it; ``iconcache_*.db`` share the "CMMM" format but hold application icons, which
triage never treats as pictures, so they are not wanted either.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import BinaryIO

from triage import defaults
from triage.sources.embedded import Embedded, Finder, Found, register
from triage.sources.embedded.magic import HEAD, picture_ext

SIGNATURE = b"CMMM"
INDEX_SIGNATURE = b"IMMM"
FILE_HEADER = 24
MIME = "application/x-thumbcache"
POLYNOMIAL = 0x92C64265D32139A4  # reflected form; see the module docstring for where it comes from
SCAN_CHUNK = 1 << 20  # bytes read at a time while searching for the next entry signature
IDENTIFIER_SHOWN = 512  # bytes of an identifier string read to show in a note

_NAME = re.compile(r"thumbcache_.+\.db", re.IGNORECASE)
_NOT_WANTED = re.compile(r"(thumbcache_idx|iconcache_.*)\.db", re.IGNORECASE)


@dataclass(frozen=True)
class Layout:
    """Where one format version keeps an entry's fields (offsets from the entry's "CMMM")."""

    windows: str
    header: int  # entry header size; the header checksum is its last 8 bytes
    sizes: int  # identifier string size, padding size, data size: three uint32
    extension: int | None = None  # version 20: the file extension, 4 UTF-16 characters
    dimensions: int | None = None  # version 30+: Thumbcache Viewer's width and height, two uint32


LAYOUTS: dict[int, Layout] = {
    20: Layout("Windows Vista", 56, 24, extension=16),
    21: Layout("Windows 7", 48, 16),
    30: Layout("Windows 8", 56, 16, dimensions=28),
    31: Layout("Windows 8.1", 56, 16, dimensions=28),
    32: Layout("Windows 10/11", 56, 16, dimensions=28),
}


def _table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ POLYNOMIAL if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _table()


def crc64(data: bytes, crc: int = 0xFFFFFFFFFFFFFFFF) -> int:
    """The thumbcache CRC-64 (reflected, table driven, no final XOR) of ``data`` from ``crc``."""
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


def wants(name: str, mime: str | None) -> bool:
    """A ``thumbcache_*.db`` by name, or any "CMMM" file by signature (a renamed cache), but no index or icons."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if mime != MIME and base[:11].lower() != "thumbcache_":
        return False  # what almost every stream is: neither test below can pass (asked once a stream)
    if _NOT_WANTED.fullmatch(base):
        return False
    return bool(_NAME.fullmatch(base)) or mime == MIME


def find(source: BinaryIO, size: int) -> Found:
    """Every JPEG/PNG/BMP thumbnail in a cache file of ``size`` bytes; damage is a ``problems`` line, never raised."""
    found = Found()
    if size > defaults.THUMBCACHE_MAX_FILE:
        found.problems.append(f"thumbcache: {size} bytes, over THUMBCACHE_MAX_FILE; not read")
        return found
    try:
        _walk(source, size, found)
    except (OSError, ValueError, struct.error) as exc:
        found.problems.append(f"thumbcache: reading stopped: {type(exc).__name__}: {exc}")
    return found


def _read(source: BinaryIO, offset: int, length: int) -> bytes:
    source.seek(offset)
    return source.read(length)


def _walk(source: BinaryIO, size: int, found: Found) -> None:
    head = _read(source, 0, FILE_HEADER)
    if head[:4] == INDEX_SIGNATURE or head[4:8] == INDEX_SIGNATURE:
        found.problems.append("thumbcache: an index file (IMMM), which holds no thumbnails")
        return
    if len(head) < FILE_HEADER or head[:4] != SIGNATURE:
        found.problems.append("thumbcache: not a thumbnail cache (no CMMM file header)")
        return
    version, _cache_type, first = struct.unpack_from("<III", head, 4)
    layout = LAYOUTS.get(version)
    if layout is None:
        found.problems.append(f"thumbcache: unknown format version {version}; not read")
        return
    if version >= 30 or first == 0:
        first = FILE_HEADER  # 30+: the field at 12 is "unknown" to Thumbcache Viewer (module docstring)
    elif first < FILE_HEADER or first >= size:
        found.problems.append(f"thumbcache: first entry offset {first} is outside the file; entries read from 24")
        first = FILE_HEADER
    _entries(source, size, layout, first, found)


def _entries(source: BinaryIO, size: int, layout: Layout, offset: int, found: Found) -> None:
    count = skipped = not_pictures = 0
    in_free_space = False
    names: set[str] = set()
    while offset + layout.header <= size:
        if count >= defaults.THUMBCACHE_MAX_ENTRIES:
            found.problems.append(f"thumbcache: walk stopped after {count} entries (THUMBCACHE_MAX_ENTRIES)")
            break
        if _read(source, offset, 4) != SIGNATURE:
            after, unused = _next_signature(source, offset, size)
            skipped += unused
            offset = size if after is None else after
            continue
        header = _read(source, offset, layout.header)
        entry_size = struct.unpack_from("<I", header, 4)[0]
        if entry_size < layout.header or entry_size > size - offset:
            found.problems.append(f"thumbcache: entry at offset {offset} declares {entry_size} bytes, "
                                  f"{size - offset} remain: walk stopped")
            break
        if entry_size > defaults.THUMBCACHE_MAX_ENTRY:
            found.problems.append(f"thumbcache: entry at offset {offset} declares {entry_size} bytes, over "
                                  f"THUMBCACHE_MAX_ENTRY: walk stopped")
            break
        count += 1
        entry_hash = struct.unpack_from("<Q", header, 8)[0]
        id_size, padding, data_size = struct.unpack_from("<III", header, layout.sizes)
        if entry_hash == 0 and data_size == 0:
            in_free_space = True  # the first available entry: older entries may survive inside it
            offset += layout.header
            continue
        if layout.header + id_size + padding + data_size > entry_size:
            found.problems.append(f"thumbcache: entry {entry_hash:016x} at offset {offset}: identifier, padding "
                                  f"and data sizes exceed its {entry_size} bytes; skipped")
            offset += entry_size
            continue
        if data_size:
            data_at = offset + layout.header + id_size + padding
            data = _read(source, data_at, data_size)
            ext = picture_ext(data[:HEAD])
            if len(data) < data_size or ext is None:
                not_pictures += 1
            else:
                identifier = _read(source, offset + layout.header, min(id_size, IDENTIFIER_SHOWN))
                notes = _notes(layout, header, entry_hash, identifier, in_free_space)
                name = f"{entry_hash:016x}.{ext}"
                if name in names:  # the same hash twice: a remnant of an older version of the entry
                    name = f"{entry_hash:016x}_{data_at}.{ext}"
                names.add(name)
                found.items.append(Embedded(name=name, data=data, offset=data_at,
                                            identifier=f"{entry_hash:016x}", notes=notes))
        offset += entry_size
    if 0 < size - offset < layout.header and _nonzero(_read(source, offset, size - offset)):
        found.problems.append(f"thumbcache: the last {size - offset} bytes are too short for a cache entry")
    if skipped:
        found.problems.append(f"thumbcache: {skipped} non-zero bytes outside any cache entry were skipped")
    if not_pictures:
        found.problems.append(f"thumbcache: {not_pictures} entries hold data that is not a JPEG, PNG or BMP")


def _next_signature(source: BinaryIO, offset: int, size: int) -> tuple[int | None, int]:
    """(offset of the next "CMMM" at or after ``offset``, or None; non-zero bytes passed over on the way)."""
    position, unused = offset, 0
    while position < size:
        length = min(SCAN_CHUNK, size - position)
        chunk = _read(source, position, length + len(SIGNATURE) - 1)  # a signature may straddle two chunks
        at = chunk.find(SIGNATURE)
        if at != -1:
            return position + at, unused + _nonzero(chunk[:at])
        unused += _nonzero(chunk[:length])
        position += length
    return None, unused


def _nonzero(data: bytes) -> int:
    return len(data) - data.count(0)


def _notes(layout: Layout, header: bytes, entry_hash: int, identifier: bytes, in_free_space: bool) -> tuple[str, ...]:
    notes = []
    stored = struct.unpack_from("<Q", header, layout.header - 8)[0]
    computed = crc64(header[: layout.header - 8])
    if stored != computed:
        notes.append(f"cache entry header checksum does not match (stored {stored:016x}, computed {computed:016x})")
    if in_free_space:
        notes.append("found in the cache's free space: a remnant of an older entry")
    text = identifier.decode("utf-16-le", "replace").rstrip("\x00")
    if text and text.lower().lstrip("0") != f"{entry_hash:x}":
        notes.append(f"identifier string: {text}")
    if layout.extension is not None:
        extension = header[layout.extension : layout.extension + 8].decode("utf-16-le", "replace").split("\x00")[0]
        if extension:
            notes.append(f"file extension: {extension}")
    if layout.dimensions is not None:
        width, height = struct.unpack_from("<II", header, layout.dimensions)
        if 0 < width <= 0xFFFF and 0 < height <= 0xFFFF:
            notes.append(f"entry header width x height: {width}x{height}")
    notes.append(f"cache format: {layout.windows}")
    return tuple(notes)


FINDER = Finder(name="thumbcache", origin="thumbcache", wants=wants, find=find,
                max_size=defaults.THUMBCACHE_MAX_FILE)
register(FINDER)
