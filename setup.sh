#!/usr/bin/env bash
# Set up triage on a fresh Debian machine and scan the shipped synthetic image.
#   ./setup.sh            install Debian tools (when root), create .venv, install triage, run a demo scan
#   ./setup.sh --no-scan  the same without the demo scan (used by ./test.sh)
set -euo pipefail
cd "$(dirname "$0")"

DEBIAN_TOOLS="sleuthkit ewf-tools mtools dosfstools ntfs-3g gdisk fdisk qemu-utils e2fsprogs exfatprogs genisoimage"

missing=""
for tool in fls icat mmls fiwalk ewfacquire ewfverify mcopy mkfs.fat mkntfs sgdisk sfdisk qemu-img mkfs.ext4 mkfs.exfat genisoimage; do
    command -v "$tool" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing Debian tools (missing:$missing)" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $DEBIAN_TOOLS >/dev/null
    else
        echo "setup: warning: missing tools:$missing (install: apt-get install $DEBIAN_TOOLS); oracle tests will skip" >&2
    fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev]"

if [ "${1:-}" != "--no-scan" ]; then
    echo "setup: scanning the shipped synthetic image fixtures/images/laptop.E01" >&2
    .venv/bin/triage scan fixtures/images/laptop.E01 -H hashsets/demo_vics2.json -H hashsets/demo_known.md5 -o triage-out
    echo "setup: done; open triage-out/laptop/summary.json (and report.html)" >&2
fi
