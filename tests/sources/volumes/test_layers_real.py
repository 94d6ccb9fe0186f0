"""Storage layers against real public images (``../shared/realdata/layers/``, README there): BitLocker, BitLocker
To Go, LUKS1, LVM2 and volume shadow copies. Skipped where the images are absent; never copied into the repo.

Known facts come from cryptsetup's ``images.conf`` (passwords, recovery passwords, volume GUIDs) and from the
oracles pasted next to each assertion.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
LAYERS = ROOT.parent / "shared" / "realdata" / "layers"
BITLK = LAYERS / "bitlk-aes-xts-128.img"
TOGO = LAYERS / "bitlk-togo-aes-cbc-128.img"
LUKS = LAYERS / "luks1-compatimage.img"
LVM = LAYERS / "lvm2.bin"
VSS = LAYERS / "vsstest.qcow2"
# images.conf [bitlk-aes-xts-128] / [bitlk-togo-aes-cbc-128]
PASSWORD = "anaconda"
RECOVERY = "235818-357951-253979-013365-241120-245575-342914-591910"
TOGO_RECOVERY = "607552-529496-550902-707531-545787-248358-370216-060401"


def need(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"{path.name} not present (../shared/realdata/layers)")
    return path


def scan(image: Path, out: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    proc = subprocess.run([sys.executable, "-m", "triage.cli", "scan", str(image), "-o", str(out), *args],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, check=False)
    folder = out / image.name.rsplit(".", 1)[0]
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8")) if proc.returncode == 0 else {}
    return proc, summary


def records(out: Path, image: Path) -> list[dict[str, Any]]:
    folder = out / image.name.rsplit(".", 1)[0]
    return [json.loads(line) for line in (folder / "files.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("secret", [("--password", PASSWORD), ("--recovery-key", RECOVERY)], ids=["password",
                                                                                                 "recovery"])
def test_bitlocker_unlocked(tmp_path: Path, secret: tuple[str, str]) -> None:
    """Unlocked with the password and with the recovery password; the decrypted volume is NTFS.

    The NTFS inside is the one cryptsetup's test made, with a damaged MFT: ``fsstat -f ntfs`` on the volume
    decrypted by libbde says "Error in metadata structure (dinode_lookup: More Update Sequence Entries than MFT
    size)", so TSK opens no file system and the volume names its NTFS signature instead.
    """
    proc, summary = scan(need(BITLK), tmp_path, secret[0], secret[1], "-j", "1")
    assert proc.returncode == 0, proc.stderr
    (entry,) = summary["encryption"]
    how = "password 1" if secret[0] == "--password" else "recovery key 1"
    assert entry["scheme"] == "BitLocker" and entry["unlocked"] is True and entry["how"] == how
    assert entry["method"] == "AES-XTS 128-bit"
    assert entry["identifier"] == "8f595209-f5b9-49a0-85d4-cb8f80258c27"  # images.conf GUID
    inner = [v for v in summary["volumes"] if v.get("layer") == "BitLocker"]
    assert len(inner) == 1 and inner[0]["signature"] == "NTFS"
    assert "unlocked" in proc.stderr and "LOCKED" not in proc.stderr


def test_bitlocker_to_go_unlocked_finds_fat(tmp_path: Path) -> None:
    """To Go looks like FAT32 from outside; unlocked, TSK opens its FAT.

    ``fls -r`` on the volume decrypted by libbde lists only TSK's virtual entries ($MBR, $FAT1, $FAT2,
    $OrphanFiles): the stick holds no file, so 0 streams.
    """
    proc, summary = scan(need(TOGO), tmp_path, "--recovery-key", TOGO_RECOVERY, "-j", "1")
    assert proc.returncode == 0, proc.stderr
    (entry,) = summary["encryption"]
    assert entry["unlocked"] is True and entry["how"] == "recovery key 1"
    assert entry["method"] == "AES-CBC 128-bit"
    assert entry["identifier"] == "e75379cf-8b7b-48d7-9210-84b63e730cf5"  # images.conf GUID
    inner = [v for v in summary["volumes"] if v.get("layer") == "BitLocker"]
    assert inner[0]["fs"].startswith("fat")


@pytest.mark.parametrize("args", [("--password", "wrong-password"), ()], ids=["wrong", "none"])
def test_bitlocker_locked_is_named_exit_0(tmp_path: Path, args: tuple[str, ...]) -> None:
    proc, summary = scan(need(TOGO), tmp_path, *args, "-j", "1")
    assert proc.returncode == 0, proc.stderr
    (entry,) = summary["encryption"]
    assert entry["scheme"] == "BitLocker" and entry["unlocked"] is False
    assert entry["how"].startswith("locked")
    assert "LOCKED" in proc.stderr
    html = (tmp_path / "bitlk-togo-aes-cbc-128" / "report.html").read_text(encoding="utf-8")
    assert "LOCKED" in html and "BitLocker" in html
    dfxml = next((tmp_path / "bitlk-togo-aes-cbc-128").glob("*.xml")).read_text(encoding="utf-8")
    assert "LOCKED" in dfxml
    assert not [v for v in summary["volumes"] if v.get("layer")]  # nothing pretends to be the decrypted volume


def test_luks1_unlocked(tmp_path: Path) -> None:
    """cryptsetup: ``printf compatkey | cryptsetup open --test-passphrase --key-file=- luks1-compatimage.img`` → 0.

    Its payload is random-looking (never formatted), so no file system: the volume is named, unlocked.
    """
    proc, summary = scan(need(LUKS), tmp_path, "--password", "not-it", "--password", "compatkey", "-j", "1")
    assert proc.returncode == 0, proc.stderr
    (entry,) = summary["encryption"]
    assert entry["scheme"] == "LUKS1" and entry["unlocked"] is True and entry["how"] == "password 2"
    assert entry["method"] == "aes-cbc-essiv:sha256 128-bit"
    assert entry["identifier"] == "28632274-8c8a-493f-835b-da802e1c576b"  # cryptsetup luksDump UUID
    assert [v for v in summary["volumes"] if v.get("layer") == "LUKS1"]


def test_luks1_wrong_password_locked(tmp_path: Path) -> None:
    proc, summary = scan(need(LUKS), tmp_path, "--password", "not-it", "-j", "1")
    assert proc.returncode == 0, proc.stderr
    assert summary["encryption"][0]["unlocked"] is False


def test_lvm2_physical_volume_listed(tmp_path: Path) -> None:
    """Before: exit 3 "not a disk image". libvslvm lists volume group vg_test with one logical volume lv_test of
    4 MiB (the PV metadata text: ``vg_test { … lv_test { … extent_count = 1 … } }``, extent_size 8192 sectors)."""
    proc, summary = scan(need(LVM), tmp_path, "-j", "1")
    assert proc.returncode == 0, proc.stderr
    (entry,) = summary["layers"]
    assert entry["scheme"] == "LVM2" and entry["volume_group"] == "vg_test"
    assert [(lv["name"], lv["size"]) for lv in entry["logical_volumes"]] == [("lv_test", 4 << 20)]
    (inner,) = [v for v in summary["volumes"] if v.get("layer") == "LVM2"]
    assert inner["description"] == "LVM2 logical volume vg_test/lv_test" and inner["size"] == 4 << 20


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_shadow_copies_named_and_snapshot_only_file_found(tmp_path: Path, jobs: str) -> None:
    """``vshadowinfo`` (libvshadow-utils) on the qcow2 converted to raw:

        Number of stores: 2
        Store: 1  Identifier: 600f0b69-5bdf-11e3-9d6c-005056c00008  Creation time: Dec 03, 2013 06:35:09.736378700 UTC
        Store: 2  Identifier: 600f0b6d-5bdf-11e3-9d6c-005056c00008  Creation time: Dec 03, 2013 06:37:48.919058300 UTC

    ``fls store1.raw`` (store 1 exported through pyvshadow) lists ``r/r 35-128-3: syslog``, which ``fls`` of the
    live volume does not; ``icat store1.raw 35-128-3 | md5sum`` → 8b32710e60ce9f650b8b4dcc2b3ee927.
    With -j 2 the workers reopen the shadow copy from its locator to read it.
    """
    proc, summary = scan(need(VSS), tmp_path, "-j", jobs)
    assert proc.returncode == 0, proc.stderr
    snaps = summary["snapshots"]
    assert [(s["snapshot"], s["identifier"], s["created"]) for s in snaps] == [
        (1, "600f0b69-5bdf-11e3-9d6c-005056c00008", "2013-12-03T06:35:09Z"),
        (2, "600f0b6d-5bdf-11e3-9d6c-005056c00008", "2013-12-03T06:37:48Z"),
    ]
    rows = records(tmp_path, VSS)
    (syslog,) = [r for r in rows if r["path"] == "/syslog"]
    assert syslog["origin"] == "snapshot" and syslog["snapshot"] == 1
    assert syslog["md5"] == "8b32710e60ce9f650b8b4dcc2b3ee927"
    assert syslog["location"] == "shadow copy 1 » /syslog"
    live = {r["path"] for r in rows if r["origin"] == "filesystem"}
    assert {"/another_file", "/password.txt", "/syslog.gz"} <= live and "/syslog" not in live
    # a file unchanged since a snapshot is not listed again from it
    assert not [r for r in rows if r["origin"] == "snapshot" and r["path"] == "/another_file"]
    assert all(s["unchanged"] > 0 for s in snaps)
    assert "volume shadow copy 1" in proc.stderr


def test_cryptsetup_agrees_on_the_luks1_master_key() -> None:
    """Our LUKS1 key-slot code (the fallback for 128-bit keys libluksde refuses) against cryptsetup's own dump."""
    need(LUKS)
    if shutil.which("cryptsetup") is None:
        pytest.skip("cryptsetup not installed")
    from triage.sources.volumes import luks1

    dump = subprocess.run(["cryptsetup", "luksDump", "--dump-master-key", "-q", "--key-file=-", str(LUKS)],
                          input=b"compatkey", capture_output=True, check=False)
    if dump.returncode != 0:
        pytest.skip(f"cryptsetup cannot dump the key here: {dump.stderr.decode(errors='replace').strip()}")
    text = dump.stdout.decode()
    hex_key = "".join(text.split("MK dump:", 1)[1].split()).replace(":", "")[:32]
    data = LUKS.read_bytes()
    header = luks1.Luks1Header(data[:592])
    key = luks1.master_key(header, lambda offset, size: data[offset : offset + size], b"compatkey")
    assert key is not None and key.hex() == hex_key
    assert luks1.master_key(header, lambda offset, size: data[offset : offset + size], b"wrong") is None


def test_damaged_lvm2_physical_volume_named_not_refused(tmp_path: Path) -> None:
    """lvm2.bin cut to its first 4 KiB (label, no metadata area): exit 0, the PV named with libvslvm's reason."""
    cut = tmp_path / "lvm-cut.raw"
    cut.write_bytes(need(LVM).read_bytes()[:4096])
    proc, summary = scan(cut, tmp_path / "out", "-j", "1")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert any("LVM2 physical volume could not be opened" in e for e in summary["errors"])
