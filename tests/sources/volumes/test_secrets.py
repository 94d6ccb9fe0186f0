"""No secret ever reaches an output, a log or a traceback: every file written and the stderr of ``--debug`` runs
are searched for the passwords and recovery keys given (issue 14)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import fixture_image
from triage.sources.volumes.secrets import Secrets, hold, scrub

ROOT = Path(__file__).resolve().parents[3]
LAYERS = ROOT.parent / "shared" / "realdata" / "layers"
WRONG = "Sentinel-wrong-pass-7781"
FAKE_KEY = "111111-222222-333333-444444-555555-666666-777777-888888"


def scan(image: Path, out: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "triage.cli", "--debug", "scan", str(image), "-o", str(out),
                           "--debug", *args], capture_output=True, timeout=300, cwd=ROOT, check=False)


def assert_nowhere(out: Path, proc: subprocess.CompletedProcess[bytes], *secrets: str) -> None:
    files = [p for p in out.rglob("*") if p.is_file()]
    assert files, "the scan wrote nothing"
    for secret in secrets:
        needle = secret.encode("utf-8")
        assert needle not in proc.stderr and needle not in proc.stdout, f"{secret!r} on the terminal"
        leaked = [str(p) for p in files if needle in p.read_bytes()]
        assert not leaked, f"{secret!r} written to {leaked}"


def test_secrets_masked_in_repr_and_scrub() -> None:
    secrets = Secrets(("hunter2-pass",), (FAKE_KEY,), ())
    assert "hunter2" not in repr(secrets) and FAKE_KEY not in str(secrets)
    hold(secrets)
    try:
        assert scrub(f"libbde failed for hunter2-pass and {FAKE_KEY}") == "libbde failed for [secret] and [secret]"
    finally:
        hold(Secrets())


def test_secrets_of_a_plain_scan_never_written(tmp_path: Path) -> None:
    """The command line is recorded in summary.json and the reports: with the secrets masked."""
    out = tmp_path / "out"
    proc = scan(fixture_image("usb.raw"), out, "--password", WRONG, f"--recovery-key={FAKE_KEY}", "-j", "2")
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    summary = json.loads((out / "usb" / "summary.json").read_text(encoding="utf-8"))
    assert "[secret]" in summary["command"] and "--recovery-key=[secret]" in summary["command"]
    assert_nowhere(out, proc, WRONG, FAKE_KEY)


@pytest.mark.parametrize("name,secrets", [
    ("bitlk-togo-aes-cbc-128.img", ("anaconda", WRONG, "607552-529496-550902-707531-545787-248358-370216-060401")),
    ("luks1-compatimage.img", (WRONG, "compatkey")),
    ("luks1-compatimage.img", (WRONG,)),
])
def test_secrets_of_encrypted_scans_never_written(tmp_path: Path, name: str, secrets: tuple[str, ...]) -> None:
    image = LAYERS / name
    if not image.is_file():
        pytest.skip(f"{name} not present (../shared/realdata/layers)")
    args: list[str] = []
    for secret in secrets:
        args += ["--recovery-key" if "-" in secret and secret[0].isdigit() else "--password", secret]
    out = tmp_path / "out"
    proc = scan(image, out, *args, "-j", "2")
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert_nowhere(out, proc, *secrets)
