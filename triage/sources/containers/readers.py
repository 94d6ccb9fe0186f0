"""Byte readers for each container format, all read-only, all with ``read(offset, size)`` and ``size``.

Each reader hides one library (pyewf, pyvmdk, pyvhdi, pyqcow, pymodi, or plain files). Readers are cheap to open, so
every worker process opens its own: none of these handles may be shared across processes.
"""

from __future__ import annotations

import bisect
import contextlib
import importlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from triage import errors
from triage.errors import EvidenceError
from triage.sources.containers.ewf_integrity import EwfChunkChecker
from triage.sources.containers.parents import open_chain


class Reader(Protocol):
    """What every container reader offers."""

    size: int

    def read(self, offset: int, size: int) -> bytes: ...

    def close(self) -> None: ...


class SegmentedFileReader:
    """One raw image, or several raw files read back to back (split raw ``.001``, ``.002``…).

    Files are opened with ``O_RDONLY``: evidence is never opened for writing.
    """

    def __init__(self, paths: list[Path]) -> None:
        self._fds: list[int] = []
        self._starts: list[int] = []
        self._sizes: list[int] = []
        offset = 0
        try:
            for path in paths:
                fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
                self._fds.append(fd)
                size = os.fstat(fd).st_size
                self._starts.append(offset)
                self._sizes.append(size)
                offset += size
        except OSError as exc:
            self.close()
            raise EvidenceError(f"{exc.filename}: cannot open ({exc.strerror})") from None
        self.size = offset

    def read(self, offset: int, size: int) -> bytes:
        if offset >= self.size or size <= 0:
            return b""
        size = min(size, self.size - offset)
        if len(self._fds) == 1:  # one file (a raw image): one read, asked once per small file by the walk
            return os.pread(self._fds[0], size, offset)
        index = bisect.bisect_right(self._starts, offset) - 1
        parts = []
        while size > 0 and index < len(self._fds):
            inner = offset - self._starts[index]
            take = min(size, self._sizes[index] - inner)
            data = os.pread(self._fds[index], take, inner)
            parts.append(data)
            if len(data) < take:
                break
            offset += take
            size -= take
            index += 1
        return b"".join(parts)

    def close(self) -> None:
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []


class LibReader:
    """A libyal handle (pyewf, pyvmdk, pyvhdi, pyqcow) behind the common reader interface."""

    def __init__(self, handle: Any, size: int, files: list[Any] | None = None,
                 data_paths: list[Path] | None = None, parent_paths: list[Path] | None = None) -> None:
        self._handle = handle
        self._files = files or []  # closed after the handle: a differencing disk's parents
        self.size = size
        self.data_paths = data_paths or []  # files besides the evidence path holding media bytes (extents, parents)
        self.parent_paths = parent_paths or []  # a differencing disk's parents, nearest first

    def read(self, offset: int, size: int) -> bytes:
        if offset >= self.size or size <= 0:
            return b""
        return self._handle.read_buffer_at_offset(min(size, self.size - offset), offset)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._handle.close()
        for fh in self._files:
            with contextlib.suppress(Exception):
                fh.close()


class EwfReader(LibReader):
    """pyewf behind the reader interface, noticing chunks that libewf zero-filled after a checksum error.

    Why: pyewf hides checksum errors (it returns zeros); see ``ewf_integrity``. Reads still return what libewf
    gives, but every damaged chunk met is remembered so that a stream lying in one is refused
    (``damage_in``) instead of being hashed over the substituted zeros.
    """

    def __init__(self, handle: Any, size: int, checker: EwfChunkChecker) -> None:
        super().__init__(handle, size)
        self.checker = checker

    def read(self, offset: int, size: int) -> bytes:
        data = super().read(offset, size)
        if data:
            self.checker.note_zero_chunks(offset, data)
        return data

    def damage_in(self, start: int, end: int) -> list[str]:
        """Damaged chunks met so far that overlap media bytes [start, end)."""
        return self.checker.damage_in(start, end)

    def close(self) -> None:
        super().close()
        self.checker.close()


def open_ewf(paths: list[Path]) -> tuple[LibReader, Any]:
    """Open an EWF set read-only; returns the reader and the pyewf handle (for metadata)."""
    import pyewf

    handle = pyewf.handle()
    try:
        handle.open([str(p) for p in paths], "r")
        size = handle.get_media_size()
        checker = EwfChunkChecker(paths, handle.get_chunk_size(), handle.get_bytes_per_sector(), size)
    except (OSError, ValueError) as exc:
        raise EvidenceError(f"{paths[0]}: cannot open EWF set ({errors.one_line(exc, last=True)})") from None
    return EwfReader(handle, size, checker), handle


def open_vmdk(path: Path) -> LibReader:
    """Open a VMDK (descriptor or monolithic sparse) read-only with its extent files and its parents."""
    handle = _vmdk_handle(path)
    parents, parent_paths = open_chain(path, "vmdk", handle, _vmdk_handle)
    extents = []
    with contextlib.suppress(Exception):  # only used to tell a sparse VMDK from a full one
        for index in range(handle.get_number_of_extents()):
            name = handle.get_extent_descriptor(index).filename
            if name:
                extents.append(path.parent / name)
    return LibReader(handle, handle.get_media_size(), parents, [*extents, *parent_paths], parent_paths)


def _vmdk_handle(path: Path) -> Any:
    import pyvmdk

    handle = pyvmdk.handle()
    try:
        handle.open(str(path), "r")
        handle.open_extent_data_files()
    except (OSError, ValueError) as exc:
        with contextlib.suppress(Exception):
            handle.close()
        raise EvidenceError(f"{path}: cannot open VMDK ({errors.one_line(exc, last=True)})") from None
    return handle


def _file_opener(module: str, what: str) -> Callable[[Path], Any]:
    """An opener of one libyal ``file`` (pyvhdi, pyqcow) read-only, its failure an EvidenceError naming ``what``."""

    def open_one(path: Path) -> Any:
        handle = importlib.import_module(module).file()
        try:
            handle.open(str(path), "r")
        except (OSError, ValueError) as exc:
            raise EvidenceError(f"{path}: cannot open {what} ({errors.one_line(exc, last=True)})") from None
        return handle

    return open_one


_vhd_handle = _file_opener("pyvhdi", "VHD/VHDX")
_qcow_handle = _file_opener("pyqcow", "QCOW")


def _chained(path: Path, kind: str, opener: Callable[[Path], Any]) -> LibReader:
    handle = opener(path)
    parents, parent_paths = open_chain(path, kind, handle, opener)
    return LibReader(handle, handle.get_media_size(), parents, parent_paths, parent_paths)


def open_vhd(path: Path) -> LibReader:
    """Open a VHD or VHDX read-only; a differencing disk through its parents."""
    return _chained(path, "vhd", _vhd_handle)


def open_qcow(path: Path) -> LibReader:
    """Open a QCOW image read-only; one with a backing file through its backing chain."""
    return _chained(path, "qcow", _qcow_handle)


def one_line(exc: BaseException) -> str:
    """A libyal error's last line, since their messages are backtraces.

    Only triage.reading.mediapass still imports this name; everything else calls
    ``triage.errors.one_line(exc, last=True)``, which this is.
    """
    return errors.one_line(exc, last=True)
