"""The device shapes of the benchmark suite (issue 17): one builder per shape, each cached under ``bench/cache/``.

SYNTHETIC DATA ONLY: every file is generated text, random bytes or a generated picture/video. One image timed
alone hides per-file costs (the speed work was tuned on 2,012 files) or byte costs; the shapes between them
cover what real devices hold. No root mount is needed: ext4 shapes come from ``mkfs.ext4 -d``, the NTFS shape
is filled through the ntfs-3g FUSE mount as ``make_bench_image.py`` does.

Each builder returns a ``Shape`` and records its facts (file count, bytes, pictures, build time) in
``bench/cache/<name>.shape.json``; a second call only checks that the image and that file exist.

Usage: ``.venv/bin/python bench/shapes.py [NAME ...]`` (default: every shape; prints what each holds).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
CACHE = BENCH / "cache"
sys.path.insert(0, str(BENCH))

import make_bench_image as bench_image  # noqa: E402
import report_writers  # noqa: E402

SEED = 17017
FEW_LARGE_MB = (300, 250, 200, 150, 120, 100, 80, 60, 50, 50)  # 1,360 MB in ten files
FIRST_ANSWER_FILES = 100_000


@dataclass
class Shape:
    """What the suite needs to know about one built shape (the floor uses the byte and picture counts)."""

    name: str
    image: str  # path of the raw image or the first E01 segment
    e01: bool
    files: int  # allocated files written (approximate where noted)
    file_bytes: int  # their content bytes
    pictures: int
    videos: int
    media_bytes: int  # bytes of the media (raw size, or the E01's media size)
    image_bytes: int  # bytes on disk (raw, or the E01 segments)
    hashset: str | None  # a set to pass as ``-H alert:SET`` (None: the scan gets no set)
    build_seconds: float | None
    note: str


def _facts(name: str) -> Path:
    return CACHE / f"{name}.shape.json"


def cached(name: str) -> Shape | None:
    """The recorded shape when its image and facts exist (nothing is read or checked beyond existence)."""
    facts = _facts(name)
    if not facts.exists():
        return None
    shape = Shape(**json.loads(facts.read_text()))
    shape.image = str(CACHE / shape.image)  # recorded relative to the cache: the cache folder may move
    shape.hashset = str(CACHE / shape.hashset) if shape.hashset else None
    return shape if Path(shape.image).exists() else None


def record(shape: Shape) -> Shape:
    facts = asdict(shape)
    facts["image"] = str(Path(shape.image).relative_to(CACHE))
    facts["hashset"] = str(Path(shape.hashset).relative_to(CACHE)) if shape.hashset else None
    _facts(shape.name).write_text(json.dumps(facts, indent=1) + "\n")
    return shape


def ext4_image(tree: Path, image: Path, inodes: int | None = None) -> None:
    """``mkfs.ext4 -d`` of ``tree`` into ``image`` (no mount, no root), sized to the tree with a margin."""
    data = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())
    count = sum(1 for _ in tree.rglob("*"))
    mib = 64 + (data * 23 // 20 + count * 4096) // (1 << 20)
    partial = image.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    cmd = ["mkfs.ext4", "-q", "-F", "-b", "4096", "-L", "BENCHSHAPE", "-E", "root_owner=0:0", "-d", str(tree)]
    if inodes:
        cmd += ["-N", str(inodes)]
    subprocess.run([*cmd, str(partial), f"{mib}M"], check=True, stdout=subprocess.DEVNULL)
    partial.rename(image)


def big_file(path: Path, kind: str, size: int, rng: np.random.Generator, corpus: bytes) -> None:
    """``size`` bytes of ``kind`` (text / random / mixed: ``make_bench_image.content``) written 16 MB at a time."""
    with open(path, "wb") as fh:
        left, first = size, True
        while left:
            n = min(left, 16 << 20)
            tag = f"#{path.name}\n".encode() if first else b""
            fh.write(bench_image.content(kind, n, rng, tag, corpus))
            left, first = left - n, False


# ---------------------------------------------------------------------------------------------------- builders


def few_large() -> Shape:
    """~1.7 GB raw ext4 holding ten large files of 50–300 MB (random, compressible text, and a mix): the byte cost,
    nearly no per-file cost."""
    name = "few-large"
    if (shape := cached(name)) is not None:
        return shape
    started = time.monotonic()
    image = CACHE / f"{name}.raw"
    corpus = bench_image.text_corpus(8 << 20)
    rng = np.random.default_rng(SEED)
    kinds = ("random", "text", "mixed")
    names = ("disk.vhd", "app.log", "mail.pst", "backup.zip", "trace.log", "db.sqlite", "video.bin", "notes.txt",
             "cache.dat", "export.csv")
    with tempfile.TemporaryDirectory(prefix="shape-few-large-", dir=CACHE) as tmp:
        tree = Path(tmp)
        for n, mb in enumerate(FEW_LARGE_MB):
            folder = tree / "data" / f"set{n % 3}"
            folder.mkdir(parents=True, exist_ok=True)
            big_file(folder / f"{n:02d}_{names[n]}", kinds[n % 3], mb << 20, rng, corpus)
        ext4_image(tree, image)
    size = image.stat().st_size
    return record(Shape(name, str(image), False, len(FEW_LARGE_MB), sum(FEW_LARGE_MB) << 20, 0, 0, size, size, None,
                        round(time.monotonic() - started, 1), "ext4 (mkfs.ext4 -d), raw; random/text/mixed thirds"))


def small(files: int) -> Shape:
    """N files of 100–3,000 bytes in folders of 1,000 on raw ext4: ``report_writers.build`` (the per-file cost)."""
    name = {200_000: "small-200k", 1_000_000: "small-1m"}.get(files, f"small-{files}")
    if (shape := cached(name)) is not None:
        return shape
    image = CACHE / f"reports-{files}.raw"
    started = time.monotonic()
    seconds = None if image.exists() else 0.0
    report_writers.build(files, CACHE)
    if seconds is not None:
        seconds = round(time.monotonic() - started, 1)
    size = image.stat().st_size
    mean = (100 + 3000) / 2  # report_writers._content: uniform 100..3,000 bytes
    return record(Shape(name, str(image), False, files, int(files * mean), 0, 0, size, size, None, seconds,
                        "report_writers.build: ext4 (mkfs.ext4 -d), raw; 4/5 made-up text, 1/5 random bytes; "
                        "file_bytes estimated (N × mean size)"))


def small_e01(files: int) -> Shape:
    """``small-N`` acquired into an E01 as ``make_bench_image`` acquires (``ewfacquire -u``, deflate:fast, md5 +
    sha1): the usual evidence format with a per-file cost, where streams come through the media pass, not
    ``reading.direct``."""
    base = small(files)
    name = base.name + "-e01"
    if (shape := cached(name)) is not None:
        return shape
    started = time.monotonic()
    target = CACHE / name
    for old in CACHE.glob(f"{name}.E[0-9][0-9]"):
        old.unlink()
    subprocess.run(["ewfacquire", "-u", "-q", "-c", "deflate:fast", "-d", "sha1", "-f", "encase6", "-t", str(target),
                    "-C", "BENCH-CASE", "-D", "synthetic small files (generated data only)", "-e", "bench",
                    "-E", name, "-N", "SYNTHETIC DATA ONLY", "-m", "fixed", "-M", "physical", base.image],
                   check=True, stdout=subprocess.DEVNULL)
    segments = sorted(CACHE.glob(f"{name}.E[0-9][0-9]"))
    return record(Shape(name, str(segments[0]), True, base.files, base.file_bytes, 0, 0, base.media_bytes,
                        sum(path.stat().st_size for path in segments), None, round(time.monotonic() - started, 1),
                        f"{base.name} in an E01 (ewfacquire -u, deflate:fast, md5+sha1)"))


def pictures_e01() -> Shape:
    """The picture-heavy E01 of ``make_bench_image.py`` (built there; checked here by existence only)."""
    name = "pictures-e01"
    if (shape := cached(name)) is not None:
        return shape
    started = time.monotonic()
    seconds = None
    if not (bench_image.E01.exists() and bench_image.MANIFEST.exists()):
        bench_image.main([])
        seconds = round(time.monotonic() - started, 1)
    m = json.loads(bench_image.MANIFEST.read_text())
    live = [f for f in m["files"] if not f["deleted"]]
    c = m["counts"]
    note = (f"{m['fs']} on GPT in E01 (ewfacquire deflate:fast, md5+sha1); {c['files']} files written "
            f"({c['pictures']} pictures: ~80% 1024x768 JPEG q88-92, ~10% PNG, some renamed .dat; ~1,600 documents "
            f"of log-normal size; six files of 20-80 MB), {c['deleted']} deleted (one folder among them)")
    return record(Shape(name, str(bench_image.E01), True, len(live), sum(f["size"] for f in live),
                        sum(f["kind"] == "picture" for f in live), 0, m["disk_bytes"], m["e01_bytes"],
                        str(bench_image.MD5_SET), seconds or m["build_seconds"]["total"], note))


def first_answer() -> Shape:
    """100,000 small files (as ``small-N``) plus ONE generated picture in the last folder, late in the walk, and a
    one-row CSV hash set (md5, category, name) listing it: time to first answer with ``--first-hit``."""
    name = "first-answer-100k"
    if (shape := cached(name)) is not None:
        return shape
    started = time.monotonic()
    image = CACHE / f"{name}.raw"
    hashset = CACHE / f"{name}.csv"
    rng = random.Random(SEED)
    total = 0
    with tempfile.TemporaryDirectory(prefix="shape-first-answer-", dir=CACHE) as tmp:
        tree = Path(tmp)
        for k in range(FIRST_ANSWER_FILES):
            folder = tree / f"Users/user{k // 50_000}/Documents/d{k // report_writers.PER_FOLDER:04d}"
            if k % report_writers.PER_FOLDER == 0:
                folder.mkdir(parents=True)
            data = report_writers._content(rng, k)
            total += len(data)
            suffix = ".bin" if k % 5 == 4 else ".txt"
            (folder / f"{rng.choice(report_writers.WORDS)}_{k:07d}{suffix}").write_bytes(data)
        picture = encode_picture(990_001, 1024, 768, "JPEG", 90)
        (folder / "IMG_20240517_183005.jpg").write_bytes(picture)
        ext4_image(tree, image, FIRST_ANSWER_FILES + FIRST_ANSWER_FILES // 1000 + 1024)
    hashset.write_text("md5,category,name\n" f"{hashlib.md5(picture).hexdigest()},1,first-answer picture\n")
    size = image.stat().st_size
    return record(Shape(name, str(image), False, FIRST_ANSWER_FILES + 1, total + len(picture), 1, 0, size, size,
                        str(hashset), round(time.monotonic() - started, 1),
                        f"ext4 raw; the picture is the last file written, in the last folder ({folder.name}); "
                        "hash set: CSV md5,category,name (one row, category 1)"))


def mixed_ntfs() -> Shape:
    """A Windows-like NTFS disk in an E01 (``shapes_mixed.py``): many small files, some large, pictures, videos,
    deleted entries."""
    name = "mixed-ntfs"
    if (shape := cached(name)) is not None:
        return shape
    import shapes_mixed

    facts = shapes_mixed.build(CACHE, name)
    return record(Shape(name=name, **facts))


def encode_picture(index: int, width: int, height: int, fmt: str, quality: int) -> bytes:
    """One picture of ``make_bench_image``'s generator (seeded by ``index``), encoded as JPEG or PNG."""
    pic = bench_image.textured_picture(index, width, height)
    buf = io.BytesIO()
    if fmt == "JPEG":
        pic.save(buf, "JPEG", quality=quality)
    else:
        pic.save(buf, "PNG", compress_level=6)
    return buf.getvalue()


BUILDERS: dict[str, Callable[[], Shape]] = {
    "few-large": few_large,
    "small-200k": lambda: small(200_000),
    "small-1m": lambda: small(1_000_000),
    "small-200k-e01": lambda: small_e01(200_000),
    "small-1m-e01": lambda: small_e01(1_000_000),
    "pictures-e01": pictures_e01,
    "mixed-ntfs": mixed_ntfs,
    "first-answer-100k": first_answer,
}


def build(name: str) -> Shape:
    if name not in BUILDERS:
        raise SystemExit(f"unknown shape {name!r}; known: {', '.join(BUILDERS)}")
    CACHE.mkdir(parents=True, exist_ok=True)
    return BUILDERS[name]()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(BUILDERS))
    for name in parser.parse_args().names:
        started = time.monotonic()
        shape = build(name)
        print(f"{name}: {shape.image} ({shape.image_bytes / 1e9:.2f} GB on disk, media {shape.media_bytes / 1e9:.2f} "
              f"GB), {shape.files} files, {shape.file_bytes / 1e6:.0f} MB, {shape.pictures} pictures, "
              f"{shape.videos} videos; built in {shape.build_seconds} s (this call {time.monotonic() - started:.1f} s)"
              f"\n  {shape.note}", flush=True)


if __name__ == "__main__":
    main()
