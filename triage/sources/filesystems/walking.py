"""What every file-system walker shares: the bounds it records and compact paths for deep trees."""

from __future__ import annotations

from typing import Any

# A path node is (parent node, name), the root None: directories waiting to be walked share their ancestors'
# nodes instead of each holding its full path string, so a tree 20,000 levels deep costs memory in its number
# of directories, not in depth squared.
PathNode = tuple[Any, str] | None


def path_of(node: PathNode, last: tuple[PathNode, str]) -> str:
    """The "/"-rooted path of a path node; ``last`` (a node and its path) spares walking up to the root."""
    names: list[str] = []
    last_node, last_path = last
    while node is not None:
        if node is last_node:
            return last_path + "".join(f"/{name}" for name in reversed(names))
        names.append(node[1])
        node = node[0]
    return "".join(f"/{name}" for name in reversed(names))


def record_limit(limits: list[dict[str, Any]], volume: int | None, fs: str, limit: str, value: int | float,
                 effect: str) -> None:
    """Add to a file system's ``limits`` (summary.json) that a bound stopped something.

    Repeats of the same bound are counted on one entry, so a damaged volume with thousands of refused streams
    gives one line, the details being on the records and in the notes.
    """
    for entry in limits:
        if entry["limit"] == limit:
            entry["count"] += 1
            return
    limits.append({"volume": volume, "fs": fs, "limit": limit, "value": value, "count": 1, "effect": effect})
