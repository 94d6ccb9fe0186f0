"""Ctrl-C that C code cannot swallow.

Why: TSK, libewf and libfsapfs call back into our Python readers. When Ctrl-C lands inside such a callback, the
KeyboardInterrupt is raised there, the C library turns it into an ordinary read error, and the scan would record
one damaged file and carry on to exit 0. While a scan runs, SIGINT also sets a flag here; the reading and
listing loops call ``check`` after every stream, so the interrupt always reaches the scan as a KeyboardInterrupt.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_PRESSED = threading.Event()


def _handler(signum: int, frame: FrameType | None) -> None:
    _PRESSED.set()
    raise KeyboardInterrupt


@contextmanager
def catching_ctrl_c() -> Iterator[None]:
    """Remember a Ctrl-C for the duration of a scan (main thread only; elsewhere signals cannot be handled)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN or previous is None:
        yield
        return
    _PRESSED.clear()
    signal.signal(signal.SIGINT, _handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _PRESSED.clear()


def pressed() -> bool:
    """Whether Ctrl-C was pressed during this scan."""
    return _PRESSED.is_set()


def check() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed, even when a C library swallowed the original one."""
    if _PRESSED.is_set():
        raise KeyboardInterrupt
