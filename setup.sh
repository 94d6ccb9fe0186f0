#!/usr/bin/env bash
# Set up triage on a fresh Debian machine and scan the shipped synthetic image.
#   ./setup.sh            install Debian tools (when root), create .venv, install triage, run a demo scan
#   ./setup.sh --no-scan  the same without the demo scan (used by ./test.sh)
# It also rebuilds pyewf with libdeflate and zlib (scripts/build_pyewf.py): the PyPI wheel inflates E01 chunks ~10x slower.
set -euo pipefail
cd "$(dirname "$0")"

DEBIAN_TOOLS="sleuthkit ewf-tools mtools dosfstools ntfs-3g gdisk fdisk qemu-utils e2fsprogs exfatprogs genisoimage unar cryptsetup-bin libxml2-utils"

PY=${PYTHON:-python3}

missing=""
for tool in fls icat mmls fiwalk ewfacquire ewfverify mcopy mkfs.fat mkntfs sgdisk sfdisk qemu-img mkfs.ext4 mkfs.exfat genisoimage unar cryptsetup xmllint; do
    command -v "$tool" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
# Building pyewf needs a C compiler, libc, zlib and libdeflate headers, and the Python headers.
build_pkgs=""
command -v gcc >/dev/null 2>&1 || build_pkgs="$build_pkgs gcc"
command -v make >/dev/null 2>&1 || build_pkgs="$build_pkgs make"
[ -f /usr/include/stdio.h ] || build_pkgs="$build_pkgs libc6-dev"
[ -f /usr/include/zlib.h ] || build_pkgs="$build_pkgs zlib1g-dev"
[ -f /usr/include/libdeflate.h ] || build_pkgs="$build_pkgs libdeflate-dev"
if ! "$PY" -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' 2>/dev/null; then
    build_pkgs="$build_pkgs python3-dev"
fi
if [ -n "$missing$build_pkgs" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing Debian packages (missing:$missing$build_pkgs)" >&2
        apt-get update -qq
        pkgs="$build_pkgs"
        [ -z "$missing" ] || pkgs="$DEBIAN_TOOLS $pkgs"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null
    else
        [ -z "$missing" ] || echo "setup: warning: missing tools:$missing (install: apt-get install $DEBIAN_TOOLS); oracle tests will skip" >&2
        [ -z "$build_pkgs" ] || echo "setup: warning: missing build packages:$build_pkgs (install: apt-get install$build_pkgs); pyewf cannot be built with fast inflate" >&2
    fi
fi

if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev]"

# pyewf with fast inflate: built once per libewf-python version and inflater (.venv/.pyewf-build records the
# checked install; a failed build is not retried until .venv/.pyewf-build-failed is removed).
.venv/bin/python scripts/build_pyewf.py --install || echo "setup: warning: pyewf is not built with libdeflate/zlib (see .venv/pyewf-build.log), E01 reading is slower" >&2

if [ "${1:-}" != "--no-scan" ]; then
    echo "setup: scanning the shipped synthetic image fixtures/images/laptop.E01" >&2
    .venv/bin/triage scan fixtures/images/laptop.E01 -H hashsets/demo_vics2.json -H hashsets/demo_alert.md5 -o triage-out
    echo "setup: done; open triage-out/laptop/summary.json (and report.html)" >&2
fi
