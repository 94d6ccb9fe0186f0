"""Build pyewf (libewf-python) with fast inflate: libdeflate for reading chunks, zlib for the rest.

Why: the libewf-python wheel on PyPI, and its sdist as built by pip, are compiled without zlib
(``configure --disable-shared-libs`` turns zlib off), so every E01 chunk is inflated by libewf's own deflate
code. Measured on the benchmark E01 (1.26 GB of media, bench/RESULTS.md): libewf's own code ~150 MB/s, zlib's
``uncompress`` ~700 MB/s, libdeflate ~1,500 MB/s. Inflating is on the critical path of every E01 scan.

This script downloads the sdist of the installed libewf-python version with pip, defines the HAVE_ZLIB* macros
after libewf's configure step, links ``-lz`` and, when Debian's ``libdeflate-dev`` is installed, swaps two
calls in libewf's source for libdeflate's: ``uncompress`` (inflating a chunk) and ``adler32`` (checking an
uncompressed chunk); see DEFLATE_UNCOMPRESS. libewf still parses the EWF format and still decides what a bad
chunk is. Needs a C compiler, ``zlib1g-dev``, the Python headers and the package index (about a minute).

Modes:

``--install`` (run by ``setup.sh``): build and install the wheel into the running interpreter's environment
(``pip install --no-deps --force-reinstall``), then check it: the media md5 of ``fixtures/images/laptop.E01``
read through the new pyewf must equal the stored MD5. On success it writes ``<env>/.pyewf-build`` holding the
version and the inflater (``20260924 libdeflate``) and later calls return at once while that matches; on
failure it reinstalls the PyPI wheel and writes ``<env>/.pyewf-build-failed`` (not retried for the same
build until that file is removed). Exit status is non-zero whenever the fast build is not what is installed.

no argument (benchmark): unpack the module into ``bench/cache/pyewf-build/`` without touching the environment,
then, if ``bench/cache/bench.E01`` exists, check its media md5 and print both read speeds. Use it with
``bench/run_bench.py --pyewf bench/cache/pyewf-build``.
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
BENCH_TARGET = ROOT / "bench" / "cache" / "pyewf-build"
BENCH_E01 = ROOT / "bench" / "cache" / "bench.E01"
CHECK_E01 = ROOT / "fixtures" / "images" / "laptop.E01"
MARKER = Path(sys.prefix) / ".pyewf-build"
FAILED = Path(sys.prefix) / ".pyewf-build-failed"
OLD_MARKERS = tuple(Path(sys.prefix) / name for name in (".pyewf-zlib", ".pyewf-zlib-failed", "pyewf-zlib-build.log"))
LOG = Path(sys.prefix) / "pyewf-build.log"
LIBDEFLATE_HEADER = Path("/usr/include/libdeflate.h")
DIST = "libewf-python"

PATCH_AFTER = "            self._print_configure_summary(output)\n"
PATCH = """            cfg = open("common/config.h").read()
            for macro in ("HAVE_ZLIB", "HAVE_ZLIB_H", "HAVE_ZLIB_UNCOMPRESS", "HAVE_ZLIB_ADLER32",
                          "HAVE_ZLIB_COMPRESS2", "HAVE_ZLIB_COMPRESSBOUND"):
                cfg = cfg.replace(f"/* #undef {macro} */", f"#define {macro} 1")
            open("common/config.h", "w").write(cfg)
"""
SOURCES_LINE = "                sources=project_information.sources,\n"

# libdeflate (Debian libdeflate-dev) inflates a whole EWF chunk about twice as fast as zlib's uncompress and
# computes Adler-32 with SIMD; zlib is then used only for writing. Both shims keep zlib's return codes, which
# libewf interprets (Z_BUF_ERROR: grow the buffer and retry; Z_DATA_ERROR: the chunk is corrupted). Like
# uncompress, libdeflate_zlib_decompress checks the stream's Adler-32 and ignores bytes after its end.
ZLIB_INCLUDE = "#include <zlib.h>\n#endif\n"
DEFLATE_UNCOMPRESS = """
#include <libdeflate.h>

static int triage_libdeflate_uncompress(
     Bytef *dest, uLongf *dest_len, const Bytef *source, uLong source_len )
{
    struct libdeflate_decompressor *decompressor = libdeflate_alloc_decompressor();
    size_t actual_size = 0;
    enum libdeflate_result result;

    if( decompressor == NULL )
    {
        return( Z_MEM_ERROR );
    }
    result = libdeflate_zlib_decompress(
              decompressor, source, (size_t) source_len, dest, (size_t) *dest_len, &actual_size );
    libdeflate_free_decompressor( decompressor );

    if( result == LIBDEFLATE_SUCCESS )
    {
        *dest_len = (uLongf) actual_size;
        return( Z_OK );
    }
    if( result == LIBDEFLATE_INSUFFICIENT_SPACE )
    {
        return( Z_BUF_ERROR );
    }
    return( Z_DATA_ERROR );
}

#define uncompress triage_libdeflate_uncompress
"""
DEFLATE_ADLER32 = """
#include <libdeflate.h>

#define adler32( value, buffer, size ) libdeflate_adler32( (uint32_t) ( value ), ( buffer ), (size_t) ( size ) )
"""

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


def build_wheel(version: str, out: Path, log, deflate: bool) -> Path:
    """Build a wheel of ``libewf-python==version`` with zlib (and libdeflate) into ``out``; return its path."""
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
        libraries = ["deflate", "z"] if deflate else ["z"]
        text = text.replace(SOURCES_LINE, SOURCES_LINE + f"                libraries={libraries!r},\n", 1)
        build_py.write_text(text)
        if deflate:
            for name, shim in (("libewf_compression.c", DEFLATE_UNCOMPRESS), ("libewf_checksum.c", DEFLATE_ADLER32)):
                source = src / "libewf" / name
                code = source.read_text()
                if code.count(ZLIB_INCLUDE) != 1:
                    raise BuildError(f"libewf's {name} changed: zlib include not found once")
                source.write_text(code.replace(ZLIB_INCLUDE, ZLIB_INCLUDE + shim, 1))
        run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(work / "wheel"), str(src)], log)
        wheel = next((work / "wheel").glob("*.whl"), None)
        if wheel is None:
            raise BuildError("pip wheel produced no wheel")
        out.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy2(wheel, out / wheel.name))


def links(so: Path, library: str) -> bool:
    return library.encode() in so.read_bytes()


def read_check(e01: Path, env: dict[str, str] | None = None) -> tuple[Path, bool, int]:
    out = subprocess.run([sys.executable, "-c", READ_CHECK, str(e01)], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise BuildError(f"reading {e01.name} with the new pyewf failed: {last}")
    module, ok, speed = out.stdout.rsplit(maxsplit=2)
    return Path(module), ok == "1", int(speed)


def inflater() -> str:
    """The inflater this machine can build with: libdeflate when its header is installed, else zlib."""
    return "libdeflate" if LIBDEFLATE_HEADER.exists() else "zlib"


def install() -> int:
    try:
        version = installed_version()
    except BuildError as exc:
        print(f"build_pyewf: {exc}", file=sys.stderr)
        return 1
    flavour = inflater()
    wanted = f"{version} {flavour}"
    if MARKER.exists() and MARKER.read_text().strip() == wanted:
        return 0
    if FAILED.exists() and FAILED.read_text().strip() == wanted:
        print(f"build_pyewf: the build of pyewf {wanted} failed before (log: {LOG}; retry: rm {FAILED})",
              file=sys.stderr)
        return 1
    print(f"build_pyewf: building pyewf {version} with {flavour} (about a minute)", file=sys.stderr)
    MARKER.unlink(missing_ok=True)
    t0 = time.monotonic()
    installed = False
    try:
        with LOG.open("w") as log, tempfile.TemporaryDirectory() as tmp:
            wheel = build_wheel(version, Path(tmp), log, deflate=flavour == "libdeflate")
            installed = True
            run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(wheel)], log)
        module, ok, _ = read_check(CHECK_E01)
        for library in ("libz.so", "libdeflate.so") if flavour == "libdeflate" else ("libz.so",):
            if not links(module, library):
                raise BuildError(f"{module} is not linked to {library}")
        if not ok:
            raise BuildError(f"media md5 of {CHECK_E01.name} read with the new pyewf != stored MD5")
    except BuildError as exc:
        print(f"build_pyewf: {exc}; log: {LOG}", file=sys.stderr)
        if installed:
            restore(version)
        FAILED.write_text(wanted + "\n")
        return 1
    MARKER.write_text(wanted + "\n")
    for old in (FAILED, *OLD_MARKERS):
        old.unlink(missing_ok=True)
    print(f"build_pyewf: installed pyewf {version} with {flavour} in {time.monotonic() - t0:.0f} s; "
          f"{CHECK_E01.name} media md5 ok", file=sys.stderr)
    return 0


def restore(version: str) -> None:
    """Put the PyPI wheel back after a failed install or check."""
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", "--only-binary", ":all:",
           f"{DIST}=={version}"]
    with LOG.open("a") as log:
        returncode = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode
    if returncode == 0:
        print(f"build_pyewf: reinstalled the PyPI wheel of {DIST} {version}", file=sys.stderr)
    else:
        print(f"build_pyewf: could not reinstall the PyPI wheel; run: {' '.join(cmd)}", file=sys.stderr)


def bench() -> int:
    if not any(BENCH_TARGET.glob("pyewf*.so")):
        with tempfile.TemporaryDirectory() as tmp:
            wheel = build_wheel(installed_version(), Path(tmp), sys.stderr, deflate=inflater() == "libdeflate")
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
