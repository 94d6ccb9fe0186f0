"""Hostile VICS hash sets (issue 12, item 7): deep nesting, oversized items, and memory that must not scale.

Every input is generated here into tmp_path. The command line runs in a child process started by a small
wrapper whose ``RUSAGE_CHILDREN`` peak is that one command's, not every child this pytest process ever had.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from triage.errors import HashSetError
from triage.known.detect import parse_file

ROOT = Path(__file__).resolve().parents[2]
CONTEXT = "http://github.com/ICMEC/ProjectVic/DataModels/2.0.xml/US/$metadata#Media"
MEASURE = (
    "import json, resource, subprocess, sys\n"
    "p = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=300)\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "print(json.dumps([p.returncode, p.stdout, p.stderr, peak / 1024]))\n"
)
MD5 = "d41d8cd98f00b204e9800998ecf8427e"


def triage_measured(*args: str | Path, cache: Path) -> tuple[int, str, str, float]:
    """Run ``triage ARGS`` in a fresh process: (exit code, stdout, stderr, its peak RSS in MB)."""
    command = [sys.executable, "-c", MEASURE, sys.executable, "-m", "triage.cli", *(str(a) for a in args)]
    env = {**os.environ, "TRIAGE_CACHE_DIR": str(cache), "COLUMNS": "200"}
    out = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT, env=env, check=True)
    code, stdout, stderr, peak = json.loads(out.stdout)
    return code, stdout, stderr, peak


def assert_refused(code: int, stdout: str, stderr: str, *texts: str) -> None:
    """Exit 2 (HashSetError), one line on stderr saying it is not a valid hash set, no traceback."""
    assert code == 2, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr
    for text in ("not a valid hash set", *texts):
        assert text in lines[0], (text, lines[0])
    assert stdout == ""


def deep_arrays(depth: int) -> str:
    return "[" * depth + "]" * depth


def deep_media_files(depth: int) -> str:
    inner = json.dumps({"MD5": MD5, "Category": 1})
    nested = '{"MediaFiles": [' * depth + inner + "]}" * depth
    return f'{{"@odata.context": "{CONTEXT}", "value": [{nested}]}}'


HOSTILE = {
    "arrays-200k.json": deep_arrays(200_000),
    "value-arrays-200k.json": f'{{"@odata.context": "{CONTEXT}", "value": {deep_arrays(200_000)}}}',
    "item-arrays-200k.json": f'{{"@odata.context": "{CONTEXT}", "value": [{deep_arrays(200_000)}]}}',
    "media-files-100k.json": deep_media_files(100_000),
    "media-files-100.json": deep_media_files(100),  # deep enough to refuse, too shallow for RecursionError
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_deeply_nested_set_is_refused_by_hashset_info(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(HOSTILE[name])
    code, stdout, stderr, peak = triage_measured("hashset", "info", path, cache=tmp_path / "cache")
    assert_refused(code, stdout, stderr)
    assert peak < 400, f"peak RSS {peak:.0f} MB"
    with pytest.raises(HashSetError, match="not a valid hash set"):
        parse_file(path)


def test_deeply_nested_set_is_refused_by_scan_before_reading_evidence(tmp_path: Path) -> None:
    hashset = tmp_path / "deep.json"
    hashset.write_text(HOSTILE["media-files-100k.json"])
    image = tmp_path / "usb.raw"
    image.write_bytes(bytes(64 * 1024))
    out = tmp_path / "out"
    code, stdout, stderr, _peak = triage_measured(
        "scan", image, "-j", "1", "-H", hashset, "-o", out, cache=tmp_path / "cache"
    )
    assert_refused(code, stdout, stderr, "nesting deeper than 64")
    assert not out.exists() or not any(out.iterdir())


def test_oversized_item_and_junk_are_refused(tmp_path: Path) -> None:
    huge = json.dumps({"@odata.context": CONTEXT, "value": [{"MD5": MD5, "Note": "x" * (3 << 20)}]})
    (tmp_path / "huge.json").write_text(huge)
    with pytest.raises(HashSetError, match=r"not a valid hash set: .*larger than 1 MiB \(line 1, column"):
        parse_file(tmp_path / "huge.json")
    trailing = json.dumps({"@odata.context": CONTEXT, "value": []}) + " ]"
    (tmp_path / "trailing.json").write_text(trailing)
    with pytest.raises(HashSetError, match=r"not valid JSON \(line 1, column"):
        parse_file(tmp_path / "trailing.json")
    categories = [{"MD5": f"{i:032x}", "Category": f"c{i}"} for i in range(5000)]
    (tmp_path / "categories.json").write_text(json.dumps({"@odata.context": CONTEXT, "value": categories}))
    with pytest.raises(HashSetError, match="more than 4096 distinct categories"):
        parse_file(tmp_path / "categories.json")


def test_csv_and_hashdeep_rows_over_the_csv_field_limit_are_warnings(tmp_path: Path) -> None:
    """Found by the fuzz harness's nested inputs: ``csv.Error`` (a field over 128 KiB) escaped the parsers."""
    big = "x" * 200_000
    other = "0cc175b9c0f1b6a831c399e269772661"
    (tmp_path / "set.csv").write_text(f"md5,name\n{MD5},{big}\n{other},b\n")
    parsed = parse_file(tmp_path / "set.csv")
    assert parsed.entries == 1
    assert parsed.warnings == ["line 2: not a CSV row (field larger than field limit (131072))"]
    (tmp_path / "hashdeep.txt").write_text(f'%%%% HASHDEEP-1.0\n%%%% size,md5,filename\n1,{MD5},"{big}"\n1,{other},a\n')
    parsed = parse_file(tmp_path / "hashdeep.txt")
    assert parsed.entries == 1
    assert parsed.warnings == ["line 3: not a CSV row (field larger than field limit (131072))"]


def test_case_larger_than_the_item_bound_is_streamed(tmp_path: Path) -> None:
    """A VICS 1.x Case holding 10,000 Media (~2 MB) is walked item by item, with the same result as small ones."""
    media = [
        {"MediaID": i, "Category": i % 3, "MD5": f"{i:032X}", "AlternativeHashes": [
            {"AlgorithmName": "SHA256", "HashValue": f"{i:064x}"}, {"AlgorithmName": "PhotoDNA", "HashValue": "A"}]}
        for i in range(10_000)
    ]
    media[7] = {"MediaID": 7, "MD5": "XYZ"}
    header = {"odata.metadata": "http://x/DataModels/1.3.xml#Cases"}
    one = tmp_path / "one-case.json"
    one.write_text(json.dumps({**header, "value": [{"CaseID": "c", "Media": media, "Note": "after"}]}))
    split = tmp_path / "small-cases.json"  # context last: read twice
    cases = [{"CaseID": "c", "Media": media[i : i + 100]} for i in range(0, len(media), 100)]
    split.write_text(json.dumps({"value": cases, **header}, indent=1))
    big, small = parse_file(one), parse_file(split)
    assert big.format == small.format == "vics-1.3"
    assert big.entries == small.entries == 9_999
    assert big.warnings == ["value[0].Media[7]: malformed md5 'XYZ'"]
    assert small.warnings == ["value[0].Media[7]: malformed md5 'XYZ'"]
    assert big.info == small.info == {"version": "1.3", "profile": None, "unused_algorithms": {"PhotoDNA": 9_999}}
    for alg in ("md5", "sha256"):
        assert big.columns[alg][0].tobytes() == small.columns[alg][0].tobytes()
        assert big.columns[alg][1].tolist() == small.columns[alg][1].tolist()
    assert big.tags == small.tags


def write_vics(path: Path, entries: int) -> Path:
    """A VICS 2.0 export of ``entries`` Media items (MD5, SHA1, SHA256 and PhotoDNA), one item per line."""
    rng = random.Random(entries)
    with path.open("w", encoding="utf-8") as out:
        out.write(f'{{"@odata.context": "{CONTEXT}",\n "value": [\n')
        for i in range(entries):
            md5, sha1, sha256 = (f"{rng.getrandbits(bits):0{bits // 4}X}" for bits in (128, 160, 256))
            out.write(
                ("," if i else "")
                + f'{{"MediaID": {i}, "Category": {i % 3 + 1}, "MD5": "{md5}", "SHA1": "{sha1}", '
                f'"MediaSize": {1000 + i}, "AlternativeHashes": [{{"AlgorithmName": "SHA256", "HashValue": '
                f'"{sha256}"}}, {{"AlgorithmName": "PhotoDNA", "HashValue": "AAAA{i:08d}"}}]}}\n'
            )
        out.write("]}\n")
    return path


def test_compiling_a_large_vics_set_does_not_scale_with_its_text(tmp_path: Path) -> None:
    """50k vs 250k items: RSS may grow by the hashes kept (68 bytes an item, then sorted), not by the JSON.

    Before streaming, the growth was ~2,000 bytes an item (a 1M-item file peaked at 1.57-2.2 GB).
    """
    peaks = {}
    for entries in (50_000, 250_000):
        source = write_vics(tmp_path / f"vics-{entries}.json", entries)
        code, stdout, stderr, peak = triage_measured("hashset", "compile", source, cache=tmp_path / "cache")
        assert code == 0, stderr
        assert f"{entries:,}" in stdout or str(entries) in stdout, stdout
        peaks[entries] = peak
        source.unlink()
    growth_per_item = (peaks[250_000] - peaks[50_000]) * 2**20 / 200_000
    assert growth_per_item < 600, peaks
    assert peaks[250_000] < 400, peaks
