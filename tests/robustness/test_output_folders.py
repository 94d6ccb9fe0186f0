"""Output folders (issue 12, items 1, 5 and 9): no scan replaces another evidence's results, every output name
fits the file system, and a full or read-only output folder is exit 6 with one line and nothing left behind.

The evidence is the committed synthetic ``fixtures/images/usb.raw`` (FAT16, 4 MiB), copied under the names each
test needs. Full and read-only file systems are real: a small tmpfs mounted in a private mount namespace
(``unshare``, so nothing stays mounted if the test dies), skipped where mounting is not allowed; the
permission case drops root's CAP_DAC_OVERRIDE with ``setpriv`` instead, as test_unusable.py does.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.robustness.conftest import ROOT, assert_one_line_error, triage, without_dac_override
from triage.errors import OutputError
from triage.model.record import json_safe
from triage.outdir import DECORATION, evidence_key, fit, name_limit, output_error

USB = ROOT / "fixtures" / "images" / "usb.raw"
EXIT_OUTPUT = 6


def evidence(folder: Path, name: str = "usb.raw") -> Path:
    """A copy of the synthetic USB image as ``folder/name`` (a copy, not a link: another file is other evidence)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    shutil.copyfile(USB, path)
    return path


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes: what 'no result lost or overwritten' compares."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def recorded_evidence(folder: Path) -> list[str]:
    return json.loads((folder / "summary.json").read_text(encoding="utf-8"))["evidence"]["paths"]


def hidden(out: Path) -> list[str]:
    """Temporary (``.<name>.XXXX.tmp``) and ``.old`` folders: never left after a run, whatever happened."""
    return sorted(p.name for p in out.iterdir() if p.name.startswith("."))


def assert_output_error(proc: subprocess.CompletedProcess[str], *texts: str) -> str:
    """Exit 6, one line on stderr holding ``texts``, no traceback, nothing on stdout; returns the line."""
    return assert_one_line_error(proc, *texts, code=EXIT_OUTPUT)


# --- item 1: same-stem evidence ------------------------------------------------------------------------------


def test_same_name_in_one_run_gets_two_folders(tmp_path: Path) -> None:
    a, b = evidence(tmp_path / "a"), evidence(tmp_path / "b")
    out = tmp_path / "out"
    proc = triage("scan", a, b, "-o", out, "-j", "1")
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(out)) == ["usb", "usb-2"]
    assert recorded_evidence(out / "usb") == [str(a)] and recorded_evidence(out / "usb-2") == [str(b)]
    assert "replaced" not in proc.stderr


def test_other_evidence_never_replaced_across_runs(tmp_path: Path) -> None:
    """out/usb from a; b alone in a later run writes usb-2; re-scanning b replaces usb-2 (and says so), not usb."""
    a, b = evidence(tmp_path / "a"), evidence(tmp_path / "b")
    out = tmp_path / "out"
    assert triage("scan", a, "-o", out, "-j", "1").returncode == 0
    a_results = tree(out / "usb")
    first = triage("scan", b, "-o", out, "-j", "2")
    assert first.returncode == 0, first.stderr
    assert "replaced" not in first.stderr
    assert sorted(os.listdir(out)) == ["usb", "usb-2"]
    assert recorded_evidence(out / "usb-2") == [str(b)]
    (out / "usb-2" / "stale.txt").write_text("from the earlier scan of b")
    again = triage("scan", b, "-o", out, "-j", "1")
    assert again.returncode == 0, again.stderr
    assert f"replaced earlier results of the same evidence in {out / 'usb-2'}" in again.stderr
    assert not (out / "usb-2" / "stale.txt").exists()
    assert tree(out / "usb") == a_results
    assert sorted(os.listdir(out)) == ["usb", "usb-2"]


def test_same_evidence_by_another_path_is_a_rescan(tmp_path: Path) -> None:
    """A relative path or a symlink to the same file is the same evidence: its folder is replaced, no usb-2."""
    a = evidence(tmp_path / "a")
    (tmp_path / "link").mkdir()
    (tmp_path / "link" / "usb.raw").symlink_to(a)
    out = tmp_path / "out"
    assert triage("scan", a, "-o", out, "-j", "1").returncode == 0
    for given in ("a/usb.raw", "link/usb.raw"):
        proc = subprocess.run([sys.executable, "-m", "triage.cli", "scan", given, "-o", str(out), "-j", "1"],
                              capture_output=True, text=True, cwd=tmp_path, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert proc.returncode == 0, proc.stderr
        assert f"replaced earlier results of the same evidence in {out / 'usb'}" in proc.stderr
        assert sorted(os.listdir(out)) == ["usb"]
        assert recorded_evidence(out / "usb") == [given]


def test_undecodable_names_are_recognised_on_rescan(tmp_path: Path) -> None:
    """summary.json holds ``bad\\xff.raw`` escaped; a re-scan still knows its own folder from another's."""
    a = evidence(tmp_path / "a", "bad\udcff\\x41.raw")
    b = evidence(tmp_path / "b", "bad\udcff\\x41.raw")
    out = tmp_path / "out"
    assert triage("scan", a, b, "-o", out, "-j", "1").returncode == 0
    assert sorted(os.listdir(out)) == ["bad_xff__x41", "bad_xff__x41-2"]  # hidden bytes shown, "_" for "\\"
    proc = triage("scan", b, "-o", out, "-j", "1")
    assert proc.returncode == 0, proc.stderr
    assert "replaced earlier results of the same evidence" in proc.stderr
    assert sorted(os.listdir(out)) == ["bad_xff__x41", "bad_xff__x41-2"]  # hidden bytes shown, "_" for "\\"
    assert recorded_evidence(out / "bad_xff__x41-2") == [json_safe(str(b))]


def test_folder_not_written_by_triage_is_kept(tmp_path: Path) -> None:
    """A folder we cannot identify (no summary.json) might be anything: it is never replaced."""
    a = evidence(tmp_path / "a")
    out = tmp_path / "out"
    (out / "usb").mkdir(parents=True)
    (out / "usb" / "notes.txt").write_text("the examiner's own notes")
    proc = triage("scan", a, "-o", out, "-j", "1")
    assert proc.returncode == 0, proc.stderr
    assert (out / "usb" / "notes.txt").read_text() == "the examiner's own notes"
    assert sorted(os.listdir(out / "usb")) == ["notes.txt"]
    assert recorded_evidence(out / "usb-2") == [str(a)]


def test_partial_results_of_other_evidence_kept(tmp_path: Path) -> None:
    """a's interrupted scan left usb.incomplete: b's complete scan does not take the name usb beside it."""
    a, b = evidence(tmp_path / "a"), evidence(tmp_path / "b")
    out = tmp_path / "out"
    hashset = _hashset_for(a, tmp_path)
    assert triage("scan", a, "-o", out, "-j", "1", "-H", hashset, "--first-hit").returncode == 0
    assert sorted(os.listdir(out)) == ["usb.incomplete"]
    partial = tree(out / "usb.incomplete")
    proc = triage("scan", b, "-o", out, "-j", "1")
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(out)) == ["usb-2", "usb.incomplete"]
    assert tree(out / "usb.incomplete") == partial


def _hashset_for(image: Path, tmp_path: Path) -> Path:
    """An md5 list holding one file of ``image``, so that ``--first-hit`` stops early (an incomplete folder)."""
    out = tmp_path / "probe"
    assert triage("scan", image, "-o", out, "-j", "1").returncode == 0
    records = [json.loads(line) for line in (out / "usb" / "files.jsonl").read_text().splitlines()]
    listed = tmp_path / "one.md5"
    listed.write_text(next(r["md5"] for r in records if r["md5"]) + "\n")
    shutil.rmtree(out)
    return listed


# --- item 5: long names --------------------------------------------------------------------------------------


def test_255_byte_evidence_names(tmp_path: Path) -> None:
    """Two 255-byte names differing in their last character before the extension: two folders, each fitting."""
    a = evidence(tmp_path / "ev", "x" * 251 + ".raw")
    b = evidence(tmp_path / "ev", "x" * 250 + "y.raw")
    c = evidence(tmp_path / "ev", "é" * 125 + ".raw")  # 254 bytes in UTF-8: cut on whole characters
    out = tmp_path / "out"
    proc = triage("scan", a, b, c, "-o", out, "-j", "2")
    assert proc.returncode == 0, proc.stderr
    names = sorted(os.listdir(out))
    assert len(names) == 3 and not hidden(out)
    assert all(len(os.fsencode(name)) <= 255 - DECORATION for name in names)
    assert {recorded_evidence(out / name)[0] for name in names} == {str(a), str(b), str(c)}
    others = [name for name in names if recorded_evidence(out / name) != [str(b)]]
    before = {name: tree(out / name) for name in others}
    again = triage("scan", b, "-o", out, "-j", "1")
    assert again.returncode == 0, again.stderr
    assert "replaced earlier results of the same evidence" in again.stderr
    assert sorted(os.listdir(out)) == names
    assert {name: tree(out / name) for name in others} == before


def test_255_byte_name_interrupted_folder_fits(tmp_path: Path) -> None:
    """``<name>.incomplete`` (here from --first-hit) fits too."""
    a = evidence(tmp_path / "ev", "z" * 251 + ".raw")
    hashset = _hashset_for(evidence(tmp_path / "probe-ev"), tmp_path)
    out = tmp_path / "out"
    proc = triage("scan", a, "-o", out, "-j", "1", "-H", hashset, "--first-hit")
    assert proc.returncode == 0, proc.stderr
    [name] = os.listdir(out)
    assert name.endswith(".incomplete") and len(os.fsencode(name)) <= 255


@pytest.mark.parametrize("base", ["x" * 300, "é" * 200, "\udcff" * 300, "a" * 230 + "€" * 30, "short"])
def test_every_derived_name_fits(base: str) -> None:
    limit = 255 - DECORATION
    for suffix in ("", "-2", "-99999"):
        name = fit(base, suffix, limit)
        assert name.endswith(suffix)
        for derived in (name, f"{name}.incomplete", f".{name}.abcd_123.tmp", f".{name}.old.4194304"):
            assert len(os.fsencode(derived)) <= 255, derived
    assert fit(base, "", limit) == fit(base, "", limit)
    if len(os.fsencode(base)) > limit:
        assert fit(base, "", limit) != fit(base[:-1] + "q", "", limit)


def test_name_limit_from_the_file_system(tmp_path: Path) -> None:
    assert name_limit(tmp_path / "not" / "yet") == os.pathconf(tmp_path, "PC_NAME_MAX") - DECORATION


def test_evidence_key_undoes_json_safe(tmp_path: Path) -> None:
    """summary.json keeps undecodable bytes as ``\\xNN`` and doubles backslashes: the key reads them back."""
    name = "bad\udcff\\x41.raw"
    assert evidence_key([json_safe(str(tmp_path / name))]) == (str((tmp_path / name).resolve()),)


# --- item 9: full and read-only output ------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "text"), [(errno.ENOSPC, "output folder full: "),
                                            (errno.EDQUOT, "output folder full: "),
                                            (errno.EROFS, "output folder not writable: "),
                                            (errno.EACCES, "output folder not writable: "),
                                            (errno.EPERM, "output folder not writable: "),
                                            (errno.EIO, "cannot write to output folder ")])
def test_output_error_messages(tmp_path: Path, code: int, text: str) -> None:
    error = output_error(OSError(code, os.strerror(code), str(tmp_path / ".usb.x.tmp")), tmp_path, "usb")
    assert isinstance(error, OutputError) and error.exit_code == EXIT_OUTPUT
    assert str(error).startswith(text + str(tmp_path)) and "\n" not in str(error)


def test_output_under_sys_is_not_writable(tmp_path: Path) -> None:
    """/sys refuses new folders even to root (EPERM, or EROFS in containers): exit 6, and the devices not yet
    scanned are named, not silently skipped."""
    if not Path("/sys/kernel").is_dir():
        pytest.skip("no sysfs mounted at /sys")
    out = Path("/sys") / f"triage-out-{os.getpid()}"
    a, b = evidence(tmp_path / "a"), evidence(tmp_path / "b", "disk.raw")
    proc = triage("scan", a, b, "-o", out, "-j", "1")
    assert_output_error(proc, f"output folder not writable: {out}", "(the results of usb were not written)",
                        f"not scanned: {b}")
    assert not out.exists()


def test_permission_denied_keeps_earlier_results(tmp_path: Path) -> None:
    prefix = without_dac_override()
    if prefix is None:
        pytest.skip("setpriv cannot drop CAP_DAC_OVERRIDE here (not root, or no util-linux setpriv)")
    a = evidence(tmp_path / "a")
    out = tmp_path / "out"
    assert triage("scan", a, "-o", out, "-j", "1").returncode == 0
    before = tree(out / "usb")
    out.chmod(0o555)
    try:
        proc = subprocess.run([*prefix, sys.executable, "-m", "triage.cli", "scan", str(a), "-o", str(out),
                               "-j", "1"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    finally:
        out.chmod(0o755)
    assert_output_error(proc, f"output folder not writable: {out}: Permission denied")
    assert tree(out / "usb") == before
    assert sorted(os.listdir(out)) == ["usb"]


def _mounting_allowed(tmp_path: Path) -> str | None:
    """None when a tmpfs can be mounted in a private mount namespace here, else why not."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return "no unshare (util-linux)"
    probe = tmp_path / "probe"
    probe.mkdir()
    proc = subprocess.run([unshare, "--mount", "--propagation", "private", "mount", "-t", "tmpfs", "-o", "size=16k",
                           "tmpfs", str(probe)], capture_output=True, text=True, check=False)
    probe.rmdir()
    return None if proc.returncode == 0 else f"cannot mount a tmpfs here: {proc.stderr.strip() or proc.returncode}"


def in_tmpfs(tmp_path: Path, size_kb: int, steps: str, **env: str) -> Path:
    """Run shell ``steps`` with a ``size_kb`` tmpfs at $MNT, in a private mount namespace (gone when it ends).

    ``triage ARGS`` in the steps runs the CLI; $LOG (outside the tmpfs) is where the steps leave what the test
    checks. Returns $LOG.
    """
    reason = _mounting_allowed(tmp_path)
    if reason:
        pytest.skip(reason)
    mnt, log = tmp_path / "mnt", tmp_path / "log"
    mnt.mkdir()
    log.mkdir()
    script = (f'set -u\nmount -t tmpfs -o size={size_kb}k tmpfs "$MNT"\n'
              'triage() { "$PY" -m triage.cli "$@"; }\n' + steps)
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-ec", script], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "200", "MNT": str(mnt), "LOG": str(log),
                               "PY": sys.executable, **env})
    assert proc.returncode == 0, proc.stderr
    return log


def _result(log: Path, step: str) -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess([step], int((log / f"{step}.rc").read_text()),
                                       (log / f"{step}.out").read_text(), (log / f"{step}.err").read_text())


RUN = ('rc=0; triage scan "$EV" -o "$MNT/out" -j "$J" >"$LOG/{0}.out" 2>"$LOG/{0}.err" || rc=$?\n'
       'echo $rc >"$LOG/{0}.rc"\n')
FILL = ('if [ "$FREE" -gt 0 ]; then dd if=/dev/zero of="$MNT/reserve" bs=1k count="$FREE" 2>/dev/null; fi\n'
        'dd if=/dev/zero of="$MNT/filler" bs=4k 2>/dev/null || true\n'
        'rm -f "$MNT/reserve"\n')


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("free_kb", [0, 8, 24])
def test_full_disk(tmp_path: Path, jobs: int, free_kb: int) -> None:
    """A full output file system, at several points of the writing (nothing fits; files.jsonl and summary.json
    fit but not the reports; some reports fit): exit 6, "output folder full", no temporary folder left, and the
    earlier results of the same evidence untouched."""
    ev = evidence(tmp_path / "ev")
    steps = (RUN.format("first") + 'cp -a "$MNT/out" "$LOG/before"\n' + FILL + RUN.format("full")
             + 'ls -A "$MNT/out" >"$LOG/listing"\ncp -a "$MNT/out" "$LOG/after"\n'
             'rm -rf "$MNT/out" "$MNT/filler"\n' + FILL + RUN.format("fresh")
             + 'ls -A "$MNT/out" >"$LOG/fresh.ls" 2>/dev/null || true\n')
    log = in_tmpfs(tmp_path, 1024, steps, EV=str(ev), J=str(jobs), FREE=str(free_kb))
    assert _result(log, "first").returncode == 0, _result(log, "first").stderr
    mnt_out = tmp_path / "mnt" / "out"
    assert_output_error(_result(log, "full"), f"output folder full: {mnt_out}: No space left on device",
                        "(the results of usb were not written)")
    assert (log / "listing").read_text().split() == ["usb"]
    assert tree(log / "after") == tree(log / "before")
    assert_output_error(_result(log, "fresh"), "output folder full: ")
    assert (log / "fresh.ls").read_text().split() == []


def test_read_only_file_system(tmp_path: Path) -> None:
    """A read-only output file system (tmpfs remounted ro: root cannot write either): exit 6, "output folder not
    writable", earlier results untouched; a new folder on it fails the same way."""
    ev = evidence(tmp_path / "ev")
    steps = (RUN.format("first") + 'cp -a "$MNT/out" "$LOG/before"\nmount -o remount,ro "$MNT"\n'
             + RUN.format("again") + 'ls -A "$MNT/out" >"$LOG/listing"\ncp -a "$MNT/out" "$LOG/after"\n'
             + RUN.replace('"$MNT/out"', '"$MNT/new/out"').format("new"))
    log = in_tmpfs(tmp_path, 1024, steps, EV=str(ev), J="1")
    assert _result(log, "first").returncode == 0
    mnt = tmp_path / "mnt"
    assert_output_error(_result(log, "again"), f"output folder not writable: {mnt / 'out'}: Read-only file system")
    assert (log / "listing").read_text().split() == ["usb"]
    assert tree(log / "after") == tree(log / "before")
    assert_output_error(_result(log, "new"), f"output folder not writable: {mnt / 'new' / 'out'}")

