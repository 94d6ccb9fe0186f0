"""Project VIC VICS JSON, versions 1.x and 2.0 (CAID exports use 2.0 with the UK profile).

Shapes accepted (field names compared case-insensitively, because exporters differ in capitalisation):

- 1.x: ``{"odata.metadata": ".../DataModels/1.3.xml#Media", "value": [Media, ...]}`` or ``...#Cases`` with
  ``"value": [{"CaseID": ..., "Media": [Media, ...]}, ...]``.
- 2.0: ``{"@odata.context": ".../DataModels/2.0.xml/UK/$metadata#Media", "value": [...]}``; the profile
  (US, UK, Default) is read from the context URL and shows in the derived labels ("UK Category A").

Each Media item gives ``MD5``, ``SHA1`` (and ``SHA256`` if present), ``Category`` (kept as given: an integer
for US/Default, a grade letter for UK), and ``AlternativeHashes`` entries
``{"AlgorithmName": "SHA256" | "PDQ" | "pHash" | ..., "HashValue": "..."}``; algorithms we cannot match
(PhotoDNA, ...) are counted in the info, not warned about. Hashes in nested ``MediaFiles`` items are taken
too.

Known videos: an ``AlternativeHashes`` entry named ``vPDQ`` (or ``VideoPDQ``), or a ``PDQ`` entry whose value is a
list or a text of several fields or lines, carries one PDQ per frame (``parse_vpdq.frames_from_value`` says which
shapes). The item is then a known video, named by its MD5 (else SHA1, SHA256, MediaID, or its position), with the
item's category; its MD5/SHA1 are listed as usual. Frames without a quality are refused (they could not be
quality-gated), and the item's JSON must stay under the 1 MiB item bound below (~13,000 frames as vPDQ lines).
A Media item without any usable hash, or with a malformed one, is reported by its position and skipped.

Why streamed (``json_stream``): a 1M-item export is ~350 MB of text, and ``json.loads`` made it ~2 GB of Python
objects; a hostile file nested 200,000 deep made the standard decoder raise ``RecursionError``. The outer
object and the ``value`` array (and a Case's ``Media`` list) are walked token by token; each Media item is
decoded on its own, at most 1 MiB and 64 levels deep, else the set is refused ("not a valid hash set").
"""

from __future__ import annotations

import functools
import io
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any, BinaryIO

from triage.errors import HashSetError
from triage.known.json_stream import INVALID, JsonStream
from triage.known.model import ROLE_ALERT, ParsedSet, SetBuilder, default_label, normalise_category, parse_hex
from triage.known.parse_vpdq import frames_from_value, start_video

_ALT_NAMES: dict[str, str] = {
    "md5": "md5",
    "sha1": "sha1",
    "sha256": "sha256",
    "sha2256": "sha256",
    "pdq": "pdq",
    "pdqhash": "pdq",
    "phash": "phash",
    "perceptualhash": "phash",
    "vpdq": "vpdq",
    "videopdq": "vpdq",
    "pdqvideo": "vpdq",
    "vpdqhash": "vpdq",
}
_FRAMES = re.compile(r"[\n,\[]")  # a PDQ value holding lines, fields or a JSON list: frames, not one hash
_PROFILES = {"us": "US", "uk": "UK", "default": "Default"}
Source = str | bytes | bytearray | memoryview | BinaryIO
# Bounds on what hostile items could otherwise pile up (real exports have a handful of each).
MAX_CATEGORIES = 4096
MAX_UNUSED_NAMES = 64
MAX_NAME = 64
_CONTEXT_KEYS = ("@odata.context", "odata.metadata")


def _short(text: str) -> str:
    return text if len(text) <= MAX_NAME else text[: MAX_NAME - 1] + "…"


@functools.lru_cache(maxsize=1024)
def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _field(obj: dict[str, Any], name: str) -> Any:
    """Case-insensitive field lookup (exporters disagree on ``MD5`` vs ``Md5``): the exact name first."""
    if name in obj:
        return obj[name]
    wanted = name.lower()
    for key, value in obj.items():
        if key.lower() == wanted:
            return value
    return None


def _folded(obj: dict[str, Any]) -> dict[str, Any]:
    """Lower-cased member names to the value of the first member so named: ``_field`` for many names at once."""
    folded: dict[str, Any] = {}
    for key, value in obj.items():
        folded.setdefault(key.lower(), value)
    return folded


def sniff_vics(doc: Any) -> tuple[str, str | None] | None:
    """(version, profile) if a parsed JSON document is a VICS export, else None."""
    if not isinstance(doc, dict) or not isinstance(doc.get("value"), list):
        return None
    context = doc.get("@odata.context")
    if isinstance(context, str):
        version = "2.0"
    else:
        context = doc.get("odata.metadata")
        if not isinstance(context, str):
            return None
        version = "1"
    found = re.search(r"DataModels/(\d+(?:\.\d+)?)", context, re.IGNORECASE)
    if found:
        version = found.group(1)
    profile = None
    for part in re.split(r"[/#$]", context):
        if part.lower() in _PROFILES:
            profile = _PROFILES[part.lower()]
    if profile is None and version.startswith("2"):
        profile = "Default"
    return version, profile


def _hashes_of(item: dict[str, Any], skipped: Counter[str]) -> list[tuple[str, Any]]:
    """All (algorithm, raw value) pairs a Media item carries."""
    found: list[tuple[str, Any]] = []
    folded = _folded(item)
    for alg in ("md5", "sha1", "sha256"):
        value = item[alg] if alg in item else folded.get(alg)
        if value not in (None, ""):
            found.append((alg, value))
    alternatives = item["AlternativeHashes"] if "AlternativeHashes" in item else folded.get("alternativehashes")
    if isinstance(alternatives, list):
        for alt in alternatives:
            if not isinstance(alt, dict):
                continue
            name = _field(alt, "AlgorithmName") or _field(alt, "HashName") or _field(alt, "Algorithm")
            value = _field(alt, "HashValue") or _field(alt, "Value")
            text = str(name)
            alg = _ALT_NAMES.get(_norm(text)) if name and len(text) <= MAX_NAME else None
            if alg == "pdq" and (isinstance(value, list) or (isinstance(value, str) and _FRAMES.search(value))):
                alg = "vpdq"  # a PDQ per frame: a known video
            if alg is None:
                key = _short(text)
                skipped[key if key in skipped or len(skipped) < MAX_UNUSED_NAMES else "(other names)"] += 1
            elif alg == "vpdq" and value not in (None, "", []):
                found.append((alg, (value, item)))
            elif value not in (None, ""):
                found.append((alg, value))
    files = item["MediaFiles"] if "MediaFiles" in item else folded.get("mediafiles")
    if isinstance(files, list):
        for sub in files:
            if isinstance(sub, dict):
                found.extend(_hashes_of(sub, skipped))
    return found


def _binary(source: Source) -> BinaryIO:
    if isinstance(source, str):
        return io.BytesIO(source.encode("utf-8", "surrogatepass"))
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(source)
    return source


def _members(stream: JsonStream) -> Iterator[str]:
    """Names of an object's members; the caller consumes each member's value before asking for the next."""
    stream.expect("{")
    if stream.peek() == "}":
        stream.pos += 1
        return
    while True:
        yield stream.key()
        if stream.expect(",}") == "}":
            return


def _elements(stream: JsonStream) -> Iterator[int]:
    """Positions of an array's elements; the caller consumes each element before asking for the next."""
    stream.expect("[")
    if stream.peek() == "]":
        stream.pos += 1
        return
    index = 0
    while True:
        yield index
        index += 1
        if stream.expect(",]") == "]":
            return


def _media_items(stream: JsonStream) -> Iterator[tuple[str, Any]]:
    """Yield (position, media item) of the ``value`` array, whether it holds Media or Cases with ``Media[]``."""
    for i in _elements(stream):
        whole, item = stream.value_or_none() if stream.peek() == "{" else (True, stream.value())
        if not whole:
            yield from _walk_large_item(stream, i)
            continue
        media = _field(item, "Media") if isinstance(item, dict) else None
        if isinstance(media, list):
            for j, sub in enumerate(media):
                yield f"value[{i}].Media[{j}]", sub
        else:
            yield f"value[{i}]", item


def _walk_large_item(stream: JsonStream, i: int) -> Iterator[tuple[str, Any]]:
    """A ``value[]`` object too large to decode whole: a Case whose ``Media`` list is streamed item by item.

    Any other member is decoded; if no ``Media`` list turns up the object is yielded as one Media item, and
    then its other members must fit the size bound together.
    """
    rest: dict[str, Any] = {}
    streamed = False
    size = 0
    for name in _members(stream):
        if name.lower() == "media" and stream.peek() == "[":
            streamed = True
            for j in _elements(stream):
                yield f"value[{i}].Media[{j}]", stream.value()
            continue
        before = stream.offset
        value = stream.value()
        if not streamed:  # once it is a Case, its other members are not needed
            rest[name] = value
            size += stream.offset - before
            if size > stream.max_value:
                raise stream.fail(f"a Media item larger than {stream.limit_text}")
    if not streamed:
        yield f"value[{i}]", rest


def _add_item(builder: SetBuilder, skipped: Counter[str], where: str, item: Any, profile: str | None) -> None:
    """Decode one Media item's hashes into the builder, or record why it gave none."""
    if not isinstance(item, dict):
        builder.warnings.add(f"{where}: not a Media object")
        return
    decoded: list[tuple[str, bytes]] = []
    videos: list[tuple[Any, dict[str, Any]]] = []
    for alg, raw in _hashes_of(item, skipped):
        if alg == "vpdq":
            videos.append(raw)
            continue
        value = parse_hex(raw, alg) if isinstance(raw, str) else None
        if value is None:
            builder.warnings.add(f"{where}: malformed {alg} {str(raw)[:70]!r}")
            return
        decoded.append((alg, value))
    if not decoded and not videos:
        builder.warnings.add(f"{where}: no MD5/SHA1/SHA256/PDQ/pHash/vPDQ")
        return
    category = normalise_category(_field(item, "Category"))
    if isinstance(category, str):
        category = _short(category)
    tag = builder.tag(category, default_label(category, profile))
    if tag > MAX_CATEGORIES:
        raise HashSetError(f"{INVALID}: more than {MAX_CATEGORIES} distinct categories ({where})")
    framed = 0
    for value, owner in videos:
        video = start_video(builder, _video_id(owner, where), tag=tag)
        frames_from_value(builder, video, value, f"{where}: vPDQ")
        if builder.videos.frames_of(video):
            framed += 1
        else:
            builder.warnings.add(f"{where}: no usable vPDQ frame")
    if not decoded and not framed:
        return
    for alg, value in decoded:
        builder.add(alg, value, tag)
    builder.entry(tag)


def _video_id(owner: dict[str, Any], where: str) -> str:
    """A known video's id in a VICS set: the md5 of the item carrying the frames, else its SHA1, SHA256, MediaID,
    else the item's position."""
    for name in ("MD5", "SHA1", "SHA256", "MediaID"):
        value = _field(owner, name)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            text = str(value).strip()
            return text.lower() if name != "MediaID" else text
    return where


def parse_vics(source: Source) -> ParsedSet:
    """Parse a VICS 1.x / 2.0 JSON document: text, bytes, or a binary file positioned at its start.

    The document is read once when the context comes before ``value`` (as exporters write it); otherwise the
    first pass only checks it and finds the context, and a file is read a second time.

    Raises:
        HashSetError: "not a valid hash set: ..." for broken JSON, a value nested deeper than 64 or larger than
            1 MiB, or JSON that is not a VICS export.
    """
    binary = _binary(source)
    stream = JsonStream(binary)
    not_vics = f"{INVALID}: JSON without odata.metadata/@odata.context and a value list is not a VICS set"
    if stream.peek() != "{":
        raise HashSetError(not_vics)
    builder = SetBuilder()
    skipped: Counter[str] = Counter()
    header: dict[str, Any] = {}
    sniffed: tuple[str, str | None] | None = None
    process_now: bool | None = None  # decided at the first value array: is the context known by then?
    for name in _members(stream):
        if name == "value" and stream.peek() == "[":
            if process_now is None:
                sniffed = sniff_vics({**header, "value": []})
                process_now = sniffed is not None
            for where, item in _media_items(stream):
                if process_now and sniffed is not None:
                    _add_item(builder, skipped, where, item, sniffed[1])
        else:
            value = stream.value()
            if name in _CONTEXT_KEYS:  # the only members sniff_vics reads; others are checked, not kept
                header[name] = value
    if not stream.at_end():
        raise stream.invalid()
    sniffed = sniff_vics({**header, "value": []}) if process_now is not None else None
    if sniffed is None:
        raise HashSetError(not_vics)
    version, profile = sniffed
    if not process_now:
        binary.seek(0)
        stream = JsonStream(binary)
        for name in _members(stream):
            if name == "value" and stream.peek() == "[":
                for where, item in _media_items(stream):
                    _add_item(builder, skipped, where, item, profile)
            else:
                stream.value()
    major = version.split(".")[0]
    fmt = "vics-2.0" if major == "2" else f"vics-{version if '.' in version else '1.x'}"
    info: dict[str, Any] = {"version": version, "profile": profile}
    if skipped:
        info["unused_algorithms"] = dict(sorted(skipped.items()))
    return builder.finish(fmt, ROLE_ALERT, info)
