"""Differencing disks: a QCOW2 with a backing file, a VMDK with a parent, a differencing VHD/VHDX.

Such a child holds only the blocks written after a snapshot; every other block is its parent's. libqcow, libvmdk
and libvhdi refuse to read a child whose parent was not given, so the parent is looked for where the examiner
copied the set: next to the child, by the file name the child records (a recorded relative path is tried too).
A missing parent is named exactly, so the examiner knows which file to bring.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from triage import defaults, errors
from triage.errors import EvidenceError


def recorded_parent(kind: str, handle: Any) -> str | None:
    """The parent file name a child records, or None for a disk that stands alone."""
    try:
        if kind == "qcow":
            return handle.get_backing_filename() or None
        if kind == "vmdk":
            return handle.get_parent_filename() or None
        if kind == "vhd":
            if not (handle.get_parent_identifier() or handle.get_parent_filename()):
                return None
            return handle.get_parent_filename() or "(its parent; no file name recorded)"
    except (OSError, ValueError):
        return None
    return None


def find_parent(child: Path, recorded: str) -> Path:
    """The parent file next to ``child``: its recorded name, then its recorded relative path, else EvidenceError."""
    name = (PureWindowsPath(recorded) if "\\" in recorded else PurePosixPath(recorded)).name
    candidates = [child.parent / name]
    relative = PurePosixPath(recorded.replace("\\", "/"))
    if not relative.is_absolute() and not PureWindowsPath(recorded).drive and str(relative) != name:
        candidates.append(child.parent / relative)
    for candidate in candidates:
        if name and candidate.is_file():
            return candidate
    raise EvidenceError(f"{child}: differencing disk: needs parent file '{name or recorded}' (not found next to it)")


def open_chain(path: Path, kind: str, handle: Any, open_one: Callable[[Path], Any]) -> tuple[list[Any], list[Path]]:
    """Open the parents of ``handle`` (the child at ``path``) up the chain and give each child its parent.

    ``open_one`` opens one image of the same format read-only (raising EvidenceError). Returns the parent
    handles (to be closed after the child) and their paths. A chain that comes back to a file already in it,
    or is longer than ``PARENT_CHAIN_MAX``, is refused: it cannot be a real snapshot chain.
    """
    handles: list[Any] = []
    paths: list[Path] = []
    seen = {path.resolve()}
    child, child_path = handle, path
    try:
        while (recorded := recorded_parent(kind, child)) is not None:
            if len(handles) >= defaults.PARENT_CHAIN_MAX:
                raise EvidenceError(f"{path}: differencing disk: more than {defaults.PARENT_CHAIN_MAX} parents")
            parent_path = find_parent(child_path, recorded)
            if parent_path.resolve() in seen:
                raise EvidenceError(f"{path}: differencing disk: parent chain loops back to '{parent_path.name}'")
            seen.add(parent_path.resolve())
            handles.append(open_one(parent_path))
            paths.append(parent_path)
            child, child_path = handles[-1], parent_path
        chain = [handle, *handles]
        for index in range(len(chain) - 1, 0, -1):  # the oldest parent first: each is whole when given
            try:
                chain[index - 1].set_parent(chain[index])
            except (OSError, ValueError) as exc:
                raise EvidenceError(
                    f"{path}: differencing disk: parent file '{paths[index - 1].name}' does not fit "
                    f"({errors.one_line(exc, last=True)})"
                ) from None
    except EvidenceError:
        close_all(handles)
        raise
    return handles, paths


def close_all(handles: list[Any]) -> None:
    for parent in handles:
        with contextlib.suppress(Exception):
            parent.close()
