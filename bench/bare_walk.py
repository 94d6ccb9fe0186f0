"""The per-file floor of Python + pytsk3: a bare loop that walks an ext4 raw image, reads every file, hashes it
(md5 + sha1 + sha256) and writes a JSON line — alternated with fiwalk on the same image (issue 17, item 1).

Not used by triage: a measurement for the decision RESULTS.md ("Session 10: what item 1 would take") asks the
team to take. It has none of triage's layers (records, listing, pending table, intake, pipeline, store, tally,
finders), no type sniffing, no media hash and no reports: what is left when all of that is taken away.

    .venv/bin/python bench/bare_walk.py bench/cache/reports-200000.raw --rounds 3
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import pytsk3

_DIR = int(pytsk3.TSK_FS_META_TYPE_DIR)
_REG = int(pytsk3.TSK_FS_META_TYPE_REG)
_DEFAULT = int(pytsk3.TSK_FS_ATTR_TYPE_DEFAULT)


def bare_walk(image: str, out: Path) -> tuple[int, int]:
    """Walk, read, hash and write a line per regular file; returns (files, bytes read)."""
    fs = pytsk3.FS_Info(pytsk3.Img_Info(image))
    block = int(fs.info.block_size)
    fd = os.open(image, os.O_RDONLY)
    files = read = 0
    stack = [int(fs.info.root_inum)]
    with open(out, "w", encoding="utf-8") as lines:
        while stack:
            for entry in fs.open_dir(inode=stack.pop()):
                name = entry.info.name.name
                meta = entry.info.meta
                if name in (b".", b"..") or meta is None:
                    continue
                kind = int(meta.type)
                if kind == _DIR:
                    stack.append(int(meta.addr))
                    continue
                if kind != _REG:
                    continue
                size = int(meta.size)
                runs = [(int(run.offset) * block, int(run.addr) * block, int(run.len) * block)
                        for attr in entry if int(attr.info.type) == _DEFAULT for run in attr]
                data = b"".join(os.pread(fd, min(length, size - offset), where)
                                for offset, where, length in runs if offset < size)
                lines.write(json.dumps({
                    "id": str(files), "path": name.decode("utf-8", "surrogateescape"), "inode": int(meta.addr),
                    "size": size, "md5": hashlib.md5(data).hexdigest(), "sha1": hashlib.sha1(data).hexdigest(),
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "times": [int(meta.mtime), int(meta.atime), int(meta.ctime), int(meta.crtime)],
                    "byte_runs": runs}, ensure_ascii=False) + "\n")
                files += 1
                read += len(data)
    os.close(fd)
    return files, read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    bare: list[float] = []
    fiwalk: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        for number in range(args.rounds):
            for row in (("bare", "fiwalk") if number % 2 == 0 else ("fiwalk", "bare")):
                start = time.perf_counter()
                if row == "bare":
                    files, read = bare_walk(args.image, Path(folder) / "bare.jsonl")
                    bare.append(time.perf_counter() - start)
                    print(f"  [{number + 1}] bare loop {bare[-1]:6.2f} s  ({files:,} files, {read:,} bytes)")
                else:
                    xml = Path(folder) / "fiwalk.xml"
                    xml.unlink(missing_ok=True)  # fiwalk will not overwrite its output
                    subprocess.run(["fiwalk", "-X", str(xml), args.image], check=True, capture_output=True)
                    fiwalk.append(time.perf_counter() - start)
                    print(f"  [{number + 1}] fiwalk    {fiwalk[-1]:6.2f} s")
    ratios = [b / f for b, f in zip(bare, fiwalk, strict=True)]
    print(f"bare loop {statistics.median(bare):.2f} s, fiwalk {statistics.median(fiwalk):.2f} s: "
          f"{statistics.median(ratios):.2f}× [{min(ratios):.2f}–{max(ratios):.2f}] (paired by round)")


if __name__ == "__main__":
    main()
