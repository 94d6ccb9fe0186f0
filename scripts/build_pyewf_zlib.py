"""Build pyewf (libewf-python) linked against zlib.

Why: the libewf-python wheel on PyPI, and its sdist as built by pip, are compiled without zlib
(``configure --disable-shared-libs`` turns zlib off), so every E01 chunk is inflated by libewf's own deflate
code: ~150 MB/s on the benchmark E01, against ~630 MB/s for the same library built with zlib's ``uncompress``.
This script downloads the sdist of the installed libewf-python version with pip, defines the HAVE_ZLIB* macros
after libewf's configure step, links ``-lz`` and builds a wheel. Needs a C compiler, Debian ``zlib1g-dev``,
the Python headers and network access to the package index (about a minute on 2 cores).

Modes:

``--install`` (run by ``setup.sh``): install the wheel into the running interpreter's environment
(``pip install --no-deps --force-reinstall``), then check it: the media md5 of ``fixtures/images/laptop.E01``
read through the new pyewf must equal the stored MD5. On success it writes ``<env>/.pyewf-zlib`` holding the
version (``setup.sh`` skips the build while it matches); on failure after installing it reinstalls the PyPI
wheel. Exit status is non-zero whenever the zlib build is not what is installed at the end.

no argument (benchmark): unpack the module into ``bench/cache/pyewf-zlib/`` without touching the environment,
then, if ``bench/cache/bench.E01`` exists, check its media md5 and print both read speeds. Use it with
``bench/run_bench.py --pyewf bench/cache/pyewf-zlib``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_TARGET = ROOT / "bench" / "cache" / "pyewf-zlib"
BENCH_E01 = ROOT / "bench" / "cache" / "bench.E01"
CHECK_E01 = ROOT / "fixtures" / "images" / "laptop.E01"
MARKER = Path(sys.prefix) / ".pyewf-zlib"
LOG = Path(sys.prefix) / "pyewf-zlib-build.log"
DIST = "libewf-python"

PATCH_AFTER = "            self._print_configure_summary(output)\n"
PATCH = """            cfg = open("common/config.h").read()
            for macro in ("HAVE_ZLIB", "HAVE_ZLIB_H", "HAVE_ZLIB_UNCOMPRESS", "HAVE_ZLIB_ADLER32",
                          "HAVE_ZLIB_COMPRESS2", "HAVE_ZLIB_COMPRESSBOUND"):
                cfg = cfg.replace(f"/* #undef {macro} */", f"#define {macro} 1")
            open("common/config.h", "w").write(cfg)
"""
SOURCES_LINE = "                sources=project_information.sources,\n"

# Reads the whole media through pyewf in a fresh interpreter; prints "<module file> <md5 ok> <MB/s>".
READ_CHECK = """
import hashlib, sys, time, pyewf
h = pyewf.handle(); h.open([sys.argv[1]], "r"); size = h.get_media_size(); m = hashlib.md5(); off = 0
t = time.perf_counter()
while off < size:
    m.update(h.read_buffer_at_offset(4 << 20, off)); off += 4 << 20
dt = time.perf_counter() - t
stored = (h.get_hash_values() or {}).get("MD5")
print(pyewf.__file__, int(bool(stored) and m.hexdigest() == stored), f"{size / dt / 1e6:.0f}")
"""


class BuildError(Exception):
    pass


def run(cmd: list[str], log) -> None:
    log.write(f"$ {' '.join(cmd)}\n")
    log.flush()
    result = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise BuildError(f"{' '.join(cmd[2:5])} ... failed (exit {result.returncode})")


def installed_version() -> str:
    try:
        return importlib.metadata.version(DIST)
    except importlib.metadata.PackageNotFoundError as exc:
        raise BuildError(f"{DIST} is not installed in {sys.prefix}") from exc


def build_wheel(version: str, out: Path, log) -> Path:
    """Build a zlib-linked wheel of ``libewf-python==version`` into ``out``; return its path."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", str(work),
             f"{DIST}=={version}"], log)
        sdist = next(work.glob("libewf*python-*.tar.gz"), None)
        if sdist is None:
            raise BuildError(f"pip download found no sdist of {DIST}=={version}")
        with tarfile.open(sdist) as tar:
            # The filter argument exists from Python 3.11.4 (Debian bookworm ships 3.11.2).
            tar.extractall(work, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
        src = next(p for p in work.iterdir() if p.is_dir())
        build_py = src / "_build.py"
        text = build_py.read_text()
        if PATCH_AFTER not in text or SOURCES_LINE not in text:
            raise BuildError("libewf-python's _build.py changed: patch points not found")
        text = text.replace(PATCH_AFTER, PATCH_AFTER + PATCH, 1)
        text = text.replace(SOURCES_LINE, SOURCES_LINE + '                libraries=["z"],\n', 1)
        build_py.write_text(text)
        run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(work / "wheel"), str(src)], log)
        wheel = next((work / "wheel").glob("*.whl"), None)
        if wheel is None:
            raise BuildError("pip wheel produced no wheel")
        out.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy2(wheel, out / wheel.name))


def links_zlib(so: Path) -> bool:
    return b"libz.so" in so.read_bytes()


def read_check(e01: Path, env: dict[str, str] | None = None) -> tuple[Path, bool, int]:
    out = subprocess.run([sys.executable, "-c", READ_CHECK, str(e01)], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise BuildError(f"reading {e01.name} with the new pyewf failed: {last}")
    module, ok, speed = out.stdout.rsplit(maxsplit=2)
    return Path(module), ok == "1", int(speed)


def install() -> int:
    try:
        version = installed_version()
    except BuildError as exc:
        print(f"build_pyewf_zlib: {exc}", file=sys.stderr)
        return 1
    MARKER.unlink(missing_ok=True)
    t0 = time.monotonic()
    installed = False
    try:
        with LOG.open("w") as log, tempfile.TemporaryDirectory() as tmp:
            wheel = build_wheel(version, Path(tmp), log)
            installed = True
            run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(wheel)], log)
        module, ok, _ = read_check(CHECK_E01)
        if not links_zlib(module):
            raise BuildError(f"{module} is not linked to libz")
        if not ok:
            raise BuildError(f"media md5 of {CHECK_E01.name} read with the zlib pyewf != stored MD5")
    except BuildError as exc:
        print(f"build_pyewf_zlib: {exc}; log: {LOG}", file=sys.stderr)
        if installed:
            restore(version)
        return 1
    MARKER.write_text(version + "\n")
    print(f"build_pyewf_zlib: installed pyewf {version} with zlib in {time.monotonic() - t0:.0f} s; "
          f"{CHECK_E01.name} media md5 ok", file=sys.stderr)
    return 0


def restore(version: str) -> None:
    """Put the PyPI wheel back after a failed install or check."""
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", "--only-binary", ":all:",
           f"{DIST}=={version}"]
    with LOG.open("a") as log:
        returncode = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode
    if returncode == 0:
        print(f"build_pyewf_zlib: reinstalled the PyPI wheel of {DIST} {version}", file=sys.stderr)
    else:
        print(f"build_pyewf_zlib: could not reinstall the PyPI wheel; run: {' '.join(cmd)}", file=sys.stderr)


def bench() -> int:
    if not any(BENCH_TARGET.glob("pyewf*.so")):
        with tempfile.TemporaryDirectory() as tmp:
            wheel = build_wheel(installed_version(), Path(tmp), sys.stderr)
            with zipfile.ZipFile(wheel) as zf:
                for name in zf.namelist():
                    if name.startswith("pyewf") and name.endswith(".so"):
                        BENCH_TARGET.mkdir(parents=True, exist_ok=True)
                        (BENCH_TARGET / name).write_bytes(zf.read(name))
    if BENCH_E01.exists():
        for env in ({}, {"PYTHONPATH": str(BENCH_TARGET)}):
            module, ok, speed = read_check(BENCH_E01, {**env, "PATH": "/usr/bin:/bin"})
            print(module, f"{speed} MB/s incl. md5", "md5 ok" if ok else "MD5 MISMATCH")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--install", action="store_true",
                        help="install into this interpreter's environment and check it (else: bench/cache)")
    args = parser.parse_args()
    return install() if args.install else bench()


if __name__ == "__main__":
    sys.exit(main())
