"""Build (once, cached) the ~1 GB synthetic benchmark disk ``bench/cache/bench.E01``.

SYNTHETIC DATA ONLY: every picture is generated here from seeded noise, gradients and shapes; every document is
generated text or random bytes. Nothing real goes in.

What is built, deterministically from ``SEED`` (file contents are reproducible; the NTFS metadata and the E01
header carry build times, so the E01's own sha256 differs between builds and is recorded instead):

- ~2,000 files in nested folders: ~400 textured pictures (JPEG q≈90, mostly 1024×768, some other sizes, ~10%
  PNG, a few renamed to ``.dat``), ~1,600 documents and binaries of log-normal sizes (compressible text,
  incompressible random data, and a mix), resident-sized tiny files, and six large files of 20-80 MB;
- a GPT disk with one NTFS partition (mkntfs, filled through the ntfs-3g FUSE mount), or ext4 (``mkfs.ext4 -d``,
  no mount) when FUSE is not usable; ~5% of the files (and one folder) deleted after writing;
- ``ewfacquire -u`` with fast deflate, md5 + sha1 stored → ``bench/cache/bench.E01``;
- ``bench/cache/bench.json``: the manifest (every file's path, size, md5, deleted flag; each picture's
  full-resolution reference PDQ/quality/pHash; the E01's sha256) and two hash sets: ``bench_md5.txt`` (md5 of 20
  pictures) and ``bench_perceptual.csv`` (PDQ + pHash of 20 other pictures);
- ``bench/cache/pictures/``: the pictures as files, for the perceptual-hash micro-benchmark.

A second run checks the E01 against the recorded sha256 and does nothing when it matches (``--force`` rebuilds).

Usage: ``.venv/bin/python bench/make_bench_image.py [--force] [--fs auto|ntfs|ext4]``
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / "cache"
E01 = CACHE / "bench.E01"
MANIFEST = CACHE / "bench.json"
PICTURES = CACHE / "pictures"
MD5_SET = CACHE / "bench_md5.txt"
PERCEPTUAL_SET = CACHE / "bench_perceptual.csv"

SEED = 20240611
FORMAT_VERSION = 1
N_PICTURES = 400
N_DOCUMENTS = 1594
LARGE_MB = (80, 64, 48, 40, 28, 20)
DOC_BUDGET = 450 << 20
DISK_MIB = 1200
PART_START = 2048  # sectors (1 MiB)
PART_SECTORS = (DISK_MIB << 11) - 2 * PART_START
USERS = ("anna", "ben", "carla", "dev")
WORDS_SEED = 7


# ---------------------------------------------------------------------------------------------------- pictures


def picture_spec(index: int) -> tuple[int, int, str, int]:
    """(width, height, format, JPEG quality) of picture ``index``: mostly 1024×768 JPEG q≈90."""
    rng = np.random.default_rng([SEED, 1, index])
    roll = rng.random()
    if roll < 0.80:
        w, h = 1024, 768
    elif roll < 0.88:
        w, h = 768, 1024
    elif roll < 0.94:
        w, h = 1600, 1200
    else:
        w, h = 640, 480
    fmt = "PNG" if rng.random() < 0.10 else "JPEG"
    return w, h, fmt, int(rng.integers(88, 93))


def textured_picture(index: int, w: int, h: int) -> Image.Image:
    """A seeded picture: two-colour gradient, low-frequency blobs, random shapes, then grain over everything."""
    rng = np.random.default_rng([SEED, 2, index])
    angle = rng.uniform(0, 2 * np.pi)
    x = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :]
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    t = np.cos(angle) * x + np.sin(angle) * y
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    c0, c1 = rng.uniform(0, 255, 3).astype(np.float32), rng.uniform(0, 255, 3).astype(np.float32)
    img = c0 + t[..., None] * (c1 - c0)
    gh, gw = int(rng.integers(3, 9)), int(rng.integers(4, 12))
    grid = rng.uniform(0, 255, (gh, gw, 3)).astype(np.uint8)
    blobs = np.asarray(Image.fromarray(grid).resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32)
    img = img * 0.55 + blobs * 0.45
    pic = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(pic)
    for _ in range(int(rng.integers(6, 26))):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        rx, ry = rng.uniform(w * 0.03, w * 0.3), rng.uniform(h * 0.03, h * 0.3)
        box = [cx - rx, cy - ry, cx + rx, cy + ry]
        kind = rng.integers(0, 4)
        if kind == 0:
            draw.ellipse(box, fill=colour)
        elif kind == 1:
            draw.rectangle(box, fill=colour)
        elif kind == 2:
            pts = [
                (float(cx + rx * np.cos(a)), float(cy + ry * np.sin(a)))
                for a in np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 7))))
            ]
            draw.polygon(pts, fill=colour)
        else:
            draw.line(box, fill=colour, width=int(rng.integers(3, 30)))
    arr = np.asarray(pic, dtype=np.float32)
    if rng.random() < 0.25:  # fine stripes: texture that a reduced decode would blur
        period = rng.uniform(3, 9)
        stripes = 18 * np.sin(2 * np.pi * (x * w * np.cos(angle) + y * h * np.sin(angle)) / period)
        arr = arr + stripes[..., None]
    sigma = float(rng.choice([3.0, 6.0, 10.0, 16.0, 24.0]))
    arr = arr + rng.standard_normal(arr.shape, dtype=np.float32) * sigma
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def reference_hashes(data: bytes) -> dict[str, Any]:
    """Full-resolution reference: RGB decode, ``pdqhash.compute`` on all pixels, ``imagehash.phash``.

    This is what hash-set producers compute; any fast path in triage must agree with it (issue 6: PDQ within 10
    bits, pHash within 2 bits, on pictures of PDQ quality ≥ 80).
    """
    import imagehash
    import pdqhash

    with Image.open(io.BytesIO(data)) as img:
        rgb = img.convert("RGB")
    bits, quality = pdqhash.compute(np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)))
    return {
        "pdq": np.packbits(bits.astype(np.uint8)).tobytes().hex(),
        "pdq_quality": int(quality),
        "phash": str(imagehash.phash(rgb)),
    }


def build_picture(index: int) -> dict[str, Any]:
    """Generate, encode and reference-hash picture ``index``; written under ``cache/pictures``."""
    w, h, fmt, quality = picture_spec(index)
    pic = textured_picture(index, w, h)
    buf = io.BytesIO()
    if fmt == "JPEG":
        pic.save(buf, "JPEG", quality=quality)
    else:
        pic.save(buf, "PNG", compress_level=6)
    data = buf.getvalue()
    name = f"pic_{index:04d}.{'jpg' if fmt == 'JPEG' else 'png'}"
    (PICTURES / name).write_bytes(data)
    return {
        "index": index,
        "file": name,
        "width": w,
        "height": h,
        "format": fmt,
        "quality": quality if fmt == "JPEG" else None,
        "size": len(data),
        "md5": hashlib.md5(data).hexdigest(),
        **reference_hashes(data),
    }


# ---------------------------------------------------------------------------------------------------- documents


def text_corpus(size: int = 48 << 20) -> bytes:
    """Seeded pseudo-text (Zipf-distributed made-up words, lines and sentences): compresses like prose."""
    rng = np.random.default_rng([SEED, WORDS_SEED])
    letters = np.frombuffer(b"etaoinshrdlucmfwypvbgkjqxz", dtype=np.uint8)
    weights = 1.0 / np.arange(1, 27)
    weights /= weights.sum()
    vocab = []
    for _ in range(3000):
        n = int(rng.integers(2, 11))
        vocab.append(bytes(rng.choice(letters, n, p=weights)))
    seps = (b" ", b" ", b" ", b" ", b" ", b", ", b". ", b"\n")
    tokens = [w + s for w in vocab for s in seps]
    zipf = 1.0 / np.arange(1, len(vocab) + 1) ** 1.05
    zipf /= zipf.sum()
    count = size // 6
    words = rng.choice(len(vocab), count, p=zipf)
    sep = rng.integers(0, len(seps), count)
    return b"".join(tokens[i] for i in (words * len(seps) + sep).tolist())[:size]


def content(kind: str, size: int, rng: np.random.Generator, tag: bytes, corpus: bytes) -> bytes:
    """``size`` bytes of ``kind`` (text / random / mixed), starting with ``tag`` so every file is unique."""
    if size <= len(tag):
        return tag[:size]
    need = size - len(tag)
    if kind == "random":
        return tag + rng.bytes(need)
    parts: list[bytes] = []
    got = 0
    block = 64 << 10
    while got < need:
        take = min(block if kind == "mixed" else len(corpus), need - got)
        if kind == "mixed" and rng.random() < 0.5:
            piece = rng.bytes(take)
        else:
            start = int(rng.integers(0, len(corpus) - take + 1))
            piece = corpus[start : start + take]
        parts.append(piece)
        got += take
    return tag + b"".join(parts)


HEADERS = {  # extension → (leading bytes, content kind)
    "txt": (b"", "text"),
    "log": (b"", "text"),
    "csv": (b"id,name,value\n", "text"),
    "html": (b"<!DOCTYPE html><html><body>\n", "text"),
    "xml": (b"<?xml version='1.0'?>\n", "text"),
    "docx": (b"PK\x03\x04\x14\x00\x06\x00", "mixed"),
    "xlsx": (b"PK\x03\x04\x14\x00\x06\x00", "mixed"),
    "pdf": (b"%PDF-1.7\n", "mixed"),
    "zip": (b"PK\x03\x04\x14\x00\x00\x00", "random"),
    "exe": (b"MZ\x90\x00\x03\x00\x00\x00", "mixed"),
    "dll": (b"MZ\x90\x00\x03\x00\x00\x00", "mixed"),
    "db": (b"SQLite format 3\x00", "mixed"),
    "bin": (b"\x00BENCHBIN", "random"),
    "dat": (b"\x00BENCHDAT", "random"),
    "7z": (b"7z\xbc\xaf'\x1c\x00\x04", "random"),
    "json": (b'{"items": [\n', "text"),
}


def folder(rng: np.random.Generator, picture: bool) -> str:
    user = USERS[int(rng.integers(0, len(USERS)))]
    if picture:
        top = ["Pictures", str(int(rng.integers(2015, 2025))), f"{int(rng.integers(1, 13)):02d}"]
        tops = [
            top,
            ["Downloads"],
            ["AppData", "Local", "Temp", f"tmp{int(rng.integers(0, 40)):03d}"],
            ["Documents", "scans"],
            ["Desktop", "new folder"],
        ]
        return "/".join(["Users", user, *tops[int(rng.choice(5, p=[0.6, 0.15, 0.1, 0.1, 0.05]))]])
    tops = [
        ["Users", user, "Documents", f"project{int(rng.integers(0, 30)):02d}"],
        ["Users", user, "Documents", "archive", str(int(rng.integers(2010, 2025)))],
        ["Users", user, "Downloads"],
        ["Users", user, "AppData", "Roaming", f"app{int(rng.integers(0, 12))}"],
        ["ProgramData", f"vendor{int(rng.integers(0, 8))}", "cache", f"{int(rng.integers(0, 16)):x}"],
        ["Program Files", f"Tool {int(rng.integers(0, 6))}", "bin"],
        ["Windows", "Temp", f"{int(rng.integers(0, 64)):02x}", f"{int(rng.integers(0, 4))}"],
    ]
    return "/".join(tops[int(rng.integers(0, len(tops)))])


def plan_files(pictures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every file to write: path, kind, size; pictures reference their entry in ``pictures``."""
    rng = np.random.default_rng([SEED, 3])
    files: list[dict[str, Any]] = []
    used: set[str] = set()

    def unique(path: str) -> str:
        stem, dot, ext = path.rpartition(".")
        n, out = 1, path
        while out.lower() in used:
            n += 1
            out = f"{stem} ({n}){dot}{ext}"
        used.add(out.lower())
        return out

    for pic in pictures:
        ext = "jpg" if pic["format"] == "JPEG" else "png"
        if pic["index"] % 37 == 5:
            ext = "dat"  # renamed picture: only the signature tells it is one
        prefix = ("IMG_", "DSC", "photo_", "scan")[pic["index"] % 4]
        path = unique(f"{folder(rng, True)}/{prefix}{pic['index']:04d}.{ext}")
        files.append({"path": path, "kind": "picture", "picture": pic["index"], "size": pic["size"]})
    exts = list(HEADERS)
    sizes = np.exp(rng.normal(np.log(24 << 10), 1.7, N_DOCUMENTS))
    sizes = np.minimum(sizes, 12 << 20)
    sizes = np.minimum(sizes * (DOC_BUDGET / sizes.sum()), 16 << 20).astype(np.int64)
    sizes[: N_DOCUMENTS // 20] = rng.integers(0, 900, N_DOCUMENTS // 20)  # tiny: MFT-resident on NTFS
    order = rng.permutation(N_DOCUMENTS)
    for n, i in enumerate(order.tolist()):
        ext = exts[int(rng.integers(0, len(exts)))]
        path = unique(f"{folder(rng, False)}/{('doc', 'file', 'data', 'note', 'out')[n % 5]}_{n:04d}.{ext}")
        files.append({"path": path, "kind": HEADERS[ext][1], "ext": ext, "size": int(sizes[i])})
    for n, mb in enumerate(LARGE_MB):
        ext, kind = (
            ("vhd", "random"),
            ("log", "text"),
            ("zip", "random"),
            ("pst", "mixed"),
            ("db", "mixed"),
            ("mp4", "random"),
        )[n]
        path = unique(f"Users/{USERS[n % len(USERS)]}/Documents/big/large_{n}.{ext}")
        files.append({"path": path, "kind": kind, "ext": ext, "size": mb << 20})
    perm = rng.permutation(len(files))
    files = [files[i] for i in perm.tolist()]
    for n, f in enumerate(files):
        f["id"] = n
        f["mtime"] = int(1_420_070_400 + rng.integers(0, 10 * 365 * 86400))
    return files


def file_bytes(entry: dict[str, Any], pictures: list[dict[str, Any]], corpus: bytes) -> bytes:
    if entry["kind"] == "picture":
        return (PICTURES / pictures[entry["picture"]]["file"]).read_bytes()
    rng = np.random.default_rng([SEED, 4, entry["id"]])
    head = HEADERS.get(entry["ext"], (b"", entry["kind"]))[0]
    if entry["ext"] == "mp4":
        head = b"\x00\x00\x00\x18ftypmp42"
    tag = head + f"#{entry['id']} {entry['path']}\n".encode()
    return content(entry["kind"], entry["size"], rng, tag, corpus)


def choose_deleted(files: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """~5% of the files, a quarter of them pictures, plus one whole folder."""
    rng = np.random.default_rng([SEED, 5])
    pics = [f for f in files if f["kind"] == "picture"]
    docs = [f for f in files if f["kind"] != "picture" and f["size"] < (20 << 20)]
    chosen = [pics[i] for i in rng.choice(len(pics), 25, replace=False)]
    chosen += [docs[i] for i in rng.choice(len(docs), 75, replace=False)]
    folders = sorted({f["path"].rsplit("/", 1)[0] for f in files if "/Downloads" in f["path"]})
    return chosen, folders[0]


# ---------------------------------------------------------------------------------------------------- the disk


def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess:
    print("  $", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, **kw)


def fuse_ok(work: Path) -> bool:
    """Can ntfs-3g mount a file here (FUSE device present and allowed)?"""
    if not (shutil.which("mkntfs") and shutil.which("ntfs-3g") and Path("/dev/fuse").exists()):
        return False
    probe, mnt = work / "probe.img", work / "probe.mnt"
    mnt.mkdir(parents=True, exist_ok=True)
    try:
        with open(probe, "wb") as fh:
            fh.truncate(16 << 20)
        subprocess.run(["mkntfs", "-F", "-Q", "-q", str(probe)], check=True, capture_output=True)
        subprocess.run(["ntfs-3g", str(probe), str(mnt)], check=True, capture_output=True, timeout=30)
        (mnt / "x").write_bytes(b"x")
        subprocess.run(["umount", str(mnt)], check=True, capture_output=True)
        return True
    except (subprocess.SubprocessError, OSError):
        subprocess.run(["umount", str(mnt)], capture_output=True)
        return False
    finally:
        probe.unlink(missing_ok=True)


def place(root: Path, entry: dict[str, Any], data: bytes) -> None:
    """Write one planned file under ``root`` (its folders made) with its planned modification time."""
    target = root / entry["path"]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    os.utime(target, (entry["mtime"], entry["mtime"]))


def write_tree(root: Path, files: list[dict[str, Any]], pictures: list[dict[str, Any]], corpus: bytes) -> None:
    for n, entry in enumerate(files):
        data = file_bytes(entry, pictures, corpus)
        assert len(data) == entry["size"], entry
        entry["md5"] = hashlib.md5(data).hexdigest()
        entry["sha1"] = hashlib.sha1(data).hexdigest()
        place(root, entry, data)
        if n % 250 == 0:
            print(f"  wrote {n}/{len(files)}", flush=True)


def build_partition(
    work: Path, fs: str, files: list[dict[str, Any]], pictures: list[dict[str, Any]], corpus: bytes
) -> Path:
    part = work / "part.img"
    part.unlink(missing_ok=True)
    with open(part, "wb") as fh:
        fh.truncate(PART_SECTORS * 512)
    deleted, gone_folder = choose_deleted(files)
    if fs == "ntfs":
        run(
            [
                "mkntfs",
                "-F",
                "-Q",
                "-q",
                "-s",
                "512",
                "-c",
                "4096",
                "-p",
                str(PART_START),
                "-H",
                "255",
                "-S",
                "63",
                "-L",
                "BENCHDATA",
                str(part),
            ]
        )
        mnt = work / "mnt"
        mnt.mkdir(exist_ok=True)
        run(["ntfs-3g", "-o", "big_writes", str(part), str(mnt)])
        try:
            write_tree(mnt, files, pictures, corpus)
            for entry in deleted:
                (mnt / entry["path"]).unlink(missing_ok=True)
            shutil.rmtree(mnt / gone_folder)
        finally:
            run(["umount", str(mnt)])
    else:
        tree = work / "tree"
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir()
        write_tree(tree, files, pictures, corpus)
        run(
            [
                "mkfs.ext4",
                "-q",
                "-F",
                "-L",
                "BENCHDATA",
                "-E",
                f"root_owner=0:0,hash_seed={_uuid(9)}",
                "-U",
                _uuid(8),
                "-d",
                str(tree),
                str(part),
            ]
        )
        cmds = [f"rm /{e['path']}" for e in deleted if not e["path"].startswith(gone_folder + "/")]
        gone = [e for e in files if e["path"].startswith(gone_folder + "/")]
        cmds += [f"rm /{e['path']}" for e in gone] + [f"rmdir /{gone_folder}"]
        script = work / "debugfs.cmds"
        script.write_text("\n".join(cmds) + "\n")
        run(["debugfs", "-w", "-f", str(script), str(part)], capture_output=True)
        shutil.rmtree(tree)
    names = {e["path"] for e in deleted}
    for entry in files:
        entry["deleted"] = entry["path"] in names or entry["path"].startswith(gone_folder + "/")
    return part


def _uuid(n: int) -> str:
    h = hashlib.sha256(f"{SEED}:{n}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}"


def build_disk(work: Path, part: Path, fs: str) -> Path:
    disk = work / "disk.raw"
    disk.unlink(missing_ok=True)
    with open(disk, "wb") as fh:
        fh.truncate(DISK_MIB << 20)
    typecode = "0700" if fs == "ntfs" else "8300"
    run(
        [
            "sgdisk",
            "-o",
            "-U",
            _uuid(1),
            "-n",
            f"1:{PART_START}:{PART_START + PART_SECTORS - 1}",
            "-t",
            f"1:{typecode}",
            "-c",
            "1:BENCHDATA",
            "-u",
            f"1:{_uuid(2)}",
            str(disk),
        ],
        capture_output=True,
    )
    with open(part, "rb") as src, open(disk, "r+b") as dst:
        dst.seek(PART_START * 512)
        shutil.copyfileobj(src, dst, 16 << 20)
    part.unlink()
    return disk


def acquire(disk: Path) -> list[Path]:
    for old in CACHE.glob("bench.E[0-9][0-9]"):
        old.unlink()
    run(
        [
            "ewfacquire",
            "-u",
            "-q",
            "-c",
            "deflate:fast",
            "-d",
            "sha1",
            "-f",
            "encase6",
            "-t",
            str(CACHE / "bench"),
            "-C",
            "BENCH-CASE",
            "-D",
            "synthetic benchmark disk (generated data only)",
            "-e",
            "bench",
            "-E",
            "BENCH-001",
            "-N",
            "SYNTHETIC DATA ONLY",
            "-m",
            "fixed",
            "-M",
            "physical",
            str(disk),
        ],
        stdout=subprocess.DEVNULL,
    )
    return sorted(CACHE.glob("bench.E[0-9][0-9]"))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(8 << 20):
            h.update(chunk)
    return h.hexdigest()


def cached_ok() -> bool:
    """True when the E01 exists and still has the sha256 recorded when it was built."""
    if not (MANIFEST.exists() and E01.exists()):
        return False
    try:
        manifest = json.loads(MANIFEST.read_text())
    except ValueError:
        return False
    if manifest.get("format_version") != FORMAT_VERSION:
        return False
    segments = manifest.get("e01_segments", {})
    return bool(segments) and all(
        (CACHE / name).exists() and sha256_file(CACHE / name) == digest for name, digest in segments.items()
    )


def write_hashsets(pictures: list[dict[str, Any]], files: list[dict[str, Any]]) -> dict[str, list[int]]:
    """md5 list of 20 pictures and a PDQ+pHash CSV of 20 others (chosen among pictures written to the disk)."""
    on_disk = sorted({f["picture"] for f in files if f["kind"] == "picture"})
    md5_pics, perceptual_pics = on_disk[3::20][:20], on_disk[13::20][:20]
    lines = ["# bench: md5 of 20 synthetic benchmark pictures"]
    lines += [pictures[i]["md5"] for i in md5_pics]
    MD5_SET.write_text("\n".join(lines) + "\n")
    rows = ["pdq,phash,category,name"]
    rows += [
        f"{pictures[i]['pdq']},{pictures[i]['phash']},{1 + n % 3},bench picture {i}"
        for n, i in enumerate(perceptual_pics)
    ]
    PERCEPTUAL_SET.write_text("\n".join(rows) + "\n")
    return {"md5": md5_pics, "perceptual": perceptual_pics}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--force", action="store_true", help="rebuild even when the cached E01 checks out")
    ap.add_argument("--fs", choices=("auto", "ntfs", "ext4"), default="auto")
    ap.add_argument("--keep-raw", action="store_true", help="keep bench/cache/build/disk.raw")
    args = ap.parse_args(argv)
    if not args.force and cached_ok():
        print(f"{E01} present and its sha256 matches {MANIFEST.name}: nothing to do")
        return 0
    started = time.monotonic()
    work = CACHE / "build"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shutil.rmtree(PICTURES, ignore_errors=True)
    PICTURES.mkdir(parents=True)
    fs = args.fs if args.fs != "auto" else ("ntfs" if fuse_ok(work) else "ext4")
    print(f"file system: {fs}", flush=True)
    t0 = time.monotonic()
    with Pool(os.cpu_count() or 1) as pool:
        pictures = pool.map(build_picture, range(N_PICTURES), chunksize=8)
    t_pics = time.monotonic() - t0
    print(f"pictures: {len(pictures)} in {t_pics:.1f} s", flush=True)
    corpus = text_corpus()
    files = plan_files(pictures)
    t0 = time.monotonic()
    part = build_partition(work, fs, files, pictures, corpus)
    t_fs = time.monotonic() - t0
    disk = build_disk(work, part, fs)
    raw_md5 = hashlib.md5()
    with open(disk, "rb") as fh:
        while chunk := fh.read(8 << 20):
            raw_md5.update(chunk)
    t0 = time.monotonic()
    segments = acquire(disk)
    t_ewf = time.monotonic() - t0
    if not args.keep_raw:
        disk.unlink()
    sets = write_hashsets(pictures, files)
    manifest = {
        "format_version": FORMAT_VERSION,
        "seed": SEED,
        "note": "SYNTHETIC DATA ONLY",
        "fs": fs,
        "disk_bytes": DISK_MIB << 20,
        "partition": {"start_sector": PART_START, "sectors": PART_SECTORS},
        "raw_md5": raw_md5.hexdigest(),
        "e01_segments": {p.name: sha256_file(p) for p in segments},
        "e01_bytes": sum(p.stat().st_size for p in segments),
        "counts": {
            "files": len(files),
            "pictures": sum(f["kind"] == "picture" for f in files),
            "deleted": sum(f["deleted"] for f in files),
            "bytes": sum(f["size"] for f in files),
        },
        "build_seconds": {
            "pictures": round(t_pics, 1),
            "filesystem": round(t_fs, 1),
            "ewfacquire": round(t_ewf, 1),
            "total": round(time.monotonic() - started, 1),
        },
        "hashsets": {
            "md5": {"path": MD5_SET.name, "pictures": sets["md5"]},
            "perceptual": {"path": PERCEPTUAL_SET.name, "pictures": sets["perceptual"]},
        },
        "pictures": pictures,
        "files": files,
    }
    MANIFEST.write_text(json.dumps(manifest, indent=1) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    c = manifest["counts"]
    print(
        f"built {E01} ({manifest['e01_bytes'] / 1e6:.0f} MB) from {c['files']} files ({c['bytes'] / 1e6:.0f} MB, "
        f"{c['pictures']} pictures, {c['deleted']} deleted) on {fs} in {manifest['build_seconds']['total']} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
