"""Compiled indexes: byte order, de-duplication, cache reuse keyed by sha256, memory maps, verify."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from triage.errors import HashSetError
from triage.known import HashSets, cli_support
from triage.known.exact_index import FENCE_STRIDE, ExactIndex, fence_of, sort_unique
from triage.known.store import ENV_CACHE_DIR, index_dir, load_or_compile, resolve_cache_dir

Write = Callable[[str, str | bytes], Path]


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


@pytest.mark.parametrize("width", [16, 20, 32, 8])
def test_sort_unique_is_bytewise_order_without_duplicate_pairs(width: int) -> None:
    rng = np.random.default_rng(width)
    keys = rng.integers(0, 256, (3000, width), dtype=np.uint8)
    keys[:200, :8] = 0  # long runs sharing the 8-byte prefix
    keys[200:260, :8] = 255
    keys[300:400, width - 1] = 0  # trailing zero bytes: numpy strips them in S-dtype values
    keys = np.concatenate([keys, keys[:500]])
    tags = rng.integers(0, 3, len(keys)).astype(np.uint32)
    sorted_keys, sorted_tags = sort_unique(keys, tags)
    want = sorted({(bytes(k), int(t)) for k, t in zip(keys, tags, strict=True)})
    got = [(bytes(k).ljust(width, b"\0"), int(t)) for k, t in zip(sorted_keys, sorted_tags, strict=True)]
    assert got == want
    assert sorted_tags.dtype == np.uint8


def test_exact_index_lookup_finds_every_key_and_nothing_else() -> None:
    rng = np.random.default_rng(3)
    keys = rng.integers(0, 256, (5000, 16), dtype=np.uint8)
    keys[10, 8:] = 0
    tags = (np.arange(5000) % 7).astype(np.uint32)
    index = ExactIndex(*sort_unique(keys, tags))
    for i in (0, 10, 4999):
        assert index.lookup(bytes(keys[i])).tolist() == [i % 7]
    assert index.lookup(bytes(keys[10][:8]) + b"\0" * 7 + b"\1").tolist() == []
    assert index.lookup(b"short").tolist() == []
    probe = np.concatenate([keys[:100], rng.integers(0, 256, (100, 16), dtype=np.uint8)])
    found = index.contains_many(np.ascontiguousarray(probe).view("S16").ravel())
    assert found[:100].all() and not found[100:].any()


def test_fenced_lookup_finds_exactly_the_stored_tags() -> None:
    """Duplicate keys spanning fence blocks, fence keys themselves, keys before/after everything."""
    rng = np.random.default_rng(11)
    keys = rng.integers(0, 256, (3 * FENCE_STRIDE + 17, 16), dtype=np.uint8)
    keys[100 : 100 + FENCE_STRIDE + 40] = keys[99]  # one key with many tags across a block boundary
    tags = np.arange(len(keys), dtype=np.uint32) % 200
    sorted_keys, sorted_tags = sort_unique(keys, tags)
    fenced = ExactIndex(sorted_keys, sorted_tags, fence_of(sorted_keys))
    assert len(fenced.fence) == 3
    want: dict[bytes, set[int]] = {}
    for key, tag in zip(keys, tags, strict=True):
        want.setdefault(bytes(key), set()).add(int(tag))
    queries = [
        *want,
        b"\0" * 16,
        b"\xff" * 16,
        *(bytes(rng.integers(0, 256, 16, dtype=np.uint8)) for _ in range(99)),
    ]
    for query in queries:
        got = fenced.lookup(query).tolist()
        assert len(got) == len(set(got)) and set(got) == want.get(query, set())
    assert len(fenced.lookup(bytes(keys[99]))) == 200  # every tag id 0..199 once


def test_compile_once_then_reuse_the_memory_mapped_index(write: Write, cache_dir: Path) -> None:
    source = write("list.md5", "\n".join(md5(str(i)) for i in range(1000)))
    first, reused = load_or_compile(source, cache_dir)
    assert not reused
    assert first.directory == index_dir(cache_dir, hashlib.sha256(source.read_bytes()).hexdigest())
    meta_mtime = (first.directory / "meta.json").stat().st_mtime_ns
    second, reused = load_or_compile(source, cache_dir)
    assert reused
    assert (second.directory / "meta.json").stat().st_mtime_ns == meta_mtime
    assert isinstance(second.arrays["md5.keys"], np.memmap)
    assert np.shares_memory(second.exact["md5"].keys, second.arrays["md5.keys"])
    assert second.exact["md5"].lookup(bytes.fromhex(md5("999"))).tolist() == [0]
    assert not [p for p in cache_dir.iterdir() if p.name.startswith(".tmp")]


def test_lookups_read_the_index_file_without_mapping_it(write: Write, cache_dir: Path) -> None:
    """The compiled index is read with pread; a hash listed under 300 categories spans several blocks."""
    rows = [f"{md5(str(i))},{i % 5}" for i in range(2000)] + [f"{md5('shared')},{c}" for c in range(300)]
    source = write("set.csv", "md5,category\n" + "\n".join(rows) + "\n")
    compiled, _ = load_or_compile(source, cache_dir)
    index = compiled.exact["md5"]
    assert index._keys.fd is not None and index._tags.fd is not None
    assert sorted(compiled.tags[t][0] for t in index.lookup(bytes.fromhex(md5("shared")))) == list(range(300))
    for i in (0, 999, 1999):
        assert [compiled.tags[t][0] for t in index.lookup(bytes.fromhex(md5(str(i))))] == [i % 5]
    assert index.lookup(bytes.fromhex(md5("absent"))).tolist() == []


def test_renamed_copy_reuses_and_edited_source_recompiles(
    write: Write, cache_dir: Path, tmp_path: Path
) -> None:
    source = write("a.md5", md5("x") + "\n")
    compiled, _ = load_or_compile(source, cache_dir)
    copy = tmp_path / "renamed.txt"
    shutil.copy(source, copy)
    again, reused = load_or_compile(copy, cache_dir)
    assert reused and again.directory == compiled.directory
    source.write_text(md5("x") + "\n" + md5("y") + "\n")
    os.utime(source, ns=(1, 1))  # even with an old mtime, the size changed
    edited, reused = load_or_compile(source, cache_dir)
    assert not reused and edited.directory != compiled.directory
    assert edited.meta["entries"] == 2


def test_damaged_index_is_rebuilt(write: Write, cache_dir: Path) -> None:
    source = write("a.md5", md5("x") + "\n")
    compiled, _ = load_or_compile(source, cache_dir)
    (compiled.directory / "md5.keys.npy").write_bytes(b"garbage")
    rebuilt, reused = load_or_compile(source, cache_dir)
    assert not reused
    assert rebuilt.exact["md5"].lookup(bytes.fromhex(md5("x"))).tolist() == [0]


def test_cache_dir_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(ENV_CACHE_DIR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_cache_dir() == tmp_path / "xdg" / "triage" / "hashsets"
    monkeypatch.setenv(ENV_CACHE_DIR, str(tmp_path / "env"))
    assert resolve_cache_dir() == tmp_path / "env"
    assert resolve_cache_dir(tmp_path / "arg") == tmp_path / "arg"


def test_unwritable_cache_is_a_one_line_error(write: Write, tmp_path: Path) -> None:
    blocker = write("not-a-dir", "x")
    source = write("a.md5", md5("x") + "\n")
    with pytest.raises(HashSetError, match="cannot write the hash-set cache") as info:
        HashSets.load([str(source)], cache_dir=blocker / "cache")
    assert "\n" not in str(info.value)


def test_a_set_without_usable_hashes_is_refused(write: Write, cache_dir: Path) -> None:
    source = write("bad.csv", "md5,category\n" + md5("x")[:-1] + ",1\n")
    with pytest.raises(HashSetError, match="no usable hashes"):
        HashSets.load([str(source)], cache_dir=cache_dir)
    with pytest.raises(HashSetError, match="not found"):
        HashSets.load([str(source) + ".absent"], cache_dir=cache_dir)


def test_pickle_carries_paths_not_arrays(write: Write, cache_dir: Path) -> None:
    source = write("list.md5", "\n".join(md5(str(i)) for i in range(20000)))
    sets = HashSets.load([str(source)], cache_dir=cache_dir, phash_threshold=4)
    blob = pickle.dumps(sets)
    assert len(blob) < 2000
    clone = pickle.loads(blob)
    assert clone.describe() == sets.describe()
    assert clone.thresholds == sets.thresholds
    assert clone.lookup(md5=md5("7"))[1][0]["hashset"] == "list.md5"
    shutil.rmtree(cache_dir)  # a worker without the cache recompiles from the source
    assert pickle.loads(blob).lookup(md5=md5("7"))[1]


def test_cli_support_info_compile_verify(write: Write, cache_dir: Path) -> None:
    source = write("set.csv", f"md5,category\n{md5('a')},1\n{md5('b')},1\n{md5('c')},B\nbroken,1\n")
    info = cli_support.info([str(source)], cache_dir)[0]
    assert info["cached"] is False and not cache_dir.exists()  # info alone writes nothing
    assert info["format"] == "csv" and info["entries"] == 3 and info["warning_count"] == 1
    assert info["categories"] == [
        {"category": 1, "label": "Category 1", "entries": 2},
        {"category": "B", "label": "Category B", "entries": 1},
    ]
    compiled = cli_support.compile_sets([f"known:{source}"], cache_dir)[0]
    assert compiled["role"] == "known" and compiled["reused"] is False and compiled["index_bytes"] > 0
    assert cli_support.compile_sets([str(source)], cache_dir)[0]["reused"] is True
    assert cli_support.info([str(source)], cache_dir)[0]["cached"] is True
    verified = cli_support.verify([str(source)], cache_dir)[0]
    assert verified["ok"], verified["problems"]
    text = cli_support.render([info, compiled, verified])
    assert "set.csv: OK" in text and "category B (Category B): 1" in text
    assert json.loads(cli_support.render([verified], as_json=True))[0]["ok"] is True


def test_verify_finds_tampered_and_missing_indexes(write: Write, cache_dir: Path) -> None:
    source = write("list.md5", "\n".join(md5(str(i)) for i in range(100)))
    compiled, _ = load_or_compile(source, cache_dir)
    keys = np.load(compiled.directory / "md5.keys.npy")
    keys[5] = keys[6]
    np.save(compiled.directory / "md5.keys.npy", keys)
    result = cli_support.verify([str(source)], cache_dir)[0]
    assert not result["ok"]
    assert result["problems"] == ["index files changed since they were compiled (digest mismatch)"]
    shutil.rmtree(compiled.directory)
    result = cli_support.verify([str(source)], cache_dir)[0]
    assert not result["ok"] and "no compiled index" in result["problems"][0]


def test_a_cache_compiled_before_the_offsets_table_still_matches_and_verifies(
    write: Write, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PDQ offsets table (issue 15, eight lookups per picture) is optional: older caches keep working."""
    from triage.known import perceptual_index

    rng = np.random.default_rng(3)
    pdqs = [bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex() for _ in range(50)]
    source = write("p.csv", "pdq,category\n" + "".join(f"{p},1\n" for p in pdqs))
    monkeypatch.setattr(perceptual_index, "OFFSETS_FROM", 10**9)  # as compiled before: no table
    old, _ = load_or_compile(source, cache_dir)
    assert old.perceptual["pdq"].mih_offsets is None
    monkeypatch.setattr(perceptual_index, "OFFSETS_FROM", 1)  # today's code would write one for this set
    verified = cli_support.verify([str(source)], cache_dir)[0]
    assert verified["ok"], verified["problems"]
    sets = HashSets.load([str(source)], cache_dir)
    assert sets.lookup(pdq=pdqs[7], pdq_quality=90)[1][0]["distance"] == 0
    fresh, _ = load_or_compile(source, cache_dir, force=True)
    assert fresh.perceptual["pdq"].mih_offsets is not None
    assert cli_support.verify([str(source)], cache_dir)[0]["ok"]
