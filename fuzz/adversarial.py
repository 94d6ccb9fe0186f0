"""Adversarial cases run end to end through the real command line, each with randomised parameters.

Why beside the byte fuzzer: the bugs of issue 12 were not in parsing bytes but in what surrounds a scan: two
evidence files with one name, names the terminal or the file system cannot take, symlink loops and FIFOs given
as evidence, directory trees deeper than TSK's recursion, containers claiming a petabyte, sparse files larger
than their volume, hash sets nested 200,000 deep, output folders that are full or read-only, case folders with
undecodable names. Each class below builds one such situation (sizes, names and depths drawn from a seeded
``random.Random``) and says which exit codes are right; ``check_contract`` then holds every run to the same
contract:

- the exit code is one the class allows (all documented: 0, 2, 3, 5, 6);
- no traceback and no ``internal error``; an error exit prints exactly one line;
- stderr holds no control character but newline (names from evidence are escaped on the terminal);
- no hidden temporary folder is left in the output folder;
- the evidence is unchanged (sha256 of every evidence file before and after);
- the peak RSS of the whole process tree stays under ``RSS_BOUND`` and the run ends within its timeout.

Run ``.venv/bin/python fuzz/run_adversarial.py --seconds 120`` for random rounds;
``tests/robustness/test_adversarial_smoke.py`` runs every class once with a fixed seed.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SEED_IMAGE = ROOT / "fixtures" / "images" / "usb.raw"  # a small FAT volume with pictures
RSS_BOUND = 1536 << 20  # generous: a scan of the seed peaks near 300 MB with two workers
TIMEOUT = 180.0
ALLOWED_CONTROL = {"\n"}


@dataclass
class Trial:
    """One command to run and what makes its outcome right."""

    name: str
    argv: list[str]
    codes: set[int]
    out: Path | None = None
    evidence: list[Path] = field(default_factory=list)
    check: Callable[[subprocess.CompletedProcess[bytes]], list[str]] | None = None
    timeout: float = TIMEOUT


@dataclass
class Result:
    trial: Trial
    code: int | None
    seconds: float
    peak_rss: int
    problems: list[str]


def _fingerprint(paths: list[Path]) -> dict[str, str]:
    found = {}
    for path in paths:
        if path.is_file() and not path.is_symlink():
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        for p in [proc, *proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                continue
    except psutil.Error:
        return 0
    return total


def run_trial(trial: Trial) -> Result:
    """Run the real CLI in a child process, watching its process tree's RSS, then check the contract."""
    before = _fingerprint(trial.evidence)
    cmd = [sys.executable, "-m", "triage.cli", *trial.argv]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                            env={**os.environ, "COLUMNS": "200"})
    peak = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        handle = psutil.Process(proc.pid)
        while not stop.is_set():
            peak = max(peak, _tree_rss(handle))
            stop.wait(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    problems: list[str] = []
    try:
        stdout, stderr = proc.communicate(timeout=trial.timeout)
    except subprocess.TimeoutExpired:
        for child in psutil.Process(proc.pid).children(recursive=True):
            child.kill()
        proc.kill()
        stdout, stderr = proc.communicate()
        problems.append(f"hang: no end within {trial.timeout:.0f} s")
    stop.set()
    watcher.join()
    done = subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
    problems += check_contract(trial, done, before, peak)
    return Result(trial, proc.returncode, time.monotonic() - started, peak, problems)


def check_contract(trial: Trial, proc: subprocess.CompletedProcess[bytes], before: dict[str, str],
                   peak: int) -> list[str]:
    """Every rule of the module docstring; returns the broken ones as short sentences."""
    problems = []
    text = proc.stderr.decode("utf-8", "replace")
    lines = [line for line in text.splitlines() if line.strip()]
    if proc.returncode not in trial.codes:
        problems.append(f"exit {proc.returncode}, expected one of {sorted(trial.codes)}: {lines[-1:]}")
    if "Traceback" in text or "internal error" in text:
        problems.append(f"traceback or internal error: {lines[-1:]}")
    if proc.returncode not in (0, None) and len(lines) != 1:
        problems.append(f"error exit with {len(lines)} lines on stderr")
    try:
        proc.stderr.decode("utf-8")
    except UnicodeDecodeError:
        problems.append("stderr is not valid UTF-8 (a raw byte from the evidence reached the terminal)")
    hidden = sorted({repr(ch) for ch in text if (ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0) and ch not in
                     ALLOWED_CONTROL})
    if hidden:
        problems.append(f"control characters on stderr: {', '.join(hidden)}")
    if trial.out is not None and trial.out.is_dir():
        left = [n for n in os.listdir(trial.out) if n.startswith(".") and (n.endswith(".tmp") or ".old." in n)]
        if left:
            problems.append(f"temporary output left behind: {left}")
    after = _fingerprint(trial.evidence)
    if after != before:
        problems.append("evidence changed")
    if peak > RSS_BOUND:
        problems.append(f"peak RSS {peak >> 20} MiB over {RSS_BOUND >> 20} MiB")
    if trial.check is not None:
        try:
            problems += trial.check(proc)
        except (OSError, ValueError, KeyError) as exc:  # the output the check reads is missing or malformed
            problems.append(f"output missing or unreadable: {exc.__class__.__name__}: {exc}")
    return problems


# ------------------------------------------------------------------ the classes

Maker = Callable[[random.Random, Path], Trial]


def _random_name(rng: random.Random, length: int) -> bytes:
    """A file name of ``length`` bytes mixing ASCII, multibyte UTF-8, undecodable bytes, controls and markup."""
    pieces = [b"a", b"Z", b"0", b" ", b"-", b"\xc3\xa9", b"\xe2\x80\xae", b"\xff", b"\x1b[2J", b"\x07", b"[red]",
              b"[/]", b"\xf0\x9f\x98\x80", b"\\", b"."]
    name = b""
    while len(name) < length:
        name += rng.choice(pieces)
    name = name[:length].lstrip(b".") or b"x"
    return name.replace(b"/", b"_").replace(b"\0", b"_")


def same_name(rng: random.Random, work: Path) -> Trial:
    """Two evidence files with one name in two folders: two device folders, neither overwritten."""
    name = os.fsdecode(_random_name(rng, rng.randint(1, 40)) + b".raw")
    paths = []
    for folder in ("a", "b"):
        (work / folder).mkdir()
        shutil.copy(SEED_IMAGE, work / folder / name)
        paths.append(work / folder / name)
    out = work / "out"

    def two_folders(_proc: subprocess.CompletedProcess[bytes]) -> list[str]:
        held = set()
        for folder in out.iterdir() if out.is_dir() else []:
            summary = folder / "summary.json"
            if summary.is_file():
                held.update(json.loads(summary.read_text(encoding="utf-8"))["evidence"]["paths"])
        return [] if len(held) == 2 else [f"expected the results of 2 evidence files, found {len(held)}"]

    return Trial("same-name", ["scan", *map(str, paths), "-o", str(out), "-j", "1"], {0}, out, paths, two_folders)


def long_name(rng: random.Random, work: Path) -> Trial:
    """An evidence name near or at the 255-byte limit, of any characters."""
    raw = _random_name(rng, rng.randint(200, 251)) + b".raw"
    path = work / os.fsdecode(raw)
    shutil.copy(SEED_IMAGE, path)
    out = work / "out"
    return Trial("long-name", ["scan", str(path), "-o", str(out), "-j", "1"], {0}, out, [path])


def special_evidence(rng: random.Random, work: Path) -> Trial:
    """A symlink loop, a ring, a dangling link, a FIFO, a socket or a character device given as evidence."""
    from fixtures.special_files import make_special

    kind = rng.choice(["loop", "ring", "dangling", "fifo", "socket", "chardev"])
    path = make_special(work, kind, f"ev-{kind}.raw")
    return Trial(f"special-{kind}", ["scan", str(path), "-o", str(work / "out")], {3}, work / "out", timeout=60)


def deep_tree(rng: random.Random, work: Path) -> Trial:
    """Directories nested hundreds to thousands deep: the file at the bottom is found."""
    from fixtures.walk_cases import DEEP_PAYLOAD, deep_ext4

    levels = rng.choice([300, 1_000, 5_000, 20_000])
    image = deep_ext4(work, levels)
    out = work / "out"
    want = hashlib.md5(DEEP_PAYLOAD).hexdigest()

    def found(_proc: subprocess.CompletedProcess[bytes]) -> list[str]:
        rows = (out / image.stem / "files.jsonl").read_text(encoding="utf-8").splitlines()
        return [] if any(json.loads(r)["md5"] == want for r in rows) else [f"deep file ({levels} levels) missing"]

    return Trial(f"deep-tree-{levels}", ["scan", str(image), "-o", str(out), "-j", "1"], {0}, out, [image], found)


def huge_container(rng: random.Random, work: Path) -> Trial:
    """A container claiming terabytes to a petabyte with no data: bounded memory and time."""
    fmt = rng.choice(["qcow2", "vmdk", "vhdx"])
    size = rng.choice(["2T", "64T", "1P"]) if fmt == "qcow2" else rng.choice(["2T", "32T"])
    path = work / f"huge.{fmt}"
    made = subprocess.run(["qemu-img", "create", "-q", "-f", fmt, str(path), size], capture_output=True)
    if made.returncode != 0:  # this format cannot be that large: fall back to the one that can
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "1P"], check=True)
    return Trial(f"huge-{fmt}-{size}", ["scan", str(path), "-o", str(work / "out")], {0, 3}, work / "out", [path])


def sparse_file(_rng: random.Random, work: Path) -> Trial:
    """A 300 MiB sparse file in a 16 MiB ext4: hashed (holes as zeros), not refused."""
    from fixtures.walk_cases import sparse_ext4

    image = sparse_ext4(work)
    out = work / "out"

    def hashed(_proc: subprocess.CompletedProcess[bytes]) -> list[str]:
        rows = [json.loads(r) for r in (out / image.stem / "files.jsonl").read_text(encoding="utf-8").splitlines()]
        big = [r for r in rows if r["path"].endswith("sparse.bin")]
        return [] if big and big[0]["md5"] else ["sparse file not hashed"]

    return Trial("sparse-file", ["scan", str(image), "-o", str(out)], {0}, out, [image], hashed)


def nested_hashset(rng: random.Random, work: Path) -> Trial:
    """A VICS-like hash set nested far deeper than any real one: exit 2, "not a valid hash set"."""
    depth = rng.choice([65, 1_000, 100_000, 250_000])
    if rng.random() < 0.5:
        text = "[" * depth + "]" * depth
    else:
        text = '{"value":[' + '{"MediaFiles":[' * depth + "]}" * depth + "]}"
    path = work / "deep.json"
    path.write_text(text, encoding="utf-8")

    def named(proc: subprocess.CompletedProcess[bytes]) -> list[str]:
        return [] if b"not a valid hash set" in proc.stderr else ["message does not say 'not a valid hash set'"]

    return Trial(f"nested-hashset-{depth}", ["hashset", "info", str(path)], {2}, None, [path], named, 60)


def unwritable_out(rng: random.Random, work: Path) -> Trial:
    """An output folder on a read-only file system (sysfs refuses even root): exit 6, one line."""
    target = rng.choice(["/sys/triage-out", "/sys/kernel/triage-out"])
    return Trial("unwritable-out", ["scan", str(SEED_IMAGE), "-o", target, "-j", "1"], {6}, None, [SEED_IMAGE])


def case_bytes_name(rng: random.Random, work: Path) -> Trial:
    """A case folder holding a device whose name is not UTF-8, beside a normal one: both scanned."""
    case = work / "case"
    case.mkdir()
    shutil.copy(SEED_IMAGE, case / os.fsdecode(_random_name(rng, rng.randint(1, 30)) + b"\xff.raw"))
    shutil.copy(SEED_IMAGE, case / "plain.raw")
    out = work / "out"

    def both(_proc: subprocess.CompletedProcess[bytes]) -> list[str]:
        report = json.loads((out / "case.json").read_text(encoding="utf-8"))
        done = [d for d in report.get("devices", []) if d.get("status") == "done"]
        return [] if len(done) == 2 else [f"{len(done)} of 2 devices done"]

    files = [p for p in case.iterdir()]
    return Trial("case-bytes-name", ["case", str(case), "-o", str(out), "-j", "1"], {0}, out, files, both)


def archive_bombs(rng: random.Random, work: Path) -> Trial:
    """A zip bomb, a zip nested 20 deep and an encrypted member as evidence (a zip extraction): bounded, noted."""
    import zipfile

    from fixtures.make_archives import write_deep_zip, write_encrypted_zip, write_zip_bomb

    parts = work / "parts"
    parts.mkdir()
    bomb = write_zip_bomb(parts / "bomb.zip", size=rng.choice([1 << 30, 4 << 30]))
    deep = write_deep_zip(parts / "deep.zip", depth=rng.randint(10, 30))
    locked = write_encrypted_zip(parts / "locked.zip", b"secret", b"plain")
    evidence = work / "bombs.zip"
    with zipfile.ZipFile(evidence, "w", zipfile.ZIP_STORED) as outer:
        for part in (bomb, deep, locked):
            outer.write(part, f"Downloads/{part.name}")
    out = work / "out"

    def bounded(_proc: subprocess.CompletedProcess[bytes]) -> list[str]:
        summary = json.loads((out / "bombs" / "summary.json").read_text(encoding="utf-8"))
        limits = {entry["limit"] for entry in summary["limits"]}
        missing = {"archive max_ratio", "archive max_depth"} - limits
        return [f"limits not recorded: {sorted(missing)}"] if missing else []

    return Trial("archive-bombs", ["scan", str(evidence), "-o", str(out)], {0}, out, [evidence], bounded)


def hostile_extraction(rng: random.Random, work: Path) -> Trial:
    """A tar extraction with symlink loops, links out of the tree, '..' names and control characters."""
    import io
    import tarfile

    evidence = work / "phone.tar"
    names = ["../../etc/passwd", "/abs/olute.jpg", "a/" + os.fsdecode(_random_name(rng, 20)) + ".jpg",
             "x/../../escape.bin"]
    with tarfile.open(evidence, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in names:
            data = rng.randbytes(rng.randint(0, 4096))
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (("loop/a", "b"), ("loop/b", "a"), ("out", "/etc/shadow"), ("up", "../../..")):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    out = work / "out"

    def listed(_proc: subprocess.CompletedProcess[bytes]) -> list[str]:
        rows = (out / "phone" / "files.jsonl").read_text(encoding="utf-8").splitlines()
        return [] if len(rows) == len(names) + 4 else [f"{len(rows)} records for {len(names) + 4} entries"]

    return Trial("hostile-extraction", ["scan", str(evidence), "-o", str(out), "-j", "1"], {0}, out, [evidence],
                 listed)


CLASSES: dict[str, Maker] = {
    "same-name": same_name,
    "long-name": long_name,
    "special-evidence": special_evidence,
    "deep-tree": deep_tree,
    "huge-container": huge_container,
    "sparse-file": sparse_file,
    "nested-hashset": nested_hashset,
    "unwritable-out": unwritable_out,
    "case-bytes-name": case_bytes_name,
    "archive-bombs": archive_bombs,
    "hostile-extraction": hostile_extraction,
}
