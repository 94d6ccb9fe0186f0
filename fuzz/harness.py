"""Fuzz harness: seed inputs, hypothesis strategies that damage them, and the worker that runs each input.

Inputs are made by hypothesis (so failures shrink to a few mutations) and run in ``worker.py`` (so a crash or a
hang of a C library is caught, not suffered). A finding is one of: ``exception`` (anything but a TriageError),
``crash`` (the worker died: a signal), ``hang`` (no answer within the timeout).
"""

from __future__ import annotations

import json
import select
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TIMEOUT = 60.0  # TSK can spend ~10 s on one ext2 inode with an absurd size: slow but bounded, not a hang
SLOW = 5.0
SEED_NAMES = ("ext2.raw", "ext4.raw", "fat12.raw", "mbr.raw", "ntfs.raw", "iso.raw", "fat.E01", "mbr.qcow2",
              "mbr.vmdk", "mbr.vhdx", "mbr.vhd")
REALDATA = ROOT.parent / "shared" / "realdata"
REALDATA_SEEDS = ("apfs.raw", "hfsplus.raw", "ext2.E01")
INTERESTING = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 512, 4096]


@dataclass(frozen=True)
class Outcome:
    """What one input did: ``kind`` is "ok" or the finding ("exception", "crash", "hang")."""

    kind: str
    detail: str
    signature: str = ""  # what makes two findings the same bug (exception type + place, or crash/hang)
    traceback: str = ""
    seconds: float = 0.0

    @property
    def finding(self) -> bool:
        return self.kind != "ok"


class Worker:
    """One worker process, restarted after every crash or hang."""

    def __init__(self, timeout: float = TIMEOUT) -> None:
        self.timeout = timeout
        self.proc: subprocess.Popen[str] | None = None
        self.tmp = Path(tempfile.mkdtemp(prefix="fuzz-in-"))

    def _start(self) -> subprocess.Popen[str]:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen([sys.executable, str(HERE / "worker.py")], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=self.tmp)
        return self.proc

    def run(self, target: str, data: bytes, name: str = "input.raw") -> Outcome:
        """Write ``data`` to a file called ``name`` and run ``target`` on it."""
        for old in self.tmp.iterdir():
            if old.is_file():
                old.unlink()
        path = self.tmp / name
        path.write_bytes(data)
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(json.dumps({"target": target, "path": str(path)}) + "\n")
            proc.stdin.flush()
        except BrokenPipeError:
            return self._died(proc)
        started = time.monotonic()
        ready, _, _ = select.select([proc.stdout], [], [], self.timeout)
        if not ready:
            proc.kill()
            proc.wait()
            return Outcome("hang", f"no answer within {self.timeout:.0f} s", f"hang:{target}")
        line = proc.stdout.readline()
        if not line:
            return self._died(proc)
        reply: dict[str, Any] = json.loads(line)
        seconds = time.monotonic() - started
        if reply["ok"]:
            return Outcome("ok", reply["outcome"], seconds=seconds)
        return Outcome("exception", f"{reply['kind']}: {reply['message']}", f"{reply['kind']}@{reply['where']}",
                       reply["traceback"], seconds)

    @staticmethod
    def _died(proc: subprocess.Popen[str]) -> Outcome:
        code = proc.wait()
        return Outcome("crash", f"worker died (exit {code})", f"crash:{code}")

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for old in self.tmp.iterdir():
            old.unlink()
        self.tmp.rmdir()


# ---------------------------------------------------------------- seeds


def evidence_seeds(cache: Path) -> dict[str, bytes]:
    """Small clean images (a few hundred KiB) made with the real tools; built once into ``cache``.

    Keys are file names: the extension is kept when the input is written (an E01 must be called .E01 for
    pyewf to find its segments).
    """
    from fixtures.make_corpus import ToolMissing, ewfacquire, run

    built = cache / "built-2"
    if not built.exists():
        shutil.rmtree(cache, ignore_errors=True)  # an older or half-built cache (mkfs.fat -C will not overwrite)
        src = cache / "src"
        (src / "dir" / "sub").mkdir(parents=True)
        (src / "a.txt").write_text("alpha\n" * 50)
        (src / "dir" / "b.bin").write_bytes(bytes(range(256)) * 80)  # 20 KiB: indirect blocks, several runs
        (src / "dir" / "sub" / "c.txt").write_text("gamma\n")
        (src / "Long File Name.txt").write_text("lfn\n")
        (src / "link").symlink_to("a.txt")
        try:
            for fs, size, extra in (("ext2", "128k", []), ("ext4", "256k", ["-O", "^has_journal"])):
                image = cache / f"{fs}.raw"
                run(f"mkfs.{fs}", "-q", "-F", "-b", "1024", "-N", "32", *extra, "-d", src, image, size)
                run("debugfs", "-w", "-R", "rm /dir/sub/c.txt", image)  # a deleted inode for the walk
            fat = cache / "fat12.raw"
            run("mkfs.fat", "-C", "-F", "12", "-n", "FUZZ", "-i", "0badcafe", fat, "128")
            run("mcopy", "-i", fat, src / "a.txt", src / "Long File Name.txt", "::")
            run("mmd", "-i", fat, "::dir")
            run("mcopy", "-i", fat, src / "dir" / "b.bin", "::dir/b.bin")
            run("mcopy", "-i", fat, src / "a.txt", "::gone.txt")
            run("mdel", "-i", fat, "::gone.txt")  # a deleted entry
            (cache / "mbr.raw").write_bytes(bytes(64 * 1024) + fat.read_bytes())
            run("sfdisk", "-q", cache / "mbr.raw", stdin="label: dos\nstart=128, size=256, type=1\n")
            ntfs = cache / "ntfs.raw"
            with open(ntfs, "wb") as fh:
                fh.truncate(2 << 20)
            run("mkntfs", "-q", "-F", "-Q", "-s", "512", "-c", "512", ntfs)
            run("ntfscp", "-q", ntfs, src / "dir" / "b.bin", "b.bin")  # non-resident $DATA
            for i in range(24):  # enough names for an $INDEX_ALLOCATION B-tree under the root
                run("ntfscp", "-q", ntfs, src / "dir" / "sub" / "c.txt", f"file-{i:02d}-with-a-long-name.txt")
            run("ntfscp", "-q", "-N", "Zone.Identifier", ntfs, src / "a.txt", "b.bin")  # an ADS
            run("genisoimage", "-quiet", "-R", "-J", "-V", "FUZZ", "-o", cache / "iso.raw", src)
            ewfacquire(fat, cache / "fat", segment="1MiB", compress="fast")
            for fmt, ext, opts in (("qcow2", "qcow2", "cluster_size=4096"),
                                   ("vmdk", "vmdk", "subformat=monolithicSparse"),
                                   ("vhdx", "vhdx", "log_size=1M,block_size=1M"),
                                   ("vpc", "vhd", "subformat=dynamic")):
                run("qemu-img", "convert", "-q", "-f", "raw", "-O", fmt, "-o", opts, cache / "mbr.raw",
                    cache / f"mbr.{ext}")  # the same MBR+FAT12 in each container format
        except ToolMissing:
            pass
        built.write_text("ok")
    seeds = {name: (cache / name).read_bytes() for name in SEED_NAMES if (cache / name).exists()}
    for name in REALDATA_SEEDS:  # the team's real public images, when present beside the repository
        if (REALDATA / name).exists():
            seeds[f"real-{name}"] = (REALDATA / name).read_bytes()
    return seeds


def hashset_seeds(cache: Path) -> dict[str, bytes]:
    """One small valid set per supported format (names are only labels: formats are detected by content)."""
    md5s = ["d41d8cd98f00b204e9800998ecf8427e", "0cc175b9c0f1b6a831c399e269772661"]
    sha1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
    sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    pdq = "0f" * 32
    media = {"MediaID": 1, "Category": 1, "MD5": md5s[0].upper(), "SHA1": sha1,
             "AlternativeHashes": [{"AlgorithmName": "SHA256", "HashValue": sha256},
                                   {"AlgorithmName": "PDQ", "HashValue": pdq},
                                   {"AlgorithmName": "pHash", "HashValue": "a1b2c3d4e5f60718"},
                                   {"AlgorithmName": "PhotoDNA", "HashValue": "AAAA"}]}
    seeds = {
        "list.md5": "\n".join(["# comment", *md5s, sha1, sha256, "not a hash"]).encode(),
        "sums.sha256": f"{sha256}  file one.jpg\n{sha256} *bin.dat\nSHA256 (x.jpg) = {sha256}\n".encode(),
        "hashdeep.txt": ("%%%% HASHDEEP-1.0\n%%%% size,md5,sha256,filename\n## comment\n"
                         f"12,{md5s[0]},{sha256},/a,b.jpg\n").encode(),
        "set.csv": (f"md5,sha1,category,name,pdq,phash\n{md5s[0]},{sha1},1,first,{pdq},a1b2c3d4e5f60718\n"
                    f"{md5s[1]},,A,\"with, comma\",,\n").encode(),
        "vics1.json": json.dumps({"odata.metadata": "http://x/DataModels/1.3.xml#Cases",
                                  "value": [{"CaseID": "c", "Media": [media, "junk"]}]}).encode(),
        "vics2.json": b"\xef\xbb\xbf" + json.dumps({"@odata.context": "http://x/DataModels/2.0.xml/UK/$metadata#Media",
                                                    "value": [media, {"MD5": "XYZ"}]}).encode(),
        "utf16.txt": ("\n".join(md5s)).encode("utf-16"),
    }
    db = cache / "nsrl.db"
    if not db.exists():
        cache.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(db)
        conn.execute("CREATE TABLE DISTINCT_HASH (sha256 VARCHAR, sha1 VARCHAR, md5 VARCHAR)")
        conn.executemany("INSERT INTO DISTINCT_HASH VALUES (?, ?, ?)",
                         [(sha256.upper(), sha1.upper(), m.upper()) for m in md5s] + [("", "NOTHEX", "ZZ")])
        conn.commit()
        conn.close()
    seeds["nsrl.db"] = db.read_bytes()
    return seeds


# ---------------------------------------------------------------- strategies


def hot_offsets(data: bytes, step: int = 16) -> list[int]:
    """Offsets of the non-zero ``step``-byte pieces of a seed: metadata and content, not empty space.

    Why: a small image is mostly zeros; a mutation there changes nothing anyone reads.
    """
    zero = bytes(step)
    return [i for i in range(0, len(data), step) if data[i : i + step] != zero] or [0]


def damaged(seeds: dict[str, bytes]) -> st.SearchStrategy[tuple[str, bytes]]:
    """A seed with a few mutations: bit flips, bytes, interesting integers, zeroed runs, splices, a truncation.

    Half of the offsets fall on the seed's non-zero bytes (boot sectors, superblocks, tables, directory and
    index blocks, file content), a quarter in the first 64 KiB, a quarter anywhere.
    """
    hot = {name: hot_offsets(data) for name, data in seeds.items()}
    return _damaged(seeds, hot)


@st.composite
def _damaged(draw: st.DrawFn, seeds: dict[str, bytes], hot: dict[str, list[int]]) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(seeds)))
    data = bytearray(seeds[name])
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        where = draw(st.sampled_from(["hot", "hot", "head", "any"]))
        if where == "hot":
            at = draw(st.sampled_from(hot[name])) + draw(st.integers(0, 15))
        else:
            at = draw(st.integers(0, (min(len(data), 1 << 16) if where == "head" else len(data)) - 1))
        at = min(at, len(data) - 1)
        kind = draw(st.sampled_from(["flip", "byte", "int", "int", "zero", "splice", "truncate"]))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte":
            data[at] = draw(st.integers(0, 255))
        elif kind == "int":
            width = draw(st.sampled_from([1, 2, 4, 8]))
            value = draw(st.sampled_from(INTERESTING) | st.integers(0, 1 << 20)) & ((1 << (8 * width)) - 1)
            at -= at % width
            data[at : at + width] = value.to_bytes(width, "little")[: len(data) - at]
        elif kind == "zero":
            length = draw(st.sampled_from([1, 16, 512, 4096]))
            data[at : at + length] = bytes(len(data[at : at + length]))
        elif kind == "splice":
            source = draw(st.integers(0, len(data) - 1))
            piece = data[source : source + draw(st.sampled_from([4, 64, 512]))]
            data[at : at + len(piece)] = piece
        else:
            del data[max(1, at) :]
    return name, bytes(data)


def random_file(names: list[str]) -> st.SearchStrategy[tuple[str, bytes]]:
    """Bytes that owe nothing to any seed, under one of the seed names (so the E01 path sees them too)."""
    return st.tuples(st.sampled_from(names), st.binary(min_size=1, max_size=4096))


def _json_value() -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=70)
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.sampled_from(["MD5", "SHA1", "Category", "AlternativeHashes", "Media",
                                                           "MediaFiles", "AlgorithmName", "HashValue", "md5",
                                                           "x"]), inner, max_size=4), max_leaves=12)


@st.composite
def structured_hashset(draw: st.DrawFn) -> tuple[str, bytes]:
    """Inputs shaped like each format but with hypothesis-chosen content: VICS JSON, CSV, hashdeep, lists."""
    kind = draw(st.sampled_from(["vics", "csv", "hashdeep", "lines"]))
    if kind == "vics":
        context = draw(st.sampled_from(["@odata.context", "odata.metadata"]))
        doc = {context: draw(st.sampled_from(["http://x/DataModels/2.0.xml/UK/$metadata#Media",
                                              "DataModels/1.3.xml#Cases", "", "DataModels/9"])),
               "value": draw(st.lists(_json_value(), max_size=5))}
        return "gen.json", json.dumps(doc).encode()
    cell = st.text(alphabet="0123456789abcdefABCDEF ,;|\t\"#%xyz\r\n\\", max_size=70)
    rows = draw(st.lists(st.lists(cell, min_size=1, max_size=6), max_size=6))
    body = "\n".join(",".join(r) for r in rows)
    if kind == "csv":
        header = draw(st.sampled_from(["md5,sha1,category,name", "MD5;Grade;PDQ", "sha256|phash|label", "md5"]))
        return "gen.csv", f"{header}\n{body}".encode()
    if kind == "hashdeep":
        return "gen.txt", f"%%%% HASHDEEP-1.0\n%%%% {draw(cell)}\n{body}".encode()
    return "gen.txt", body.encode()


NESTING_DEPTHS = (63, 64, 65, 100, 1_000, 5_000, 100_000, 200_000)  # around the 64-level bound, and far past it


@st.composite
def nested_hashset(draw: st.DrawFn) -> tuple[str, bytes]:
    """VICS-shaped JSON nested very deep (issue 12: 200,000-deep arrays raised RecursionError).

    The deep part sits at the top, as a ``value`` item, in ``MediaFiles``, ``AlternativeHashes``, a Case's
    ``Media`` list or a header member; it is made of arrays, objects or both, closed or cut off (unbalanced).
    """
    depth = draw(st.sampled_from(NESTING_DEPTHS))
    kind = draw(st.sampled_from(["arrays", "objects", "mixed", "media-files"]))
    closed = draw(st.booleans())
    leaf = json.dumps({"MD5": "d41d8cd98f00b204e9800998ecf8427e", "Category": 1})
    opener, closer = {"arrays": ("[", "]"), "objects": ('{"x": ', "}"), "mixed": ('[{"x": ', "}]"),
                      "media-files": ('{"MediaFiles": [', "]}")}[kind]
    deep = opener * depth + leaf + (closer * depth if closed else "")
    context = '"@odata.context": "http://x/DataModels/2.0.xml/UK/$metadata#Media"'
    place = draw(st.sampled_from(["top", "value", "item", "alternatives", "case", "header"]))
    text = {
        "top": deep,
        "value": f'{{{context}, "value": {deep}}}',
        "item": f'{{{context}, "value": [{leaf}, {deep}]}}',
        "alternatives": f'{{{context}, "value": [{{"MD5": "00", "AlternativeHashes": {deep}}}]}}',
        "case": f'{{"odata.metadata": "DataModels/1.3.xml#Cases", "value": [{{"Media": [{leaf}, {deep}]}}]}}',
        "header": f'{{"junk": {deep}, {context}, "value": [{leaf}]}}',
    }[place]
    return "deep.json", text.encode()


# ---------------------------------------------------------------- recipes


def patch_from(base: bytes, data: bytes, limit: int = 64) -> list[tuple[int, str]] | None:
    """The byte runs where ``data`` differs from ``base`` (``data`` no longer than ``base``), or None.

    Why: an input derived from one of the team's real images must not be committed (they stay outside the
    repository); the recipe (seed name, patch, length) regenerates it wherever the image is present.
    """
    if len(data) > len(base):
        return None
    runs: list[tuple[int, str]] = []
    at = 0
    while at < len(data):
        if data[at] == base[at]:
            at += 1
            continue
        end = at
        while end < len(data) and data[end] != base[end]:
            end += 1
        runs.append((at, data[at:end].hex()))
        if len(runs) > limit:
            return None
        at = end
    return runs


def apply_patch(base: bytes, patch: list[tuple[int, str]], size: int) -> bytes:
    """Rebuild an input from its seed and ``patch_from``'s runs, cut to ``size`` bytes."""
    data = bytearray(base[:size])
    for at, hex_bytes in patch:
        piece = bytes.fromhex(hex_bytes)
        data[at : at + len(piece)] = piece
    return bytes(data)
