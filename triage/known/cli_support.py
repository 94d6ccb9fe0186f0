"""Plain functions behind ``triage hashset info|compile|verify PATH...``; the CLI prints what they return.

Each function takes spec strings (``PATH``, ``alert:PATH``, ``known:PATH``) and returns one dict per set, in
the order given, so the CLI can print text or JSON. They raise ``HashSetError`` (one line) for the first set
that cannot be read at all; problems found by ``verify`` are data (``ok: False`` and ``problems``), because a
verification that finds a mismatch has done its job.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from triage.errors import HashSetError
from triage.known.detect import parse_file
from triage.known.hashsets import parse_spec
from triage.known.store import (
    arrays_digest,
    build_arrays,
    file_sha256,
    index_dir,
    load_or_compile,
    open_index,
    resolve_cache_dir,
)


def _categories(tags: list[Any], tag_entries: list[int]) -> list[dict[str, Any]]:
    return [
        {"category": category, "label": label, "entries": count}
        for (category, label), count in zip(tags, tag_entries, strict=False)
        if count
    ]


def _videos(meta: dict[str, Any]) -> dict[str, int]:
    """``videos`` and ``frames`` of a set that lists known videos; nothing for a set of pictures and files."""
    return {"videos": meta["videos"], "frames": meta["frames"]} if meta.get("videos") else {}


def _source(spec: str, cache: Path) -> tuple[str | None, Path, str, Path]:
    """A set named on the command line: its role, path, sha256 and where its compiled index lives."""
    role, path = parse_spec(spec)
    if not (path.is_file() or path.is_dir()):
        raise HashSetError(f"hash set not found: {path}")
    sha256 = file_sha256(path)
    return role, path, sha256, index_dir(cache, sha256)


def info(specs: list[str], cache_dir: Path | None = None) -> list[dict[str, Any]]:
    """Describe each set: format, role, entries, hashes per algorithm, categories, warnings, cache state.

    Reads the compiled index when it exists; otherwise parses the source without writing to the cache.
    """
    cache = resolve_cache_dir(cache_dir)
    out = []
    for spec in specs:
        role, path, sha256, directory = _source(spec, cache)
        try:
            meta = open_index(directory).meta
            cached = True
        except HashSetError:
            parsed = parse_file(path)
            arrays = build_arrays(parsed)
            counts = {
                name.split(".")[0]: len(arr)
                for name, arr in arrays.items()
                if name.endswith((".keys", ".hashes"))
            }
            meta = {
                "format": parsed.format,
                "role": parsed.role,
                "entries": parsed.entries,
                "videos": parsed.video_count,
                "frames": parsed.frame_count,
                "counts": counts,
                "tags": [list(t) for t in parsed.tags],
                "tag_entries": parsed.tag_entries,
                "warnings": parsed.warnings,
                "warning_count": parsed.warning_count,
                "info": parsed.info,
            }
            cached = False
        out.append(
            {
                "path": str(path),
                "name": path.name,
                "format": meta["format"],
                "role": role or meta["role"],
                "entries": meta["entries"],
                **_videos(meta),
                "sha256": sha256,
                "hashes": meta["counts"],
                "categories": _categories(meta["tags"], meta["tag_entries"]),
                "details": meta.get("info", {}),
                "warning_count": meta["warning_count"],
                "warnings": meta["warnings"],
                "cached": cached,
                "index": str(directory) if cached else None,
            }
        )
    return out


def compile_sets(
    specs: list[str], cache_dir: Path | None = None, force: bool = False
) -> list[dict[str, Any]]:
    """Compile each set into the cache (reusing a valid index unless ``force``), with timing and size."""
    cache = resolve_cache_dir(cache_dir)
    out = []
    for spec in specs:
        role, path = parse_spec(spec)
        started = time.perf_counter()
        compiled, reused = load_or_compile(path, cache, force=force)
        meta = compiled.meta
        out.append(
            {
                "path": str(path),
                "name": path.name,
                "format": meta["format"],
                "role": role or meta["role"],
                "entries": meta["entries"],
                **_videos(meta),
                "sha256": meta["sha256"],
                "hashes": meta["counts"],
                "warning_count": meta["warning_count"],
                "index": str(compiled.directory),
                "index_bytes": compiled.size_bytes(),
                "reused": reused,
                "seconds": round(time.perf_counter() - started, 3),
            }
        )
    return out


def verify(specs: list[str], cache_dir: Path | None = None) -> list[dict[str, Any]]:
    """Re-hash and re-parse each source and check its cached index against it.

    Checks: an index exists for the source's current sha256; its meta names that sha256; the entry and
    per-algorithm counts agree with a fresh parse; the arrays on disk still hash to the digest recorded at
    compile time; and a fresh compile in memory gives the same digest (same keys, same tags).
    """
    cache = resolve_cache_dir(cache_dir)
    out = []
    for spec in specs:
        _role, path, sha256, directory = _source(spec, cache)
        problems: list[str] = []
        parsed = parse_file(path)
        fresh = build_arrays(parsed)
        fresh_counts = {n.split(".")[0]: len(a) for n, a in fresh.items() if n.endswith((".keys", ".hashes"))}
        try:
            compiled = open_index(directory)
        except HashSetError:
            compiled = None
            problems.append("no compiled index for the current content (run: triage hashset compile)")
        if compiled is not None:
            meta = compiled.meta
            if meta.get("sha256") != sha256:
                problems.append(f"index records sha256 {meta.get('sha256')}, source is {sha256}")
            if meta.get("entries") != parsed.entries:
                problems.append(f"index has {meta.get('entries')} entries, source parses to {parsed.entries}")
            if meta.get("videos", 0) != parsed.video_count or meta.get("frames", 0) != parsed.frame_count:
                problems.append(f"index has {meta.get('videos', 0)} videos / {meta.get('frames', 0)} frames, "
                                f"source parses to {parsed.video_count} / {parsed.frame_count}")
            if meta.get("counts") != fresh_counts:
                problems.append(f"index hash counts {meta.get('counts')} differ from source {fresh_counts}")
            on_disk = arrays_digest({name: np.asarray(arr) for name, arr in compiled.arrays.items()})
            if on_disk != meta.get("digest"):
                problems.append("index files changed since they were compiled (digest mismatch)")
            elif on_disk != arrays_digest(
                {name: arr for name, arr in fresh.items()  # compiled before the offsets table: still right
                 if name in compiled.arrays or not name.endswith(".mih_offsets")}
            ):
                problems.append("index content differs from a fresh compile of the source")
        out.append(
            {
                "path": str(path),
                "name": path.name,
                "sha256": sha256,
                "entries": parsed.entries,
                **_videos({"videos": parsed.video_count, "frames": parsed.frame_count}),
                "hashes": fresh_counts,
                "index": str(directory) if compiled is not None else None,
                "ok": not problems,
                "problems": problems,
            }
        )
    return out


def render(rows: list[dict[str, Any]], as_json: bool = False) -> str:
    """Text (or JSON) for the terminal: one block per set, the important keys first."""
    if as_json:
        return json.dumps(rows, indent=2, ensure_ascii=False)
    blocks = []
    for row in rows:
        head = row["path"]
        if "ok" in row:
            head += ": OK" if row["ok"] else ": FAILED"
        lines = [head]
        for key in (
            "format",
            "role",
            "entries",
            "videos",
            "frames",
            "sha256",
            "hashes",
            "index",
            "index_bytes",
            "reused",
            "seconds",
        ):
            if key in row and row[key] is not None:
                value = row[key]
                if isinstance(value, dict):
                    value = ", ".join(f"{k} {v}" for k, v in value.items())
                lines.append(f"  {key}: {value}")
        for category in row.get("categories", []):
            if category["category"] is None and category["label"] is None:
                lines.append(f"  uncategorised: {category['entries']}")
            else:
                lines.append(
                    f"  category {category['category']} ({category['label']}): {category['entries']}"
                )
        if row.get("warning_count"):
            lines.append(f"  warnings: {row['warning_count']}")
            lines.extend(f"    {w}" for w in row.get("warnings", []))
        lines.extend(f"  problem: {p}" for p in row.get("problems", []))
        blocks.append("\n".join(lines))
    return "\n".join(blocks)
