"""Shared test helpers: where the fixtures and the team's real test images are."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "images"
REALDATA = ROOT.parent / "shared" / "realdata"


def realdata(name: str) -> Path:
    """A real public test image from ../shared/realdata, or skip the test when it is absent."""
    path = REALDATA / name
    if not path.exists():
        pytest.skip(f"real test image {name} not present (../shared/realdata)")
    return path


def fixture_image(name: str) -> Path:
    """A committed synthetic fixture image."""
    path = FIXTURES / name
    if not path.exists():
        pytest.fail(f"fixture image {name} missing: rebuild with fixtures/make_images.py")
    return path


def need_tool(name: str) -> str:
    """Path of a Debian tool the oracle tests run; ./setup.sh installs them."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if not found:
        pytest.skip(f"{name} not installed (./setup.sh installs it)")
    return found


_MEASURE = (
    "import json, resource, subprocess, sys\n"
    "limits = json.loads(sys.argv[1])\n"
    "for name, value in limits.items():\n"
    "    resource.setrlimit(getattr(resource, name), (value, value))\n"
    "p = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "print(json.dumps([p.returncode, p.stderr.decode('utf-8', 'replace'), peak]))\n"
)


def run_measured(command: list[str], *, cwd: Path, env: dict[str, str] | None = None,
                 limits: dict[str, int] | None = None, timeout: float = 900) -> tuple[int, str, int]:
    """Run ``command`` from a small wrapper process: (exit code, stderr, peak RSS in KiB of it or its children).

    Why a wrapper: a child forked straight from pytest counts pytest's own RSS at the fork in its ``ru_maxrss``
    (Linux keeps the pre-exec high-water mark; ``preexec_fn`` forces a real fork), so the figure grew with the
    test session, not with the command (seen in CI: 328 MiB for a 65 MiB scan).
    """
    import json
    import subprocess
    import sys

    wrapper = [sys.executable, "-c", _MEASURE, json.dumps(limits or {}), *command]
    out = subprocess.run(wrapper, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env, check=True)
    code, stderr, peak = json.loads(out.stdout)
    return code, stderr, peak


@pytest.fixture(scope="session")
def carving_fixtures(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """fixtures/make_carving.py's images (pictures left only in unallocated space), built once per session (~4 s)."""
    import importlib.util

    for tool in ("mkfs.fat", "mcopy", "mkntfs", "ntfscp", "sfdisk"):
        need_tool(tool)
    spec = importlib.util.spec_from_file_location("make_carving", ROOT / "fixtures" / "make_carving.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path_factory.mktemp("carving")
    return out, module.build_carving(out)


def ext4_from_tree(src: Path, image: Path, size: str, block: int = 1024) -> Path:
    """``image``: an ext4 file system made from the folder ``src`` (``mkfs.ext4 -d``, no mount), or skip the test
    where mkfs.ext4 cannot do it."""
    import subprocess

    try:
        subprocess.run(["mkfs.ext4", "-q", "-F", "-b", str(block), "-d", str(src), str(image), size], check=True,
                       capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"mkfs.ext4 -d not usable: {exc}")
    return image
