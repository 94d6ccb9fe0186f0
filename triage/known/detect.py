"""Tell a hash set's format from its content and hand it to the right parser.

Why content, not the file name: sets arrive renamed by mail gateways, USB sticks and colleagues
(``hashes.txt`` that is really VICS JSON, ``nsrl.db`` that is an RDS v3 database). The order of checks goes
from the most distinctive signature to the least: SQLite magic, JSON, the hashdeep banner, a CSV header naming
hash columns (a vPDQ CSV naming video, pdq, quality and timestamp first), lines that start with a hex hash, and
finally vPDQ frame lines (``frame,quality,pdq,timestamp``). Only the first 64 KiB are read to decide; JSON is
then streamed (``parse_vics``), never loaded whole. A directory is a set of vPDQ files (``parse_vpdq``).
"""

from __future__ import annotations

import contextlib
import mmap
import re
from pathlib import Path

from triage.errors import HashSetError
from triage.known.model import HEX_LEN_TO_EXACT, ParsedSet
from triage.known.parse_lines import parse_lines
from triage.known.parse_nsrl import SQLITE_MAGIC, parse_nsrl
from triage.known.parse_tabular import csv_columns, parse_csv, parse_hashdeep
from triage.known.parse_vics import parse_vics
from triage.known.parse_vpdq import is_vpdq_line, parse_vpdq, parse_vpdq_csv, parse_vpdq_dir, vpdq_csv_columns

UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
HEAD_BYTES = 1 << 16
SNIFF_LINES = 50
_HASH_LINE_RE = re.compile(r"^\\?([0-9A-Fa-f]{32}|[0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})(\s.*)?$")
_BSD_LINE_RE = re.compile(
    r"^(MD5|SHA1|SHA-1|SHA256|SHA-256|SHA2-256)\s*\(.*\)\s*=\s*([0-9A-Fa-f]+)$", re.IGNORECASE
)


def _meaningful_lines(head: str) -> list[str]:
    lines = []
    for line in head.splitlines()[:-1] or head.splitlines():  # the last line of the head may be cut
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", ";", "//")):
            lines.append(stripped)
        if len(lines) >= SNIFF_LINES:
            break
    return lines


def line_format(lines: list[str]) -> str | None:
    """Name of the line-list format ("hash-list", "md5sum", ...) if these lines look like one, else None."""
    for line in lines:
        bsd = _BSD_LINE_RE.match(line)
        if bsd:
            alg = HEX_LEN_TO_EXACT.get(len(bsd.group(2)))
            return f"{alg}sum" if alg else "hash-list"
        found = _HASH_LINE_RE.match(line)
        if found:
            if found.group(2) and found.group(2).strip():
                return f"{HEX_LEN_TO_EXACT[len(found.group(1))]}sum"
            return "hash-list"
    return None


def _text(data: bytes | memoryview | mmap.mmap) -> str:
    return bytes(data).decode("utf-8", errors="replace")


def _json_head(head: bytes) -> bool:
    """True when a UTF-8 file's first non-blank character opens a JSON object or array (VICS)."""
    if head.startswith(UTF8_BOM):
        head = head[len(UTF8_BOM) :]
    return head.decode("utf-8", errors="replace").lstrip()[:1] in ("{", "[")


def parse_file(path: Path) -> ParsedSet:
    """Detect the format of a hash-set file and parse it.

    Raises:
        HashSetError: missing/unreadable file, or a content no parser recognises (one-line message).
    """
    try:
        if path.is_dir():
            return parse_vpdq_dir(path)
        with path.open("rb") as handle:
            head = handle.read(HEAD_BYTES)
            if head.startswith(SQLITE_MAGIC):
                return parse_nsrl(path)
            if not head:
                raise HashSetError(f"hash set is empty: {path}")
            if _json_head(head):
                handle.seek(0)
                return parse_vics(handle)  # streamed from the file: bounded memory whatever its size
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            try:
                return _parse_text(mapped, head, path.name.rsplit(".", 1)[0] or path.name)
            finally:
                _close_quietly(mapped)
    except HashSetError:
        raise
    except (OSError, ValueError) as exc:
        raise HashSetError(f"hash set cannot be read: {path}: {getattr(exc, 'strerror', None) or exc}") from None


def _parse_text(mapped: mmap.mmap, head: bytes, stem: str) -> ParsedSet:
    data: memoryview | bytes = memoryview(mapped)
    try:
        if head.startswith(UTF8_BOM):
            data, head = data[len(UTF8_BOM) :], head[len(UTF8_BOM) :]
        elif head.startswith(_UTF16_BOMS):
            data = bytes(data).decode("utf-16").encode("utf-8")
            head = data[:HEAD_BYTES]
        head_text = head.decode("utf-8", errors="replace")
        first = head_text.lstrip()[:1]
        if first in ("{", "["):  # UTF-16 JSON (UTF-8 JSON is streamed from the file by parse_file)
            return parse_vics(data)
        if head_text.lstrip().upper().startswith("%%%% HASHDEEP"):
            return parse_hashdeep(_text(data))
        lines = _meaningful_lines(head_text)
        if lines and vpdq_csv_columns(lines[0]) is not None:
            return parse_vpdq_csv(_text(data))
        if lines and csv_columns(lines[0]) is not None:
            return parse_csv(_text(data))
        fmt = line_format(lines)
        if fmt is not None:
            return parse_lines(data, fmt)
        if any(is_vpdq_line(line) for line in lines):
            return parse_vpdq(data, stem)  # one known video, named by the file
        shown = lines[0][:60] if lines else ""
        raise HashSetError(f"unknown hash-set format (first line {shown!r})")
    finally:
        if isinstance(data, memoryview):
            _close_quietly(data)


def _close_quietly(obj: memoryview | mmap.mmap) -> None:
    """Release a buffer; if a traceback still holds a view into it, leave it to the garbage collector."""
    with contextlib.suppress(BufferError):
        obj.release() if isinstance(obj, memoryview) else obj.close()
