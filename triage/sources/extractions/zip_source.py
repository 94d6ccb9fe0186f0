"""Zip extractions (iOS full-file-system dumps, Cellebrite-style zips with a folder and a report XML).

Why the central directory, one entry at a time: it gives every member's offset, so any worker reads any member
directly; but ``zipfile.ZipFile`` loads it whole as a list of ZipInfo (about 600 bytes a member). Here the walk
parses one entry at a time and keeps only each entry's 8-byte offset; zipfile still opens and decompresses the
members (stored, deflate, bzip2, lzma; Deflate64 when ``zipfile_deflate64`` is installed).

Names are reported as stored: a Cellebrite-style zip keeps its top folder (``/EXTRACTION_FFS/private/var/...``)
and its ``/Report.xml``; a name without the UTF-8 flag is taken as the raw bytes the tool stored (Info-ZIP on
Unix stores UTF-8 without the flag), decoded reversibly.

Times: a zip's DOS date is local time of the machine that made it, with no zone. When the member carries an
extended-timestamp (0x5455) or NTFS (0x000a) extra field, its UTC times are used ("...Z"); otherwise the DOS
time is reported as written, without "Z" (ISO-8601 local time): converting it to UTC would invent a zone.
"""

from __future__ import annotations

import contextlib
import stat
import struct
import zipfile
import zlib
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from triage.errors import EvidenceError, ReadError, one_line
from triage.model.record import FileRecord, Locator, decode_name
from triage.model.times import dos_time, iso_filetime, iso_utc

from .common import (
    SYMLINK_TARGET_LIMIT,
    locator,
    new_record,
    open_readonly,
    read_chunks,
    rooted,
    special_record,
    symlink_record,
    times,
)

with contextlib.suppress(ImportError):  # registers Deflate64 (method 9) with zipfile when installed; else
    import zipfile_deflate64  # noqa: F401  # Deflate64 members are per-record errors

_UTF8_FLAG = 0x800
_ENCRYPTED_FLAG = 0x1
_UNIX = 3
_NTFS_EPOCH_DELTA = 11_644_473_600  # seconds from 1601-01-01 to 1970-01-01
_SPECIAL = {stat.S_IFIFO: "fifo", stat.S_IFSOCK: "socket", stat.S_IFCHR: "character device",
            stat.S_IFBLK: "block device"}
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, RuntimeError, NotImplementedError,
              ValueError, struct.error)


class _EndRecordOnly(zipfile.ZipFile):
    """A ZipFile that reads only the end record; members are opened from ZipInfos parsed one at a time.

    Why: ``ZipFile`` reads the whole central directory into a list of ZipInfo (about 600 bytes a member; 600 MB
    for an iOS extraction of a million files). ``open(zipinfo)`` needs only the one ZipInfo.
    """

    def _RealGetContents(self) -> None:  # zipfile's own hook
        try:
            end = zipfile._EndRecData(self.fp)  # type: ignore[attr-defined]
        except OSError as exc:
            raise zipfile.BadZipFile("File is not a zip file") from exc
        if not end:
            raise zipfile.BadZipFile("File is not a zip file")
        size, offset = end[zipfile._ECD_SIZE], end[zipfile._ECD_OFFSET]  # type: ignore[attr-defined]
        concat = end[zipfile._ECD_LOCATION] - size - offset  # type: ignore[attr-defined]  # bytes before the zip
        if end[zipfile._ECD_SIGNATURE] == zipfile.stringEndArchive64:  # type: ignore[attr-defined]
            concat -= zipfile.sizeEndCentDir64 + zipfile.sizeEndCentDir64Locator  # type: ignore[attr-defined]
        self.start_dir = offset + concat
        if self.start_dir < 0:
            raise zipfile.BadZipFile("Bad offset for central directory")
        self.directory_end = self.start_dir + size
        self.concat = concat
        self.entries = end[zipfile._ECD_ENTRIES_TOTAL]  # type: ignore[attr-defined]


class ZipSource:
    """One zip extraction; see the package docstring for the contract."""

    def __init__(self, path: Path, kind: str, max_members: int) -> None:
        self.path = path
        self.kind = kind
        self.compressed = False
        self.max_members = max_members
        self.errors: list[str] = []
        self.limits: list[str] = []
        self._offsets = array("Q")  # central-directory offset of member i, filled by the walk or on demand
        try:
            self._raw: BinaryIO = open(open_readonly(path), "rb")  # noqa: SIM115
        except OSError as exc:
            raise EvidenceError(f"cannot open {path}: {one_line(exc, typed=True)}") from exc
        try:
            self._zip = _EndRecordOnly(self._raw, mode="r")
        except ZIP_ERRORS as exc:
            self._raw.close()
            raise EvidenceError(f"{path}: not a readable zip archive: {one_line(exc, typed=True)}") from exc

    def _directory(self, index: int, offset: int) -> Iterator[tuple[int, int, zipfile.ZipInfo, bytes]]:
        """Central-directory entries from entry ``index`` at ``offset``: (index, offset, info, raw name)."""
        with open(open_readonly(self.path), "rb", buffering=1 << 16) as handle:
            handle.seek(offset)
            while offset < self._zip.directory_end:
                info, raw_name, length = _parse_entry(handle, self._zip.concat)
                yield index, offset, info, raw_name
                index, offset = index + 1, offset + length

    def walk(self) -> Iterator[FileRecord]:
        entries = self._directory(0, self._zip.start_dir)
        while True:
            try:
                index, offset, info, raw_name = next(entries)
            except StopIteration:
                break
            except ZIP_ERRORS as exc:
                self.errors.append(f"zip central directory unreadable after {len(self._offsets)} members: "
                                   f"{one_line(exc, typed=True)}")
                break
            if index >= self.max_members:
                self.limits.append(f"member count limit {self.max_members} reached: "
                                   f"{self._zip.entries - self.max_members} members were not listed")
                break
            if len(self._offsets) == index:
                self._offsets.append(offset)
            record = self._record(index, info, raw_name)
            if record is not None:
                yield record

    def _info(self, index: int) -> zipfile.ZipInfo:
        """Member ``index``'s ZipInfo, extending the offset index first when this handle did not walk."""
        if index >= len(self._offsets):
            start = (len(self._offsets) - 1, self._offsets[-1]) if self._offsets else (0, self._zip.start_dir)
            for i, offset, _info, _name in self._directory(*start):
                if i == len(self._offsets):
                    self._offsets.append(offset)
                if i >= index:
                    break
        if index >= len(self._offsets):
            raise IndexError(f"member {index} not in the archive")
        return next(self._directory(index, self._offsets[index]))[2]

    def _record(self, index: int, info: zipfile.ZipInfo, raw_name: bytes) -> FileRecord | None:
        # Without the UTF-8 flag the stored bytes are taken as they are (Info-ZIP on Unix stores UTF-8 unflagged)
        name = info.filename if info.flag_bits & _UTF8_FLAG else decode_name(raw_name)
        path = rooted(name)
        mode = (info.external_attr >> 16) if info.create_system == _UNIX else 0
        kind = stat.S_IFMT(mode)
        if info.is_dir() or kind == stat.S_IFDIR:
            return None
        when = _zip_times(info)
        if kind == stat.S_IFLNK:
            return self._symlink(path, info, when)
        if kind in _SPECIAL:
            return special_record(path, self.kind, _SPECIAL[kind], when)
        record = new_record(path, self.kind, info.file_size, when, locator(index, info.filename))
        if info.flag_bits & _ENCRYPTED_FLAG:
            record.locator = None
            record.errors.append("encrypted zip member: not read")
        return record

    def _symlink(self, path: str, info: zipfile.ZipInfo, when: dict[str, str | None]) -> FileRecord:
        """A symlink stored the Info-ZIP way: Unix mode S_IFLNK in external_attr, the target as the data."""
        if info.file_size > SYMLINK_TARGET_LIMIT or info.flag_bits & _ENCRYPTED_FLAG:
            record = new_record(path, self.kind, 0, when, None)
            record.errors.append(f"symlink target not read: {info.file_size} bytes stored"
                                 + (" (encrypted)" if info.flag_bits & _ENCRYPTED_FLAG else ""))
            return record
        try:
            with self._zip.open(info) as handle:
                target = decode_name(handle.read(SYMLINK_TARGET_LIMIT))
        except ZIP_ERRORS as exc:
            record = new_record(path, self.kind, 0, when, None)
            record.errors.append(f"symlink target unreadable: {one_line(exc, typed=True)}")
            return record
        return symlink_record(path, self.kind, target, when)

    def read_stream(self, where: Locator, size: int) -> Iterator[bytes]:
        what = f"zip member {where.stream!r}"
        try:
            info = self._info(where.inode)
        except (*ZIP_ERRORS, IndexError) as exc:
            raise ReadError(f"{what}: {one_line(exc, typed=True)}") from exc
        if info.filename != where.stream:
            raise ReadError(f"{what}: member {where.inode} is {info.filename!r}")
        if info.flag_bits & _ENCRYPTED_FLAG:
            raise ReadError(f"{what}: encrypted")
        try:
            handle = self._zip.open(info)
        except ZIP_ERRORS as exc:
            raise ReadError(f"{what}: {one_line(exc, typed=True)}") from exc
        with handle:
            yield from read_chunks(handle, size, what)
            try:  # the CRC is checked when the member's end is read
                if handle.read(1):
                    raise ReadError(f"{what}: longer than its recorded size {size}")
            except ZIP_ERRORS as exc:
                raise ReadError(f"{what}: {one_line(exc, typed=True)}") from exc

    def close(self) -> None:
        try:
            self._zip.close()
        finally:
            self._raw.close()


def _parse_entry(handle: BinaryIO, concat: int) -> tuple[zipfile.ZipInfo, bytes, int]:
    """One central-directory entry, read the way ``ZipFile._RealGetContents`` reads each: (info, raw name, length)."""
    fixed = handle.read(zipfile.sizeCentralDir)  # type: ignore[attr-defined]
    if len(fixed) != zipfile.sizeCentralDir:  # type: ignore[attr-defined]
        raise zipfile.BadZipFile("Truncated central directory")
    entry = struct.unpack(zipfile.structCentralDir, fixed)  # type: ignore[attr-defined]
    if entry[0] != zipfile.stringCentralDir:  # type: ignore[attr-defined]
        raise zipfile.BadZipFile("Bad magic number for central directory")
    name_len, extra_len, comment_len = entry[12], entry[13], entry[14]
    raw_name = handle.read(name_len)
    flags = entry[5]
    info = zipfile.ZipInfo(raw_name.decode("utf-8" if flags & _UTF8_FLAG else "cp437", "surrogateescape"))
    info.extra = handle.read(extra_len)
    info.comment = handle.read(comment_len)
    if len(raw_name) + len(info.extra) + len(info.comment) != name_len + extra_len + comment_len:
        raise zipfile.BadZipFile("Truncated central directory")
    (info.create_version, info.create_system, info.extract_version, info.reserved, info.flag_bits,
     info.compress_type, raw_time, raw_date, info.CRC, info.compress_size, info.file_size) = entry[1:12]
    info.volume, info.internal_attr, info.external_attr = entry[15:18]
    info._raw_time = raw_time  # type: ignore[attr-defined]
    info.date_time = ((raw_date >> 9) + 1980, (raw_date >> 5) & 0xF, raw_date & 0x1F,
                      raw_time >> 11, (raw_time >> 5) & 0x3F, (raw_time & 0x1F) * 2)
    info.header_offset = entry[18]
    try:
        info._decodeExtra()  # type: ignore[attr-defined]  # ZIP64 sizes and offset
    except TypeError:  # newer Pythons pass the name's CRC (Info-ZIP Unicode path field)
        info._decodeExtra(zlib.crc32(raw_name))  # type: ignore[attr-defined]
    info.header_offset += concat
    return info, raw_name, zipfile.sizeCentralDir + name_len + extra_len + comment_len  # type: ignore[attr-defined]


def _zip_times(info: zipfile.ZipInfo) -> dict[str, str | None]:
    """UTC times from the extra fields when present, else the DOS local time without a zone."""
    modified = accessed = created = None
    extra = info.extra
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4: pos + 4 + length]
        pos += 4 + length
        if tag == 0x5455 and body:  # extended timestamp: flags, then mtime (central directory: mtime only)
            if body[0] & 1 and len(body) >= 5:
                modified = iso_utc(struct.unpack_from("<i", body, 1)[0])
        elif tag == 0x000A and len(body) >= 32:  # NTFS: reserved, then attribute tag 1 with 3 FILETIMEs
            sub, sub_len = struct.unpack_from("<HH", body, 4)
            if sub == 1 and sub_len >= 24:
                mtime, atime, ctime = struct.unpack_from("<QQQ", body, 8)
                modified, accessed, created = (iso_filetime(mtime), iso_filetime(atime), iso_filetime(ctime))
    if modified is None:
        modified = dos_time(info.date_time)
    return times(modified, accessed, None, created)

