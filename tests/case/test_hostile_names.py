r"""Hostile names in a case directory: undecodable bytes, escape sequences, links that loop, FIFOs, sockets.

Issue 12 items 4, 6 and 8: a file named ``bad\xff.raw`` made the whole case fail (SQLite and JSON cannot carry
a lone surrogate); a FIFO must be skipped without being opened (opening it blocks); names reach the terminal
escaped. Every input is built here in tmp from the committed fixture images.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, fixture_image
from triage.case.discover import base_name, discover
from triage.case.store import CaseStore, db_path, from_db

BAD = b"bad\xff.raw"
ANSI = b"scr\x1b[2Jeen[red]x[bold].raw"


def triage_bytes(*args: str | Path | bytes, timeout: float = 300) -> subprocess.CompletedProcess[bytes]:
    """The real command line; stdout/stderr kept as bytes, so a raw escape or a bad byte cannot hide."""
    argv = [os.fsencode(a) if isinstance(a, str | Path) else a for a in args]
    return subprocess.run([sys.executable.encode(), b"-m", b"triage.cli", *argv], capture_output=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, "COLUMNS": "200"}, check=False)


def hostile_case(tmp_path: Path) -> Path:
    """A case folder: one device with an undecodable name, one with escapes and markup, one plain, and traps."""
    case = tmp_path / "case"
    case.mkdir()
    shutil.copyfile(fixture_image("usb.raw"), os.path.join(os.fsencode(case), BAD))
    shutil.copyfile(fixture_image("usb.raw"), os.path.join(os.fsencode(case), ANSI))
    shutil.copyfile(fixture_image("phone.raw"), case / "phone.raw")
    os.symlink("self", case / "self")  # a link to itself
    os.symlink("ring-b", case / "ring-a")
    os.symlink("ring-a", case / "ring-b")
    os.mkfifo(case / "pipe.raw")  # opening it would block for ever
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(case / "sock.raw"))
    return case


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[bytes]]:
    tmp_path = tmp_path_factory.mktemp("hostile-case")
    case = hostile_case(tmp_path)
    out = tmp_path / "out"
    return out, triage_bytes("case", case, "-o", out, "-j", "2")


def test_every_device_scanned(ran: tuple[Path, subprocess.CompletedProcess[bytes]]) -> None:
    out, proc = ran
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "case.json").read_bytes().decode("utf-8"))  # strict UTF-8
    devices = {d["name"]: d for d in summary["devices"]}
    assert sorted(devices) == ["bad_xff", "phone", "scr_x1b[2Jeen[red]x[bold]"]
    assert {d["status"] for d in devices.values()} == {"done"}
    assert devices["bad_xff"]["evidence"]["relpath"] == "bad\\xff.raw"  # the raw byte shown, reversibly
    assert devices["bad_xff"]["evidence"]["paths"][0].endswith("/bad\\xff.raw")
    assert devices["bad_xff"]["counts"]["files"] == devices["scr_x1b[2Jeen[red]x[bold]"]["counts"]["files"] > 0
    for name in devices:
        assert (out / name / "summary.json").exists()
    assert summary["totals"]["done"] == 3 and summary["failures"] == []


def test_traps_skipped_with_reasons(ran: tuple[Path, subprocess.CompletedProcess[bytes]]) -> None:
    out, _proc = ran
    skipped = {s["path"]: (s["reason"], s["error"]) for s in json.loads((out / "case.json").read_text())["skipped"]}
    assert skipped == {
        "pipe.raw": ("not evidence: a FIFO (named pipe)", False),
        "sock.raw": ("not evidence: a socket", False),
        "self": ("symlink loop (nothing behind it)", False),
        "ring-a": ("symlink loop (nothing behind it)", False),
        "ring-b": ("symlink loop (nothing behind it)", False),
    }


def test_reports_and_terminal_carry_no_raw_bytes(ran: tuple[Path, subprocess.CompletedProcess[bytes]]) -> None:
    out, proc = ran
    page = (out / "case.html").read_bytes().decode("utf-8")
    assert "\x1b" not in page and "bad\\xff.raw" in page and "scr\\x1b[2Jeen[red]x[bold].raw" in page
    assert b"\x1b" not in (out / "case.json").read_bytes()
    assert b"\x1b" not in proc.stderr and b"\xff" not in proc.stderr
    text = proc.stderr.decode("utf-8")
    assert "bad\\xff.raw" in text  # shown escaped, not replaced
    assert "scr\\x1b[2Jeen[red]x[bold].raw" in text  # rich did not take [red] as markup


def test_second_run_reuses_the_devices(ran: tuple[Path, subprocess.CompletedProcess[bytes]]) -> None:
    """The store kept the undecodable name losslessly: the next run finds the same device under the same name."""
    out, _proc = ran
    again = triage_bytes("case", out.parent / "case", "-o", out, "-j", "2")
    assert again.returncode == 0, again.stderr
    assert again.stderr.count(b"done earlier") == 3
    db = sqlite3.connect(out / "case.sqlite")
    try:
        rows = dict(db.execute("SELECT relpath, name FROM devices").fetchall())
    finally:
        db.close()
    assert rows["bad\\xff.raw"] == "bad_xff"


def test_db_form_is_reversible() -> None:
    for text in ["plain.raw", "bad\udcff.raw", "a\\b.raw", "a\\xff\udcfe", "\\", "\x1b[2J"]:
        stored = db_path(text)
        stored.encode("utf-8")  # SQLite and JSON can carry it
        assert from_db(stored) == text


def test_schema_1_store_is_upgraded(tmp_path: Path) -> None:
    """A store written before names were escaped keeps its devices: backslashes are doubled once, on open."""
    store = CaseStore(tmp_path / "case.sqlite")
    with store.tx() as db:
        db.execute("UPDATE meta SET value='1' WHERE key='schema'")
        db.execute("INSERT INTO devices (name, relpath, paths, status) VALUES ('a_b', 'x\\a\\b.raw', ?, 'done')",
                   (json.dumps(["/case/x\\a\\b.raw"]),))
    store.close()
    store = CaseStore(tmp_path / "case.sqlite")
    try:
        assert store.known_names() == {"x\\a\\b.raw": "a_b"}
        assert store.device("a_b")["paths"] == ["/case/x\\\\a\\\\b.raw"]
        assert store.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0] == "2"
    finally:
        store.close()
    store = CaseStore(tmp_path / "case.sqlite")  # opening again changes nothing
    try:
        assert store.known_names() == {"x\\a\\b.raw": "a_b"}
    finally:
        store.close()


@pytest.mark.parametrize(("name", "folder"), [("bad\udcff.raw", "bad_xff"), ("e\x1b[2J.raw", "e_x1b[2J"),
                                              ("rtl\u202egpj.exe", "rtl_u202egpj"), ("a\\b.raw", "a_b"),
                                              ("\udcff\udcfe", "_xff_xfe")])
def test_device_folder_name_is_plain_text(name: str, folder: str) -> None:
    assert base_name(Path("/case") / name) == folder


def test_discovery_never_opens_a_fifo(tmp_path: Path) -> None:
    """In process: a FIFO is judged from stat alone (this test would hang otherwise, as the bug did)."""
    os.mkfifo(tmp_path / "disk.E01")
    shutil.copyfile(fixture_image("phone.raw"), tmp_path / "phone.raw")
    found = discover(tmp_path)
    assert [d.relpath for d in found.devices] == ["phone.raw"]
    assert [(s.path, s.reason) for s in found.skipped] == [("disk.E01", "not evidence: a FIFO (named pipe)")]
