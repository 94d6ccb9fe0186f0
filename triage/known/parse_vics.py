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
A Media item without any usable hash, or with a malformed one, is reported by its position and skipped.

Why the whole document is loaded with ``json.loads``: the standard library has no streaming parser, and VICS
sets with perceptual hashes are far smaller than md5 lists; the compiled index is what scans use.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from triage.errors import HashSetError
from triage.known.model import ROLE_ALERT, ParsedSet, SetBuilder, default_label, normalise_category, parse_hex

_ALT_NAMES: dict[str, str] = {
    "md5": "md5",
    "sha1": "sha1",
    "sha256": "sha256",
    "sha2256": "sha256",
    "pdq": "pdq",
    "pdqhash": "pdq",
    "phash": "phash",
    "perceptualhash": "phash",
}
_PROFILES = {"us": "US", "uk": "UK", "default": "Default"}


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _field(obj: dict[str, Any], name: str) -> Any:
    """Case-insensitive field lookup (exporters disagree on ``MD5`` vs ``Md5``)."""
    if name in obj:
        return obj[name]
    wanted = name.lower()
    for key, value in obj.items():
        if key.lower() == wanted:
            return value
    return None


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


def _media_items(doc: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Yield (position, media item) whether ``value`` holds Media or Cases with ``Media[]``."""
    for i, item in enumerate(doc["value"]):
        media = _field(item, "Media") if isinstance(item, dict) else None
        if isinstance(media, list):
            for j, sub in enumerate(media):
                yield f"value[{i}].Media[{j}]", sub
        else:
            yield f"value[{i}]", item


def _hashes_of(item: dict[str, Any], skipped: Counter[str]) -> list[tuple[str, Any]]:
    """All (algorithm, raw value) pairs a Media item carries."""
    found: list[tuple[str, Any]] = []
    for alg in ("md5", "sha1", "sha256"):
        value = _field(item, alg)
        if value not in (None, ""):
            found.append((alg, value))
    alternatives = _field(item, "AlternativeHashes")
    if isinstance(alternatives, list):
        for alt in alternatives:
            if not isinstance(alt, dict):
                continue
            name = _field(alt, "AlgorithmName") or _field(alt, "HashName") or _field(alt, "Algorithm")
            value = _field(alt, "HashValue") or _field(alt, "Value")
            alg = _ALT_NAMES.get(_norm(str(name))) if name else None
            if alg is None:
                skipped[str(name)] += 1
            elif value not in (None, ""):
                found.append((alg, value))
    files = _field(item, "MediaFiles")
    if isinstance(files, list):
        for sub in files:
            if isinstance(sub, dict):
                found.extend(_hashes_of(sub, skipped))
    return found


def parse_vics(text: str) -> ParsedSet:
    """Parse a VICS 1.x / 2.0 JSON document (text already stripped of any BOM)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HashSetError(f"VICS JSON is not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    sniffed = sniff_vics(doc)
    if sniffed is None:
        raise HashSetError("JSON without odata.metadata/@odata.context and a value list is not a VICS set")
    version, profile = sniffed
    builder = SetBuilder()
    skipped: Counter[str] = Counter()
    for where, item in _media_items(doc):
        if not isinstance(item, dict):
            builder.warnings.add(f"{where}: not a Media object")
            continue
        pairs = _hashes_of(item, skipped)
        decoded: list[tuple[str, bytes]] = []
        bad = None
        for alg, raw in pairs:
            value = parse_hex(raw, alg) if isinstance(raw, str) else None
            if value is None:
                bad = f"{where}: malformed {alg} {str(raw)[:70]!r}"
                break
            decoded.append((alg, value))
        if bad or not decoded:
            builder.warnings.add(bad or f"{where}: no MD5/SHA1/SHA256/PDQ/pHash")
            continue
        category = normalise_category(_field(item, "Category"))
        tag = builder.tag(category, default_label(category, profile))
        for alg, value in decoded:
            builder.add(alg, value, tag)
        builder.entry(tag)
    major = version.split(".")[0]
    fmt = "vics-2.0" if major == "2" else f"vics-{version if '.' in version else '1.x'}"
    info: dict[str, Any] = {"version": version, "profile": profile}
    if skipped:
        info["unused_algorithms"] = dict(sorted(skipped.items()))
    return builder.finish(fmt, ROLE_ALERT, info)
