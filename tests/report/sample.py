"""A synthetic device as scan.py would write it: summary.json and files.jsonl objects with hostile names.

All data is made up (names, hashes, dates). The names are the ones that break reports: markup, spreadsheet
formulas, quotes and separators, control characters, bidi overrides, undecodable bytes (both as files.jsonl holds
them, ``\\xff`` text, and as a raw lone surrogate), newlines.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

HOSTILE_NAMES: tuple[str, ...] = (
    "<script>alert(1)<.txt",
    '=HYPERLINK("http://x","y")',
    '"quotes".jpg',
    "a;b,c.jpg",
    "\x1b[31mred.jpg",
    "caf\\xff.jpg",  # as records.json_safe writes the undecodable byte 0xff
    "bad\udcff.jpg",  # a raw lone surrogate (surrogateescape of byte 0xff)
    "invoice\u202egpj.exe",  # right-to-left override hides the real extension
    "two\nlines.png",
    "+1-2.jpg",
    "@SUM(A1).png",
    "\tTAB.jpg",
    "-42",
    "plain & <b>bold</b>.jpg",
)
# A hash-set name that is a spreadsheet formula: it starts the ``matches`` cell of files.csv.
FORMULA_SET = '=HYPERLINK("http://x","y")'



def _digest(seed: str) -> dict[str, str]:
    data = seed.encode("utf-8", "surrogatepass")
    return {
        "md5": hashlib.md5(data).hexdigest(),
        "sha1": hashlib.sha1(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def _times(day: int, created: bool = True) -> dict[str, str | None]:
    return {
        "modified": f"2023-03-{day:02d}T10:15:00Z",
        "accessed": f"2023-03-{day:02d}T11:00:00Z",
        "changed": f"2023-03-{day:02d}T10:15:01Z",
        "created": f"2023-02-{day:02d}T09:00:00Z" if created else None,
    }


def record(
    path: str,
    *,
    volume: int | None = 2,
    inode: int | None = 100,
    size: int = 48213,
    allocated: bool = True,
    kind: str | None = "image/jpeg",
    seed: str | None = None,
    matches: list[dict[str, Any]] | None = None,
    errors: list[str] | None = None,
    notes: list[str] | None = None,
    known: bool = False,
    day: int = 4,
    fs: str = "ntfs",
) -> dict[str, Any]:
    """One files.jsonl object, key order as ``FileRecord.to_json``."""
    hashes: dict[str, str | None] = _digest(seed or path) if not errors else dict.fromkeys(("md5", "sha1", "sha256"))
    out: dict[str, Any] = {
        "path": path,
        "volume": volume,
        "fs": fs,
        "inode": inode,
        "size": size,
        "allocated": allocated,
        **hashes,
        "type": kind,
        "ext_mismatch": bool(kind and path.endswith(".txt") and kind.startswith("image/")),
        "times": _times(day, created=fs == "ntfs"),
    }
    if kind and kind.startswith("image/"):
        pdq = hashlib.sha256(b"pdq" + (seed or path).encode("utf-8", "surrogatepass")).hexdigest()
        out.update({"pdq": pdq, "pdq_quality": 88, "phash": pdq[:16]})
    out.update({"known": known, "matches": matches or [], "errors": errors or [], "notes": notes or []})
    return out


def match(hashset: str, category: Any, algorithm: str = "md5", distance: int | None = None) -> dict[str, Any]:
    prefix = "UK Category" if isinstance(category, str) else "Category"
    label = None if category is None else f"{prefix} {category}"
    return {"hashset": hashset, "algorithm": algorithm, "distance": distance, "category": category, "label": label}


def sample_records() -> list[dict[str, Any]]:
    """About twenty streams on two volumes: hits, hostile names, a deleted hit, errors, a video, an ADS."""
    records = [
        record("/Users/alex/Pictures/holiday_001.jpg", inode=201, matches=[match("demo-vics", "A")]),
        record("/Users/alex/Pictures/holiday_002.jpg", inode=202, matches=[match("demo-vics", "B"),
               match("partner-csv", 2)]),
        record("/Users/alex/Downloads/copy of holiday_001.jpg", inode=305, seed="/Users/alex/Pictures/holiday_001.jpg",
               matches=[match("demo-vics", "A")]),
        record("/Users/alex/AppData/Local/Temp/resized.png", inode=412, kind="image/png", size=20480,
               matches=[match("demo-vics", "C", "pdq", 12)], allocated=False),
        record("/$OrphanFiles/OrphanFile-5521", inode=5521, allocated=False, kind="image/jpeg", size=9120,
               matches=[match("partner-csv", 1, "phash", 4)]),
        record("/Users/alex/Videos/clip.mp4", inode=520, kind="video/mp4", size=7_340_032),
        record("/Users/alex/Pictures/landscape.png", inode=521, kind="image/png", size=310_112, day=9),
        record("/Windows/System32/calc.exe", inode=830, kind="application/x-dosexec", size=27_648, known=True),
        record("/Users/alex/Documents/notes.txt", inode=901, kind=None, size=1234),
        record("/Users/alex/Pictures/broken.jpg", inode=903, errors=["read error at offset 4096: bad sector"]),
        record("/Users/alex/Pictures/reused.jpg", inode=904, allocated=False, notes=["inode reused; not hashed"]),
        record("/Users/alex/Pictures/a.png:Zone.Identifier", inode=521, kind=None, size=26),
        record("/DCIM/100MEDIA/IMG_0001.JPG", volume=3, fs="fat32", inode=4, size=1_048_576,
               matches=[match("<i>set</i>", "A", "sha256")]),
    ]
    records.append(record("/Users/alex/Pictures/short.jpg", inode=905, errors=["-1 bytes returned at offset 0",
                                                                              "=cause <b>unknown</b>"]))
    records.append(record("/Users/alex/Pictures/linked.jpg", inode=906, matches=[match(FORMULA_SET, 3)]))
    for number, name in enumerate(HOSTILE_NAMES):
        hit = [match("demo-vics", "B")] if number % 2 == 0 else [match("partner-csv", 1, "pdq", number)]
        kind = None if number % 3 == 2 else "image/jpeg"
        records.append(record(f"/Users/alex/hostile/{name}", inode=1000 + number, kind=kind, matches=hit))
    return records


def sample_summary(records: list[dict[str, Any]] | None = None, verification: str = "verified") -> dict[str, Any]:
    """A summary.json object consistent with ``sample_records`` (key order as summary.summarise)."""
    records = sample_records() if records is None else records
    stored = {"md5": "0f343b0931126a20f133d67c2b018a3b", "sha1": "a9993e364706816aba3e25717850c26c9cd0d89d"}
    computed = dict(stored)
    if verification == "mismatch":
        computed["md5"] = "d41d8cd98f00b204e9800998ecf8427e"
    evidence: dict[str, Any] = {
        "paths": ["/cases/2024-0117/laptop.E01", "/cases/2024-0117/laptop.E02"],
        "format": "EWF (E01)",
        "media_size": 64_424_509_440,
        "stored_hashes": stored,
        "acquisition": {
            "case_number": "OP-2024/0117 <b>",
            "description": "Seized laptop, synthetic demo",
            "evidence_number": "EXH-AB-3",
            "examiner_name": "DC J. Smith",
            "notes": "=cmd|' /C calc'!A0 \x07 <script>x</script>",
            "acquiry_date": "Mon Jan 15 09:12:44 2024",
            "bytes_per_sector": 512,
            "chunk_size": 32768,
            "segments": 2,
        },
    }
    if verification != "absent":
        evidence["computed_hashes"] = {} if verification.startswith("skipped") or verification == "not stored" \
            else computed
        evidence["verification"] = verification
    categories: dict[str, int] = {}
    sets: dict[str, int] = {}
    for r in records:
        for cat in sorted({str(m["category"]) for m in r["matches"]}):
            categories[cat] = categories.get(cat, 0) + 1
        for name in sorted({m["hashset"] for m in r["matches"]}):
            sets[name] = sets.get(name, 0) + 1
    pictures = [r for r in records if (r["type"] or "").startswith("image/")]
    return {
        "tool": {"name": "triage", "version": "0.1.0"},
        "complete": True,
        "started": "2024-01-16T08:00:00Z",
        "finished": "2024-01-16T08:04:31Z",
        "host": "lab-ws-07",
        "command": ["triage", "scan", "/cases/2024-0117/laptop.E01", "-H", "alert:demo.json", "-o", "out dir"],
        "evidence": evidence,
        "volumes": [
            {"index": 0, "offset": 0, "size": 1_048_576, "description": "Unallocated", "role": "unallocated",
             "scheme": "dos", "fs": None, "label": None, "files": 0, "errors": []},
            {"index": 2, "offset": 1_048_576, "size": 53_687_091_200, "description": "NTFS / exFAT (0x07)",
             "role": "partition", "scheme": "dos", "fs": "ntfs", "label": "OS <\x1b>", "files": 26, "errors": [],
             "notes": []},
            {"index": 3, "offset": 53_688_139_776, "size": 2_147_483_648, "description": "Win95 FAT32 (0x0c)",
             "role": "partition", "scheme": "dos", "fs": "fat32", "label": "CAMERA", "files": 1, "errors": [],
             "notes": []},
            {"index": 4, "offset": 55_835_623_424, "size": 8_588_886_016, "description": "NTFS / exFAT (0x07)",
             "role": "partition", "scheme": "dos", "fs": None, "label": None, "files": 0,
             "errors": ["encrypted volume (BitLocker) not opened"], "signature": "bitlocker"},
        ],
        "counts": {
            "files": len(records),
            "deleted": sum(1 for r in records if not r["allocated"]),
            "pictures": len(pictures),
            "videos": sum(1 for r in records if (r["type"] or "").startswith("video/")),
            "errors": sum(1 for r in records if r["errors"]),
            "matched": sum(1 for r in records if r["matches"]),
            "known": sum(1 for r in records if r["known"]),
            "unknown_pictures": sum(1 for r in pictures if not r["matches"] and not r["known"]),
            "bytes": sum(r["size"] for r in records),
        },
        "matches_by_category": dict(sorted(categories.items())),
        "matches_by_hashset": dict(sorted(sets.items())),
        "hashsets": [
            {"name": "demo-vics", "format": "vics-2.0", "role": "alert", "entries": 1200,
             "sha256": hashlib.sha256(b"demo-vics").hexdigest()},
            {"name": "partner-csv", "format": "csv", "role": "alert", "entries": 310,
             "sha256": hashlib.sha256(b"partner").hexdigest()},
            {"name": "<i>set</i>", "format": "md5-lines", "role": "alert", "entries": 2,
             "sha256": hashlib.sha256(b"set").hexdigest()},
            {"name": FORMULA_SET, "format": "md5sum", "role": "alert", "entries": 1,
             "sha256": hashlib.sha256(b"formula").hexdigest(), "warnings": 0},
            {"name": "nsrl-demo", "format": "nsrl-rds", "role": "known", "entries": 52_000_000,
             "sha256": hashlib.sha256(b"nsrl").hexdigest(), "warnings": 2},
        ],
        "thresholds": {"pdq": 31, "pdq_min_quality": 50, "phash": 10},
        "errors": ["volume 4 at offset 55835623424: encrypted volume (BitLocker) not opened"],
    }


def sample() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A fresh (summary, records) pair; deep copies so that tests may mutate them."""
    records = sample_records()
    return copy.deepcopy(sample_summary(records)), records
