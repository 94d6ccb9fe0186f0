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


def _text(value: Any) -> str:
    """``_value`` with the common case (a str) first."""
    if type(value) is str:
        return _string(value)
    return _value(value)


_RUNS = ', "byte_runs": '
assert TIME_KEYS == ("modified", "accessed", "changed", "created"), "record_line writes the times in this order"


def _runs_text(runs: list[tuple[int, int, int]]) -> str:
    if len(runs) == 1:
        start, where, length = runs[0]
        if type(start) is int and type(where) is int and type(length) is int:
            return f"[[{start}, {where}, {length}]]"
    return "[" + ", ".join("[" + ", ".join(_value(item) for item in run) + "]" for run in runs) + "]"


def record_line(record: FileRecord) -> str:
    """The record's files.jsonl line (no newline): ``json.dumps(record.to_json(), ensure_ascii=False)``.

    One f-string (no list of parts, no generator for the times): half the cost of joining parts (issue 17).
    """
    if (record.matches or record.snapshot is not None or record.identifier is not None or record.pdq
            or record.phash or record.type in PICTURE_TYPES):
        return encode(record.to_json())
    try:
        v = _text
        get = record.times.get
        runs, errors, notes = record.byte_runs, record.errors, record.notes
        return (
            f'{{"id": {v(record.id)}, "parent": {v(record.parent)}, "origin": {v(record.origin)}, '
            f'"location": {_string(json_safe(record.location or record.path))}, '
            f'"path": {_string(json_safe(record.path))}, "volume": {v(record.volume)}, "fs": {v(record.fs)}, '
            f'"inode": {v(record.inode)}, "size": {v(record.size)}, "allocated": {v(record.allocated)}, '
            f'"md5": {v(record.md5)}, "sha1": {v(record.sha1)}, "sha256": {v(record.sha256)}, '
            f'"type": {v(record.type)}, "ext_mismatch": {v(record.ext_mismatch)}, "times": {{'
            f'"modified": {v(get("modified"))}, "accessed": {v(get("accessed"))}, '
            f'"changed": {v(get("changed"))}, "created": {v(get("created"))}}}'
            f'{"" if runs is None else _RUNS + _runs_text(runs)}, "known": {v(record.known)}, "matches": [], '
            f'"errors": [{", ".join(v(text) for text in errors) if errors else ""}], '
            f'"notes": [{", ".join(v(text) for text in notes) if notes else ""}]}}'
        )
    except (TypeError, AttributeError):
        return encode(record.to_json())
