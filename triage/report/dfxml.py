"""dfxml.xml: the scan as Digital Forensics XML (DFXML 1.2.0, the shape fiwalk writes).

One ``<volume>`` per file system slot of the device, holding one ``<fileobject>`` per data stream. DFXML tools
(dfxml.py's ``objects``, ``idifference``, bulk_extractor's ``identify_filenames``) read this unchanged.

Why ElementTree with literal ``xmlns`` attributes: the serialiser escapes ``&``, ``<``, ``>`` and quotes for us,
and writing the namespace declarations as plain attributes keeps the default namespace unprefixed without
touching ElementTree's process-wide prefix registry. Text that XML 1.0 cannot carry (control characters, lone
surrogates) is escaped first by ``common.xml_text``, so the file always parses and a parser gives back exactly
that text. Byte runs are not written: file systems do not report them to the scan yet.
"""

from __future__ import annotations

import io
import shlex
import xml.etree.ElementTree as ET
from typing import Any

from triage.report.common import record_times, xml_text

DFXML_NS = "http://www.forensicswiki.org/wiki/Category:Digital_Forensics_XML"
DC_NS = "http://purl.org/dc/elements/1.1/"
TRIAGE_NS = "urn:x-triage:dfxml:1"
DFXML_VERSION = "1.2.0"

# DFXML element name for each files.jsonl time key (fiwalk's names).
TIME_ELEMENTS = {"modified": "mtime", "changed": "ctime", "accessed": "atime", "created": "crtime"}


def _sub(parent: ET.Element, tag: str, text: Any = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attrs.items()})
    if text is not None:
        element.text = xml_text(str(text))
    return element


def _creator(root: ET.Element, summary: dict[str, Any]) -> None:
    tool = summary.get("tool") or {}
    creator = _sub(root, "creator", version="1.0")
    _sub(creator, "program", tool.get("name", "triage"))
    _sub(creator, "version", tool.get("version", ""))
    env = _sub(creator, "execution_environment")
    command = summary.get("command")
    if command:
        _sub(env, "command_line", shlex.join(str(c) for c in command))
    if summary.get("host"):
        _sub(env, "host", summary["host"])
    if summary.get("started"):
        _sub(env, "start_time", summary["started"])


def _source(root: ET.Element, summary: dict[str, Any]) -> None:
    evidence = summary.get("evidence") or {}
    source = _sub(root, "source")
    for path in evidence.get("paths") or []:
        _sub(source, "image_filename", path)
    if evidence.get("media_size") is not None:
        _sub(source, "image_size", evidence["media_size"])
    verification = _sub(
        source, "triage:verification", status=str(evidence.get("verification") or "not recorded")
    )
    for kind in ("stored_hashes", "computed_hashes"):
        for alg, value in sorted((evidence.get(kind) or {}).items()):
            _sub(verification, "triage:" + kind.split("_")[0], value, type=alg)
    if evidence.get("verification_error"):
        _sub(verification, "triage:error", evidence["verification_error"])
    acquisition = evidence.get("acquisition") or {}
    if acquisition:
        acq = _sub(source, "triage:acquisition")
        for key, value in acquisition.items():
            _sub(acq, "triage:field", value, name=str(key))


def _fileobject(parent: ET.Element, record: dict[str, Any]) -> None:
    obj = _sub(parent, "fileobject")
    _sub(obj, "filename", (record.get("path") or "").lstrip("/"))
    for error in record.get("errors") or []:
        _sub(obj, "error", error)
    if record.get("volume") is not None:
        _sub(obj, "partition", record["volume"])
    if record.get("size") is not None:
        _sub(obj, "filesize", record["size"])
    _sub(obj, "alloc", "1" if record.get("allocated") else "0")
    if record.get("inode") is not None:
        _sub(obj, "inode", record["inode"])
    times = record_times(record)
    for key in ("modified", "changed", "accessed", "created"):
        if times[key]:
            _sub(obj, TIME_ELEMENTS[key], times[key], prec="1")
    if record.get("type"):
        _sub(obj, "libmagic", record["type"])
    for alg in ("md5", "sha1", "sha256"):
        if record.get(alg):
            _sub(obj, "hashdigest", record[alg], type=alg)


def _volume_key(volume: dict[str, Any]) -> Any:
    return volume.get("index")


def render_dfxml(summary: dict[str, Any], records: list[dict[str, Any]]) -> bytes:
    """The whole DFXML document as UTF-8 bytes."""
    root = ET.Element(
        "dfxml",
        {"xmlns": DFXML_NS, "xmlns:dc": DC_NS, "xmlns:triage": TRIAGE_NS, "version": DFXML_VERSION},
    )
    metadata = _sub(root, "metadata")
    _sub(metadata, "dc:type", "Disk Image")
    _creator(root, summary)
    _source(root, summary)

    by_volume: dict[Any, list[dict[str, Any]]] = {}
    for record in records:
        by_volume.setdefault(record.get("volume"), []).append(record)
    written: set[Any] = set()
    for volume in summary.get("volumes") or []:
        key = _volume_key(volume)
        if volume.get("role", "partition") != "partition" or key in written:
            continue
        written.add(key)
        element = _sub(root, "volume", offset=str(volume.get("offset", 0)))
        _sub(element, "partition_offset", volume.get("offset", 0))
        if volume.get("index") is not None:
            _sub(element, "triage:partition_index", volume["index"])
        _sub(element, "ftype_str", volume.get("fs") or "unknown")
        if volume.get("size") is not None:
            _sub(element, "triage:size", volume["size"])
        if volume.get("label"):
            _sub(element, "triage:label", volume["label"])
        for error in volume.get("errors") or []:
            _sub(element, "error", error)
        for record in by_volume.get(key, []):
            _fileobject(element, record)
    # Records whose volume the summary does not list (never expected) are still written, not lost.
    for key, group in by_volume.items():
        if key not in written:
            element = _sub(root, "volume", offset="0")
            _sub(element, "ftype_str", "unknown")
            for record in group:
                _fileobject(element, record)

    ET.indent(root, space=" ")
    buffer = io.BytesIO()
    ET.ElementTree(root).write(buffer, encoding="utf-8", xml_declaration=True)
    return buffer.getvalue() + b"\n"
