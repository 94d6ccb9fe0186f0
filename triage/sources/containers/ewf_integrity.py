"""EWF (E01) integrity that pyewf does not expose: segments of one acquisition, damaged chunks.

**Set identifier.** Every EWF1 segment carries a copy of the media description (``volume`` section in the
first segment, ``data`` in the others) with the acquisition's set identifier GUID. libewf checks that the
geometry agrees but not the GUID, so a segment swapped in from another acquisition of a same-size disk opens
silently and serves the wrong sectors. ``foreign_segments`` compares the GUIDs. EnCase and FTK write one;
libewf's ``ewfacquire`` (20140813) leaves it all zeros, and then segments cannot be told apart before the
media hash is checked (the verification reports "mismatch").

**Damaged chunks.** libewf checks every chunk (the Adler-32 after an uncompressed chunk, the zlib stream of a
compressed one), but on a mismatch it returns the chunk filled with zeros and pyewf exposes neither the error
nor the affected range (``ewfverify`` lists them; the Python binding cannot). A digest over those zeros would
pass as the file's digest. So whenever a read gives an all-zero chunk, ``EwfChunkChecker`` reads that chunk's
stored bytes from the segment file and checks them itself, and remembers the damaged ones; file systems then
refuse a stream whose blocks lie in one (``damage_in``), and ``scan_all`` lists every damaged chunk, as
``ewfverify`` does, when the media hash does not match.

Why zero-fill is kept instead of raising from the read: The Sleuth Kit reads the image in 64 KiB cache pages,
so a read error would also fail every neighbouring file and, near the superblock, the whole file system.

Only zero chunks are checked during reads, and identical stored chunks once (a compressed empty chunk is the
same few bytes everywhere), so an intact image costs almost nothing. Only the EWF1 (E01/S01) table layout is
understood; for anything else nothing is reported and the media verification still catches the damage.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SECTION = 76
FILE_HEADER = 13
TABLE_HEADER = 24
MAX_SECTIONS = 1 << 16  # per segment: a loop in the section chain must not hang the walk
CACHE_LIMIT = 256
ZERO_GUID = bytes(16)
GUID_AT = 64  # offset of the set identifier inside the volume/data section data


def _sections(fh_read: Callable[[int, int], bytes], size: int) -> list[tuple[bytes, int, int]]:
    """(type, offset, size) of every section of one segment file, following the chain defensively."""
    found: list[tuple[bytes, int, int]] = []
    offset = FILE_HEADER
    for _ in range(MAX_SECTIONS):
        head = fh_read(SECTION, offset)
        if len(head) < SECTION:
            break
        kind = head[:16].rstrip(b"\0")
        following, length = struct.unpack_from("<QQ", head, 16)
        found.append((kind, offset, length))
        if kind in (b"next", b"done") or following <= offset or following >= size:
            break
        offset = following
    return found


def set_identifier(path: Path) -> bytes | None:
    """The set identifier GUID of one EWF1 segment file (None if it has no volume/data section we can read)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        size = os.fstat(fd).st_size
        for kind, offset, _length in _sections(lambda n, at: os.pread(fd, n, at), size):
            if kind in (b"volume", b"data", b"disk"):
                guid = os.pread(fd, 16, offset + SECTION + GUID_AT)
                return guid if len(guid) == 16 else None
    except OSError:
        return None
    finally:
        os.close(fd)
    return None


def foreign_segments(paths: list[Path]) -> list[tuple[Path, str, str]]:
    """Segments whose set identifier differs from the first segment's: (path, theirs, first's) as hex.

    Nothing is reported when the first segment has no identifier (all zeros): there is nothing to compare.
    """
    if len(paths) < 2:
        return []
    first = set_identifier(paths[0])
    if not first or first == ZERO_GUID:
        return []
    found = []
    for path in paths[1:]:
        guid = set_identifier(path)
        if guid is not None and guid != first:
            found.append((path, guid.hex(), first.hex()))
    return found


@dataclass(frozen=True)
class _Table:
    first_chunk: int
    entries: int
    fd_index: int
    entries_at: int  # file offset of the first 4-byte entry
    base: int  # table base offset the entries are relative to
    data_end: int  # end of the sectors data holding this table's chunks (end of the last chunk)


class EwfChunkChecker:
    """Locates and checks single chunks of an EWF1 segment set, reading the segment files directly."""

    def __init__(self, paths: list[Path], chunk_size: int, bytes_per_sector: int, media_size: int) -> None:
        self._paths = [Path(p) for p in paths]
        self._chunk_size = chunk_size
        self._sector = bytes_per_sector or 512
        self._media_size = media_size
        self._fds: list[int] = []
        self._tables: list[_Table] | None = None
        self._starts: list[int] = []
        self._verdicts: dict[bytes, bool] = {}
        self.damaged: dict[int, str] = {}  # chunk index -> message, for chunks found damaged so far
        self._zeros = memoryview(bytes(chunk_size))  # compared in place: no copy per chunk
        self._entries: tuple[int, bytes] = (-1, b"")

    def _index(self) -> list[_Table]:
        """Walk every segment's section chain once and remember where each table's entries are."""
        if self._tables is not None:
            return self._tables
        tables: list[_Table] = []
        chunk = 0
        try:
            for fd_index, path in enumerate(self._paths):
                fd = os.open(path, os.O_RDONLY)
                self._fds.append(fd)
                sectors_end = 0
                for kind, offset, length in _sections(lambda n, at, fd=fd: os.pread(fd, n, at), os.fstat(fd).st_size):
                    if kind == b"sectors":
                        sectors_end = offset + length
                    elif kind == b"table":
                        entries, _pad, base = struct.unpack("<IIQ", os.pread(fd, 16, offset + SECTION))
                        tables.append(_Table(chunk, entries, fd_index, offset + SECTION + TABLE_HEADER, base,
                                             sectors_end or offset))
                        chunk += entries
        except (OSError, struct.error):
            tables = []
        self._tables = tables
        self._starts = [t.first_chunk for t in tables]
        return tables

    @property
    def chunks(self) -> int:
        tables = self._index()
        return tables[-1].first_chunk + tables[-1].entries if tables else 0

    def chunk_ok(self, index: int) -> bool | None:
        """True if chunk ``index`` is intact, False if its checksum fails, None if it cannot be told."""
        tables = self._index()
        slot = bisect.bisect_right(self._starts, index) - 1
        if slot < 0 or index >= tables[slot].first_chunk + tables[slot].entries:
            return None
        table = tables[slot]
        fd = self._fds[table.fd_index]
        at = index - table.first_chunk
        try:
            if self._entries[0] != slot:  # one table's entries (at most 64 KiB) kept: reads are mostly in order
                self._entries = (slot, os.pread(fd, 4 * table.entries, table.entries_at))
            raw = self._entries[1]
            entry = struct.unpack_from("<I", raw, 4 * at)[0]
            start = table.base + (entry & 0x7FFFFFFF)
            if at + 1 < table.entries:
                end = table.base + (struct.unpack_from("<I", raw, 4 * at + 4)[0] & 0x7FFFFFFF)
            else:
                end = table.data_end
            if not 0 < end - start <= self._chunk_size + 4096:
                return None
            stored = os.pread(fd, end - start, start)
        except (OSError, struct.error):
            return None
        key = bytes([entry >> 31]) + stored
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = _intact(stored, compressed=bool(entry >> 31))
            if len(self._verdicts) < CACHE_LIMIT:
                self._verdicts[key] = verdict
        return verdict

    def describe(self, chunk: int) -> str:
        """The damaged chunk as the examiner needs it: sectors and bytes of the media."""
        per = self._chunk_size // self._sector
        first = chunk * per
        last = min(first + per, -(-self._media_size // self._sector)) - 1
        end = min((chunk + 1) * self._chunk_size, self._media_size) - 1
        return (f"EWF chunk {chunk} checksum error: sectors {first}-{last} (bytes {chunk * self._chunk_size}-{end}) "
                "unreadable in the image")

    def note_zero_chunks(self, offset: int, data: bytes) -> None:
        """Check every chunk that ``data`` (read at ``offset``) shows as all zeros; remember damaged ones."""
        size = self._chunk_size
        end = offset + len(data)
        chunk = offset // size
        while chunk * size < end:
            lo, hi = max(chunk * size, offset) - offset, min((chunk + 1) * size, end) - offset
            if (hi > lo and chunk not in self.damaged and data.startswith(self._zeros[: hi - lo], lo)
                    and self.chunk_ok(chunk) is False):
                self.damaged[chunk] = self.describe(chunk)
            chunk += 1

    def damage_in(self, start: int, end: int) -> list[str]:
        """Messages for the damaged chunks seen so far that overlap media bytes [start, end)."""
        if not self.damaged or end <= start:
            return []
        first, last = start // self._chunk_size, (end - 1) // self._chunk_size
        return [msg for chunk, msg in sorted(self.damaged.items()) if first <= chunk <= last]

    def scan_all(self, stop: Callable[[], bool] = lambda: False) -> list[str]:
        """Check every chunk of the set (what ``ewfverify`` reports); returns one message per damaged chunk."""
        found = []
        for chunk in range(self.chunks):
            if stop():
                break
            if self.chunk_ok(chunk) is False:
                self.damaged.setdefault(chunk, self.describe(chunk))
                found.append(self.damaged[chunk])
        return found

    def close(self) -> None:
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []
        self._tables = None
        self._entries = (-1, b"")


def _intact(stored: bytes, compressed: bool) -> bool:
    """Is a stored chunk intact: a zlib stream that inflates, or data followed by its Adler-32."""
    if compressed:
        try:
            zlib.decompress(stored)
        except zlib.error:
            return False
        return True
    if len(stored) < 4:
        return False
    return zlib.adler32(stored[:-4]) == struct.unpack("<I", stored[-4:])[0]
