"""Read one large JSON document value by value, through a bounded window of text (VICS sets).

Why not ``json.load``: a 1M-item VICS export is ~350 MB of text that becomes gigabytes of Python objects, and a
document nested 200,000 deep makes the standard decoder raise ``RecursionError``. Here the caller walks the
outer structure itself (``peek``/``expect``/``key``/``separator``: a few calls per item, no recursion) and
hands each inner value to the standard library's C decoder (``JSONDecoder.raw_decode``) on a window of at most
``chunk + max_value`` characters. Memory is bounded by the largest single value, and every value is
checked for size (``max_value`` characters) and depth (``max_depth``) before anyone walks it.
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Any, BinaryIO

from triage.errors import HashSetError

MAX_VALUE_CHARS = 1 << 20  # one Media item is a few hundred bytes; a Case holding many is walked, not decoded
MAX_DEPTH = 64
CHUNK_BYTES = 4 << 20
INVALID = "not a valid hash set"

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


class ValueTooLarge(Exception):
    """A value does not fit ``max_value`` characters (internal: callers may walk it instead)."""


class JsonStream:
    """A cursor over a JSON text read in chunks from a binary stream (UTF-8; a leading BOM is skipped)."""

    def __init__(
        self, source: BinaryIO, max_value: int = MAX_VALUE_CHARS, max_depth: int = MAX_DEPTH,
        chunk: int = CHUNK_BYTES,
    ) -> None:
        self._source = source
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._chunk = chunk
        self.max_value = max_value
        self.max_depth = max_depth
        self.text = ""
        self.pos = 0
        self.eof = False
        self._dropped = 0  # characters dropped from the front of the window so far
        self._line = 1  # line number of text[0]
        self._column = 0  # characters between the last newline before text[0] and text[0]
        self._fill()
        if self.text.startswith("\ufeff"):
            self.pos = 1

    # ------------------------------------------------------------------ window

    def _fill(self) -> None:
        """Keep more than ``max_value`` characters after ``pos`` in the window (unless the source is done)."""
        while not self.eof and len(self.text) - self.pos <= self.max_value:
            data = self._source.read(self._chunk)
            self.eof = not data
            if self.pos:
                dropped = self.text.count("\n", 0, self.pos)
                last = self.text.rfind("\n", 0, self.pos)
                self._line += dropped
                self._column = self.pos - last - 1 if last >= 0 else self._column + self.pos
                self._dropped += self.pos
            self.text = self.text[self.pos :] + self._decoder.decode(data, final=self.eof)
            self.pos = 0

    @property
    def limit_text(self) -> str:
        """The size bound as people read it ("1 MiB")."""
        mib = self.max_value / (1 << 20)
        return f"{mib:g} MiB" if mib >= 1 else f"{self.max_value} characters"

    @property
    def offset(self) -> int:
        """Characters consumed since the start of the document."""
        return self._dropped + self.pos

    def where(self, pos: int | None = None) -> str:
        """"line L, column C" of a window position (of ``pos`` by default), as ``json`` reports them."""
        at = self.pos if pos is None else pos
        last = self.text.rfind("\n", 0, at)
        line = self._line + self.text.count("\n", 0, at)
        column = at - last if last >= 0 else self._column + at + 1
        return f"line {line}, column {column}"

    def fail(self, why: str, pos: int | None = None) -> HashSetError:
        """The one-line error for a document that cannot be a hash set, with where it went wrong."""
        return HashSetError(f"{INVALID}: {why} ({self.where(pos)})")

    def invalid(self, pos: int | None = None) -> HashSetError:
        return self.fail("VICS JSON is not valid JSON", pos)

    # ------------------------------------------------------------------ tokens

    def peek(self) -> str:
        """The next non-whitespace character ("" at the end of the document), not consumed."""
        while True:
            self.pos = _WS.match(self.text, self.pos).end()
            if self.pos < len(self.text) or self.eof:
                self._fill()
                return self.text[self.pos : self.pos + 1]
            self._fill()

    def expect(self, chars: str) -> str:
        """Consume the next character, which must be one of ``chars``."""
        found = self.peek()
        if not found or found not in chars:
            raise self.invalid()
        self.pos += 1
        return found

    def key(self) -> str:
        """An object member's name and its colon."""
        if self.peek() != '"':
            raise self.invalid()
        name = self.value()
        self.expect(":")
        return str(name)

    def at_end(self) -> bool:
        """True when only whitespace is left."""
        return self.peek() == ""

    def value(self) -> Any:
        """Decode the next value whole; refuse it when it is too large or nested too deeply."""
        try:
            return self._decode()
        except ValueTooLarge:
            raise self.fail(f"a JSON value larger than {self.limit_text}") from None

    def value_or_none(self) -> tuple[bool, Any]:
        """(True, value) like ``value``; (False, None) with nothing consumed when it is too large to decode."""
        try:
            return True, self._decode()
        except ValueTooLarge:
            return False, None

    def _decode(self) -> Any:
        self.peek()
        start, text = self.pos, self.text
        try:
            obj, end = _DECODER.raw_decode(text, start)
        except json.JSONDecodeError as exc:
            cut = exc.pos >= len(text) or exc.msg.startswith("Unterminated string")
            if cut and not self.eof:  # the window holds > max_value characters: the value runs past them
                raise ValueTooLarge from None
            raise self.invalid(exc.pos) from None
        except RecursionError:  # the C decoder's own guard: far deeper than max_depth
            raise self.fail(f"nesting deeper than {self.max_depth}", start) from None
        if end - start > self.max_value or (end >= len(text) and not self.eof):
            raise ValueTooLarge
        if _brackets(text, start, end) > self.max_depth and depth_exceeds(obj, self.max_depth):
            raise self.fail(f"nesting deeper than {self.max_depth}", start)
        self.pos = end
        return obj


def _brackets(text: str, start: int, end: int) -> int:
    """Opening brackets in a slice: an upper bound of its nesting depth, counted in C (most values: a few)."""
    return text.count("[", start, end) + text.count("{", start, end)


def depth_exceeds(obj: Any, limit: int) -> bool:
    """True if lists/dicts inside ``obj`` nest more than ``limit`` levels (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            node = node.values()
        elif not isinstance(node, list):
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in node if isinstance(child, (list, dict)))
    return False
