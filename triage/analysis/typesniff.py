"""File type by signature (magic bytes), and whether the extension agrees.

Why our own table: examiners care about a small set of types (pictures, videos, archives, documents) and about
renamed files (a JPEG called ``.txt``); libmagic would be a native dependency for little gain. Only the first
bytes of the stream are looked at, so sniffing costs nothing beyond the read the digests already make.
"""

from __future__ import annotations

HEAD_SIZE = 512  # tar's only mark is its header checksum over the first 512 bytes
TAR_BLOCK = 512

# (offset, magic, MIME); first match wins, so longer/more specific magics come first.
MAGIC: list[tuple[int, bytes, str]] = [
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"BM", "image/bmp"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (0, b"\x00\x00\x01\x00", "image/x-icon"),
    (8, b"WEBP", "image/webp"),
    (4, b"ftypheic", "image/heic"),
    (4, b"ftypheix", "image/heic"),
    (4, b"ftypmif1", "image/heif"),
    (4, b"ftypavif", "image/avif"),
    (4, b"ftypqt", "video/quicktime"),
    (4, b"ftyp3gp", "video/3gpp"),
    (4, b"ftyp", "video/mp4"),
    (0, b"\x1aE\xdf\xa3", "video/x-matroska"),
    (8, b"AVI ", "video/x-msvideo"),
    (0, b"\x00\x00\x01\xba", "video/mpeg"),
    (0, b"FLV\x01", "video/x-flv"),
    (0, b"0&\xb2u\x8ef\xcf\x11", "video/x-ms-asf"),
    (0, b"G", "video/mp2t"),  # MPEG transport stream: a 0x47 sync byte every 188 bytes (checked)
    (4, b"G", "video/mp2t"),  # M2TS (AVCHD camcorders, Blu-ray): 188-byte packets behind 4-byte time codes
    (0, b"%PDF-", "application/pdf"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"PK\x05\x06", "application/zip"),
    (0, b"Rar!\x1a\x07", "application/vnd.rar"),
    (0, b"7z\xbc\xaf'\x1c", "application/x-7z-compressed"),
    (0, b"\x1f\x8b\x08", "application/gzip"),  # deflate is gzip's only method
    (0, b"BZh", "application/x-bzip2"),
    (0, b"\xfd7zXZ\x00", "application/x-xz"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
    (0, b"SQLite format 3\x00", "application/vnd.sqlite3"),
    (0, b"MZ", "application/x-msdownload"),
    (0, b"\x7fELF", "application/x-executable"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"OggS", "audio/ogg"),
    (0, b"fLaC", "audio/flac"),
    (8, b"WAVE", "audio/wav"),
    (0, b"EVF\x09\x0d\x0a\xff\x00", "application/x-ewf"),
    (0, b"CMMM", "application/x-thumbcache"),  # Windows Vista-11 thumbcache_*.db (triage.sources.embedded)
]

EXTENSIONS: dict[str, set[str]] = {
    "image/jpeg": {"jpg", "jpeg", "jpe", "jfif"},
    "image/png": {"png"},
    "image/gif": {"gif"},
    "image/bmp": {"bmp", "dib"},
    "image/tiff": {"tif", "tiff", "dng", "nef", "cr2", "arw"},
    "image/x-icon": {"ico", "cur"},
    "image/webp": {"webp"},
    "image/heic": {"heic", "heif"},
    "image/heif": {"heic", "heif"},
    "image/avif": {"avif"},
    "video/quicktime": {"mov", "qt"},
    "video/3gpp": {"3gp", "3g2"},
    "video/mp4": {"mp4", "m4v", "m4a", "mov", "3gp"},
    "video/x-matroska": {"mkv", "webm", "mka"},
    "video/x-msvideo": {"avi"},
    "video/mpeg": {"mpg", "mpeg", "vob"},
    "video/x-flv": {"flv"},
    "video/x-ms-asf": {"wmv", "asf", "wma"},
    "video/mp2t": {"ts", "mts", "m2ts", "m2t", "tsv", "trp"},
    "application/pdf": {"pdf"},
    "application/zip": {"zip", "docx", "xlsx", "pptx", "odt", "ods", "odp", "jar", "apk", "epub", "kmz"},
    "application/vnd.rar": {"rar"},
    "application/x-7z-compressed": {"7z"},
    "application/gzip": {"gz", "tgz"},
    "application/x-bzip2": {"bz2", "tbz"},
    "application/x-xz": {"xz", "txz"},
    "application/x-tar": {"tar"},
    "application/x-ole-storage": {"doc", "xls", "ppt", "msg", "msi", "db"},
    "application/vnd.sqlite3": {"sqlite", "db", "sqlite3", "sqlitedb"},
    "application/x-msdownload": {"exe", "dll", "sys", "scr", "cpl", "ocx", "com", "efi", "mui"},
    "application/x-executable": {"", "so", "elf", "bin", "o"},
    "audio/mpeg": {"mp3"},
    "audio/ogg": {"ogg", "oga", "opus"},
    "audio/flac": {"flac"},
    "audio/wav": {"wav"},
    "application/x-ewf": {"e01", "ex01", "l01"},
    "application/x-thumbcache": {"db"},
}


# The one decision of what a type is (DESIGN.md): "picture" = perceptually hashed (icons are left out on purpose:
# thousands of tiny system icons per Windows install, all low PDQ quality, never what a hash set is about),
# "video", "archive" = expanded into child records (triage.sources.archives).
PICTURE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/bmp", "image/tiff", "image/webp",
                           "image/heic", "image/heif", "image/avif"})
ARCHIVE_TYPES = frozenset({"application/zip", "application/x-7z-compressed", "application/gzip",
                           "application/x-bzip2", "application/x-xz", "application/x-tar", "application/vnd.rar"})


def kind_of(mime: str | None) -> str | None:
    """"picture", "video", "archive" or None: the only place that decides it, from the sniffed type."""
    if mime in PICTURE_TYPES:
        return "picture"
    if mime is not None and mime.startswith("video/"):
        return "video"
    if mime in ARCHIVE_TYPES:
        return "archive"
    return None


# The entries that can match a head starting with each byte, in table order: sniffing looked at every entry of
# every stream, 4 us a stream (issue 17).
_BY_FIRST_BYTE = [tuple(entry for entry in MAGIC if entry[0] or entry[1][0] == byte) for byte in range(256)]


def sniff(head: bytes) -> str | None:
    """MIME type from the first bytes of a stream, or None when nothing in the table matches."""
    for offset, magic, mime in _BY_FIRST_BYTE[head[0]] if head else MAGIC:
        if head[offset : offset + len(magic)] == magic:
            if mime == "image/bmp" and len(head) >= 14 and not _plausible_bmp(head):
                continue
            if mime == "image/x-icon" and not _plausible_ico(head):
                continue
            if mime in _CHECKED and not _CHECKED[mime](head):
                continue
            return mime
    if looks_like_tar(head[:TAR_BLOCK]):
        return "application/x-tar"
    return None


def _plausible_gzip(head: bytes) -> bool:
    """Reserved flag bits clear (RFC 1952): random bytes starting 1f 8b 08 pass 1 in 8, real gzip always."""
    return len(head) < 4 or head[3] & 0xE0 == 0


def _plausible_bzip2(head: bytes) -> bool:
    """"BZh", a block size digit 1-9, then a block or end-of-stream magic (the bzip2 file format)."""
    return len(head) < 10 or (head[3:4] in b"123456789" and head[4:10] in (b"1AY&SY", b"\x17rE8P\x90"))


def _plausible_thumbcache(head: bytes) -> bool:
    """"CMMM" then a format version Windows wrote (20 Vista, 21 7, 30 8, 31 8.1, 32 10/11; libwtcdb's document)."""
    return len(head) < 8 or int.from_bytes(head[4:8], "little") in (20, 21, 30, 31, 32)


def _plausible_ts(head: bytes) -> bool:
    """Three 0x47 sync bytes a packet apart (188 bytes, or 192 for M2TS): one "G" alone starts too much text."""
    for first, size in ((0, 188), (4, 192)):
        if len(head) >= first + 2 * size + 1 and all(head[first + k * size] == 0x47 for k in range(3)):
            return True
    return False


_CHECKED = {"application/gzip": _plausible_gzip, "application/x-bzip2": _plausible_bzip2,
            "application/x-thumbcache": _plausible_thumbcache, "video/mp2t": _plausible_ts}


def looks_like_tar(block: bytes) -> bool:
    """A tar header block: the stored octal checksum matches the sum of the block with the field as spaces."""
    if len(block) < TAR_BLOCK or block[:1] == b"\x00":
        return False
    field = block[148:156].replace(b"\x00", b" ").strip()
    if not field or any(c not in b"01234567" for c in field):
        return False
    return int(field, 8) == sum(block[:148]) + 8 * 32 + sum(block[156:TAR_BLOCK])
    return None


def _plausible_ico(head: bytes) -> bool:
    """00 00 01 00 starts many tables (e.g. the exFAT up-case table): require a sane first directory entry."""
    return len(head) >= 22 and head[4:6] != b"\x00\x00" and head[9] == 0 and head[10:12] in (b"\x00\x00",
                                                                                           b"\x01\x00")


def _plausible_bmp(head: bytes) -> bool:
    """'BM' alone is too common in random data: require the reserved fields to be zero."""
    return head[6:10] == b"\x00\x00\x00\x00"


def extension_mismatch(mime: str | None, extension: str) -> bool:
    """True when the signature names a type whose usual extensions do not include this one.

    Unknown signatures never mismatch: a text file called ``.log`` has no magic to disagree with.
    """
    if mime is None or mime not in EXTENSIONS:
        return False
    return extension.lower() not in EXTENSIONS[mime]
