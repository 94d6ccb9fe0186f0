"""Locators: how to get a node's bytes again, in any process — ``(kind, args, parent)``, frozen and picklable.

A locator names one step of a chain: ``evidence(paths, format)`` → ``tsk-fs(offset, size, volume)`` →
``tsk(inode, attribute)`` → an archive member. ``triage.sources.registry`` turns the upper steps back into open
handles (cached per process), so a worker process needs nothing but the locator to read a stream. Parents are
shared objects, so a million stream locators under one file system cost one copy of its chain.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

# The stream locators of file systems and extractions keep these named arguments, in this order.
STREAM_ARGS = ("fs_offset", "inode", "attr_type", "attr_id", "volume_index", "stream")


@dataclass(frozen=True)
class Locator:
    """One node: ``kind`` picks the registered opener, ``args`` are its own (hashable), ``parent`` the node above."""

    kind: str
    args: tuple[Hashable, ...] = ()
    parent: Locator | None = None

    def _arg(self, index: int) -> Any:
        return self.args[index] if index < len(self.args) else None

    # Named views of a stream locator's args (see ``stream_locator``).
    @property
    def fs_offset(self) -> int:
        return int(self._arg(0) or 0)

    @property
    def inode(self) -> int:
        return int(self._arg(1) or 0)

    @property
    def attr_type(self) -> int | None:
        return self._arg(2)

    @property
    def attr_id(self) -> int | None:
        return self._arg(3)

    @property
    def volume_index(self) -> int | None:
        return self._arg(4)

    @property
    def stream(self) -> str | None:
        return self._arg(5)

    def chain(self) -> list[Locator]:
        """This locator and its ancestors, outermost first."""
        out: list[Locator] = []
        node: Locator | None = self
        while node is not None:
            out.append(node)
            node = node.parent
        return out[::-1]


def stream_locator(kind: str, fs_offset: int, inode: int, attr_type: int | None = None, attr_id: int | None = None,
                   volume_index: int | None = None, stream: str | None = None,
                   parent: Locator | None = None) -> Locator:
    """A data stream of a file system or extraction: its arguments in ``STREAM_ARGS`` order, under ``parent``."""
    return Locator(kind, (fs_offset, inode, attr_type, attr_id, volume_index, stream), parent)
