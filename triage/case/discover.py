"""Find the devices in a case directory: which files are evidence, which belong together, what is skipped.

Why content first: seized evidence arrives renamed and mixed with notes, hash lists, acquisition logs and
reports. A file is judged by its bytes (container signatures, partition tables, file-system signatures, known
document types); names are only used to find the sibling segments of a set (``x.E02`` beside ``x.E01``,
``x.002`` beside ``x.001``) and the extents a VMDK descriptor names. Everything not taken as evidence is listed
with its reason, so the examiner can see that nothing was silently ignored.

Raw evidence rule: a file is a raw image when it starts with a file-system signature or a GPT header, or when it
is not a known document/picture/archive type, not text, and either holds a plausible MBR or has a size that is
a multiple of 512 bytes (a sector). Anything else is skipped with the reason.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from triage.case.classify import Kind, classify
from triage.errors import UsageError
from triage.sources.containers.detect import special_kind
from triage.textsafe import visible_text

_SPLIT_RAW = re.compile(r"^(?P<stem>.+)\.(?P<num>\d{3})$")
_EWF_EXT = re.compile(r"^(?:[EeLs](?:\d{2}|[A-Za-z]{2})|[EeLl]x(?:\d{2}|[A-Za-z]{2}))$")
RESERVED = {"case.sqlite", "case.sqlite-wal", "case.sqlite-shm", "case.json", "case.html"}
IDENTITY_SPAN = 1 << 20


@dataclass
class Device:
    """One seized device: the files of its evidence set, in order, the first one opening the set.

    ``problem`` is set when discovery already knows the set cannot be scanned (a lone E02, a split raw set
    without its first segment, an unreadable file); such a device is recorded as failed without a scan.
    """

    name: str
    paths: list[Path]
    relpath: str
    kind: str
    size: int
    problem: str | None = None

    @property
    def first(self) -> Path:
        return self.paths[0]


@dataclass
class Skipped:
    """A file or folder that is not taken as evidence; ``error`` marks what could not even be examined."""

    path: str
    reason: str
    error: bool = False


@dataclass
class Discovery:
    """What a case directory holds."""

    root: Path
    devices: list[Device] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


@dataclass
class _File:
    path: Path
    rel: str
    size: int
    kind: Kind


def discover(case_dir: Path, exclude: Path | None = None, names: dict[str, str] | None = None) -> Discovery:
    """Walk ``case_dir`` (following symlinks, each real folder and file once) and group evidence into devices.

    Args:
        case_dir: the case directory.
        exclude: a folder never entered (the output folder, if it lies inside the case directory).
        names: device names already given in an earlier run (first file's relative path -> name), kept so
            that a device keeps its output folder when other devices are added to the case later.
    """
    root = Path(case_dir)
    found = Discovery(root=root)
    files = _walk(root, exclude, found.skipped)
    found.devices = _group(files, found.skipped)
    _name_devices(found.devices, names or {})
    found.devices.sort(key=lambda d: d.relpath)
    found.skipped.sort(key=lambda s: s.path)
    return found


def _walk(root: Path, exclude: Path | None, skipped: list[Skipped]) -> list[_File]:
    """Every regular file under ``root`` once, in sorted order; loops and duplicates become skipped entries.

    Real folders are walked before folders reached through a symlink, and a file reached both directly and
    through a link is kept under its direct path, so that names and relative paths do not depend on links.
    """
    seen_dirs: dict[tuple[int, int], str] = {}
    excluded = _key(exclude) if exclude is not None and exclude.exists() else None
    candidates: dict[tuple[int, int], list[tuple[bool, str, Path, int]]] = {}
    _check_root(root)
    real: list[tuple[Path, bool]] = [(root, False)]
    linked: list[tuple[Path, bool]] = []
    while real or linked:
        folder, via_link = real.pop() if real else linked.pop()
        rel_folder = _rel(root, folder)
        key = _key(folder)
        if key in seen_dirs:
            skipped.append(Skipped(rel_folder + "/", f"folder already visited as {seen_dirs[key]}/ "
                                   "(symlink loop or second link)"))
            continue
        seen_dirs[key] = rel_folder
        if key == excluded:
            skipped.append(Skipped(rel_folder + "/", "output folder"))
            continue
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name, reverse=True)
        except OSError as exc:
            skipped.append(Skipped(rel_folder + "/", f"cannot list folder ({exc.strerror or exc})", error=True))
            continue
        for entry in entries:
            path = Path(entry.path)
            rel = _rel(root, path)
            try:
                st = path.stat()
            except FileNotFoundError:
                skipped.append(Skipped(rel, f"broken symlink to {os.readlink(path)}", error=True))
                continue
            except OSError as exc:
                if exc.errno == errno.ELOOP:  # a link to itself (or a ring of links): nothing lies behind it
                    skipped.append(Skipped(rel, "symlink loop (nothing behind it)"))
                else:
                    skipped.append(Skipped(rel, f"cannot stat ({exc.strerror or exc})", error=True))
                continue
            link = via_link or entry.is_symlink()
            if stat.S_ISDIR(st.st_mode):
                (linked if link else real).append((path, link))
            elif stat.S_ISREG(st.st_mode) or stat.S_ISBLK(st.st_mode):
                candidates.setdefault((st.st_dev, st.st_ino), []).append((link, rel, path, _size(path, st)))
            else:  # never opened: a FIFO would block the walk forever
                skipped.append(Skipped(rel, f"not evidence: {special_kind(st.st_mode)}"))
    files: list[_File] = []
    for seen in candidates.values():
        seen.sort()
        _link, rel, path, size = seen[0]
        files.append(_File(path, rel, size, classify(path, size)))
        skipped.extend(Skipped(other, f"same file as {rel} (link)") for _l, other, _p, _s in seen[1:])
    files.sort(key=lambda f: f.rel)
    return files


def _check_root(root: Path) -> None:
    """The case directory itself must be a readable folder; that is a usage error, not a device failure."""
    try:
        top = root.stat()
    except OSError as exc:
        raise UsageError(f"{root}: cannot read case directory ({exc.strerror or exc})") from None
    if not stat.S_ISDIR(top.st_mode):
        raise UsageError(f"{root}: not a directory")


def _key(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_dev, st.st_ino


def _size(path: Path, st: os.stat_result) -> int:
    """File size; a block device reports 0 in stat, so ask it for its end."""
    if stat.S_ISBLK(st.st_mode):
        try:
            with open(path, "rb") as fh:
                return fh.seek(0, os.SEEK_END)
        except OSError:
            return 0
    return st.st_size


def _rel(root: Path, path: Path) -> str:
    rel = os.path.relpath(path, root)
    return "." if rel == "." else rel.replace(os.sep, "/")


def _group(files: list[_File], skipped: list[Skipped]) -> list[Device]:
    """Turn classified files into devices: sets of segments, descriptors with extents, single files."""
    devices: list[Device] = []
    claimed: set[Path] = set()
    by_path = {f.path: f for f in files}
    # VMDK descriptors first: their extents are not devices of their own.
    for f in files:
        if f.kind.name == "vmdk-descriptor":
            extents = [f.path.parent / name for name in f.kind.extents]
            claimed.add(f.path)
            claimed.update(extents)
            size = sum(by_path[e].size if e in by_path else 0 for e in extents) or f.size
            devices.append(_device(f, [f.path, *[e for e in extents if e in by_path]], "vmdk", size))
    # EWF sets: grouped by folder, stem and EWF generation; the segment numbered 1 opens the set.
    ewf: dict[tuple[Path, str, str], list[_File]] = defaultdict(list)
    for f in files:
        if f.kind.name == "ewf" and f.path not in claimed:
            stem, ext = _split_ext(f.path.name)
            key = (f.path.parent, stem if _EWF_EXT.match(ext) else f.path.name, f.kind.detail)
            ewf[key].append(f)
    for members in ewf.values():
        members.sort(key=lambda m: (m.kind.segment, m.path.name))
        claimed.update(m.path for m in members)
        first = members[0]
        size = sum(m.size for m in members)
        problem = None
        if first.kind.segment != 1:
            problem = f"EWF segment {first.kind.segment} found but the set's first segment is missing"
        devices.append(_device(first, [m.path for m in members], "ewf", size, problem))
    # Split raw: files named stem.NNN in one folder; the lowest number opens the set.
    split: dict[tuple[Path, str], list[_File]] = defaultdict(list)
    for f in files:
        match = _SPLIT_RAW.match(f.path.name)
        if match and f.path not in claimed and f.kind.name in ("raw", "raw-weak", "other"):
            split[(f.path.parent, match.group("stem"))].append(f)
    for (_folder, _stem), members in split.items():
        members.sort(key=lambda m: m.path.name)
        if len(members) == 1 or members[0].kind.name == "other":
            continue  # a lone x.001 is judged as a single file below; a set opening with a document is none
        claimed.update(m.path for m in members)
        first = members[0]
        number = int(first.path.suffix[1:])
        problem = None
        if number > 1:
            problem = f"split raw set starts at {first.path.name}: its first segment (.000 or .001) is missing"
        devices.append(_device(first, [m.path for m in members], "split_raw", sum(m.size for m in members), problem))
    for f in files:
        if f.path in claimed:
            continue
        if f.kind.name in ("raw", "raw-weak", "vmdk", "vhd", "vhdx", "qcow", "extraction"):
            fmt = "raw" if f.kind.name.startswith("raw") else f.kind.name
            devices.append(_device(f, [f.path], fmt, f.size))
        elif f.kind.name in ("unreadable", "unsupported"):
            devices.append(_device(f, [f.path], "unknown", f.size, f"{f.rel}: {f.kind.detail}"))
        else:
            skipped.append(Skipped(f.rel, f.kind.detail))
    return devices


def _device(f: _File, paths: list[Path], kind: str, size: int, problem: str | None = None) -> Device:
    return Device(name="", paths=paths, relpath=f.rel, kind=kind, size=size, problem=problem)


def _split_ext(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    return (stem, ext) if dot and stem else (name, "")


def base_name(path: Path) -> str:
    """The output folder name ``triage scan`` would use: the first file's name without its extension.

    Hidden characters (controls, bidi overrides) and undecodable bytes become their visible escape with ``_``
    for the backslash (``bad\\xff.raw`` -> ``bad_xff``), so the folder name is valid UTF-8 for the store and the
    reports and harmless on a terminal; uniqueness is kept by ``_name_devices``.
    """
    stem, _ext = _split_ext(path.name)
    stem = stem.lstrip(".").replace("/", "_").replace("\\", "_")
    stem = visible_text(stem).replace("\\", "_").strip()
    return stem or "device"


def _name_devices(devices: list[Device], earlier: dict[str, str]) -> None:
    """Give each device a unique output folder name: ``laptop``, then ``laptop-2``, ``laptop-3``…

    Names from an earlier run win (the mapping is kept in case.sqlite), so adding a device to a case never
    renames the output of one already scanned, and a name once given is never given to another device (even
    when its evidence has left the case directory, its output folder stays). Names are compared
    case-insensitively (case-insensitive file systems), and never collide with the case files or with another
    device's ``.incomplete`` folder.
    """
    taken = {n.lower() for n in RESERVED} | {n.lower() for n in earlier.values()}

    def free(name: str) -> bool:
        low = name.lower()
        return low not in taken and f"{low}.incomplete" not in taken and not low.endswith(".incomplete")

    for dev in devices:
        name = earlier.get(dev.relpath)
        if name:
            dev.name = name
    for dev in sorted(devices, key=lambda d: d.relpath):
        if dev.name:
            continue
        base = base_name(dev.first)
        name, n = base, 1
        while not free(name):
            n += 1
            name = f"{base}-{n}"
        dev.name = name
        taken.add(name.lower())


def evidence_identity(paths: list[Path]) -> str:
    """A fingerprint of an evidence set that changes when the evidence is replaced, cheap on huge sets.

    Why not a full hash: a case holds terabytes; re-reading all of it to decide whether to resume would cost as
    much as the scan. The fingerprint covers every segment's name and size, the first MiB of the first segment
    (headers, partition table, acquisition metadata) and the last MiB of the last one (where an E01 keeps the
    stored media hash), plus the first 4 KiB of every segment in between.
    """
    digest = hashlib.sha256()
    parts = []
    for index, path in enumerate(paths):
        try:
            size = os.stat(path).st_size
            with open(path, "rb") as fh:
                head = fh.read(IDENTITY_SPAN if index == 0 else 4096)
                tail = b""
                if index == len(paths) - 1 and size > len(head):
                    fh.seek(max(len(head), size - IDENTITY_SPAN))
                    tail = fh.read(IDENTITY_SPAN)
        except OSError as exc:
            parts.append([path.name, None, f"unreadable: {exc.strerror or exc}"])
            continue
        parts.append([path.name, size, hashlib.sha256(head).hexdigest(), hashlib.sha256(tail).hexdigest()])
    digest.update(json.dumps(parts, sort_keys=True).encode())
    return digest.hexdigest()


__all__ = ["Device", "Discovery", "Skipped", "base_name", "discover", "evidence_identity"]
