"""Windows XP ``Thumbs.db`` (and Media Center's ``ehthumbs.db``): thumbnails kept in an OLE compound file.

Why: XP writes a ``Thumbs.db`` next to the pictures of every folder shown as thumbnails and never removes a
thumbnail when its picture is deleted, so the file can show pictures no longer on the disk, with their names.

Format followed (there is no published specification; these are the descriptions the forensic tools agree on):
the compound file itself is [MS-CFB] (Microsoft Open Specifications), read with ``olefile`` (BSD). Inside it,
"Just Solve the File Format Problem", article "Windows thumbnail cache" (justsolve.archiveteam.org), section
"Format details": a ``Catalog`` stream names the original files, each thumbnail stream is named by its Catalog
index with the decimal digits reversed (index 120 is stream "021"), and newer variants have streams such as
"256_<hash>" and no Catalog. Record layouts as in Michael Murr's LibForensics documentation,
``lf.win.shell.thumbsdb.dtypes`` (pythonhosted.org/LibForensics): Catalog header (2 bytes, 2 bytes version,
uint32 entry count, uint32 width, uint32 height); Catalog entry (uint32 entry size, uint32 index, FILETIME,
then the UTF-16 name ending in a NUL); thumbnail stream header (uint32 header size, uint32, uint32 data size)
then the picture. Because variants differ in that header, a picture is accepted where the header size says
it starts or else at the first JPEG/PNG/BMP signature in the stream's first bytes. Windows 9x/2000 thumbnails
(Vinetto's "type 1": a JPEG without its tables, not decodable as stored) carry no signature and are counted in
``problems``.

A child is named ``<index> <original name>`` (path separators made safe, the picture's extension added unless
the name already ends with it); its notes give the original name as the Catalog has it (XP: the file name,
Windows 2000: the whole path) and the Catalog's time, the original's last-write time as Windows recorded it.
"""

from __future__ import annotations

import io
import struct
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

import olefile

from triage import defaults
from triage.sources.embedded import Embedded, Finder, Found, register
from triage.sources.embedded.magic import HEAD, find_picture, picture_ext, safe_name

OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
NAMES = frozenset({"thumbs.db", "ehthumbs.db", "ehthumbs_vista.db"})
CATALOG = "Catalog"
CATALOG_HEADER = 16
CATALOG_ENTRY = 16  # size, index, FILETIME; the name follows
HEADER_SEARCH = 256  # bytes at a stream's start searched for a picture signature
LISTED = 3  # names quoted in one problems line


def wants(name: str, mime: str | None) -> bool:
    """``Thumbs.db`` by its name: the OLE signature alone would also take every Word and Excel file."""
    return name.replace("\\", "/").rsplit("/", 1)[-1].lower() in NAMES


def find(source: BinaryIO, size: int) -> Found:
    """Every JPEG/PNG/BMP thumbnail in a Thumbs.db of ``size`` bytes; damage is a ``problems`` line, never raised."""
    found = Found()
    if size > defaults.THUMBSDB_MAX_FILE:
        found.problems.append(f"Thumbs.db: {size} bytes, over THUMBSDB_MAX_FILE; not read")
        return found
    try:
        source.seek(0)
        data = source.read(size)
    except OSError as exc:
        found.problems.append(f"Thumbs.db: read failed: {exc}")
        return found
    if not data.startswith(OLE_SIGNATURE):
        found.problems.append("Thumbs.db: not an OLE compound file (no D0CF11E0 signature)")
        return found
    try:
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            _walk(ole, found)
            issues = [message for _kind, message in ole.parsing_issues]
        if issues:  # defects olefile read past (a truncated file, a FAT pointing outside it)
            found.problems.append(f"Thumbs.db: damaged compound file: {len(issues)} defects: {_listed(issues)}")
    except Exception as exc:  # olefile raises many kinds on damaged files (OSError, IndexError, struct.error...)
        found.problems.append(f"Thumbs.db: damaged compound file: {type(exc).__name__}: {str(exc)[:200]}")
    return found


def _walk(ole: olefile.OleFileIO, found: Found) -> None:
    paths = ole.listdir(streams=True, storages=False)
    catalog = _catalog(ole, found) if [CATALOG] in paths else {}
    used: set[int] = set()
    no_picture: list[str] = []
    names: set[str] = set()
    for count, path in enumerate(paths):
        if path == [CATALOG]:
            continue
        stream = "/".join(path)
        index = int(stream[::-1]) if stream.isascii() and stream.isdigit() else None
        if index in catalog:
            used.add(index)
        if count >= defaults.THUMBSDB_MAX_STREAMS:
            found.problems.append(f"Thumbs.db: stopped after {count} streams (THUMBSDB_MAX_STREAMS)")
            break
        length = ole.get_size(path)
        if length > defaults.THUMBSDB_MAX_STREAM:
            found.problems.append(f"Thumbs.db: stream {stream!r} has {length} bytes, over THUMBSDB_MAX_STREAM")
            continue
        with ole.openstream(path) as handle:
            raw = handle.read(length)
        picture = _picture(raw)
        if picture is None:
            no_picture.append(stream)
            continue
        start, end, ext = picture
        name, notes = _describe(stream, index, catalog, ext)
        if name in names:
            name = f"{safe_name(stream)} {name}"
        names.add(name)
        found.items.append(Embedded(name=name, data=raw[start:end], identifier=stream, notes=notes))
    if no_picture:
        found.problems.append(f"Thumbs.db: {len(no_picture)} streams hold no JPEG/PNG/BMP (Windows 9x/2000 "
                              f"thumbnails have no signature): {_listed(no_picture)}")
    missing = [f"{index} {catalog[index][0]}" for index in sorted(catalog) if index not in used]
    if missing:
        found.problems.append(f"Thumbs.db: {len(missing)} Catalog entries have no thumbnail stream: "
                              f"{_listed(missing)}")


def _catalog(ole: olefile.OleFileIO, found: Found) -> dict[int, tuple[str, int]]:
    """Catalog index -> (original name, FILETIME); a damaged Catalog gives what it can and a problems line."""
    length = ole.get_size(CATALOG)
    if length > defaults.THUMBSDB_MAX_STREAM:
        found.problems.append(f"Thumbs.db: Catalog has {length} bytes, over THUMBSDB_MAX_STREAM; not read")
        return {}
    with ole.openstream(CATALOG) as handle:
        raw = handle.read(length)
    if len(raw) < CATALOG_HEADER:
        found.problems.append(f"Thumbs.db: Catalog of {len(raw)} bytes is shorter than its header")
        return {}
    header_size, _version, count = struct.unpack_from("<HHI", raw)
    position = header_size if CATALOG_HEADER <= header_size <= len(raw) else CATALOG_HEADER
    entries: dict[int, tuple[str, int]] = {}
    for number in range(min(count, defaults.THUMBSDB_MAX_STREAMS)):
        if position + CATALOG_ENTRY > len(raw):
            found.problems.append(f"Thumbs.db: Catalog ends after {number} of its {count} entries")
            break
        entry_size, index, filetime = struct.unpack_from("<IIQ", raw, position)
        if entry_size < CATALOG_ENTRY or position + entry_size > len(raw):
            found.problems.append(f"Thumbs.db: Catalog entry {number} declares {entry_size} bytes; Catalog "
                                  f"read up to it")
            break
        text = raw[position + CATALOG_ENTRY : position + entry_size]
        name = text[: len(text) // 2 * 2].decode("utf-16-le", "replace").split("\x00", 1)[0]
        entries[index] = (name, filetime)
        position += entry_size
    return entries


def _picture(raw: bytes) -> tuple[int, int, str] | None:
    """(start, end, extension) of the picture in a thumbnail stream, or None when it holds none."""
    if len(raw) >= 12:
        header_size, _, declared = struct.unpack_from("<III", raw)
        ext = picture_ext(raw[header_size : header_size + HEAD]) if 8 <= header_size <= HEADER_SEARCH else None
        if ext is not None:
            end = header_size + declared if header_size >= 12 and 0 < declared <= len(raw) - header_size else len(raw)
            return header_size, end, ext
    hit = find_picture(raw, 0, HEADER_SEARCH)
    return None if hit is None else (hit[0], len(raw), hit[1])


def _describe(stream: str, index: int | None, catalog: dict[int, tuple[str, int]],
              ext: str) -> tuple[str, tuple[str, ...]]:
    """The child's name and the notes an examiner reads: which original file this was a thumbnail of, and when."""
    if index is None or index not in catalog:
        note = "no Catalog entry names this thumbnail" if index is not None else "stream without a Catalog index"
        return f"{safe_name(stream)}.{ext}", (note,)
    original, filetime = catalog[index]
    base = original.replace("\\", "/").rsplit("/", 1)[-1]
    name = f"{index} {safe_name(base)}"
    if not name.lower().endswith(f".{ext}") and not (ext == "jpg" and name.lower().endswith(".jpeg")):
        name = f"{name}.{ext}"
    return name, (f"thumbnail of {original}", f"Catalog time: {_filetime(filetime)}")


def _filetime(value: int) -> str:
    """A FILETIME as ISO 8601 UTC, or its raw value when out of range."""
    if value == 0:
        return "not set (0)"
    try:
        when = datetime(1601, 1, 1, tzinfo=UTC) + timedelta(microseconds=value // 10)
    except OverflowError:
        return f"out of range (FILETIME {value:#x})"
    return when.isoformat().replace("+00:00", "Z")


def _listed(names: list[str]) -> str:
    shown = ", ".join(repr(name) for name in names[:LISTED])
    return shown + (f" and {len(names) - LISTED} more" if len(names) > LISTED else "")


FINDER = Finder(name="thumbsdb", origin="thumbcache", wants=wants, find=find, max_size=defaults.THUMBSDB_MAX_FILE)
register(FINDER)
