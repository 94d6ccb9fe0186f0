"""Build pyewf (libewf-python) linked against zlib, for the benchmark's ``--pyewf`` rows.

Why: the libewf-python wheel on PyPI, and its sdist as built by pip, are compiled without zlib
(``configure --disable-shared-libs`` turns zlib off), so every E01 chunk is inflated by libewf's own deflate
code. On the benchmark E01 that reads ~150 MB/s, against ~630 MB/s for the same library built with zlib's
``uncompress`` (measured by this script). This script downloads the sdist with pip, defines the HAVE_ZLIB*
macros after libewf's configure step, links ``-lz`` (Debian ``zlib1g-dev``), builds a wheel, and unpacks the
module into ``bench/cache/pyewf-zlib/`` without touching the project's venv. It then checks that the media md5
of ``bench/cache/bench.E01`` equals the stored one and prints both read speeds.

Usage: ``.venv/bin/python bench/build_pyewf_zlib.py``, then ``run_bench.py --pyewf bench/cache/pyewf-zlib``.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
TARGET = BENCH / "cache" / "pyewf-zlib"
E01 = BENCH / "cache" / "bench.E01"

PATCH_AFTER = "            self._print_configure_summary(output)\n"
PATCH = """            cfg = open("common/config.h").read()
            for macro in ("HAVE_ZLIB", "HAVE_ZLIB_H", "HAVE_ZLIB_UNCOMPRESS", "HAVE_ZLIB_ADLER32",
                          "HAVE_ZLIB_COMPRESS2", "HAVE_ZLIB_COMPRESSBOUND"):
                cfg = cfg.replace(f"/* #undef {macro} */", f"#define {macro} 1")
            open("common/config.h", "w").write(cfg)
"""
SOURCES_LINE = "                sources=project_information.sources,\n"


def build() -> Path:
    import pyewf

    version = pyewf.get_version()
    TARGET.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", str(work),
                        f"libewf-python=={version}"], check=True)
        sdist = next(work.glob("libewf*python-*.tar.gz"))
        with tarfile.open(sdist) as tar:
            tar.extractall(work, filter="data")
        src = next(p for p in work.iterdir() if p.is_dir())
        build_py = src / "_build.py"
        text = build_py.read_text()
        if PATCH_AFTER not in text or SOURCES_LINE not in text:
            raise SystemExit("libewf-python's _build.py changed: patch points not found")
        text = text.replace(PATCH_AFTER, PATCH_AFTER + PATCH, 1)
        text = text.replace(SOURCES_LINE, SOURCES_LINE + '                libraries=["z"],\n', 1)
        build_py.write_text(text)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(work / "wheel"), str(src)],
                       check=True)
        wheel = next((work / "wheel").glob("*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            for name in zf.namelist():
                if name.startswith("pyewf") and name.endswith(".so"):
                    (TARGET / name).write_bytes(zf.read(name))
    return TARGET


def check() -> None:
    code = f"""
import hashlib, time, pyewf
h = pyewf.handle(); h.open([{str(E01)!r}], "r"); size = h.get_media_size(); m = hashlib.md5(); off = 0
t = time.perf_counter()
while off < size:
    m.update(h.read_buffer_at_offset(4 << 20, off)); off += 4 << 20
dt = time.perf_counter() - t
ok = m.hexdigest() == h.get_hash_values()["MD5"]
print(pyewf.__file__, f"{{size / dt / 1e6:.0f}} MB/s incl. md5", "md5 ok" if ok else "MD5 MISMATCH")
"""
    for env in ({}, {"PYTHONPATH": str(TARGET)}):
        subprocess.run([sys.executable, "-c", code], check=True, env={**env, "PATH": "/usr/bin:/bin"})


if __name__ == "__main__":
    if not any(TARGET.glob("pyewf*.so")):
        build()
    if E01.exists():
        check()
