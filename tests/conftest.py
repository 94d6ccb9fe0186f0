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
