"""Media below a file system: a slice of the evidence, or the plain bytes a storage layer (BitLocker, LUKS, LVM,
a shadow copy) serves through its libyal object.

A layer's media looks like ``Evidence`` to everything above it (``read``, ``reader``, ``img``, ``media_size``), so
that partition tables, file systems and signature guesses open on it unchanged. Its bytes are not plain offsets
of the evidence: file systems on it report no byte runs, and the media pass leaves their streams to the workers,
which read them through the layer (decrypting as they go).
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from triage.errors import one_line
from triage.model.locator import Locator
from triage.sources.containers import MediaOfReader, TskImage
from triage.sources.containers.readers import Reader


class MediaSlice:
    """A read-only file object over part of a media, for libraries that want one (pyfsapfs, pybde, pyvshadow…)."""

    def __init__(self, reader: Reader, offset: int, size: int) -> None:
        self._reader = reader
        self._offset = offset
        self._size = size
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self._size - self._pos
        data = self._reader.read(self._offset + self._pos, max(0, min(size, self._size - self._pos)))
        self._pos += len(data)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size}[whence]
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def get_size(self) -> int:
        return self._size

    def close(self) -> None:
        pass


class LibyalReader:
    """The ``Reader`` protocol over a libyal volume object (``read_buffer_at_offset``, ``get_size``).

    Why a read error becomes OSError: ``TskImage`` salvages OSErrors sector by sector and notes the damage, so a
    bad block under an encrypted volume fails only the files lying on it.
    """

    def __init__(self, handle: Any, size: int, owner: Any = None) -> None:
        self._handle = handle
        self._owner = owner  # the object that must stay open while ``handle`` is read (a volume group, a store set)
        self.size = size

    def read(self, offset: int, size: int) -> bytes:
        if offset >= self.size or size <= 0:
            return b""
        size = min(size, self.size - offset)
        try:
            return bytes(self._handle.read_buffer_at_offset(size, offset))
        except (OSError, ValueError) as exc:
            raise OSError(f"layer read failed at offset {offset}: {one_line(exc, last=True)}") from None

    def close(self) -> None:
        for obj in (self._handle, self._owner):
            close = getattr(obj, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()


class LayerMedia(MediaOfReader):
    """The bytes one storage layer serves (a decrypted volume, a logical volume, a shadow copy), as evidence-like
    media: the parent's ``paths`` and the layer's ``kind`` as its format."""

    def __init__(self, kind: str, reader: Reader, parent: Any, locator: Locator) -> None:
        self.format = kind
        self.reader = reader
        self.paths = parent.paths
        self.locator = locator
        self._img: TskImage | None = None

    def close(self) -> None:
        self.reader.close()


def media_locator(media: Any) -> Locator:
    """The locator of a media handle: a layer's own, or the evidence's."""
    locator = getattr(media, "locator", None)
    if isinstance(locator, Locator):
        return locator
    from triage.sources.containers import evidence_locator

    return evidence_locator(media)
