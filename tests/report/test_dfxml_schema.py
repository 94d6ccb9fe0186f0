"""dfxml.xml validates against the DFXML working group's schema, and case.jsonld against CASE, on scanned devices.

The schema (``dfxml_schema/``, vendored: see its README) is what DFXML tools hold files to; fiwalk's own output
is validated too, as the control that the schema and xmllint are set up right. Both validators are external
programs (``xmllint`` from libxml2-utils, ``case_validate`` from case-utils); a test skips when its program is
missing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import fixture_image
from tests.report.sample import sample_records, sample_summary
from tests.report.test_case import find_case_validate
from tests.report.test_golden_reports import golden_input
from triage.report.dfxml import render_dfxml
from triage.scan import ScanSettings, scan_device

SCHEMA = Path(__file__).parent / "dfxml_schema" / "dfxml.xsd"
DEVICES = ("laptop.E01", "usb.raw")


def xmllint(path: Path) -> subprocess.CompletedProcess[str]:
    """``xmllint --noout --schema dfxml.xsd path`` (no network: the schema's imports are local files)."""
    tool = shutil.which("xmllint")
    if tool is None:
        pytest.skip("xmllint (apt-get install libxml2-utils) not installed")
    return subprocess.run([tool, "--noout", "--nonet", "--schema", str(SCHEMA), str(path)],
                          capture_output=True, text=True, timeout=300, check=False)


def assert_valid(path: Path) -> None:
    done = xmllint(path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{path} validates" in done.stderr


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each device scanned once (default reports), its output folder by image name."""
    out = tmp_path_factory.mktemp("scanned")
    return {name: scan_device(fixture_image(name), out, ScanSettings(jobs=1))[0] for name in DEVICES}


def test_fiwalk_output_validates_control(tmp_path: Path) -> None:
    """The control: fiwalk's DFXML of laptop.raw passes the same check (the schema and xmllint work)."""
    fiwalk = shutil.which("fiwalk")
    if fiwalk is None:
        pytest.skip("fiwalk (sleuthkit) not installed")
    out = tmp_path / "fiwalk.xml"
    # `fiwalk -X fiwalk.xml laptop.raw` (sleuthkit 4.11.1): 168 <fileobject>s in three <volume>s.
    subprocess.run([fiwalk, "-X", str(out), str(fixture_image("laptop.raw"))], capture_output=True, timeout=300,
                   check=True)
    assert out.read_text(encoding="utf-8").count("<volume ") == 3
    assert_valid(out)


@pytest.mark.parametrize("device", DEVICES)
def test_scanned_device_dfxml_validates(scanned: dict[str, Path], device: str) -> None:
    assert_valid(scanned[device] / "dfxml.xml")


def test_hostile_names_and_every_field_validate(tmp_path: Path) -> None:
    """Archive members, byte runs, several errors, layers, a volume the summary does not list, hostile text."""
    for number, (summary, records) in enumerate([golden_input(), (sample_summary(verification="mismatch"),
                                                                  sample_records())]):
        path = tmp_path / f"{number}.xml"
        path.write_bytes(render_dfxml(summary, records))
        assert_valid(path)


@pytest.mark.parametrize("device", DEVICES)
def test_scanned_device_case_validates(scanned: dict[str, Path], device: str) -> None:
    tool = find_case_validate()
    if tool is None:
        pytest.skip("case_validate (pip install case-utils) not installed")
    done = subprocess.run([tool, str(scanned[device] / "case.jsonld")], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "Conforms: True" in done.stdout
