"""The ``mixed-ntfs`` benchmark shape: a Windows-like NTFS disk acquired to E01 (issue 17, "a realistic mixed tree").

SYNTHETIC DATA ONLY: names are made of syllables, contents are generated text and random bytes, pictures come
from ``make_bench_image``'s generator and videos from ``bench/video.py``'s encoder. What a laptop holds, in small:
~42,000 files, mostly small (System32/SysWOW64/WinSxS binaries and manifests, Program Files, browser cache,
AppData, Temp, documents; Office files, zips and 7z archives valid), a few large ones (tens of MB), 300 pictures
and 4 short H.264 videos; ~1,000 files and one Temp folder deleted after writing. A GPT disk with one NTFS
partition (mkntfs, filled through the ntfs-3g FUSE mount: no root), acquired with ``ewfacquire -u`` (deflate:fast,
md5 + sha1 stored), one segment.
Deterministic from ``SEED`` for file contents; NTFS metadata and the E01 header carry build times.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import make_bench_image as bench_image
import numpy as np
from shapes import encode_picture

SEED = 17042
PART_START = 2048  # sectors (1 MiB)
USERS = ("jsmith", "mkowalski", "admin")
SYLLABLES = ("win", "core", "net", "svc", "crypt", "shell", "user", "kern", "gdi", "comp", "dx", "media", "print",
             "sec", "api", "ms", "ole", "http", "rpc", "xml", "sys", "dev", "font", "wmi", "audio", "graph", "mgmt",
             "data", "sync", "host", "cfg", "boot", "tele", "wlan", "hid", "usb")
VENDORS = ("Contoso", "Fabrikam", "Northwind", "Litware", "Adatum", "Tailspin", "Woodgrove", "Proseware")
# extension → the make_bench_image.HEADERS entry whose leading bytes and content kind it takes
ALIAS = {"sys": "dll", "mui": "dll", "manifest": "xml", "inf": "txt", "ini": "txt", "pf": "bin", "pak": "bin",
         "tmp": "dat", "lnk": "bin", "cab": "bin", "msi": "exe", "": "dat", "etl": "bin", "jsonlz4": "bin"}
CONTAINERS = ("docx", "xlsx", "zip", "7z")  # written as valid archives (``_container``)
CONTENT_TYPES = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Types xmlns="http://schemas.openxml'
                 b'formats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/>'
                 b'</Types>')
LARGE = (("pagefile.sys", "random", 96), ("Users/jsmith/Downloads/setup_x64.exe", "mixed", 48),
         ("Users/jsmith/Documents/Outlook Files/archive.pst", "mixed", 64),
         ("ProgramData/Microsoft/Search/Data/Windows.edb", "mixed", 32), ("Windows/Logs/CBS/CBS.log", "text", 24),
         ("Program Files/Tailspin/Game/data/assets.pak", "random", 40))


def _word(rng: np.random.Generator, parts: int = 2) -> str:
    return "".join(SYLLABLES[i] for i in rng.integers(0, len(SYLLABLES), parts))


def _pick(rng: np.random.Generator, *choices: str) -> str:
    return choices[int(rng.integers(0, len(choices)))]


def _user(rng: np.random.Generator) -> str:
    return USERS[int(rng.choice(3, p=[0.6, 0.3, 0.1]))]


def _system(rng: np.random.Generator, n: int, wow: bool) -> str:
    top = "Windows/SysWOW64" if wow else "Windows/System32"
    roll = rng.random()
    if roll < 0.08 and not wow:
        return f"{top}/drivers/{_word(rng)}{n % 1000}.sys"
    if roll < 0.18:
        return f"{top}/en-US/{_word(rng, 3)}{n}.dll.mui"
    if roll < 0.28:
        return f"{top}/{_word(rng)}{n}.exe"
    return f"{top}/{_pick(rng, 'api-ms-win-', 'ext-ms-win-', '', '', '')}{_word(rng, 3)}{n}.dll"


def _winsxs(rng: np.random.Generator, n: int) -> str:
    comp = hashlib.md5(f"{SEED}:{n // 10}".encode()).hexdigest()
    name = SYLLABLES[n // 10 % len(SYLLABLES)]
    folder = f"amd64_microsoft-windows-{name}_{comp[:16]}_10.0.19041.{n // 10}_none_{comp[16:24]}"
    return f"Windows/WinSxS/{folder}/{_word(rng)}{n}.{_pick(rng, 'manifest', 'manifest', 'dll', 'dll', 'mui')}"


def _windows_misc(rng: np.random.Generator, n: int) -> str:
    where = _pick(rng, "INF", "Logs/WindowsUpdate", "Prefetch", "ServiceProfiles/LocalService/AppData", "Temp")
    ext = {"INF": "inf", "Prefetch": "pf", "Logs/WindowsUpdate": "etl"}.get(where, _pick(rng, "log", "tmp", "xml"))
    return f"Windows/{where}/{_word(rng).upper() if ext == 'pf' else _word(rng)}{n}.{ext}"


def _program_files(rng: np.random.Generator, n: int) -> str:
    vendor = VENDORS[int(rng.integers(0, len(VENDORS)))]
    top = _pick(rng, "Program Files", "Program Files", "Program Files (x86)")
    sub = _pick(rng, "bin", "bin", "lib", "resources", "locales", "plugins/" + _word(rng, 1))
    ext = _pick(rng, "dll", "dll", "dll", "exe", "json", "xml", "pak", "dat", "ini")
    return f"{top}/{vendor}/{vendor} {_word(rng, 1).title()}/{sub}/{_word(rng)}{n}.{ext}"


def _program_data(rng: np.random.Generator, n: int) -> str:
    return (f"ProgramData/{VENDORS[n % len(VENDORS)]}/{_pick(rng, 'cache', 'logs', 'config', 'db')}/"
            f"{n % 16:x}/{_word(rng)}{n}.{_pick(rng, 'db', 'json', 'log', 'dat', 'xml')}")


def _browser_cache(rng: np.random.Generator, n: int) -> str:
    browser = _pick(rng, "Google/Chrome", "Microsoft/Edge")
    return f"Users/{_user(rng)}/AppData/Local/{browser}/User Data/Default/Cache/Cache_Data/f_{n:06x}"


def _temp(rng: np.random.Generator, n: int) -> str:
    return (f"Users/{_user(rng)}/AppData/Local/Temp/tmp{n % 60:03X}/{_word(rng)}{n}."
            f"{_pick(rng, 'tmp', 'log', 'txt', 'dat', 'cab')}")


def _roaming(rng: np.random.Generator, n: int) -> str:
    sub = _pick(rng, "Microsoft/Windows/Recent", "Mozilla/Firefox/Profiles/x7k2q.default-release/storage",
                f"{VENDORS[n % len(VENDORS)]}/settings", "Microsoft/Teams/logs", "Code/User/History")
    ext = "lnk" if "Recent" in sub else _pick(rng, "json", "db", "txt", "ini", "jsonlz4")
    return f"Users/{_user(rng)}/AppData/Roaming/{sub}/{_word(rng)}{n}.{ext}"


def _documents(rng: np.random.Generator, n: int) -> str:
    sub = _pick(rng, f"Projects/{_word(rng, 1)}", f"Archive/{int(rng.integers(2014, 2025))}", "Invoices",
                "Work/Reports", "")
    ext = _pick(rng, "docx", "docx", "xlsx", "pdf", "pdf", "txt", "csv", "html")
    return f"Users/{_user(rng)}/Documents/{sub}/{_word(rng, 1)}_{n}.{ext}".replace("//", "/")


def _downloads(rng: np.random.Generator, n: int) -> str:
    return f"Users/{_user(rng)}/Downloads/{_word(rng)}_{n}.{_pick(rng, 'zip', 'exe', 'pdf', '7z', 'msi')}"


# (name, count, path maker, median bytes, sigma of log size, cap bytes)
GROUPS: tuple[tuple[str, int, Callable[[np.random.Generator, int], str], int, float, int], ...] = (
    ("system32", 6000, lambda r, n: _system(r, n, False), 16 << 10, 1.2, 8 << 20),
    ("syswow64", 3000, lambda r, n: _system(r, n, True), 16 << 10, 1.2, 6 << 20),
    ("winsxs", 8000, _winsxs, 6 << 10, 1.1, 4 << 20),
    ("windows", 1500, _windows_misc, 6 << 10, 1.0, 2 << 20),
    ("program-files", 5000, _program_files, 16 << 10, 1.3, 12 << 20),
    ("programdata", 2000, _program_data, 4 << 10, 1.2, 2 << 20),
    ("browser-cache", 9000, _browser_cache, 6 << 10, 1.1, 1 << 20),
    ("temp", 1500, _temp, 4 << 10, 1.2, 4 << 20),
    ("roaming", 2500, _roaming, 3 << 10, 1.2, 2 << 20),
    ("documents", 2500, _documents, 40 << 10, 1.2, 16 << 20),
    ("downloads", 300, _downloads, 300 << 10, 1.3, 30 << 20),
)
N_PICTURES = 300
VIDEOS = (((640, 360), 4), ((854, 480), 3), ((640, 360), 6), ((1280, 720), 2))  # (size, seconds)


def plan() -> list[dict[str, Any]]:
    """Every file to write: path, kind (text/random/mixed/picture/video), size or picture index."""
    rng = np.random.default_rng([SEED, 1])
    files: list[dict[str, Any]] = []
    n = 0
    for _, count, maker, median, sigma, cap in GROUPS:
        sizes = np.minimum(median * np.exp(rng.normal(0, sigma, count)), cap).astype(np.int64)
        for size in sizes.tolist():
            path = maker(rng, n)
            ext = path.rsplit("/", 1)[-1].rpartition(".")[2] if "." in path.rsplit("/", 1)[-1] else ""
            key = ext if ext in bench_image.HEADERS else ALIAS.get(ext, "dat")
            files.append({"path": path, "kind": bench_image.HEADERS[key][1], "head": key, "size": size})
            n += 1
    for i in range(N_PICTURES):
        user, roll = _user(rng), rng.random()
        where = ("Pictures/" + f"{int(rng.integers(2016, 2025))}/{int(rng.integers(1, 13)):02d}" if roll < 0.6 else
                 _pick(rng, "Pictures/Screenshots", "Desktop", "Downloads", "AppData/Local/Temp/thumbs"))
        files.append({"path": f"Users/{user}/{where}/IMG_{i:04d}.jpg", "kind": "picture", "picture": 5000 + i})
    for i, (size, seconds) in enumerate(VIDEOS):
        files.append({"path": f"Users/{USERS[i % 2]}/Videos/VID_2023{i + 1:02d}14_1930.mp4", "kind": "video",
                      "video": i, "dims": size, "seconds": seconds})
    for path, kind, mb in LARGE:
        files.append({"path": path, "kind": kind, "head": "bin" if kind == "random" else "txt", "size": mb << 20})
    for f in files:
        f["mtime"] = int(1_546_300_800 + rng.integers(0, 6 * 365 * 86400))
    return files


def _picture(index: int) -> bytes:
    w, h, _fmt, quality = bench_image.picture_spec(index)
    return encode_picture(index, w, h, "JPEG", quality)  # every picture a JPEG here: the names say .jpg


def _video(entry: dict[str, Any], work: Path) -> bytes:
    import video  # bench/video.py: the project's synthetic H.264 clip (PyAV, x264)

    path = work / f"video{entry['video']}.mp4"
    video.make_video(path, tuple(entry["dims"]), entry["seconds"], 30, 3)
    return path.read_bytes()


def _container(ext: str, data: bytes, n: int) -> bytes:
    """``data`` in a valid archive: Office documents and zips are real ZIPs, 7z a real 7z (a scan expands them, as
    on a real disk; a fake magic number over random bytes only makes "archive not expanded" errors)."""
    buf = io.BytesIO()
    if ext == "7z":
        import py7zr

        with py7zr.SevenZipFile(buf, "w", filters=[{"id": py7zr.FILTER_LZMA2, "preset": 1}]) as z:
            z.writestr(data, f"backup_{n}.bin")
        return buf.getvalue()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        if ext in ("docx", "xlsx"):
            z.writestr("[Content_Types].xml", CONTENT_TYPES)
            z.writestr("word/document.xml" if ext == "docx" else "xl/worksheets/sheet1.xml", data)
        else:
            step = max(1, -(-len(data) // 4))
            for i in range(0, max(len(data), 1), step):
                z.writestr(f"folder/part{i // step}.dat", data[i:i + step])
    return buf.getvalue()


def write_tree(root: Path, files: list[dict[str, Any]], work: Path) -> None:
    """Write every planned file under ``root`` (the mounted NTFS volume); md5 and size recorded per file."""
    corpus = bench_image.text_corpus(8 << 20)
    started = time.monotonic()
    for n, entry in enumerate(files):
        if entry["kind"] == "picture":
            data = _picture(entry["picture"])
        elif entry["kind"] == "video":
            data = _video(entry, work)
        elif entry["head"] in CONTAINERS:
            rng = np.random.default_rng([SEED, 2, n])
            kind = "text" if entry["head"] in ("docx", "xlsx") else entry["kind"]
            data = _container(entry["head"], bench_image.content(kind, entry["size"], rng, f"#{n}\n".encode(),
                                                                  corpus), n)
        else:
            rng = np.random.default_rng([SEED, 2, n])
            tag = bench_image.HEADERS[entry["head"]][0] + f"#{n} {entry['path']}\n".encode()
            data = bench_image.content(entry["kind"], entry["size"], rng, tag, corpus)
        entry["size"], entry["md5"] = len(data), hashlib.md5(data).hexdigest()
        bench_image.place(root, entry, data)
        if n % 5000 == 0:
            print(f"  wrote {n}/{len(files)} ({time.monotonic() - started:.0f} s)", flush=True)


def delete_some(root: Path, files: list[dict[str, Any]]) -> str:
    """Delete ~1,000 small files (20 pictures among them) and one Temp folder; returns that folder."""
    rng = np.random.default_rng([SEED, 3])
    pictures = [f for f in files if f["kind"] == "picture"]
    small = [f for f in files if f["kind"] not in ("picture", "video") and f["size"] < (1 << 20)]
    chosen = [pictures[i] for i in rng.choice(len(pictures), 20, replace=False)]
    chosen += [small[i] for i in rng.choice(len(small), 1000, replace=False)]
    for entry in chosen:
        (root / entry["path"]).unlink(missing_ok=True)
        entry["deleted"] = True
    folder = f"Users/{USERS[0]}/AppData/Local/Temp/tmp007"
    for entry in files:
        if entry["path"].startswith(folder + "/"):
            entry["deleted"] = True
    shutil.rmtree(root / folder)
    return folder


def build(cache: Path, name: str) -> dict[str, Any]:
    """Build ``cache/<name>.E01`` and ``cache/<name>_md5.txt``; returns the facts ``shapes.Shape`` records."""
    started = time.monotonic()
    files = plan()
    data_bytes = sum(f.get("size", 400_000) for f in files)
    disk_mib = -(-(data_bytes * 5 // 4 + len(files) * 4096 + (256 << 20)) // (64 << 20)) * 64
    part_sectors = (disk_mib << 11) - 2 * PART_START
    with tempfile.TemporaryDirectory(prefix="shape-mixed-", dir=cache) as tmp:
        work = Path(tmp)
        part, mnt, disk = work / "part.img", work / "mnt", work / "disk.raw"
        with open(part, "wb") as fh:
            fh.truncate(part_sectors * 512)
        bench_image.run(["mkntfs", "-F", "-Q", "-q", "-s", "512", "-c", "4096", "-p", str(PART_START), "-H", "255",
                         "-S", "63", "-L", "Windows", str(part)])
        mnt.mkdir()
        bench_image.run(["ntfs-3g", "-o", "big_writes", str(part), str(mnt)])
        try:
            write_tree(mnt, files, work)
            gone = delete_some(mnt, files)
        finally:
            bench_image.run(["umount", str(mnt)])
        with open(disk, "wb") as fh:
            fh.truncate(disk_mib << 20)
        bench_image.run(["sgdisk", "-o", "-n", f"1:{PART_START}:{PART_START + part_sectors - 1}", "-t", "1:0700",
                         "-c", "1:Basic data partition", str(disk)], capture_output=True)
        with open(part, "rb") as src, open(disk, "r+b") as dst:
            dst.seek(PART_START * 512)
            shutil.copyfileobj(src, dst, 16 << 20)
        part.unlink()
        target = cache / name
        for old in cache.glob(f"{name}.E[0-9][0-9]"):
            old.unlink()
        bench_image.run(["ewfacquire", "-u", "-q", "-c", "deflate:fast", "-d", "sha1", "-f", "encase6",
                         "-S", str(64 << 30), "-t", str(target), "-C", "BENCH-CASE", "-D",
                         "synthetic mixed Windows-like disk (generated data only)", "-e", "bench", "-E", "MIXED-001",
                         "-N", "SYNTHETIC DATA ONLY", "-m", "fixed", "-M", "physical", str(disk)],
                        stdout=subprocess.DEVNULL)
    live = [f for f in files if not f.get("deleted")]
    pics = [f for f in live if f["kind"] == "picture"]
    hashset = cache / f"{name}_md5.txt"
    hashset.write_text("# mixed-ntfs: md5 of 10 synthetic pictures on the disk\n"
                       + "".join(f["md5"] + "\n" for f in pics[::30][:10]))
    segments = sorted(cache.glob(f"{name}.E[0-9][0-9]"))
    return {"image": str(segments[0]), "e01": True, "files": len(live), "file_bytes": sum(f["size"] for f in live),
            "pictures": len(pics), "videos": sum(f["kind"] == "video" for f in live), "media_bytes": disk_mib << 20,
            "image_bytes": sum(p.stat().st_size for p in segments), "hashset": str(hashset),
            "build_seconds": round(time.monotonic() - started, 1),
            "note": (f"NTFS on GPT in E01 (deflate:fast, md5+sha1); {len(files)} files written, "
                     f"{len(files) - len(live)} deleted (folder {gone} among them); "
                     f"{len(pics)} pictures, 4 H.264 videos, 6 large files of 24-96 MB; docx/xlsx/zip/7z are valid "
                     "archives")}
