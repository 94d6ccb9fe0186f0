"""Reading a stream's content through The Sleuth Kit, and telling TSK's errors apart from damage to record.

Why apart from the walk (``tsk.py``): the walk only lists; reading runs in whichever process hashes the stream,
and must refuse to yield a short read as if it were the whole stream.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from triage.errors import ReadError, one_line
from triage.model.record import Locator
from triage.sources.filesystems.tsk_runs import HOLE, NONRES, read_pieces, sparse_layout

if TYPE_CHECKING:
    from triage.sources.filesystems.tsk import TskFileSystem

CHUNK = 1 << 20
_EXT = ("ext2", "ext3", "ext4")
# pytsk3 raises IOError for TSK's own errors and RuntimeError when the image read callback raised (a damaged
# EWF chunk, an I/O error of the evidence file): both are damage to record, never a crash.
TSK_ERRORS = (OSError, RuntimeError)


def read_stream(fs: TskFileSystem, locator: Locator, size: int) -> Iterator[bytes]:
    """Yield the stream's content in chunks; raises ReadError when fewer bytes come than recorded.

    Why check: TSK returns short or empty reads for damaged runs and for sparse system streams
    ($BadClus:$Bad); a digest of a short read must never pass as the file's digest.
    """
    try:
        handle = fs.fs.open_meta(inode=locator.inode)
    except TSK_ERRORS as exc:
        raise ReadError(f"cannot open inode {locator.inode}: {last_line(exc)}") from None
    pieces = sparse_layout(fs, locator, size) if fs.name in _EXT else None
    if pieces is not None:
        try:
            yield from read_pieces(fs.image, pieces, CHUNK)
        except TSK_ERRORS as exc:
            raise ReadError(f"read failed: {last_line(exc)}") from None
        found = damage(fs, handle, locator)
        if found:
            raise ReadError(f"content lies in damaged evidence: {'; '.join(found)}")
        return
    offset = 0
    while offset < size:
        want = min(CHUNK, size - offset)
        try:
            if locator.attr_type is None:
                data = handle.read_random(offset, want)
            else:
                data = handle.read_random(offset, want, locator.attr_type, locator.attr_id)
        except TSK_ERRORS as exc:
            raise ReadError(f"read failed at offset {offset} of {size}: {last_line(exc)}") from None
        if not data:
            raise ReadError(f"short read: {offset} of {size} bytes")
        offset += len(data)
        if offset >= size:
            found = damage(fs, handle, locator)
            if found:
                raise ReadError(f"content lies in damaged evidence: {'; '.join(found)}")
        yield data


def damage(fs: TskFileSystem, handle: Any, locator: Locator) -> list[str]:
    """Damaged EWF chunks under this stream's blocks (looked up only once the image has met damage).

    Why after reading: libewf gives zeros for a damaged chunk and the check happens as chunks are read, so
    once the stream has been read every chunk under it has been seen.
    """
    damage_in = getattr(fs.image, "damage_in", None)
    if damage_in is None or not damage_in(0, 1 << 62):
        return []
    block = fs.block_size
    found: list[str] = []
    try:
        for attr in handle:
            info = attr.info
            if locator.attr_type is not None and (int(info.type), int(info.id)) != (locator.attr_type,
                                                                                    locator.attr_id):
                continue
            if not int(info.flags) & NONRES:
                continue
            for run in attr:
                if int(run.flags) & HOLE or not int(run.len):
                    continue
                start = fs.offset + int(run.addr) * block
                found.extend(m for m in damage_in(start, start + int(run.len) * block) if m not in found)
    except TSK_ERRORS:
        return found
    return found


def last_line(exc: BaseException) -> str:
    """TSK's message without its C++ source location, on one line (its last line names what failed)."""
    text = one_line(exc, last=True)
    if re.fullmatch(r"\w+\(.*\)", text):  # RuntimeError("ValueError('...')"): a read callback raised
        quoted = re.findall(r"'([^']*)'|\"([^\"]*)\"", text)
        text = next((a or b for a, b in reversed(quoted) if a or b), text)
    text = re.sub(r"^\w+: \([\w.]+:\d+\) ", "", text)
    return re.sub(r"^Unable to open the image as a filesystem at offset: 0x[0-9a-f]+ with error: ", "", text)
