"""Logical extractions as evidence: a phone's file system delivered as a tar, a zip or a folder.

Why a source of its own and not an archive: an extraction *is* the device. Its entries are the device's files
(``origin: "extraction"``, one device, no volumes), with their paths, times and symlinks as the phone had them,
whereas an archive found inside evidence is one file whose members become children. Archives found inside an
extraction are still expanded by ``triage.sources.archives`` like anywhere else.

Contract:

- ``detect_extraction(path)`` decides by content, never by name: "folder", "tar", "tar.gz", "tar.bz2",
  "tar.xz", "zip", or None.
- ``Extraction(path).walk()`` yields one record per regular file, symlink (size 0, no digest, note
  "symlink to <target>", never followed; a target that leaves the extraction is noted), hard link (a note and
  the target's content) and FIFO/socket/device (a note, never opened). Folders are not records. Paths are
  "/"-rooted as stored (one leading "./" dropped). ``fs`` is the kind, ``volume`` and ``inode`` are None (an
  index in an archive is not an inode), ``allocated`` is True.
- ``record.locator`` (kind "extraction", ``inode`` the member index, or the file's inode on the examiner's copy
  for a folder, ``stream`` the member name or relative path) lets ``read_stream`` reopen a member in any process:
  1 MiB chunks, ``ReadError`` on a short read. Records that cannot be read (encrypted, special files,
  symlinks) have no locator and carry the reason.
- ``digests_in_walk()`` is True for compressed tars: their walk already filled md5/sha1/sha256/type and the
  perceptual hashes of pictures, because reaching member n of a compressed stream means decompressing all
  before it. Their records keep a locator (a worker may re-read, at that cost); the scan must not read them
  again. Plain tars, zips and folders: False, the scan reads each record through ``read_stream``.
- ``errors`` (the listing stopped early: truncated or damaged archive, an unreadable folder) and ``limits``
  (a bound that stopped the walk, a mount point not entered) are for the summary; they grow during the walk.

Decisions where the issue was silent: zip DOS times carry no zone and are reported without "Z" unless an extra
field gives UTC (see zip_source); hard links of a tar are yielded after the other members (their targets are
resolved by a second pass, so no table of every member is kept); a folder is walked without crossing into
another mounted file system.
"""

from __future__ import annotations

import lzma
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from triage.defaults import EXTRACTION_MAX_MEMBERS
from triage.errors import EvidenceError
from triage.model.record import FileRecord, Locator
from triage.sources.containers.apple import is_sparse_bundle
from triage.sources.containers.detect import is_aff4
from triage.sources.registry import register

from .common import open_readonly
from .folder_source import FolderSource
from .tar_source import DECOMPRESSORS, TarSource
from .zip_source import ZipSource

__all__ = ["KINDS", "Extraction", "detect_extraction"]

KINDS = ("folder", "tar", "tar.gz", "tar.bz2", "tar.xz", "zip")
_NAMES = {"folder": "folder", "zip": "zip extraction"}
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_COMPRESSED = ((b"\x1f\x8b", "tar.gz"), (b"BZh", "tar.bz2"), (b"\xfd7zXZ\x00", "tar.xz"))
_USTAR = slice(257, 262)


def _is_tar_head(head: bytes) -> bool:
    return len(head) >= 262 and head[_USTAR] == b"ustar"


def detect_extraction(path: Path) -> str | None:
    """The kind of logical extraction at ``path`` by its content, or None when it is not one."""
    if os.path.isdir(path):
        return None if is_sparse_bundle(Path(path)) else "folder"  # a Mac disk image stored as a folder
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block the open; devices are disk images
            return None
        with open(open_readonly(path), "rb") as raw:
            head = raw.read(512)
            if head[:4] in _ZIP_MAGIC:
                return None if is_aff4(path) else "zip"  # an AFF4 image is a zip too: the container says so
            if _is_tar_head(head):
                return "tar"
            for magic, kind in _COMPRESSED:
                if head.startswith(magic):
                    raw.seek(0)
                    try:
                        with DECOMPRESSORS[kind](raw) as stream:
                            inner = stream.read(512)
                    except (OSError, EOFError, ValueError, lzma.LZMAError):
                        return None
                    return kind if _is_tar_head(inner) else None
    except OSError:
        return None
    return None


class Extraction:
    """One logical extraction, opened read-only."""

    kind: str
    name: str

    def __init__(self, path: Path, *, max_members: int = EXTRACTION_MAX_MEMBERS) -> None:
        path = Path(path)
        if not os.path.lexists(path):
            raise EvidenceError(f"{path}: no such file or folder")
        kind = detect_extraction(path)
        if kind is None:
            raise EvidenceError(f"{path}: not a logical extraction (a tar, tar.gz/.bz2/.xz, zip or folder)")
        self.path = path
        self.kind = kind
        self.name = _NAMES.get(kind, "tar extraction")
        backend: Any
        if kind == "folder":
            backend = FolderSource(path, kind, max_members)
        elif kind == "zip":
            backend = ZipSource(path, kind, max_members)
        else:
            backend = TarSource(path, kind, max_members)
        self._backend = backend
        # What the scan asks of every lister (triage.sources.filesystems.FileSystem): an extraction is one
        # "volume" of its own, at no offset of any media.
        self.offset, self.volume, self.label = 0, None, None
        self.size = path.stat().st_size if path.is_file() else 0
        self.notes: list[str] = []
        self.locator = Locator("extraction", (str(path),))

    @property
    def errors(self) -> list[str]:
        """Problems with the extraction as a whole (the listing stopped early); per-file ones are on records."""
        return self._backend.errors

    @property
    def limits(self) -> list[str]:
        """What a bound stopped or left out, for the summary's ``limits``."""
        return self._backend.limits

    def walk(self) -> Iterator[FileRecord]:
        """One record per file, symlink and special file; see the module docstring.

        Each stream locator gets this extraction as its parent, so a worker reopens it through the registry.
        """
        for record in self._backend.walk():
            where = record.locator
            if where is not None and where.parent is None:
                record.locator = Locator(where.kind, where.args, self.locator)
            yield record

    def read_stream(self, locator: Locator, size: int) -> Iterator[bytes]:
        """The ``size`` bytes of the record at ``locator`` in 1 MiB chunks; ReadError when they do not all come."""
        return self._backend.read_stream(locator, size)

    def digests_in_walk(self) -> bool:
        """True when ``walk`` already filled the digests (compressed tars): the scan must not read again."""
        return bool(self._backend.compressed)

    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> Extraction:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Extraction({str(self.path)!r}, kind={self.kind!r})"


register("extraction", lambda locator, _parent: Extraction(Path(str(locator.args[0]))))
