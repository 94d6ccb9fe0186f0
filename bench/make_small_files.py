"""Build (cached) a raw ext4 image holding N tiny files: ``bench/cache/small-<N>.raw`` (issue 13, memory).

SYNTHETIC DATA ONLY: file ``k`` holds the text ``file k`` (a few bytes), in folders of 1,000. The image is made
by ``mkfs.ext4 -d`` from a temporary folder (no mount, no root); the size leaves room for one inode per file.
The scan's peak memory should not depend on N; ``bench/scan_memory.py`` measures it.

Usage: ``.venv/bin/python bench/make_small_files.py N [N ...] [--out DIR]``
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / "cache"
PER_FOLDER = 1000


def make_image(files: int, out_dir: Path = CACHE) -> Path:
    """The image with ``files`` tiny files (built once, then reused); returns its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    image = out_dir / f"small-{files}.raw"
    if image.exists():
        return image
    with tempfile.TemporaryDirectory(prefix="small-files-", dir=out_dir) as tmp:
        tree = Path(tmp) / "tree"
        tree.mkdir()
        for k in range(files):
            folder = tree / f"d{k // PER_FOLDER:04d}"
            if k % PER_FOLDER == 0:
                folder.mkdir()
            (folder / f"f{k:07d}.txt").write_bytes(f"file {k}\n".encode())
        # One 4 KiB block and one inode per file plus the folders, and a margin for the journal and metadata.
        ext4_image(tree, image, files + files // PER_FOLDER + 64, 16 + files * 5 // 1024 + 8)
    return image


def ext4_image(tree: Path, image: Path, inodes: int, mib: int) -> None:
    """``image``: a raw ext4 of ``mib`` MiB with ``inodes`` inodes made from the folder ``tree`` (``mkfs.ext4 -d``,
    4 KiB blocks, no mount), written beside under another name and renamed when complete."""
    partial = image.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-b", "4096", "-N", str(inodes), "-d", str(tree), str(partial),
                    f"{mib}M"], check=True, stdout=subprocess.DEVNULL)
    partial.rename(image)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", type=int, nargs="+")
    parser.add_argument("--out", type=Path, default=CACHE)
    args = parser.parse_args()
    for files in args.files:
        print(make_image(files, args.out))


if __name__ == "__main__":
    shutil.which("mkfs.ext4") or SystemExit("mkfs.ext4 is needed (e2fsprogs)")
    main()
