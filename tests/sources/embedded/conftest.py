"""The thumbnail caches of ``fixtures/make_thumbcaches.py``, built once per session into a temporary folder."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def fx() -> ModuleType:
    """The fixture script itself: its picture bytes and entry tables are what the tests expect back."""
    spec = importlib.util.spec_from_file_location("make_thumbcaches", ROOT / "fixtures" / "make_thumbcaches.py")
    module = sys.modules.setdefault("make_thumbcaches", importlib.util.module_from_spec(spec))  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.fixture(scope="session")
def caches(fx: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return fx.build(tmp_path_factory.mktemp("thumbcaches"))
