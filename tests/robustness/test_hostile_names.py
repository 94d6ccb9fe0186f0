"""Hostile names: kept faithfully and reversibly in files.jsonl, never used to build an output path.

The names live in an ext4 made by ``mkfs.ext4 -d`` (plus two edited in the directory block: a name holding
slashes and one holding NUL bytes); every file is matched by a hash set so that every name also reaches the
report, the CSV and the DFXML.
"""

from __future__ import annotations

import csv
import hashlib
import html.parser
import io
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from fixtures.make_corpus import HOSTILE_NAMES, Case
from tests.robustness.conftest import ROOT, case, device_dir, load, triage
from triage.model.record import encode_name


def unescape(path: str) -> bytes:
    r"""Invert records.json_safe for a name that needed it (``\xNN`` for undecodable bytes, ``\\`` doubled)."""
    if "\\" not in path:
        return encode_name(path)
    text = re.sub(r"\\\\|\\x([0-9a-f]{2})",
                  lambda m: "\\" if m.group(0) == "\\\\" else chr(0xDC00 + int(m.group(1), 16)), path)
    return encode_name(text)


def tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def scanned(corpus: dict[str, Case], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """names.raw scanned with a hash set that matches every file (so every name reaches every report)."""
    found = case(corpus, "hostile_names")
    assert found.evidence is not None
    work = tmp_path_factory.mktemp("names")
    contents = [f"hostile name {i}\n".encode() for i in range(len(HOSTILE_NAMES))] + [b"inner\n", b"slash\n",
                                                                                         b"nul\n"]
    (work / "all.md5").write_text("".join(hashlib.md5(c).hexdigest() + "\n" for c in contents))
    root_before, work_before = set(os.listdir(ROOT)), tree(work)
    proc = triage("scan", found.evidence, "-o", work / "out", "-H", work / "all.md5", "-j", "2")
    assert proc.returncode == 0, proc.stderr
    assert set(os.listdir(ROOT)) == root_before  # nothing written where the command ran
    assert tree(work) - work_before == {"out", "out/names", *(f"out/names/{p}" for p in os.listdir(work / "out/names"))}
    return device_dir(work / "out")


def test_every_name_kept_and_reversible(scanned: Path) -> None:
    _, records = load(scanned)
    raw = {unescape(r["path"]) for r in records}
    for name in HOSTILE_NAMES:
        assert b"/" + name in raw, name
    assert b"/dir\x1b]0;title\x07/inner\xff.txt" in raw
    assert b"/a/../../b.txt" in raw  # a slash inside one name: shown as written, never followed
    assert any(r["path"].startswith("/nul") for r in records)  # TSK stops a name at its first NUL
    for line in (scanned / "files.jsonl").read_bytes().splitlines():
        line.decode("utf-8")  # strict UTF-8, one object per line: raw newlines and bytes are escaped
        assert b"\x1b" not in line and b"\n" not in line


def test_distinct_names_stay_distinct(scanned: Path) -> None:
    _, records = load(scanned)
    paths = [r["path"] for r in records]
    assert len(paths) == len(set(paths))


def test_reports_stay_valid(scanned: Path) -> None:
    summary, records = load(scanned)
    assert summary["counts"]["matched"] == len(records) == summary["counts"]["files"]
    page = (scanned / "report.html").read_text(encoding="utf-8")
    html.parser.HTMLParser().feed(page)
    assert "<script>alert(1)" not in page and "\x1b" not in page and "\u202e" not in page
    assert "&lt;script&gt;alert(1)&lt;.txt" in page
    with open(scanned / "files.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == len(records) + 1 and {len(r) for r in rows} == {len(rows[0])}
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), row  # no cell a spreadsheet would run
    for name in ("dfxml.xml",):
        ET.parse(scanned / name)
    for name in ("vics.json", "case.jsonld"):
        json.loads((scanned / name).read_text(encoding="utf-8"))


HOSTILE_EVIDENCE_NAMES = ["...raw", "..raw", "-o.raw", "new\nline.raw", "$(touch pwned).raw", "a\\b.raw", ".raw",
                          " .raw"]


@pytest.mark.parametrize("name", HOSTILE_EVIDENCE_NAMES)
def test_hostile_evidence_file_name_stays_inside_out(corpus: dict[str, Case], tmp_path: Path, name: str) -> None:
    """The evidence file's own name picks the device folder: it must stay one folder inside OUT."""
    source = case(corpus, "fat_dir_loop").evidence
    assert source is not None
    (tmp_path / "ev").mkdir()
    shutil.copy(source, tmp_path / "ev" / name)
    out = tmp_path / "nest" / "out"
    proc = triage("scan", tmp_path / "ev" / name, "-o", out, "-j", "1", timeout=60)
    assert proc.returncode == 0, proc.stderr
    folder = device_dir(out)
    assert folder.parent == out and folder.name not in ("", ".", "..")
    assert (folder / "summary.json").exists()
    assert sorted(os.listdir(tmp_path)) == ["ev", "nest"] and os.listdir(tmp_path / "nest") == ["out"]
    assert os.listdir(tmp_path / "ev") == [name]


@pytest.mark.parametrize(("name", "folder"), [("...E01", "...E01"), ("..E01", "..E01"), ("disk.E01", "disk"),
                                              (".E01", ".E01"), ("a.b.E01", "a.b"), ("...", "...")])
def test_device_name_is_one_child_folder(name: str, folder: str) -> None:
    from triage.scan import device_name, safe_component

    assert device_name(Path("/ev") / name) == folder
    assert safe_component("..") == "_.." and safe_component("a/b") == "a_b" and safe_component("") == "_"


# ---- the terminal (issue 12 item 8): names from the evidence never reach it raw ------------------------------

SCREEN_NAME = b"wipe\x1b[2J\x1b]0;owned\x07[red]red[bold]\x9b\xff.raw"


def run_bytes(*args: str | Path | bytes, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    """The real command line with stderr as bytes: a raw ESC or an undecodable byte cannot be hidden by decoding."""
    argv = [os.fsencode(a) if isinstance(a, str | Path) else a for a in args]
    return subprocess.run([sys.executable.encode(), b"-m", b"triage.cli", *argv], capture_output=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, "COLUMNS": "200"}, check=False)


def assert_clean_terminal(stderr: bytes) -> str:
    """No control character but newline, no undecodable byte, no C1 control: nothing a terminal would act on."""
    text = stderr.decode("utf-8")  # strict
    assert not any((ord(ch) < 0x20 and ch != "\n") or 0x7F <= ord(ch) <= 0x9F for ch in text), text
    return text


def test_evidence_name_escaped_on_terminal(tmp_path: Path) -> None:
    ev = os.path.join(os.fsencode(tmp_path), SCREEN_NAME)
    shutil.copyfile(ROOT / "fixtures/images/usb.raw", ev)
    proc = run_bytes("scan", ev, "-o", tmp_path / "out", "-j", "1")
    assert proc.returncode == 0, proc.stderr
    text = assert_clean_terminal(proc.stderr)
    # the title (the evidence name) and the output line, both escaped, markup shown literally
    assert "wipe\\x1b[2J\\x1b]0;owned\\x07[red]red[bold]\\x9b\\xff.raw" in text, text  # the table's title
    # The device folder's own name has the hidden characters as visible escapes, "_" for the backslash.
    assert "out/wipe_x1b[2J_x1b]0;owned_x07[red]red[bold]_x9b_xff" in text, text


def test_error_message_escaped_on_terminal(tmp_path: Path) -> None:
    """run_guarded's one-line message names the evidence: escaped too (here a FIFO, refused with exit 3)."""
    fifo = os.path.join(os.fsencode(tmp_path), SCREEN_NAME)
    os.mkfifo(fifo)
    proc = run_bytes("scan", fifo, "-o", tmp_path / "out")
    assert proc.returncode == 3, proc.stderr
    text = assert_clean_terminal(proc.stderr)
    lines = text.splitlines()
    assert len(lines) == 1 and "Traceback" not in text
    assert "wipe\\x1b[2J\\x1b]0;owned\\x07[red]red[bold]\\x9b\\xff.raw: is a FIFO (named pipe)" in lines[0]


def test_first_hit_line_escaped(corpus: dict[str, Case], tmp_path: Path) -> None:
    """--first-hit prints the matched file's path: here a folder named with an OSC title sequence and a BEL."""
    found = case(corpus, "hostile_names")
    assert found.evidence is not None
    (tmp_path / "inner.md5").write_text(hashlib.md5(b"inner\n").hexdigest() + "\n")
    proc = run_bytes("scan", found.evidence, "-o", tmp_path / "out", "-H", tmp_path / "inner.md5", "--first-hit",
                     "-j", "1")
    assert proc.returncode == 0, proc.stderr
    text = assert_clean_terminal(proc.stderr)
    assert "FIRST HIT /dir\\x1b]0;title\\x07/inner\\xff.txt" in text, text


@pytest.mark.parametrize(("text", "shown"), [
    ("plain name.raw", "plain name.raw"),
    ("e\x1b[2J", "e\\x1b[2J"),
    ("[red]x[/]", "[red]x[/]"),  # shown as written, not taken as markup
    ("bad\udcff", "bad\\xff"),
    ("c1\x9b", "c1\\u009b"),
    ("del\x7f", "del\\x7f"),
    ("rtl\u202eexe.jpg", "rtl\\u202eexe.jpg"),
    ("back\\slash\x07", "back\\\\slash\\x07"),  # a literal backslash doubled once anything was escaped
])
def test_terminal_safe(text: str, shown: str) -> None:
    """What the examiner sees once rich has rendered the escaped text."""
    from rich.console import Console

    from triage.textsafe import terminal_safe

    out = io.StringIO()
    Console(file=out, width=200, color_system=None, highlight=False).print(terminal_safe(text), end="")
    assert out.getvalue() == shown
