"""Every hash-set format, detected by content, with malformed lines reported by line number and skipped."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from triage.errors import HashSetError
from triage.known.detect import parse_file
from triage.known.model import ParsedSet, normalise_category

Write = Callable[[str, str | bytes], Path]


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def hexes(parsed: ParsedSet, alg: str) -> list[str]:
    """The hashes of one algorithm, in parse order, as lower-case hex."""
    if alg not in parsed.columns:
        return []
    return [bytes(row).hex() for row in parsed.columns[alg][0]]


def tagged(parsed: ParsedSet, alg: str) -> set[tuple[str, object, object]]:
    """{(hex, category, label)} of one algorithm."""
    keys, tags = parsed.columns[alg]
    return {(bytes(k).hex(), *parsed.tags[int(t)]) for k, t in zip(keys, tags, strict=True)}


# --- plain lists and checksum-tool output ---------------------------------------------------------


def test_plain_list_comments_case_mixed_algorithms_and_malformed_lines(write: Write) -> None:
    lines = [
        "# exported list",
        md5("a").upper(),
        "",
        sha1("b"),
        "not a hash",
        sha256("c"),
        md5("d")[:31],
        "   " + md5("e") + "   ",
        md5("f") + "zz",
    ]
    parsed = parse_file(write("whatever.bin", "\n".join(lines) + "\n"))
    assert parsed.format == "hash-list"
    assert parsed.role == "alert"
    assert hexes(parsed, "md5") == [md5("a"), md5("e")]
    assert hexes(parsed, "sha1") == [sha1("b")]
    assert hexes(parsed, "sha256") == [sha256("c")]
    assert parsed.entries == 4
    assert parsed.warning_count == 3
    assert [w.split(":")[0] for w in parsed.warnings] == ["line 5", "line 7", "line 9"]


def test_plain_list_with_bom_crlf_and_no_final_newline(write: Write) -> None:
    content = b"\xef\xbb\xbf" + f"{md5('a')}\r\n{md5('b').upper()}\r\n{md5('c')}".encode()
    parsed = parse_file(write("list.txt", content))
    assert hexes(parsed, "md5") == [md5("a"), md5("b"), md5("c")]
    assert parsed.warning_count == 0


def test_bulk_path_agrees_with_a_line_by_line_reference(write: Write) -> None:
    """The vectorised parser must give exactly what a naive per-line parser gives, line numbers included."""
    rng = np.random.default_rng(7)
    lines, want, bad = [], [], []
    for i in range(20000):
        value = rng.bytes(16).hex()
        kind = rng.random()
        if kind < 0.9:
            line = value.upper() if rng.random() < 0.3 else value
            want.append(value)
        elif kind < 0.95:
            line = "# comment " + value
        else:
            line = value[: int(rng.integers(1, 32))] + "g"
            bad.append(i + 1)
        lines.append(line)
    parsed = parse_file(write("big.md5", "\n".join(lines)))
    assert hexes(parsed, "md5") == want
    assert parsed.warning_count == len(bad)
    kept = parsed.warnings[:-1]  # the last one says how many more there were
    assert [int(w.split(":")[0].split()[1]) for w in kept] == bad[: len(kept)]
    assert parsed.warnings[-1] == f"... and {len(bad) - len(kept)} more warnings"


@pytest.mark.parametrize(
    ("hasher", "fmt"),
    [(md5, "md5sum"), (sha1, "sha1sum"), (sha256, "sha256sum")],
    ids=["md5", "sha1", "sha256"],
)
def test_checksum_tool_output(write: Write, hasher: Callable[[str], str], fmt: str) -> None:
    content = (
        f"{hasher('a')}  dir/a file.jpg\n"
        f"{hasher('b')} *binary.png\n"
        f"\\{hasher('c')}  dir/new\\nline.gif\n"
        f"{hasher('d')[:-2]}  truncated.jpg\n"
    )
    parsed = parse_file(write("SUMS", content))
    alg = fmt[: -len("sum")]
    assert parsed.format == fmt
    assert hexes(parsed, alg) == [hasher("a"), hasher("b"), hasher("c")]
    assert len(parsed.warnings) == 1
    assert parsed.warnings[0].startswith(f"line 4: not an md5, sha1 or sha256 hash: '{hasher('d')[:20]}")


def test_bsd_style_checksums(write: Write) -> None:
    content = f"MD5 (a.jpg) = {md5('a')}\nSHA256 (b.jpg) = {sha256('b').upper()}\nMD5 (c.jpg) = 1234\n"
    parsed = parse_file(write("bsd.txt", content))
    assert parsed.format == "md5sum"
    assert hexes(parsed, "md5") == [md5("a")]
    assert hexes(parsed, "sha256") == [sha256("b")]
    assert parsed.warnings[0].startswith("line 3:")


# --- hashdeep -------------------------------------------------------------------------------------


def test_hashdeep(write: Write) -> None:
    content = "\n".join(
        [
            "%%%% HASHDEEP-1.0",
            "%%%% size,md5,sha256,filename",
            "## Invoked from: /home/examiner",
            "## $ hashdeep -r /data",
            "##",
            f"10,{md5('a')},{sha256('a')},/data/a.jpg",
            f"11,{md5('b').upper()},{sha256('b').upper()},/data/with, comma.jpg",
            f"12,{md5('c')[:30]},{sha256('c')},/data/bad.jpg",
            "13,onlytwo",
        ]
    )
    parsed = parse_file(write("audit.txt", content))
    assert parsed.format == "hashdeep"
    assert hexes(parsed, "md5") == [md5("a"), md5("b")]
    assert hexes(parsed, "sha256") == [sha256("a"), sha256("b")]
    assert parsed.entries == 2
    assert parsed.warnings == ["line 8: malformed md5", "line 9: 2 fields, header has 4"]


# --- CSV ------------------------------------------------------------------------------------------


def test_csv_with_categories_names_and_perceptual_columns(write: Write) -> None:
    pdq, phash = "ab" * 32, "cd" * 8
    content = "\n".join(
        [
            "# comment before the header",
            "MD5,SHA-1,Category,Name,PDQ,pHash,notes",
            f"{md5('a').upper()},{sha1('a')},1,first series,{pdq.upper()},{phash},x",
            f'{md5("b")},,A,"quoted, name",,,',
            f"{md5('c')},,,,,,",
            f"{md5('d')}xx,,1,bad,,,",
            ",,2,no hash,,,",
            f"{md5('e')},,2,,,{phash[:-1]},",
        ]
    )
    parsed = parse_file(write("set.csv", content))
    assert parsed.format == "csv"
    assert tagged(parsed, "md5") == {
        (md5("a"), 1, "first series"),
        (md5("b"), "A", "quoted, name"),
        (md5("c"), None, None),
    }
    assert tagged(parsed, "pdq") == {(pdq, 1, "first series")}
    assert tagged(parsed, "phash") == {(phash, 1, "first series")}
    assert hexes(parsed, "sha1") == [sha1("a")]
    assert parsed.entries == 3
    assert [w.split(":")[0] for w in parsed.warnings] == ["line 6", "line 7", "line 8"]


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_csv_other_delimiters_and_derived_labels(write: Write, delimiter: str) -> None:
    content = f"sha256{delimiter}category\n{sha256('a')}{delimiter}3\n"
    parsed = parse_file(write("set.tsv", content))
    assert parsed.format == "csv"
    assert tagged(parsed, "sha256") == {(sha256("a"), 3, "Category 3")}


def test_single_column_csv_header_is_not_a_malformed_list(write: Write) -> None:
    parsed = parse_file(write("list.txt", f"md5\n{md5('a')}\n"))
    assert parsed.format == "csv"
    assert hexes(parsed, "md5") == [md5("a")]
    assert parsed.warning_count == 0


# --- VICS -----------------------------------------------------------------------------------------


def vics_media(
    seed: str, category: object, pdq: str | None = None, phash: str | None = None
) -> dict[str, object]:
    alternatives = [{"AlgorithmName": "SHA256", "HashValue": sha256(seed).upper()}]
    if pdq:
        alternatives.append({"AlgorithmName": "PDQ", "HashValue": pdq})
    if phash:
        alternatives.append({"AlgorithmName": "pHash", "HashValue": phash})
    alternatives.append({"AlgorithmName": "PhotoDNA", "HashValue": "AAAA"})
    return {
        "MediaID": seed,
        "Category": category,
        "MD5": md5(seed).upper(),
        "SHA1": sha1(seed),
        "MediaSize": 1234,
        "AlternativeHashes": alternatives,
    }


def test_vics_1_media(write: Write) -> None:
    doc = {
        "odata.metadata": "http://github.com/ICMEC/ProjectVic/DataModels/1.3.xml#Media",
        "value": [vics_media("a", 1), vics_media("b", 2), "junk", {"MediaID": 9, "Category": 1}],
    }
    parsed = parse_file(write("export.json", json.dumps(doc)))
    assert parsed.format == "vics-1.3"
    assert tagged(parsed, "md5") == {(md5("a"), 1, "Category 1"), (md5("b"), 2, "Category 2")}
    assert set(hexes(parsed, "sha256")) == {sha256("a"), sha256("b")}
    assert parsed.warnings == ["value[2]: not a Media object", "value[3]: no MD5/SHA1/SHA256/PDQ/pHash/vPDQ"]
    assert parsed.info["unused_algorithms"] == {"PhotoDNA": 2}


def test_vics_1_cases_with_media_lists(write: Write) -> None:
    doc = {
        "odata.metadata": "http://github.com/ICMEC/ProjectVic/DataModels/1.2.xml#Cases",
        "value": [
            {"CaseID": "c1", "Media": [vics_media("a", 1)]},
            {"CaseID": "c2", "Media": [vics_media("b", 0), {"MD5": "XYZ", "Category": 1}]},
        ],
    }
    parsed = parse_file(write("cases.json", json.dumps(doc)))
    assert parsed.format == "vics-1.2"
    assert set(hexes(parsed, "md5")) == {md5("a"), md5("b")}
    assert parsed.warnings == ["value[1].Media[1]: malformed md5 'XYZ'"]


@pytest.mark.parametrize(
    ("profile", "category", "label"),
    [("US", 1, "US Category 1"), ("UK", "A", "UK Category A"), ("Default", 2, "Category 2")],
)
def test_vics_2_profiles_with_bom_and_perceptual_hashes(
    write: Write, profile: str, category: object, label: str
) -> None:
    pdq, phash = "0f" * 32, "A1B2C3D4E5F60718"
    doc = {
        "@odata.context": f"http://github.com/ICMEC/ProjectVic/DataModels/2.0.xml/{profile}/$metadata#Media",
        "value": [vics_media("a", category, pdq=pdq, phash=phash)],
    }
    content = b"\xef\xbb\xbf" + json.dumps(doc, indent=2).encode()
    parsed = parse_file(write("vics2.txt", content))
    assert parsed.format == "vics-2.0"
    assert parsed.info["profile"] == profile
    assert tagged(parsed, "md5") == {(md5("a"), category, label)}
    assert tagged(parsed, "pdq") == {(pdq, category, label)}
    assert tagged(parsed, "phash") == {(phash.lower(), category, label)}
    assert hexes(parsed, "sha1") == [sha1("a")]


def test_vics_broken_json_and_foreign_json(write: Write) -> None:
    with pytest.raises(HashSetError, match=r"not valid JSON \(line 2"):
        parse_file(write("broken.json", '{"@odata.context": "x",\n "value": [}'))
    with pytest.raises(HashSetError, match="not a VICS set"):
        parse_file(write("other.json", '{"hashes": []}'))


def test_category_normalisation() -> None:
    assert normalise_category(1) == 1
    assert normalise_category(" 2 ") == 2
    assert normalise_category("A") == "A"
    assert normalise_category("") is None
    assert normalise_category(None) is None
    assert normalise_category(3.0) == 3


# --- NSRL RDS v3 ----------------------------------------------------------------------------------


def make_nsrl(path: Path, table: str, rows: list[tuple[str, str, str]]) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE VERSION (version VARCHAR, build_set VARCHAR)")
    if table == "DISTINCT_HASH":
        conn.execute(
            "CREATE TABLE DISTINCT_HASH "
            "(sha256 VARCHAR NOT NULL, sha1 VARCHAR NOT NULL, md5 VARCHAR NOT NULL)"
        )
        conn.executemany("INSERT INTO DISTINCT_HASH VALUES (?, ?, ?)", rows)
    else:
        conn.execute(
            "CREATE TABLE FILE (sha256 VARCHAR NOT NULL, sha1 VARCHAR NOT NULL, md5 VARCHAR NOT NULL, "
            "crc32 VARCHAR NOT NULL, file_name VARCHAR NOT NULL, file_size INTEGER NOT NULL, "
            "package_id INTEGER NOT NULL)"
        )
        conn.executemany("INSERT INTO FILE VALUES (?, ?, ?, '00000000', 'f.dll', 1, 1)", rows)
    conn.commit()
    conn.close()
    return path


@pytest.mark.parametrize("table", ["DISTINCT_HASH", "FILE"])
def test_nsrl_rds_v3(tmp_path: Path, table: str) -> None:
    rows = [(sha256(s).upper(), sha1(s).upper(), md5(s).upper()) for s in ("a", "b", "c")]
    rows.append(("", "NOTHEX", "ZZ"))
    path = make_nsrl(tmp_path / "RDS_2024.03.1_modern_minimal.db", table, rows)
    before = path.read_bytes()
    parsed = parse_file(path)
    assert parsed.format == "nsrl-rds-v3"
    assert parsed.role == "known"
    assert parsed.info["table"] == table
    assert hexes(parsed, "md5") == [md5("a"), md5("b"), md5("c")]
    assert hexes(parsed, "sha256") == [sha256("a"), sha256("b"), sha256("c")]
    assert parsed.entries == 3
    assert parsed.warnings == ["row 4: no valid hash"]
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no journal or WAL left beside it


def test_sqlite_that_is_not_nsrl(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "other.db")
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(HashSetError, match="without NSRL RDS v3 tables"):
        parse_file(tmp_path / "other.db")


# --- detection failures ---------------------------------------------------------------------------


def test_unknown_empty_and_missing(write: Write, tmp_path: Path) -> None:
    with pytest.raises(HashSetError, match="unknown hash-set format"):
        parse_file(write("notes.txt", "Dear colleague,\nplease find attached\n"))
    with pytest.raises(HashSetError, match="empty"):
        parse_file(write("empty.md5", ""))
    with pytest.raises(HashSetError, match="cannot be read"):
        parse_file(tmp_path / "absent.md5")
    with pytest.raises(HashSetError, match="unknown hash-set format"):
        parse_file(
            write("random.bin", bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8)))
        )


def test_utf16_list(write: Write) -> None:
    parsed = parse_file(write("win.txt", f"{md5('a')}\r\n{md5('b')}\r\n".encode("utf-16")))
    assert hexes(parsed, "md5") == [md5("a"), md5("b")]
