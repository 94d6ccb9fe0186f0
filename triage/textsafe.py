r"""Text from evidence made safe for the examiner's terminal.

Why: names on seized media are chosen by the suspect. Echoed raw, ``\x1b[2J`` clears the examiner's screen, an
OSC sequence retitles the window, a bidi override makes ``gpj.exe`` read ``exe.jpg``, and ``[red]x[/]`` is taken
as markup by rich. Every evidence-derived text the CLI prints goes through ``terminal_safe``; the escapes are
the reports' (triage.report.common): raw bytes (lone surrogates from ``surrogateescape``), C0 controls and DEL
as ``\xNN``, other hidden characters (C1 controls, format characters, line/paragraph separators) as
``\uNNNN``, literal backslashes doubled when anything was escaped. Kept apart from the report package so the
CLI does not import it (and jinja2) on start-up.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from rich.markup import escape as markup_escape

_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_JSON_SAFE_ESCAPE = re.compile(r"\\\\|\\x([0-9a-f]{2})")


def _hidden(ch: str) -> bool:
    return unicodedata.category(ch) in _HIDDEN_CATEGORIES


def escape_code(ch: str) -> str:
    """The visible escape of one hidden character: ``\\xNN`` for raw bytes and C0/DEL, ``\\uNNNN`` above."""
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x80:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def visible_text(text: Any) -> str:
    """``text`` with every hidden character shown as an escape (no markup escaping: for plain text sinks)."""
    text = str(text)
    if text.isprintable() or not any(_hidden(ch) for ch in text):
        return text
    return "".join(escape_code(ch) if _hidden(ch) else ("\\\\" if ch == "\\" else ch) for ch in text)


def terminal_safe(text: Any) -> str:
    """``text`` ready to be put into a rich markup string: hidden characters escaped, then rich markup escaped."""
    return markup_escape(visible_text(text))


def from_json_safe(text: str) -> str:
    r"""Invert ``records.json_safe``: ``\xNN`` back to the raw byte (a surrogate), ``\\`` back to one backslash.

    Why: paths read back from files.jsonl, summary.json or the case store are in that form; shown as they are,
    ``terminal_safe`` would double their backslashes again (``\\xff``) where the examiner expects ``\xff``.
    """
    if "\\" not in text:
        return text
    return _JSON_SAFE_ESCAPE.sub(lambda m: "\\" if m.group(0) == "\\\\" else chr(0xDC00 + int(m.group(1), 16)),
                                 text)
