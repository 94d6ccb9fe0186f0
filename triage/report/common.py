"""What every report writer shares: character escaping, JSON framing, record helpers.

Evidence-derived text (file names, volume labels, hash-set labels) can hold anything a file system allows:
control characters, bidi overrides that make ``gpj.exe`` look like ``exe.jpg``, bytes that are not UTF-8 (lone
surrogates from ``surrogateescape``). Each output format has its own set of characters it cannot carry or that a
reader would not see, and escapes exactly those, always the same way:

- a raw byte (surrogate U+DC80..U+DCFF from ``records.decode_name``) and a C0 control or DEL → ``\\xNN``;
- any other code point → ``\\uNNNN`` (``\\UNNNNNNNN`` beyond the BMP), so U+0085 (``\\u0085``, a character)
  never looks like the byte 0x85 (``\\x85``).

When a value needs any escape, its literal backslashes are doubled first (the ``records.json_safe`` rule), so
the escaped text still maps back to exactly one original.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from triage.textsafe import escape_code  # one definition: the terminal's and the reports' escapes agree

TIME_KEYS = ("modified", "accessed", "changed", "created")
# Placeholder for the streamed list in a ``stream_json`` skeleton.
ITEMS = "\x00items\x00"


def json_frame(skeleton: dict[str, Any]) -> tuple[str, str, str]:
    """A JSON document (``skeleton`` indented) cut where its one big list goes (``ITEMS`` in the skeleton): the text
    before the list, the indentation of the list's items, and the text after its last item (with the closing
    bracket and the final newline)."""
    text = json.dumps(skeleton, ensure_ascii=False, indent=2)
    head, tail = text.split(json.dumps(ITEMS))
    line = head[head.rfind("\n") + 1 :]
    outer = line[: len(line) - len(line.lstrip(" "))]
    return head, outer + "  ", "\n" + outer + "]" + tail + "\n"


def stream_json(skeleton: dict[str, Any], items: Iterable[Any]) -> Iterator[str]:
    """A JSON document (``skeleton`` indented) whose one big list is streamed, one item per line.

    ``skeleton`` holds ``ITEMS`` where the list goes. Why one line per item: it keeps a million-item list
    greppable and lets ``json`` use its C encoder (indentation forces the slow pure-Python one) — CASE graphs
    are read by tools, not people, and are several times smaller without the indentation.
    """
    head, pad, end = json_frame(skeleton)
    yield head + "["
    empty = True
    for item in items:
        yield ("\n" if empty else ",\n") + pad + json.dumps(item, ensure_ascii=False)
        empty = False
    yield end if not empty else end[end.index("]"):]


def is_surrogate(ch: str) -> bool:
    return "\ud800" <= ch <= "\udfff"


def is_xml_invalid(ch: str) -> bool:
    """Characters XML 1.0 cannot carry, plus all controls (a parser would turn CR into LF, C1 is discouraged)."""
    code = ord(ch)
    return code < 0x20 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF)


_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def is_hidden(ch: str) -> bool:
    """Characters a person reading a table would not see as what they are.

    Controls, format characters (bidi overrides, zero-width joiners), surrogates and line/paragraph
    separators. Why so broad: a right-to-left override hides the real extension of a file name, and an examiner
    must see it; an emoji with a zero-width joiner showing as ``\\u200d`` is a fair price.
    """
    return unicodedata.category(ch) in _HIDDEN_CATEGORIES


def escape_text(text: str, needs: Callable[[str], bool]) -> str:
    """Escape every character for which ``needs`` is true, doubling backslashes if any was escaped."""
    if not any(needs(ch) for ch in text):
        return text
    return "".join(escape_code(ch) if needs(ch) else ("\\\\" if ch == "\\" else ch) for ch in text)


# Fast pre-checks (the per-character predicates are the slow path, for the rare text that needs it).
_SURROGATE = re.compile("[\ud800-\udfff]")
_XML_INVALID = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def visible(text: Any) -> str:
    """Text for people (CSV cells, titles): hidden characters shown as escapes."""
    text = str(text)
    return text if text.isprintable() else escape_text(text, is_hidden)


def json_text(text: str) -> str:
    """Text for JSON outputs: JSON carries any character except lone surrogates, which UTF-8 cannot encode."""
    return escape_text(text, is_surrogate) if _SURROGATE.search(text) else text


def xml_text(text: str) -> str:
    """Text for XML outputs: only what XML 1.0 can carry and a parser gives back unchanged."""
    return escape_text(text, is_xml_invalid) if _XML_INVALID.search(text) else text


def visible_parts(text: str) -> list[tuple[bool, str]]:
    """Split text into (is_escape, piece) runs, so HTML can style escapes apart from literal text.

    Why no backslash doubling here: in HTML the escapes are drawn boxed, so a literal backslash in a name can
    never be mistaken for one.
    """
    if text.isprintable():
        return [(False, text)]
    parts: list[tuple[bool, str]] = []
    for ch in text:
        if is_hidden(ch):
            parts.append((True, escape_code(ch)))
        elif parts and not parts[-1][0]:
            parts[-1] = (False, parts[-1][1] + ch)
        else:
            parts.append((False, ch))
    return parts


# ---- record helpers -------------------------------------------------------------------------------------------


def record_times(record: dict[str, Any]) -> dict[str, str | None]:
    times = record.get("times") or {}
    return {key: times.get(key) for key in TIME_KEYS}


MEDIA_TYPES = ("image/", "video/")


def is_media(record: dict[str, Any]) -> bool:
    """Pictures and videos (by signature type), the files VICS and the examiner care about."""
    kind = record.get("type") or ""
    return kind.startswith(MEDIA_TYPES)


def file_name(path: str) -> str:
    """The last component of a "/"-rooted path (the whole path if it has no "/")."""
    return path.rstrip("/").rsplit("/", 1)[-1] if path.strip("/") else path


def category_text(value: Any) -> str:
    """A category as shown in reports: '' for uncategorised, else as given (1, "A")."""
    return "" if value is None else str(value)


def match_text(match: dict[str, Any]) -> str:
    """One match as ``set:category:algorithm:distance`` (CSV column, compact and sortable).

    A match through a rotated or mirrored variant adds ``:transform`` (``set:1:pdq:4:flip-horizontal``).
    """
    distance = match.get("distance")
    parts = [
        str(match.get("hashset") or ""),
        category_text(match.get("category")),
        str(match.get("algorithm") or ""),
        "" if distance is None else str(distance),
    ]
    if match.get("transform"):
        parts.append(str(match["transform"]))
    if match.get("times") or match.get("time") is not None:
        parts.append("at " + video_times(match))
    return ":".join(parts)


def video_times(match: dict[str, Any], most: int = 10) -> str:
    """When a picture or known video was seen in a video: "12.0s 47.5s (+3 more)" (never a frame image)."""
    times = match.get("times") or ([match["time"]] if match.get("time") is not None else [])
    shown = " ".join(f"{float(t):.1f}s" for t in times[:most])
    more = max(len(times) - most, int(match.get("frames") or 0) - most, 0)
    return shown + (f" (+{more} more)" if more else "")


WHERE_TEXT = {
    "filesystem": "file on the file system",
    "deleted": "deleted file (its entry is still in the file system)",
    "extraction": "file in the extraction",
    "archive": "inside an archive",
    "snapshot": "in a volume shadow copy (an older version of the volume)",
    "exif-thumbnail": "EXIF thumbnail inside a picture (may show the picture as it was before an edit)",
    "thumbcache": "Windows thumbnail cache, thumbcache_*.db or Thumbs.db (a thumbnail of a picture that may no "
                  "longer be on the disk)",
    "carved": "found in unallocated space (carved: no file-system entry is left)",
}


def where_text(key: str) -> str:
    """The words for a ``matches_by_origin`` key, for a statement ("found in unallocated space")."""
    return WHERE_TEXT.get(key, key)


_scan_once = json.JSONDecoder().scan_once  # the C scanner behind json.loads, without its per-call checks


def scan_object(line: str, end: int) -> dict[str, Any] | None:
    """The JSON object that fills ``line[:end]`` exactly, read by the C scanner alone (a third faster than
    ``json.loads`` on a files.jsonl line); None for anything else, which the caller gives ``json.loads``."""
    try:
        value, stop = _scan_once(line, 0)
    except (StopIteration, ValueError):
        return None
    return value if stop == end and type(value) is dict else None


def partitions(summary: dict[str, Any]) -> dict[Any, dict[str, Any]]:
    """The summary's volumes that hold files of their own (role "partition"), by index, in summary order; the
    first of a repeated index. DFXML numbers them and CASE links files to them, so both must pick the same."""
    found: dict[Any, dict[str, Any]] = {}
    for volume in summary.get("volumes") or []:
        if volume.get("role", "partition") == "partition" and volume.get("index") not in found:
            found[volume.get("index")] = volume
    return found


def evidence_name(summary: dict[str, Any]) -> str:
    """The device's name: its first evidence file without the extension (as scan.device_name)."""
    paths = (summary.get("evidence") or {}).get("paths") or []
    if not paths:
        return "device"
    name = re.split(r"[\\/]", str(paths[0]))[-1]
    stem, dot, _ext = name.rpartition(".")
    return stem if dot and stem else name


def _where(volume: Any) -> str:
    return f"volume {volume}" if volume is not None else "whole media"


def layer_lines(summary: dict[str, Any]) -> list[tuple[bool, str]]:
    """One line per storage layer for every report: (needs attention, text). A locked volume always says so.

    Why one function: the terminal, HTML, DFXML and CASE outputs must say the same thing about encryption.
    """
    lines: list[tuple[bool, str]] = []
    for entry in summary.get("encryption") or []:
        method = f" ({entry['method']})" if entry.get("method") else ""
        if entry.get("unlocked"):
            lines.append((False, f"{_where(entry.get('volume'))}: {entry.get('scheme')}{method} encrypted, "
                                 f"unlocked ({entry.get('how')}); its files were examined"))
        else:
            lines.append((True, f"{_where(entry.get('volume'))}: {entry.get('scheme')}{method} encrypted, LOCKED "
                                f"({entry.get('how')}); its files were NOT examined"))
    for entry in summary.get("layers") or []:
        names = ", ".join(str(lv.get("name")) for lv in entry.get("logical_volumes") or [])
        lines.append((False, f"{_where(entry.get('volume'))}: {entry.get('scheme')} volume group "
                             f"{entry.get('volume_group')!s}: logical volumes {names or 'none'}"))
    for entry in summary.get("snapshots") or []:
        lines.append((False, f"{_where(entry.get('volume'))}: volume shadow copy {entry.get('snapshot')} created "
                             f"{entry.get('created')}: {entry.get('listed', 0)} files differ from or are absent on "
                             f"the live volume (listed, origin snapshot), {entry.get('unchanged', 0)} unchanged"))
    return lines
