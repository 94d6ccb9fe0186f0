"""dfxml.xml: the scan as Digital Forensics XML, the shape fiwalk writes, valid against the DFXML schema.

One ``<volume>`` per file system slot of the device, holding one ``<fileobject>`` per data stream. DFXML tools
(dfxml.py's ``objects``, ``idifference``, bulk_extractor's ``identify_filenames``) read this unchanged, and
``xmllint --schema dfxml.xsd`` (the DFXML working group's schema, 2.0.0-beta.0; tests/report/dfxml_schema) passes
it, as it passes fiwalk's output. What the schema has no element for is kept in triage's own namespace, where the
schema allows foreign elements (its ``xs:any``): last in a ``<fileobject>`` or ``<volume>``, and after the last
volume for the evidence (``<triage:source>``: media size, verification, storage layers, acquisition metadata;
DFXML's ``<source>`` takes ``<image_filename>`` only). Choices the schema forces:

- ``<partition>`` counts the volumes written from 1 (the schema's "1-based counter of the partition order", as
  fiwalk numbers them); the volume's slot in the partition table is its ``<triage:partition_index>``.
- One ``<error>`` per file object and volume: several errors are joined with "; " (as files.csv joins them).
- An archive member names its archive in ``<triage:container>``: DFXML's ``<parent_object>`` holds the inode of
  the parent directory only.
- A value the schema's type cannot hold (a time that is not an xs:dateTime, an inode that is not a number) goes
  to the triage element of the same name; a byte run before its volume has no ``fs_offset``.

Why ElementTree, one element at a time: the serialiser escapes ``&``, ``<``, ``>`` and quotes for us, and a
million file objects are streamed to disk instead of held as one tree. The namespace declarations are written
once on the root as plain attributes (prefixed names such as ``dc:type`` literally), which keeps the default
namespace unprefixed without touching ElementTree's process-wide prefix registry. Text that XML 1.0 cannot
carry (control characters, lone surrogates) is escaped first by ``common.xml_text``, so the file always parses
and a parser gives back exactly that text.
"""

from __future__ import annotations

import re
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
# What the schema's time elements (xs:dateTime) accept; any other time text goes to a triage: element.
DATETIME = re.compile(r"-?\d{4,}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")


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
    """DFXML's ``<source>``: the evidence files only (the schema allows nothing else in it)."""
    source = _sub(None, "source")
    for path in (summary.get("evidence") or {}).get("paths") or []:
        _sub(source, "image_filename", path)
    return source


def _triage_source(summary: dict[str, Any]) -> ET.Element:
    """What DFXML's ``<source>`` cannot hold: media size, verification, storage layers, acquisition metadata.

    Why at the end of the document: ``<source>`` takes no foreign elements; the root takes them before
    ``<metadata>`` or after the last volume, and after keeps the document's start as DFXML readers expect it.
    """
    evidence = summary.get("evidence") or {}
    source = _sub(None, "triage:source")
    if evidence.get("media_size") is not None:
        _sub(source, "triage:image_size", evidence["media_size"])
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


def _fileobject(record: dict[str, Any], partition: int, volume_offset: int | None = None) -> ET.Element:
    """One ``<fileobject>``, its children in the order the schema's ``fileobject_type`` sequence requires."""
    obj = _sub(None, "fileobject")
    location = record.get("location") or record.get("path") or ""
    _sub(obj, "filename", location.lstrip("/"))
    if record.get("errors"):
        _sub(obj, "error", "; ".join(str(error) for error in record["errors"]))
    _sub(obj, "partition", partition)
    if isinstance(record.get("size"), int):
        _sub(obj, "filesize", record["size"])
    _sub(obj, "alloc", "1" if record.get("allocated") else "0")
    inode = record.get("inode")
    if _natural(inode):
        _sub(obj, "inode", inode)
    times = record_times(record)
    for key in ("modified", "changed", "accessed", "created"):
        if times[key] and DATETIME.fullmatch(times[key]):
            _sub(obj, TIME_ELEMENTS[key], times[key], prec="1")
    if record.get("type"):
        _sub(obj, "libmagic", record["type"])
    if record.get("byte_runs"):
        runs = _sub(obj, "byte_runs")
        for file_offset, img_offset, length in record["byte_runs"]:
            where = {"file_offset": str(file_offset)}
            if volume_offset is not None and img_offset >= volume_offset:
                where["fs_offset"] = str(img_offset - volume_offset)
            _sub(runs, "byte_run", None, **where, img_offset=str(img_offset), len=str(length))
    for alg in ("md5", "sha1", "sha256"):
        if record.get(alg):
            _sub(obj, "hashdigest", record[alg], type=alg)
    # Foreign elements go last (the schema's xs:any): what DFXML has no element for.
    if inode is not None and not _natural(inode):
        _sub(obj, "triage:inode", inode)
    for key in ("modified", "changed", "accessed", "created"):
        if times[key] and not DATETIME.fullmatch(times[key]):
            _sub(obj, "triage:" + TIME_ELEMENTS[key], times[key])
    if record.get("parent") is not None and " » " in location:
        # Inside another file: the archive this member came out of. DFXML's <parent_object> names the parent
        # directory by inode, which an archive member does not have.
        _sub(obj, "triage:container", location.rsplit(" » ", 1)[0].lstrip("/"))
    return obj


def _natural(value: Any) -> bool:
    """An int DFXML's nonNegativeInteger can hold (bool is not one)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _volume_head(volume: dict[str, Any]) -> list[ET.Element]:
    """The DFXML elements that describe a volume, before its file objects."""
    return [_sub(None, "partition_offset", volume.get("offset", 0)),
            _sub(None, "ftype_str", volume.get("fs") or "unknown")]


def _volume_tail(volume: dict[str, Any]) -> list[ET.Element]:
    """After the file objects: its errors (one ``<error>``, as the schema allows one) and triage's own elements."""
    tail = []
    if volume.get("errors"):
        tail.append(_sub(None, "error", "; ".join(str(error) for error in volume["errors"])))
    if volume.get("index") is not None:
        tail.append(_sub(None, "triage:partition_index", volume["index"]))
    if volume.get("size") is not None:
        tail.append(_sub(None, "triage:size", volume["size"]))
    if volume.get("label"):
        tail.append(_sub(None, "triage:label", volume["label"]))
    if volume.get("layer"):
        tail.append(_sub(None, "triage:layer", volume["layer"], inside=str(volume.get("parent"))))
    return tail


def _volume(volume: dict[str, Any], partition: int, records: Iterable[dict[str, Any]]) -> Iterator[str]:
    yield f" <volume offset={quoteattr(xml_text(str(volume.get('offset', 0))))}>\n"
    for element in _volume_head(volume):
        yield _xml(element, 2)
    for record in records:
        yield _xml(_fileobject(record, partition, volume.get("offset")), 2)
    for element in _volume_tail(volume):
        yield _xml(element, 2)
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
        yield from _volume(volume, len(written), _of_volume(records, key))
    # Records whose volume the summary does not list (never expected) are still written, not lost.
    others = dict.fromkeys(record.get("volume") for record in records if record.get("volume") not in written)
    for key in others:
        written.add(key)
        yield from _volume({"offset": 0, "index": key}, len(written), _of_volume(records, key))
    yield _xml(_triage_source(summary), 1)
    yield "</dfxml>\n"


def _of_volume(records: Iterable[dict[str, Any]], key: Any) -> Iterator[dict[str, Any]]:
    return (record for record in records if record.get("volume") == key)


def render_dfxml(summary: dict[str, Any], records: Iterable[dict[str, Any]]) -> bytes:
    """dfxml.xml as UTF-8 bytes."""
    return "".join(iter_dfxml(summary, records)).encode("utf-8")
