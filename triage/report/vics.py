"""vics.json: every picture and video of the device as a Project VIC VICS 2.0 case (UK profile).

Griffeye Analyze, Magnet AXIOM and the CAID tooling import this to categorise what the scan found, including the
pictures no hash set knew. Choices, stated because an examiner may have to explain them:

- **Media** are grouped by md5, as VICS identifies media by hash: one Media per distinct content, with every
  copy of it in ``MediaFiles``. A picture or video whose content could not be read (no md5) cannot be a VICS
  Media and is left out; it is listed with its error in report.html and files.csv.
- **Category**: the category of the matching hash set, kept as given (``1``, ``"A"``), so the export agrees
  with ``triage.known.parse_vics``. With matches of several categories the most severe is used (``A`` before
  ``B`` before ``C``, a lower positive number before a higher one), and ``IsPrecategorized`` is true.
  Unmatched media get ``0`` = uncategorised in this export, with ``IsPrecategorized`` false. Beware: loading
  this file back as an *alert* hash set would report every one of them as a hit of category 0.
- **CaseID**: a UUID derived from the acquisition case number, so all devices of one case share it; without a
  case number, from the device name and media hash. Never random: the same scan gives the same bytes.
- **FilePath** is ``<device>/vol<N>/<path in the file system>`` (no ``vol<N>/`` for a device without a
  partition table), so copies on two volumes stay apart. **Deleted** and **Unallocated** are both true for a
  stream the file system no longer allocates: its name is deleted and its clusters are unallocated space.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from triage.report.common import (
    ITEMS,
    MEDIA_TYPES,
    evidence_name,
    file_name,
    is_media,
    json_text,
    record_times,
    stream_json,
)
from triage.report.output import Out, render

ODATA_CONTEXT = "http://github.com/ICMEC/ProjectVic/DataModels/2.0.xml/UK/$metadata#Cases"
UNCATEGORISED = 0
# Fixed namespace for the UUIDs this tool derives (uuid5 of a URL naming the tool).
TRIAGE_UUID_NS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:x-triage:vics")


def severity(category: Any) -> tuple[int, int, str]:
    """Sort key: most severe first (grade letters A<B<C, positive integers ascending), anything else last."""
    if isinstance(category, int) and not isinstance(category, bool) and category > 0:
        return (0, category, "")
    if isinstance(category, str) and len(category) == 1 and category.isalpha():
        return (0, ord(category.upper()) - 64, category)
    return (1, 0, str(category))


def media_category(matches: list[dict[str, Any]]) -> Any:
    """The VICS Category of a Media item from all matches of all its copies (UNCATEGORISED if none)."""
    categories = [m.get("category") for m in matches if m.get("category") is not None]
    if not categories:
        return UNCATEGORISED
    return min(categories, key=lambda c: (severity(c), type(c).__name__))


def case_id(summary: dict[str, Any]) -> str:
    """Deterministic CaseID (see the module docstring)."""
    evidence = summary.get("evidence") or {}
    case_number = (evidence.get("acquisition") or {}).get("case_number")
    if case_number:
        seed = f"case:{case_number}"
    else:
        hashes = evidence.get("computed_hashes") or evidence.get("stored_hashes") or {}
        seed = f"device:{evidence_name(summary)}:{evidence.get('media_size')}:{sorted(hashes.items())}"
    return str(uuid.uuid5(TRIAGE_UUID_NS, json_text(seed)))


def _file_path(device: str, record: dict[str, Any]) -> str:
    volume = record.get("volume")
    prefix = f"{device}/vol{volume}" if volume is not None else device
    return json_text(prefix + "/" + (record.get("location") or record.get("path") or "").lstrip("/"))


def _media_file(device: str, record: dict[str, Any]) -> dict[str, Any]:
    times = record_times(record)
    deleted = not record.get("allocated", True)
    return {
        "FileName": json_text(file_name(record.get("path") or "")),
        "FilePath": _file_path(device, record),
        "Created": times["created"],
        "Written": times["modified"],
        "Accessed": times["accessed"],
        "Deleted": deleted,
        "Unallocated": deleted,
    }


def _alternative_hashes(records: Iterable[dict[str, Any]]) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    for name, key in (("SHA256", "sha256"), ("PDQ", "pdq"), ("PHASH", "phash")):
        values = sorted({r[key] for r in records if r.get(key)})
        found.extend({"AlgorithmName": name, "HashValue": value} for value in values)
    return found


def _media(groups: dict[str, list[dict[str, Any]]], device: str) -> Iterator[dict[str, Any]]:
    """One Media item per distinct md5, made as it is written."""
    for media_id, (md5, copies) in enumerate(groups.items(), start=1):
        matches = [m for r in copies for m in r.get("matches") or []]
        first = copies[0]
        yield {
            "MediaID": media_id,
            "Category": media_category(matches),
            "IsPrecategorized": bool(matches),
            "MD5": md5,
            "SHA1": first.get("sha1"),
            "MediaSize": first.get("size"),
            "AlternativeHashes": _alternative_hashes(copies),
            "MediaFiles": [_media_file(device, r) for r in copies],
        }


def _skeleton(summary: dict[str, Any], media: Any) -> dict[str, Any]:
    tool = summary.get("tool") or {}
    case_number = ((summary.get("evidence") or {}).get("acquisition") or {}).get("case_number")
    return {
        "@odata.context": ODATA_CONTEXT,
        "value": [
            {
                "CaseID": case_id(summary),
                "CaseNumber": json_text(str(case_number)) if case_number is not None else None,
                "SourceApplicationName": tool.get("name", "triage"),
                "SourceApplicationVersion": tool.get("version"),
                "Media": media,
            }
        ],
    }


def _groups(records: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Pictures and videos with an md5, by md5, in order of first appearance in files.jsonl."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        if is_media(record) and record.get("md5"):
            groups.setdefault(record["md5"], []).append(record)
    return groups


def build_vics(summary: dict[str, Any], records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The VICS document as one dict (for tests and small devices; ``iter_vics`` streams the same text)."""
    return _skeleton(summary, list(_media(_groups(records), evidence_name(summary))))


class VicsWriter:
    """vics.json: pictures and videos gathered by md5 in the pass, written as Media items at the end."""

    def __init__(self, summary: dict[str, Any], out: Out) -> None:
        self.summary, self.out = summary, out
        self.groups: dict[str, list[dict[str, Any]]] = {}

    def add(self, record: dict[str, Any]) -> None:
        if (record.get("type") or "").startswith(MEDIA_TYPES) and record.get("md5"):  # is_media, inlined
            self.groups.setdefault(record["md5"], []).append(record)

    def finish(self) -> None:
        for chunk in stream_json(_skeleton(self.summary, ITEMS), _media(self.groups, evidence_name(self.summary))):
            self.out.write(chunk)


def render_vics(summary: dict[str, Any], records: Iterable[dict[str, Any]]) -> bytes:
    """vics.json as UTF-8 bytes (indented, non-ASCII kept readable)."""
    return render(VicsWriter, summary, records)
