"""dfxml.xml: the scan as Digital Forensics XML (DFXML 1.2.0, the shape fiwalk writes).

One ``<volume>`` per file system slot of the device, holding one ``<fileobject>`` per data stream. DFXML tools
(dfxml.py's ``objects``, ``idifference``, bulk_extractor's ``identify_filenames``) read this unchanged.

Why ElementTree, one element at a time: the serialiser escapes ``&``, ``<``, ``>`` and quotes for us, and a
million file objects are streamed to disk instead of held as one tree. The namespace declarations are written
once on the root as plain attributes (prefixed names such as ``dc:type`` literally), which keeps the default
namespace unprefixed without touching ElementTree's process-wide prefix registry. Text that XML 1.0 cannot
carry (control characters, lone surrogates) is escaped first by ``common.xml_text``, so the file always parses
and a parser gives back exactly that text. Byte runs are not written: file systems do not report them to the scan yet.
"""

from __future__ import annotations

import shlex
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from typing import Any

from triage.report.common import layer_lines, record_times, xml_text

DFXML_NS = "http://www.forensicswiki.org/wiki/Category:Digital_Forensics_XML"
DC_NS = "http://purl.org/dc/elements/1.1/"
TRIAGE_NS = "urn:x-triage:dfxml:1"
DFXML_VERSION = "1.2.0"

# DFXML element name for each files.jsonl time key (fiwalk's names).
TIME_ELEMENTS = {"modified": "mtime", "changed": "ctime", "accessed": "atime", "created": "crtime"}


def quoteattr(value: str) -> str:
    """``xml.sax.saxutils.quoteattr``, which is not imported for it: it pulls in urllib, http and email
    (~15 ms in every process that writes reports)."""
    value = value.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")
    value = value.replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")
    if '"' not in value:
        return f'"{value}"'
    if "'" not in value:
        return f"'{value}'"
    return '"{}"'.format(value.replace('"', "&quot;"))


def _sub(parent: ET.Element | None, tag: str, text: Any = None, **attrs: str) -> ET.Element:
    """A new element (under ``parent`` if given) with XML-safe text and attributes."""
    safe = {k: xml_text(str(v)) for k, v in attrs.items()}
    element = ET.Element(tag, safe) if parent is None else ET.SubElement(parent, tag, safe)
    if text is not None:
        element.text = xml_text(str(text))
    return element


def _xml(element: ET.Element, level: int) -> str:
    """One element serialised on its own, indented as if inside the whole document."""
    ET.indent(element, space=" ", level=level)
    return " " * level + ET.tostring(element, encoding="unicode") + "\n"


def _metadata() -> ET.Element:
    metadata = _sub(None, "metadata")
    _sub(metadata, "dc:type", "Disk Image")
    return metadata


def _creator(summary: dict[str, Any]) -> ET.Element:
    tool = summary.get("tool") or {}
    creator = _sub(None, "creator", version="1.0")
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
    return creator


def _source(summary: dict[str, Any]) -> ET.Element:
    evidence = summary.get("evidence") or {}
    source = _sub(None, "source")
    for path in evidence.get("paths") or []:
        _sub(source, "image_filename", path)
    if evidence.get("media_size") is not None:
        _sub(source, "image_size", evidence["media_size"])
    verification = _sub(source, "triage:verification", status=evidence.get("verification") or "not recorded")
    for kind in ("stored_hashes", "computed_hashes"):
        for alg, value in sorted((evidence.get(kind) or {}).items()):
            _sub(verification, "triage:" + kind.split("_")[0], value, type=alg)
    if evidence.get("verification_error"):
        _sub(verification, "triage:error", evidence["verification_error"])
    for attention, text in layer_lines(summary):
        _sub(source, "triage:layer", text, attention="yes" if attention else "no")
    acquisition = evidence.get("acquisition") or {}
    if acquisition:
        acq = _sub(source, "triage:acquisition")
        for key, value in acquisition.items():
            _sub(acq, "triage:field", value, name=key)
    return source


def _fileobject(record: dict[str, Any], volume_offset: int | None = None) -> ET.Element:
    obj = _sub(None, "fileobject")
    location = record.get("location") or record.get("path") or ""
    if record.get("parent") is not None and " » " in location:
        # DFXML's way to say "inside another file": the archive this member came out of.
        _sub(_sub(obj, "parent_object"), "filename", location.rsplit(" » ", 1)[0].lstrip("/"))
    _sub(obj, "filename", location.lstrip("/"))
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
    if record.get("byte_runs"):
        runs = _sub(obj, "byte_runs")
        for file_offset, img_offset, length in record["byte_runs"]:
            where = {"file_offset": str(file_offset)}
            if volume_offset is not None:
                where["fs_offset"] = str(img_offset - volume_offset)
            _sub(runs, "byte_run", None, **where, img_offset=str(img_offset), len=str(length))
    for alg in ("md5", "sha1", "sha256"):
        if record.get(alg):
            _sub(obj, "hashdigest", record[alg], type=alg)
    return obj


def _volume_head(volume: dict[str, Any]) -> list[ET.Element]:
    """The elements that describe a volume before its file objects."""
    head = [_sub(None, "partition_offset", volume.get("offset", 0))]
    if volume.get("index") is not None:
        head.append(_sub(None, "triage:partition_index", volume["index"]))
    head.append(_sub(None, "ftype_str", volume.get("fs") or "unknown"))
    if volume.get("size") is not None:
        head.append(_sub(None, "triage:size", volume["size"]))
    if volume.get("label"):
        head.append(_sub(None, "triage:label", volume["label"]))
    if volume.get("layer"):
        head.append(_sub(None, "triage:layer", volume["layer"], inside=str(volume.get("parent"))))
    head += [_sub(None, "error", error) for error in volume.get("errors") or []]
    return head


def _volume(volume: dict[str, Any], records: Iterable[dict[str, Any]]) -> Iterator[str]:
    yield f" <volume offset={quoteattr(xml_text(str(volume.get('offset', 0))))}>\n"
    for element in _volume_head(volume):
        yield _xml(element, 2)
    for record in records:
        yield _xml(_fileobject(record, volume.get("offset")), 2)
    yield " </volume>\n"


def iter_dfxml(summary: dict[str, Any], records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The DFXML document, one volume header or file object per chunk."""
    yield "<?xml version='1.0' encoding='utf-8'?>\n"
    yield f'<dfxml xmlns="{DFXML_NS}" xmlns:dc="{DC_NS}" xmlns:triage="{TRIAGE_NS}" version="{DFXML_VERSION}">\n'
    for element in (_metadata(), _creator(summary), _source(summary)):
        yield _xml(element, 1)
    # One pass over the records per volume (a handful), so that no list of every record is held.
    written: set[Any] = set()
    for volume in summary.get("volumes") or []:
        key = volume.get("index")
        if volume.get("role", "partition") != "partition" or key in written:
            continue
        written.add(key)
        yield from _volume(volume, _of_volume(records, key))
    # Records whose volume the summary does not list (never expected) are still written, not lost.
    others = dict.fromkeys(record.get("volume") for record in records if record.get("volume") not in written)
    for key in others:
        yield from _volume({"offset": 0, "index": key}, _of_volume(records, key))
    yield "</dfxml>\n"


def _of_volume(records: Iterable[dict[str, Any]], key: Any) -> Iterator[dict[str, Any]]:
    return (record for record in records if record.get("volume") == key)


def render_dfxml(summary: dict[str, Any], records: Iterable[dict[str, Any]]) -> bytes:
    """dfxml.xml as UTF-8 bytes."""
    return "".join(iter_dfxml(summary, records)).encode("utf-8")
