"""Line-oriented hash lists: plain lists and md5sum/sha1sum/sha256sum (GNU and BSD style) output.

Why vectorised: a national md5 list is tens of millions of lines, and a Python loop over lines costs about a
microsecond each before any work is done. Here the file is memory-mapped, newline positions are found with
numpy, and every line that *starts* with 32/40/64 hex characters followed by whitespace or the end of the line
is decoded in bulk through a lookup table. Only the remaining lines (comments, blank lines, BSD-style lines,
escaped names, garbage) go through a per-line Python path that can explain what is wrong with them.

The algorithm of each line is told by the hash length (32 md5, 40 sha1, 64 sha256), so a list may mix them.
"""

from __future__ import annotations

import re

import numpy as np

from triage.known.model import HEX_LEN_TO_EXACT, ROLE_ALERT, ParsedSet, SetBuilder

_NIBBLE = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _NIBBLE[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _NIBBLE[_c] = 10 + _i

WINDOW_BYTES = 32 << 20  # lines are handled in windows of about this size to bound memory
ROWS_PER_BLOCK = 1 << 16  # rows gathered at once when decoding hex (index matrix stays small)

_BSD_RE = re.compile(
    r"^(MD5|SHA1|SHA-1|SHA256|SHA-256|SHA2-256)\s*\(.*\)\s*=\s*([0-9A-Fa-f]+)$", re.IGNORECASE
)
_GNU_RE = re.compile(r"^\\?([0-9A-Fa-f]+)(?:\s+\*?.*)?$")


def decode_hex_rows(buf: np.ndarray, starts: np.ndarray, hex_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Decode ``hex_len`` hex characters at each start offset of ``buf``.

    Returns:
        (ok, keys): a bool mask over ``starts`` (True where every character was hex) and the decoded bytes of
        the ok rows as a uint8 matrix of ``hex_len // 2`` columns.
    """
    oks: list[np.ndarray] = []
    keys: list[np.ndarray] = []
    cols = np.arange(hex_len, dtype=np.int64)
    for lo in range(0, len(starts), ROWS_PER_BLOCK):
        block = starts[lo : lo + ROWS_PER_BLOCK]
        nib = _NIBBLE[buf[block[:, None] + cols]]
        ok = (nib != 255).all(axis=1)
        good = nib[ok]
        oks.append(ok)
        keys.append((good[:, 0::2] << 4) | good[:, 1::2])
    if not oks:
        return np.zeros(0, dtype=bool), np.zeros((0, hex_len // 2), dtype=np.uint8)
    return np.concatenate(oks), np.concatenate(keys)


def _slow_line(text: str, line_no: int, builder: SetBuilder) -> None:
    """Handle a line the bulk path did not take: comment, blank, BSD style, escaped name, or malformed."""
    text = text.strip().lstrip("\ufeff")  # a BOM in the middle: files concatenated with ``cat``
    if not text or text.startswith(("#", ";", "//")):
        return
    found = _BSD_RE.match(text)
    value = found.group(2) if found else None
    if value is None:
        gnu = _GNU_RE.match(text)
        value = gnu.group(1) if gnu else None
    algorithm = HEX_LEN_TO_EXACT.get(len(value)) if value else None
    if value is None or algorithm is None:
        shown = text if len(text) <= 60 else text[:57] + "..."
        builder.warnings.add(f"line {line_no}: not an md5, sha1 or sha256 hash: {shown!r}")
        return
    builder.add_hex(algorithm, value)
    builder.entry()


def _parse_window(buf: np.ndarray, first_line: int, builder: SetBuilder) -> int:
    """Parse a window of whole lines; returns the number of lines it held."""
    newlines = np.flatnonzero(buf == 10)
    starts = np.concatenate(([0], newlines + 1)).astype(np.int64)
    ends = np.concatenate((newlines, [len(buf)])).astype(np.int64)
    if starts[-1] >= len(buf):  # window ends with a newline: no partial last line
        starts, ends = starts[:-1], ends[:-1]
    n_lines = len(starts)
    if n_lines == 0:
        return 0
    lengths = ends - starts
    has_cr = (lengths > 0) & (buf[np.maximum(ends - 1, 0)] == 13)
    ends = ends - has_cr
    lengths = ends - starts
    handled = np.zeros(n_lines, dtype=bool)
    last = len(buf) - 1
    for hex_len, algorithm in HEX_LEN_TO_EXACT.items():
        after = buf[np.minimum(starts + hex_len, last)]
        shape_ok = (lengths == hex_len) | ((lengths > hex_len) & ((after == 32) | (after == 9)))
        rows = np.flatnonzero(shape_ok & ~handled)
        if len(rows) == 0:
            continue
        ok, keys = decode_hex_rows(buf, starts[rows], hex_len)
        builder.add_matrix(algorithm, keys)
        builder.entry(0, len(keys))
        handled[rows[ok]] = True
    for row in np.flatnonzero(~handled):
        raw = buf[starts[row] : ends[row]].tobytes()
        _slow_line(raw.decode("utf-8", errors="replace"), first_line + int(row) + 1, builder)
    return n_lines


def parse_lines(data: bytes | memoryview | np.ndarray, fmt: str) -> ParsedSet:
    """Parse a plain hash list or checksum-tool output (already stripped of any BOM).

    Args:
        data: the file content (bytes, an mmap, or a uint8 array).
        fmt: the format name detection chose ("hash-list", "md5sum", ...), recorded in the result.
    """
    buf = data if isinstance(data, np.ndarray) else np.frombuffer(data, dtype=np.uint8)
    builder = SetBuilder()
    pos, line = 0, 0
    size = len(buf)
    while pos < size:
        stop = min(pos + WINDOW_BYTES, size)
        if stop < size:
            newline = np.flatnonzero(buf[stop : min(stop + (1 << 20), size)] == 10)
            if len(newline):
                stop += int(newline[0]) + 1
            else:  # a monstrous line: fall back to searching further, the slow way
                rest = bytes(buf[stop:]).find(b"\n")
                stop = size if rest < 0 else stop + rest + 1
        line += _parse_window(buf[pos:stop], line, builder)
        pos = stop
    return builder.finish(fmt, ROLE_ALERT)
