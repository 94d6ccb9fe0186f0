"""Interruption: Ctrl-C gives exit 4 and a partial summary marked incomplete; SIGKILL never leaves output that
looks complete.

The scan runs as a real child process over an ext4 holding ~100 MiB of random files (about a second of
hashing); the signal is sent once the child has read a good part of the image, which /proc/PID/io shows.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from fixtures.make_corpus import ToolMissing, big_ext4
from tests.robustness.conftest import ROOT

if TYPE_CHECKING:
    from triage.model.record import FileRecord

STARTED_BYTES = 24 << 20  # read by the child (after opening the evidence) before the signal is sent


@pytest.fixture(autouse=True)
def _ctrl_c_reaches_us() -> None:
    """A shell that starts a job in the background (``cmd &``, nohup) makes it ignore SIGINT, and so do its
    children: there a scan cannot be interrupted at all, by design, and these tests would only measure that."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        pytest.skip("SIGINT is ignored in this process (started in the background by a shell)")


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        return big_ext4(tmp_path_factory.mktemp("big"), mib=96)
    except ToolMissing as exc:
        pytest.skip(str(exc))


def read_bytes(pid: int) -> int:
    """Bytes the process has read so far (rchar: counts pread on the evidence, page cache or not)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0


def has_open(pid: int, target: Path) -> bool:
    try:
        return any(p.resolve() == target for p in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False


def start_and_wait(image: Path, out: Path, jobs: int) -> subprocess.Popen[str]:
    """Start ``triage scan`` and return once it is well into reading the files.

    ``--no-verify``: with verification and workers the media pass starts reading the media while the device is
    still being listed, so bytes read would no longer show that the listing is over.
    """
    if not Path("/proc/self/io").exists():
        pytest.skip("/proc/PID/io not available")
    child = subprocess.Popen([sys.executable, "-m", "triage.cli", "scan", str(image), "-o", str(out), "-j",
                              str(jobs), "--no-verify"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    deadline = time.monotonic() + 60
    while not has_open(child.pid, image.resolve()):
        assert child.poll() is None and time.monotonic() < deadline, "scan ended before opening the evidence"
        time.sleep(0.005)
    base = read_bytes(child.pid)
    while read_bytes(child.pid) - base < STARTED_BYTES:
        assert child.poll() is None and time.monotonic() < deadline, "scan ended before the signal"
        time.sleep(0.002)
    return child


@pytest.mark.parametrize("jobs", [1, 2])
def test_ctrl_c_exit_4_and_incomplete_summary(big: Path, tmp_path: Path, jobs: int) -> None:
    out = tmp_path / "out"
    child = start_and_wait(big, out, jobs)
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == 4, stderr
    assert "Traceback" not in stderr
    assert "interrupted" in stderr
    assert not (out / "big").exists()
    summary = json.loads((out / "big.incomplete" / "summary.json").read_text())
    assert summary["complete"] is False and summary["stopped"] == "interrupted"
    records = [json.loads(line) for line in (out / "big.incomplete" / "files.jsonl").read_text().splitlines()]
    assert len(records) == summary["counts"]["files"] <= 24
    hashed = [r for r in records if r["sha256"]]
    assert len(hashed) < 24  # stopped part-way: not everything was read
    if len(records) < 24:  # a raw image's files are read as the walk lists them (reading.direct)
        assert summary["errors"] == ["interrupted while listing: volumes and files after this point are missing"]
    else:
        assert len(hashed) < len(records)
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_sigkill_leaves_nothing_that_looks_complete(big: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    child = start_and_wait(big, out, 1)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    leftovers = list(out.iterdir()) if out.exists() else []
    assert all(p.name.startswith(".") for p in leftovers), leftovers  # at most a dot-temp folder
    assert not any((p / "summary.json").exists() and not p.name.startswith(".") for p in leftovers)


def test_ctrl_c_while_listing_keeps_what_was_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C during a long walk (millions of files) still leaves a partial, incomplete summary."""
    from fixtures.make_corpus import ext4_base
    from triage.errors import Interrupted
    from triage.scan import ScanSettings, scan_device
    from triage.sources.filesystems.tsk import TskFileSystem

    try:
        image = ext4_base(tmp_path)
    except ToolMissing as exc:
        pytest.skip(str(exc))
    walk = TskFileSystem.walk

    def interrupted_walk(self: TskFileSystem) -> Iterator[FileRecord]:
        for count, record in enumerate(walk(self)):
            if count == 3:
                raise KeyboardInterrupt
            yield record

    monkeypatch.setattr(TskFileSystem, "walk", interrupted_walk)
    with pytest.raises(Interrupted, match="partial results"):
        scan_device(image, tmp_path / "out", ScanSettings(jobs=1))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ext4-1.incomplete"]
    summary = json.loads((tmp_path / "out" / "ext4-1.incomplete" / "summary.json").read_text())
    assert summary["complete"] is False and summary["stopped"] == "interrupted"
    assert summary["counts"]["files"] == 3 and summary["volumes"][0]["files"] == 3
    assert summary["errors"] == ["interrupted while listing: volumes and files after this point are missing"]


def test_ctrl_c_inside_an_image_read_callback_is_not_swallowed(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C landing inside the Python read callback that TSK calls must still stop the scan.

    Seen in CI: TSK turned the KeyboardInterrupt raised in the callback into a read error, so the scan recorded
    one damaged file and finished with exit 0. The signal is sent from inside the callback here, so the test
    does not depend on timing.
    """
    import os

    from fixtures.make_corpus import ext4_base
    from triage.errors import Interrupted
    from triage.scan import ScanSettings, scan_device
    from triage.sources.containers import TskImage
    from triage.sources.filesystems.tsk import TskFileSystem

    try:
        image = ext4_base(tmp_path)
    except ToolMissing as exc:
        pytest.skip(str(exc))
    armed = []
    read = TskImage.read

    def read_then_ctrl_c(self: TskImage, offset: int, size: int) -> bytes:
        if armed and len(armed) < 2:
            armed.append(offset)
            os.kill(os.getpid(), signal.SIGINT)  # the handler runs here, inside the callback TSK called
        return read(self, offset, size)

    def progress(event: str, record: object, value: int) -> None:
        if event == "start":
            armed.append(-1)

    monkeypatch.setattr(TskImage, "read", read_then_ctrl_c)
    monkeypatch.setattr(TskFileSystem, "runs", lambda self, locator, size: None)  # every stream read through TSK
    with pytest.raises(Interrupted, match="partial results"):
        scan_device(image, tmp_path / "out", ScanSettings(jobs=1, verify=False), progress=progress)
    summary = json.loads((tmp_path / "out" / "ext4-1.incomplete" / "summary.json").read_text())
    assert summary["complete"] is False and summary["stopped"] == "interrupted"
    assert summary["counts"]["errors"] == 0  # the interrupted read is not recorded as damage
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the scan's handler was removed


def test_ctrl_c_during_the_media_pass_with_workers(big: Path, tmp_path: Path) -> None:
    """Ctrl-C while the media pass runs (verification on, 2 workers, helper threads): exit path Interrupted,
    partial summary, the verification marked as not reached, no helper thread left behind."""
    import os
    import threading

    from triage.errors import Interrupted
    from triage.scan import ScanSettings, scan_device

    seen = []

    def progress(event: str, record: object, value: int) -> None:
        # At "start": the listing is over. (Records of a raw image are read as they are listed, reading.direct:
        # once it starts, the media pass only hashes the media.)
        if event == "start":
            seen.append(record)
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted, match="partial results"):
        scan_device(big, tmp_path / "out", ScanSettings(jobs=2), progress=progress)
    summary = json.loads((tmp_path / "out" / "big.incomplete" / "summary.json").read_text())
    assert summary["complete"] is False and summary["stopped"] == "interrupted"
    assert summary["evidence"]["verification"] == "not stored"  # a raw image: nothing stored to compare
    assert summary["evidence"]["verification_error"] == "verification stopped before the end of the media"
    assert summary["counts"]["files"] == 24 and summary["counts"]["errors"] == 0
    assert not [t for t in threading.enumerate() if t.name.startswith("media-")]
