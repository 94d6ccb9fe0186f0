"""The on-disk cache of compiled hash sets: where it lives, how it is written, how it is opened.

One compiled set is a directory ``<cache>/<source sha256>.v<INDEX_VERSION>/`` holding ``.npy`` arrays and a
``meta.json`` (format, role, counts, the (category, label) table, warnings, a digest of the arrays). Why:

- **Keyed by the source's sha256**, so a renamed or moved copy reuses the index and an edited file never does.
  The version suffix makes old caches invisible when the index layout changes.
- **Written atomically**: everything goes into a temporary directory that is renamed into place, so a scan
  that is killed mid-compile, or two workers compiling the same set, never leave a half-written index.
- **Opened memory-mapped** (``np.load(mmap_mode="r")``), so opening costs nothing and RSS grows only with
  the pages that lookups touch.

Hashing a multi-gigabyte NSRL database on every scan would cost minutes, so the source's sha256 is remembered
per (path, size, mtime, inode); any change to those re-hashes it, and ``triage hashset verify`` always does.
A directory of vPDQ files (known videos) is keyed the same way by ``directory_sha256``: a digest of the names
and sha256 of the files it is read from, remembered per the (name, size, mtime, inode) of each.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from triage.errors import HashSetError
from triage.known.detect import parse_file
from triage.known.exact_index import FENCE_STRIDE, ExactIndex, fence_of, sort_unique
from triage.known.model import EXACT_ALGORITHMS, PERCEPTUAL_ALGORITHMS, Category, ParsedSet
from triage.known.parse_vpdq import video_files
from triage.known.perceptual_index import PerceptualIndex, build_perceptual
from triage.known.videos import KnownVideos, video_arrays
from triage.model.times import now

INDEX_VERSION = 2  # 2: known videos (vpdq.* arrays); VICS per-frame PDQ is read, so older VICS indexes are stale
ENV_CACHE_DIR = "TRIAGE_CACHE_DIR"


def resolve_cache_dir(cache_dir: Path | str | None = None) -> Path:
    """The cache directory: the argument, else ``$TRIAGE_CACHE_DIR``, else the XDG cache, else ~/.cache."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    if os.environ.get(ENV_CACHE_DIR):
        return Path(os.environ[ENV_CACHE_DIR]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "triage" / "hashsets"


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in large blocks; of a set directory, ``directory_sha256``."""
    if path.is_dir():
        return directory_sha256(path)
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def directory_sha256(path: Path) -> str:
    """sha256 over the relative name and sha256 of every vPDQ file a set directory is read from, in order.

    Files the parser skips (hidden ones, other suffixes) are left out, so a README added beside the videos does
    not make a new index; any change to a video's file, name or category folder does.
    """
    digest = hashlib.sha256(b"triage vpdq directory 1\n")
    files, _warnings = video_files(path)
    for name, file, _category in files:
        with file.open("rb") as handle:
            digest.update(f"{name}\0{hashlib.file_digest(handle, 'sha256').hexdigest()}\n".encode())
    return digest.hexdigest()


def _stat_key(path: Path) -> tuple[Path, dict[str, Any]]:
    real = path.resolve()
    st = real.stat()
    stamp: dict[str, Any] = {
        "path": str(real),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "ino": st.st_ino,
        "dev": st.st_dev,
    }
    if real.is_dir():  # the directory's own times do not change when a file in it is rewritten
        listing = hashlib.sha256()
        for name, file, _category in video_files(real)[0]:
            fst = file.stat()
            listing.update(f"{name}\0{fst.st_size}\0{fst.st_mtime_ns}\0{fst.st_ino}\n".encode())
        stamp["files"] = listing.hexdigest()
    return real, stamp


def source_sha256(path: Path, cache_dir: Path, trust_stat: bool = True) -> str:
    """sha256 of a hash-set source, remembered per (path, size, mtime, inode) in the cache."""
    real, stamp = _stat_key(path)
    memo = (
        cache_dir
        / "sources"
        / (hashlib.sha1(str(real).encode("utf-8", "surrogateescape")).hexdigest() + ".json")
    )
    if trust_stat:
        with contextlib.suppress(OSError, ValueError):
            saved = json.loads(memo.read_text())
            if {k: saved.get(k) for k in stamp} == stamp and isinstance(saved.get("sha256"), str):
                return saved["sha256"]
    digest = file_sha256(real)
    with contextlib.suppress(OSError):
        _atomic_write_text(memo, json.dumps({**stamp, "sha256": digest}))
    return digest


def _atomic_write_text(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def index_dir(cache_dir: Path, sha256: str) -> Path:
    """Directory of the compiled index of the source with this sha256."""
    return cache_dir / f"{sha256}.v{INDEX_VERSION}"


def arrays_digest(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over every array's name, dtype, shape and bytes, in name order (what ``verify`` recomputes)."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{arr.dtype.str}:{arr.shape};".encode())
        digest.update(memoryview(arr).cast("B") if arr.size else b"")
    return digest.hexdigest()


def build_arrays(parsed: ParsedSet) -> dict[str, np.ndarray]:
    """All index arrays of a parsed set, keyed by file stem (``md5.keys``, ``pdq.mih_keys``...).

    Consumes ``parsed.columns``: each column is released as soon as its index is built, so the peak is the
    parsed hashes plus one column's index, not both copies of every column.
    """
    arrays: dict[str, np.ndarray] = {}
    for alg in EXACT_ALGORITHMS:
        column = parsed.columns.pop(alg, None)
        if column is not None and len(column[0]):
            keys, tags = sort_unique(*column)
            del column
            arrays[f"{alg}.keys"], arrays[f"{alg}.tags"] = keys, tags
            arrays[f"{alg}.fence"] = fence_of(keys)
    for alg in PERCEPTUAL_ALGORITHMS:
        column = parsed.columns.pop(alg, None)
        if column is not None and len(column[0]):
            for name, arr in build_perceptual(*column).items():
                arrays[f"{alg}.{name}"] = arr
    if parsed.videos is not None:
        try:
            arrays.update(video_arrays(parsed.videos))
        except ValueError as exc:  # more distinct frames than a uint32 numbers
            raise HashSetError(f"known videos cannot be indexed: {exc}") from None
    return arrays


def build_meta(parsed: ParsedSet, source: Path, sha256: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """The meta.json content of a compiled set."""
    counts = {alg: len(arrays[f"{alg}.keys"]) for alg in EXACT_ALGORITHMS if f"{alg}.keys" in arrays}
    counts.update(
        {alg: len(arrays[f"{alg}.hashes"]) for alg in (*PERCEPTUAL_ALGORITHMS, "vpdq") if f"{alg}.hashes" in arrays}
    )
    return {
        "index_version": INDEX_VERSION,
        "fence_stride": FENCE_STRIDE,
        "source": str(source),
        "sha256": sha256,
        "format": parsed.format,
        "role": parsed.role,
        "entries": parsed.entries,
        "videos": parsed.video_count,
        "frames": parsed.frame_count,
        "counts": counts,
        "tags": [[category, label] for category, label in parsed.tags],
        "tag_entries": parsed.tag_entries,
        "warnings": parsed.warnings,
        "warning_count": parsed.warning_count,
        "info": parsed.info,
        "digest": arrays_digest(arrays),
        "compiled": now(),
    }


def write_index(cache_dir: Path, sha256: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
    """Write a compiled set atomically; if another process won the race, keep its (identical) copy."""
    final = index_dir(cache_dir, sha256)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=cache_dir, prefix=f".tmp-{sha256[:12]}-"))
    except OSError as exc:
        raise HashSetError(
            f"cannot write the hash-set cache {cache_dir}: {exc.strerror} (set {ENV_CACHE_DIR})"
        ) from None
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a shared cache must be readable by other users
        for name, arr in arrays.items():
            np.save(tmp / f"{name}.npy", arr, allow_pickle=False)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False), encoding="utf-8")
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "meta.json").is_file():
                shutil.rmtree(final, ignore_errors=True)  # a broken leftover: replace it
                os.rename(tmp, final)
    except OSError as exc:
        raise HashSetError(f"cannot write the hash-set cache {cache_dir}: {exc.strerror}") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


@dataclass
class CompiledSet:
    """An opened compiled set: its metadata, (category, label) table and memory-mapped indexes."""

    directory: Path
    meta: dict[str, Any]
    tags: list[tuple[Category, str | None]]
    exact: dict[str, ExactIndex]
    perceptual: dict[str, PerceptualIndex]
    arrays: dict[str, np.ndarray]
    videos: KnownVideos | None = None  # the set's known videos (vPDQ frames), if it lists any

    def size_bytes(self) -> int:
        """Bytes the index takes on disk."""
        return sum(p.stat().st_size for p in self.directory.iterdir() if p.is_file())


def _advise_random(arr: np.ndarray) -> np.ndarray:
    """Tell the kernel lookups are random, so it does not read ahead (and map) pages nobody asked for."""
    mapped = getattr(arr, "_mmap", None)
    if mapped is not None and hasattr(mmap, "MADV_RANDOM"):
        with contextlib.suppress(OSError, ValueError):
            mapped.madvise(mmap.MADV_RANDOM)
    return arr


def open_index(directory: Path) -> CompiledSet:
    """Open a compiled set from its directory; raises HashSetError if it is missing or damaged."""
    try:
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
        if meta.get("index_version") != INDEX_VERSION or meta.get("fence_stride") != FENCE_STRIDE:
            raise HashSetError(f"hash-set index {directory} has another version")
        arrays = {
            p.name[: -len(".npy")]: _advise_random(np.load(p, mmap_mode="r", allow_pickle=False))
            for p in directory.glob("*.npy")
        }
    except (OSError, ValueError) as exc:
        raise HashSetError(f"hash-set index {directory} cannot be opened: {exc}") from None
    try:
        exact = {
            alg: ExactIndex(arrays[f"{alg}.keys"], arrays[f"{alg}.tags"], np.array(arrays[f"{alg}.fence"]))
            for alg in EXACT_ALGORITHMS
            if f"{alg}.keys" in arrays
        }
        perceptual = {
            alg: PerceptualIndex(
                *(arrays[f"{alg}.{part}"] for part in ("hashes", "tags", "mih_keys", "mih_ids")),
                arrays.get(f"{alg}.mih_offsets"),  # absent in small sets and in caches compiled before it
            )
            for alg in PERCEPTUAL_ALGORITHMS
            if f"{alg}.hashes" in arrays
        }
        tags = [(category, label) for category, label in meta["tags"]]
        videos = KnownVideos(arrays) if KnownVideos.present(arrays) else None
    except (KeyError, TypeError, ValueError) as exc:
        raise HashSetError(f"hash-set index {directory} is incomplete: {exc}") from None
    return CompiledSet(directory, meta, tags, exact, perceptual, arrays, videos)


def compile_source(path: Path, cache_dir: Path, sha256: str) -> CompiledSet:
    """Parse a source, build its index, write it to the cache and open it."""
    parsed = parse_file(path)
    if parsed.entries == 0:
        why = f": {parsed.warnings[0]}" if parsed.warnings else ""
        raise HashSetError(f"no usable hashes in {path} ({parsed.warning_count} warnings){why}")
    arrays = build_arrays(parsed)
    meta = build_meta(parsed, path, sha256, arrays)
    del parsed
    return open_index(write_index(cache_dir, sha256, arrays, meta))


def load_or_compile(path: Path, cache_dir: Path, force: bool = False) -> tuple[CompiledSet, bool]:
    """Open the cached index of a source, compiling it first if needed.

    Returns:
        (compiled set, True if an existing index was reused).

    Raises:
        HashSetError: missing/unreadable source, unknown format, no usable hash, cache not writable.
    """
    if not (path.is_file() or path.is_dir()):
        raise HashSetError(f"hash set not found: {path}")
    try:
        sha256 = source_sha256(path, cache_dir)
    except OSError as exc:
        raise HashSetError(f"hash set cannot be read: {path}: {exc.strerror}") from None
    directory = index_dir(cache_dir, sha256)
    if force:
        shutil.rmtree(directory, ignore_errors=True)  # open memory maps of other processes stay valid
    elif (directory / "meta.json").is_file():
        with contextlib.suppress(HashSetError):
            return open_index(directory), True
        shutil.rmtree(directory, ignore_errors=True)  # damaged: rebuild below
    return compile_source(path, cache_dir, sha256), False
