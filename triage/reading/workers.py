"""Where worker processes come from: a forkserver that has imported the reading code once.

Kept apart from ``pipeline.py``, which imports numpy, Pillow, pytsk3 and pyewf, so that the command line can
start the server before it imports any of that itself: the server's imports then run on another core while
the command line's own imports, the hash sets and the walk go on.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from multiprocessing import forkserver, get_all_start_methods, get_context
from multiprocessing.context import BaseContext
from typing import Any, TypeVar

from triage.defaults import GC_THRESHOLDS

F = TypeVar("F", bound=Callable[..., Any])

# What every worker needs, imported once in the server: the reading code (with the picture hashing) and the
# report writers (the slow reports are rendered on the workers at the end of a scan).
PRELOAD = ["triage.reading.pipeline", "triage.report"]


def context() -> BaseContext:
    """The start method for worker processes: forked from the server where there is one, else spawned.

    Why not fork the scan itself: it has threads (the progress display, the media pass) and open evidence
    handles. Why not spawn: every worker would import numpy, Pillow, pytsk3 and pyewf again (~0.5 s of CPU each).
    """
    if "forkserver" not in get_all_start_methods():
        return get_context("spawn")
    server = get_context("forkserver")
    server.set_forkserver_preload(PRELOAD)
    return server


def start_early() -> None:
    """Start the server now rather than when the first worker is needed (~0.25 s of imports, off this core)."""
    if context().get_start_method() == "forkserver":
        forkserver.ensure_running()


def fewer_collections(func: F) -> F:
    """Run ``func`` with the garbage collector's ``GC_THRESHOLDS`` (restored after): a scan's process."""

    @functools.wraps(func)
    def tuned(*args: Any, **kwargs: Any) -> Any:
        old = gc.get_threshold()
        gc.set_threshold(*GC_THRESHOLDS)
        try:
            return func(*args, **kwargs)
        finally:
            gc.set_threshold(*old)

    return tuned  # type: ignore[return-value]
