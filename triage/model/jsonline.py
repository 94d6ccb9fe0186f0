"""A record's files.jsonl line, written directly for the usual record: the same text as encoding ``to_json()``.

Why: on a device of many small files the generic path (a dict per record, then the JSON encoder walking it) was
~7 µs of the ~60 a record costs the scan's main process (issue 17). Most records are plain — no match, no
perceptual hash, no snapshot or identifier — and their line is a fixed frame of scalars. Anything else (or any
value of an unexpected type) takes the generic path; ``tests/model/test_jsonline.py`` holds the two to the same
bytes on hostile values.
"""

from __future__ import annotations

import json
from typing import Any

from triage.analysis.typesniff import PICTURE_TYPES
from triage.model.record import TIME_KEYS, FileRecord, json_safe

_string = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) calls for every str (C)
encode = json.JSONEncoder(ensure_ascii=False).encode  # the generic path, one encoder made once


def _value(value: Any) -> str:
    """A scalar as the JSON encoder writes it; TypeError for anything else (the caller falls back)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    kind = type(value)
    if kind is str:
        return _string(value)
    if kind is int:
        return int.__repr__(value)
    raise TypeError(kind)


def record_line(record: FileRecord) -> str:
    """The record's files.jsonl line (no newline): ``json.dumps(record.to_json(), ensure_ascii=False)``."""
    if (record.matches or record.snapshot is not None or record.identifier is not None or record.pdq
            or record.phash or record.type in PICTURE_TYPES):
        return encode(record.to_json())
    try:
        v = _value
        times = record.times
        parts = [
            '{"id": ', v(record.id), ', "parent": ', v(record.parent), ', "origin": ', v(record.origin),
            ', "location": ', _string(json_safe(record.location or record.path)),
            ', "path": ', _string(json_safe(record.path)), ', "volume": ', v(record.volume), ', "fs": ', v(record.fs),
            ', "inode": ', v(record.inode), ', "size": ', v(record.size), ', "allocated": ', v(record.allocated),
            ', "md5": ', v(record.md5), ', "sha1": ', v(record.sha1), ', "sha256": ', v(record.sha256),
            ', "type": ', v(record.type), ', "ext_mismatch": ', v(record.ext_mismatch), ', "times": {',
            ", ".join(f'"{key}": {v(times.get(key))}' for key in TIME_KEYS), "}",
        ]
        if record.byte_runs is not None:
            parts.append(', "byte_runs": [' + ", ".join(
                "[" + ", ".join(v(item) for item in run) + "]" for run in record.byte_runs) + "]")
        parts += [', "known": ', v(record.known), ', "matches": [], "errors": [',
                  ", ".join(v(text) for text in record.errors), '], "notes": [',
                  ", ".join(v(text) for text in record.notes), "]}"]
        return "".join(parts)
    except (TypeError, AttributeError):
        return encode(record.to_json())
