"""files.jsonl lines written directly (``triage.model.jsonline``) equal the generic encoder's, byte for byte."""

from __future__ import annotations

import random

from triage.model.jsonline import encode, record_line
from triage.model.record import FileRecord, decode_name
from triage.model.times import iso_utc

HOSTILE = ["", "plain.txt", "é ü 漢字", "quote\"back\\slash", "tab\tnew\nline\r", "\x00\x1f\x7f", "\u2028\u2029",
           "\u202egnp.exe", decode_name(b"bad\xff\xfebytes"), "emoji 😀", "\\x41 looks escaped", "a:stream"]


def _records(rng: random.Random, count: int) -> list[FileRecord]:
    out = []
    for k in range(count):
        record = FileRecord(rng.choice(HOSTILE) + "/" + rng.choice(HOSTILE), rng.choice([None, 0, 3]),
                            rng.choice(["ext4", "ntfs", "fat32"]), rng.choice([None, 5, 2**40]),
                            rng.choice([0, 1, 2**63 - 1]), rng.random() < 0.5)
        record.id = rng.choice([str(k), f"{k}.{rng.randint(0, 9)}"])
        record.parent = rng.choice([None, "3"])
        record.origin = rng.choice(["filesystem", "archive", "carved", "extraction"])
        record.location = rng.choice(["", rng.choice(HOSTILE) + " » " + rng.choice(HOSTILE)])
        if rng.random() < 0.7:
            record.md5, record.sha1, record.sha256 = "a" * 32, "b" * 40, "c" * 64
        record.type = rng.choice([None, "text/plain", "application/zip", "video/mp4", "image/jpeg"])
        record.ext_mismatch = rng.random() < 0.2
        record.times = {key: rng.choice([None, iso_utc(1_700_000_000, rng.randint(0, 10**9))])
                        for key in ("modified", "accessed", "changed", "created")}
        record.byte_runs = rng.choice([None, [(0, 4096, 10)], [(0, 1, 2), (2, 10, 3)]])
        record.known = rng.random() < 0.1
        record.errors = rng.sample(HOSTILE, rng.randint(0, 2))
        record.notes = rng.sample(HOSTILE, rng.randint(0, 2))
        if rng.random() < 0.1:
            record.matches = [{"hashset": "s", "algorithm": "md5", "distance": 0, "category": None}]
        if rng.random() < 0.05:
            record.snapshot = 2
        if rng.random() < 0.05:
            record.identifier = rng.choice(HOSTILE)
        if rng.random() < 0.05:
            record.pdq, record.pdq_quality, record.phash = "0" * 64, 90, "1" * 16
        out.append(record)
    return out


def test_the_direct_line_is_the_encoder_line() -> None:
    for record in _records(random.Random(17), 5000):
        assert record_line(record) == encode(record.to_json())


def test_unexpected_value_types_take_the_generic_path() -> None:
    record = FileRecord("/a", None, "ext4", 5, 10, True)
    record.id = "0"
    record.size = 10.5  # not an int: the encoder writes it as a float; so does the fallback
    record.times = {"modified": None}
    assert record_line(record) == encode(record.to_json())
