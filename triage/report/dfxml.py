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

Written as text in one pass over the records, not as ElementTree objects (which cost ten times as much per
file, issue 17): the output is exactly what ElementTree with ``indent(space=" ")`` serialised before, escaping
``&``, ``<``, ``>`` (and ``"`` in attributes). The file objects of the first volume go straight to the file; those
of the others to a spool each, spliced in at the end. The namespace declarations are written once on the root
(prefixed names such as ``dc:type`` literally). Text that XML 1.0 cannot carry (control characters, lone
surrogates) is escaped first by ``common.xml_text``, so the file always parses and a parser gives back exactly
that text.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from typing import Any

from triage.report.common import layer_lines, partitions, xml_text
from triage.report.output import Out, render

DFXML_NS = "http://www.forensicswiki.org/wiki/Category:Digital_Forensics_XML"
DC_NS = "http://purl.org/dc/elements/1.1/"
TRIAGE_NS = "urn:x-triage:dfxml:1"
DFXML_VERSION = "1.2.0"

# DFXML element name for each files.jsonl time key (fiwalk's names), in the schema's order.
TIME_ELEMENTS = {"modified": "mtime", "changed": "ctime", "accessed": "atime", "created": "crtime"}
# What the schema's time elements (xs:dateTime) accept; any other time text goes to a triage: element.
DATETIME = re.compile(r"-?\d{4,}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")
# Characters that make text need more than copying: XML-invalid ones (common.xml_text) and markup.
_SPECIAL = re.compile("[&<>\"\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
HASHES = ("md5", "sha1", "sha256")

Node = tuple[str, Any, dict[str, Any], list[Any]]  # tag, text, attributes, children: the one-off elements


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


def _text(value: Any) -> str:
    """Element text: ``xml_text``, then ``&``, ``<``, ``>`` escaped (ElementTree's ``_escape_cdata``)."""
    text = value if type(value) is str else str(value)
    if not _SPECIAL.search(text):
        return text
    return xml_text(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(value: Any) -> str:
    """Attribute text: ``xml_text``, then ElementTree's ``_escape_attrib`` (tabs and line ends are escaped by
    ``xml_text`` already)."""
    return _text(value).replace('"', "&quot;")


def _number(value: Any) -> str:
    """An attribute holding a number: an int as it is (nothing to escape), anything else through ``_attr``."""
    return str(value) if type(value) is int else _attr(value)


def _leaf(pad: str, tag: str, value: Any) -> str:
    """One line: ``<tag>text</tag>``, or ``<tag />`` when the text is empty (ElementTree's short form)."""
    text = _text(value)
    return f"{pad}<{tag}>{text}</{tag}>\n" if text else f"{pad}<{tag} />\n"


def _node(tag: str, text: Any = None, children: list[Node] | None = None, **attrs: Any) -> Node:
    return (tag, text, attrs, children if children is not None else [])


def _render(node: Node, level: int) -> str:
    """A one-off element and its children, indented one space per level, as ElementTree wrote them."""
    tag, text, attrs, children = node
    pad = " " * level
    head = tag + "".join(f' {name}="{_attr(value)}"' for name, value in attrs.items())
    if children:
        return f"{pad}<{head}>\n" + "".join(_render(child, level + 1) for child in children) + f"{pad}</{tag}>\n"
    text = "" if text is None else _text(text)
    return f"{pad}<{head}>{text}</{tag}>\n" if text else f"{pad}<{head} />\n"


def _creator(summary: dict[str, Any]) -> Node:
    tool = summary.get("tool") or {}
    env = []
    if summary.get("command"):
        env.append(_node("command_line", shlex.join(str(c) for c in summary["command"])))
    if summary.get("host"):
        env.append(_node("host", summary["host"]))
    if summary.get("started"):
        env.append(_node("start_time", summary["started"]))
    return _node("creator", None, [_node("program", tool.get("name", "triage")),
                                   _node("version", tool.get("version", "")),
                                   _node("execution_environment", None, env)], version="1.0")


def _source(summary: dict[str, Any]) -> Node:
    """DFXML's ``<source>``: the evidence files only (the schema allows nothing else in it)."""
    return _node("source", None, [_node("image_filename", path)
                                  for path in (summary.get("evidence") or {}).get("paths") or []])


def _triage_source(summary: dict[str, Any]) -> Node:
    """What DFXML's ``<source>`` cannot hold: media size, verification, storage layers, acquisition metadata.

    Why at the end of the document: ``<source>`` takes no foreign elements; the root takes them before
    ``<metadata>`` or after the last volume, and after keeps the document's start as DFXML readers expect it.
    """
    evidence = summary.get("evidence") or {}
    children = []
    if evidence.get("media_size") is not None:
        children.append(_node("triage:image_size", evidence["media_size"]))
    checks = [_node("triage:" + kind.split("_")[0], value, type=alg)
              for kind in ("stored_hashes", "computed_hashes")
              for alg, value in sorted((evidence.get(kind) or {}).items())]
    if evidence.get("verification_error"):
        checks.append(_node("triage:error", evidence["verification_error"]))
    children.append(_node("triage:verification", None, checks,
                          status=evidence.get("verification") or "not recorded"))
    children += [_node("triage:layer", text, attention="yes" if attention else "no")
                 for attention, text in layer_lines(summary)]
    acquisition = evidence.get("acquisition") or {}
    if acquisition:
        children.append(_node("triage:acquisition", None, [_node("triage:field", value, name=key)
                                                           for key, value in acquisition.items()]))
    return _node("triage:source", None, children)


def _natural(value: Any) -> bool:
    """An int DFXML's nonNegativeInteger can hold (bool is not one)."""
    return type(value) is int and value >= 0


def fileobject(record: dict[str, Any], partition: int, volume_offset: Any = None) -> str:
    """One ``<fileobject>`` (two spaces in), its children in the order of the schema's ``fileobject_type``."""
    get = record.get
    location = get("location") or get("path") or ""
    lines = ["  <fileobject>\n", _leaf("   ", "filename", location.lstrip("/"))]
    if get("errors"):
        lines.append(_leaf("   ", "error", "; ".join(str(error) for error in record["errors"])))
    lines.append(f"   <partition>{partition}</partition>\n")
    size = get("size")
    if type(size) is int:
        lines.append(f"   <filesize>{size}</filesize>\n")
    lines.append("   <alloc>1</alloc>\n" if get("allocated") else "   <alloc>0</alloc>\n")
    inode = get("inode")
    if _natural(inode):
        lines.append(f"   <inode>{inode}</inode>\n")
    times = get("times") or {}
    odd = []
    for key, tag in TIME_ELEMENTS.items():
        value = times.get(key)
        if value:
            if type(value) is str and DATETIME.fullmatch(value):  # nothing in it to escape
                lines.append(f'   <{tag} prec="1">{value}</{tag}>\n')
            else:
                odd.append((tag, value))
    if get("type"):
        lines.append(_leaf("   ", "libmagic", record["type"]))
    if get("byte_runs"):
        lines.append("   <byte_runs>\n")
        for file_offset, img_offset, length in record["byte_runs"]:
            at = ""
            if volume_offset is not None and img_offset >= volume_offset:
                at = f' fs_offset="{_number(img_offset - volume_offset)}"'
            lines.append(f'    <byte_run file_offset="{_number(file_offset)}"{at} img_offset="{_number(img_offset)}"'
                         f' len="{_number(length)}" />\n')
        lines.append("   </byte_runs>\n")
    for alg in HASHES:
        value = get(alg)
        if value:  # hex digits: nothing to escape (no letter or digit is)
            text = value if type(value) is str and value.isalnum() else _text(value)
            lines.append(f'   <hashdigest type="{alg}">{text}</hashdigest>\n')
    # Foreign elements go last (the schema's xs:any): what DFXML has no element for.
    if inode is not None and not _natural(inode):
        lines.append(_leaf("   ", "triage:inode", inode))
    for tag, value in odd:
        lines.append(_leaf("   ", "triage:" + tag, value))
    if get("parent") is not None and " » " in location:
        # Inside another file: the archive this member came out of. DFXML's <parent_object> names the parent
        # directory by inode, which an archive member does not have.
        lines.append(_leaf("   ", "triage:container", location.rsplit(" » ", 1)[0].lstrip("/")))
    lines.append("  </fileobject>\n")
    return "".join(lines)


def _volume_head(volume: dict[str, Any]) -> str:
    """The volume's start tag and the DFXML elements that describe it, before its file objects."""
    return (f" <volume offset={quoteattr(xml_text(str(volume.get('offset', 0))))}>\n"
            + _render(_node("partition_offset", volume.get("offset", 0)), 2)
            + _render(_node("ftype_str", volume.get("fs") or "unknown"), 2))


def _volume_tail(volume: dict[str, Any]) -> str:
    """After the file objects: its errors (one ``<error>``, as the schema allows one), triage's own elements."""
    tail = []
    if volume.get("errors"):
        tail.append(_node("error", "; ".join(str(error) for error in volume["errors"])))
    if volume.get("index") is not None:
        tail.append(_node("triage:partition_index", volume["index"]))
    if volume.get("size") is not None:
        tail.append(_node("triage:size", volume["size"]))
    if volume.get("label"):
        tail.append(_node("triage:label", volume["label"]))
    if volume.get("layer"):
        tail.append(_node("triage:layer", volume["layer"], inside=str(volume.get("parent"))))
    return "".join(_render(node, 2) for node in tail) + " </volume>\n"


class _Volume:
    """One ``<volume>`` being written: its summary entry, ``<partition>`` number and where its file objects go."""

    def __init__(self, volume: dict[str, Any], partition: int, out: Out | None) -> None:
        self.volume, self.partition, self.out = volume, partition, out
        self.offset = volume.get("offset")


class DfxmlWriter:
    """dfxml.xml in one pass: file objects of the first listed volume straight out, the others spooled.

    Volumes are the summary's partitions in its order (a repeated index once); records of a volume the summary
    does not list (never expected) still get one, after them, in the order first seen: none is lost.
    """

    def __init__(self, summary: dict[str, Any], out: Out) -> None:
        self.summary, self.out = summary, out
        out.write("<?xml version='1.0' encoding='utf-8'?>\n"
                  f'<dfxml xmlns="{DFXML_NS}" xmlns:dc="{DC_NS}" xmlns:triage="{TRIAGE_NS}" '
                  f'version="{DFXML_VERSION}">\n')
        for node in (_node("metadata", None, [_node("dc:type", "Disk Image")]), _creator(summary), _source(summary)):
            out.write(_render(node, 1))
        self.volumes: dict[Any, _Volume] = {key: _Volume(volume, number, None)
                                             for number, (key, volume) in enumerate(partitions(summary).items(), 1)}
        self.first = next(iter(self.volumes.values()), None)
        if self.first is not None:
            self.first.out = out
            out.write(_volume_head(self.first.volume))

    def add(self, record: dict[str, Any]) -> None:
        key = record.get("volume")
        volume = self.volumes.get(key)
        if volume is None:
            volume = self.volumes[key] = _Volume({"offset": 0, "index": key}, len(self.volumes) + 1, None)
        if volume.out is None:
            volume.out = self.out.spool()
        volume.out.write(fileobject(record, volume.partition, volume.offset))

    def add_rendered(self, key: Any, source: int, offset: int, size: int) -> None:
        """A file object ``report.ahead`` rendered for the summary's volume ``key`` (``volume_places``): copied."""
        volume = self.volumes[key]
        if volume.out is None:
            volume.out = self.out.spool()
        volume.out.copy(source, offset, size)

    def finish(self) -> None:
        out = self.out
        for volume in self.volumes.values():
            if volume is not self.first:
                out.write(_volume_head(volume.volume))
                if volume.out is not None:
                    out.splice(volume.out)
            out.write(_volume_tail(volume.volume))
        out.write(_render(_triage_source(self.summary), 1) + "</dfxml>\n")


def volume_places(summary: dict[str, Any]) -> dict[Any, tuple[int, Any]]:
    """Each summary volume's ``<partition>`` number and offset by its index, as ``DfxmlWriter`` numbers them."""
    return {key: (number, volume.get("offset")) for number, (key, volume) in enumerate(partitions(summary).items(), 1)}


def render_dfxml(summary: dict[str, Any], records: Iterable[dict[str, Any]]) -> bytes:
    """dfxml.xml as UTF-8 bytes."""
    return render(DfxmlWriter, summary, records)
