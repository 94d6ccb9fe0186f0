"""LUKS2 opened by triage's own reader (triage/sources/volumes/luks2.py: libluksde reads LUKS1 only), against
volumes that cryptsetup 2.6 made and encrypted itself (fixtures/make_layers.py: ``cryptsetup reencrypt --encrypt``
on a plain file, offline, no device mapper), built here in tmp at test time.

Oracles: ``cryptsetup luksDump`` (UUID, cipher, sector size, PBKDF) and ``luksDump --dump-volume-key`` (the key),
and fixtures/oracle/expected_usb.json (TSK's path and md5 of every file of usb.raw, the FAT put inside).
Never run ``cryptsetup luksDump`` on a damaged image you still need: with write access it rewrites the damaged
header copy from the good one (``--debug``: "Trying to write LUKS2 header (16384 bytes) at offset 0").
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fixtures.make_layers import fat_with_files, luks2_edit_json, luks2_volume_key, luks2_with_volume
from tests.conftest import fixture_image
from tests.sources.volumes.test_secrets import assert_nowhere
from triage.errors import VolumeError
from triage.sources.containers.readers import SegmentedFileReader
from triage.sources.volumes import luks2
from triage.sources.volumes.luks import Luks
from triage.sources.volumes.media import MediaSlice

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "luks2-Fixture"
FILES = {"notes.txt": b"shopping list\n", "photo.bin": hashlib.shake_256(b"luks2 4k photo").digest(150_000)}


def build(tmp_path: Path, name: str = "luks2", volume: bytes | None = None, **options: Any) -> Path:
    """A LUKS2 image of ``volume`` (default usb.raw) made by cryptsetup; skips where cryptsetup cannot run."""
    try:
        return luks2_with_volume(tmp_path / f"{name}.img", volume if volume is not None
                                 else fixture_image("usb.raw").read_bytes(), PASSWORD, **options)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot build LUKS2 here: {exc}")


def scan(image: Path, out: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    proc = subprocess.run([sys.executable, "-m", "triage.cli", "scan", str(image), "-o", str(out), *args],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / image.stem / "summary.json").read_text(encoding="utf-8"))
    return proc, summary


def md5s(out: Path, image: Path) -> dict[str, str]:
    lines = (out / image.stem / "files.jsonl").read_text(encoding="utf-8").splitlines()
    return {row["path"]: row["md5"] for row in map(json.loads, lines) if row["origin"] != "carved"}


def usb_md5s() -> dict[str, str]:
    """TSK's paths and md5s of usb.raw's six entries, the deleted /DCIM/_MG_1003.jpg too."""
    expected = json.loads((ROOT / "fixtures" / "oracle" / "expected_usb.json").read_text(encoding="utf-8"))
    return {f["path"]: f["md5"] for f in expected["files"]}


def dump(image: Path) -> str:
    """``cryptsetup luksDump`` of a copy: it may repair what it reads."""
    copy = image.with_suffix(".dumped")
    shutil.copyfile(image, copy)
    return subprocess.run(["cryptsetup", "luksDump", str(copy)], capture_output=True, text=True, check=False,
                          env={"PATH": "/usr/sbin:/sbin:/usr/bin:/bin"}).stdout


def open_volume(image: Path) -> luks2.Luks2Volume:
    reader = SegmentedFileReader([image])
    volume = luks2.Luks2Volume()
    volume.open_file_object(MediaSlice(reader, 0, reader.size))
    return volume


@pytest.mark.parametrize("options,method,kdf", [
    ({}, "aes-xts-plain64 256-bit, 512-byte sectors", "pbkdf2"),
    ({"pbkdf": "argon2id"}, "aes-xts-plain64 256-bit, 512-byte sectors", "argon2id"),
    ({"cipher": "aes-cbc-essiv:sha256"}, "aes-cbc-essiv:sha256 256-bit, 512-byte sectors", "pbkdf2"),
], ids=["pbkdf2-xts", "argon2id", "cbc-essiv"])
def test_unlocked_and_usb_files_found(tmp_path: Path, options: dict[str, Any], method: str, kdf: str) -> None:
    """The FAT of usb.raw inside LUKS2: every file found with TSK's md5 (two workers reopen the layer by its
    ``luks2`` locator). ``cryptsetup luksDump`` of the pbkdf2 one: "Version: 2", "cipher: aes-xts-plain64",
    "sector: 512 [bytes]", "Key: 256 bits", "PBKDF: pbkdf2", "Iterations: 1000"; of the others "PBKDF: argon2id"
    "Memory: 32768" "Threads: 1", and "cipher: aes-cbc-essiv:sha256"."""
    image = build(tmp_path, **options)
    proc, summary = scan(image, tmp_path / "out", "--password", "not-it", "--password", PASSWORD, "-j", "2")
    (entry,) = summary["encryption"]
    assert entry["scheme"] == "LUKS2" and entry["unlocked"] is True and entry["how"] == "password 2"
    assert entry["method"] == method and entry["kdf"] == kdf
    assert entry["identifier"] in dump(image)
    inner = [v for v in summary["volumes"] if v.get("layer") == "LUKS2"]
    assert len(inner) == 1 and inner[0]["fs"] == "fat16" and inner[0]["files"] == 6
    assert md5s(tmp_path / "out", image) == usb_md5s()
    assert "unlocked" in proc.stderr and "LOCKED" not in proc.stderr


def test_4096_byte_sectors(tmp_path: Path) -> None:
    """A FAT of 4096-byte logical sectors (``fsstat``: "Sector Size: 4096") in LUKS2 with 4096-byte sectors and a
    512-bit AES-XTS key (luksDump: "sector: 4096 [bytes]", "Key: 512 bits"): the IV counts 512-byte units."""
    try:
        fat = fat_with_files(tmp_path / "fat4k.raw", FILES, sector_size=4096).read_bytes()
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(str(exc))
    image = build(tmp_path, "luks4k", fat, sector_size=4096, key_bits=512)
    assert "sector: 4096 [bytes]" in dump(image)
    _proc, summary = scan(image, tmp_path / "out", "--password", PASSWORD, "-j", "1")
    (entry,) = summary["encryption"]
    assert entry["unlocked"] is True and entry["method"] == "aes-xts-plain64 512-bit, 4096-byte sectors"
    assert md5s(tmp_path / "out", image) == {f"/{name}": hashlib.md5(data).hexdigest() for name, data in FILES.items()}


@pytest.mark.parametrize("pbkdf", ["pbkdf2", "argon2id", "argon2i"])
def test_volume_key_is_cryptsetups(tmp_path: Path, pbkdf: str) -> None:
    """The key our keyslot code recovers is the one ``cryptsetup luksDump --dump-volume-key`` prints."""
    image = build(tmp_path, pbkdf=pbkdf)
    volume = open_volume(image)
    volume.set_password(PASSWORD)
    assert volume.unlock() and volume._cipher is not None
    assert volume._cipher.key == luks2_volume_key(image, PASSWORD)
    wrong = open_volume(image)
    wrong.set_password("wrong")
    assert not wrong.unlock() and wrong.is_locked()


@pytest.mark.parametrize("given,how", [
    (("--password", "not-it"), "locked: none of the 1 secrets given opened it"),
    ((), "locked: no password or recovery key given (--password, --recovery-key)"),
], ids=["wrong", "none"])
def test_locked_is_named(tmp_path: Path, given: tuple[str, ...], how: str) -> None:
    image = build(tmp_path)
    proc, summary = scan(image, tmp_path / "out", *given, "-j", "1")
    (entry,) = summary["encryption"]
    assert entry["scheme"] == "LUKS2" and entry["unlocked"] is False and entry["how"] == how
    assert entry["method"] == "aes-xts-plain64 256-bit, 512-byte sectors" and entry["identifier"]
    assert "LOCKED" in proc.stderr and not [v for v in summary["volumes"] if v.get("layer")]


@pytest.mark.parametrize("damage,why", [
    (lambda fh: (fh.seek(4100), fh.write(b"X")), "primary header checksum mismatch"),
    (lambda fh: (fh.seek(0), fh.write(bytes(4096))), "primary header missing (no magic)"),
], ids=["checksum", "wiped"])
def test_damaged_primary_opened_from_secondary(tmp_path: Path, damage: Any, why: str) -> None:
    """``cryptsetup luksDump --debug`` of a copy with one JSON byte changed: "Checksum:76285f… (on-disk)",
    "Checksum:eb6583… (in-memory)", then "Trying to read secondary LUKS2 header at offset 0x4000" and the dump;
    with the first 4096 bytes zeroed it reads the secondary at 0x4000 too."""
    image = build(tmp_path)
    with open(image, "r+b") as fh:
        damage(fh)
    _proc, summary = scan(image, tmp_path / "out", "--password", PASSWORD, "-j", "1")
    (entry,) = summary["encryption"]
    assert entry["unlocked"] is True and entry["header"] == f"secondary copy used; {why}"
    assert f"LUKS2 {why}: the secondary copy was used" in summary["volumes"][0]["notes"]
    assert md5s(tmp_path / "out", image) == usb_md5s()


def test_file_system_over_an_old_luks2_is_not_taken_for_it(tmp_path: Path) -> None:
    """A FAT boot sector over the first 4 KiB (as a format over an old LUKS2 volume leaves it): the surviving
    secondary header does not make it LUKS2; only a zeroed or still LUKS2-like start does."""
    image = build(tmp_path)
    with open(image, "r+b") as fh:
        fh.write(fixture_image("usb.raw").read_bytes()[:4096])

    class Media:
        reader = SegmentedFileReader([image])

    assert not Luks().detect(Media(), 0, Media.reader.size)
    with open(image, "r+b") as fh:
        fh.write(bytes(4096))
    assert Luks().detect(Media(), 0, Media.reader.size)


@pytest.mark.parametrize("keep,how", [
    (8192, "locked: LUKS2 header damaged: primary cut short, secondary not found"),
    (24576, "locked: LUKS2 data segment at 1048576 past the end of the volume (24576 bytes): truncated?"),
], ids=["in-header", "before-data"])
def test_truncated_is_named_with_the_reason(tmp_path: Path, keep: int, how: str) -> None:
    """``cryptsetup luksDump`` of the 24 KiB one: "Device … is too small. Need at least 1048576 bytes."; of the
    8 KiB one: "Device … is not a valid LUKS device."."""
    image = build(tmp_path)
    with open(image, "r+b") as fh:
        fh.truncate(keep)
    proc, summary = scan(image, tmp_path / "out", "--password", PASSWORD, "-j", "1")
    (entry,) = summary["encryption"]
    assert entry["scheme"] == "LUKS2" and entry["unlocked"] is False and entry["how"] == how
    assert entry["identifier"] and "LOCKED" in proc.stderr and PASSWORD not in proc.stderr


def test_truncated_payload_still_opens(tmp_path: Path) -> None:
    """Only the first 2 MiB of the 4 MiB FAT are left: unlocked, the FAT opened, exit 0."""
    image = build(tmp_path)
    with open(image, "r+b") as fh:
        fh.truncate((1 << 20) + (2 << 20))
    _proc, summary = scan(image, tmp_path / "out", "--password", PASSWORD, "-j", "1")
    (entry,) = summary["encryption"]
    assert entry["unlocked"] is True
    assert [v["fs"] for v in summary["volumes"] if v.get("layer") == "LUKS2"] == ["fat16"]


def _slot(meta: dict[str, Any]) -> dict[str, Any]:
    return meta["keyslots"]["0"]


@pytest.mark.parametrize("pbkdf,edit,why", [
    ("argon2id", lambda m: _slot(m)["kdf"].update(memory=64 << 20),
     "keyslot 0: argon2 memory 64 GiB above the limit (4 GiB)"),
    ("argon2id", lambda m: _slot(m)["kdf"].update(time=1000, memory=1 << 20),
     "keyslot 0: argon2 cost above the limit (1000 passes over 1 GiB in 1 lanes)"),
    ("pbkdf2", lambda m: _slot(m)["kdf"].update(iterations=20_000_000),
     "keyslot 0: pbkdf2 iterations 20,000,000 above the limit (10,000,000)"),
    ("pbkdf2", lambda m: m["digests"]["0"].update(iterations="20000000"),
     "keyslot 0: digest 0: pbkdf2 iterations 20,000,000 above the limit (10,000,000)"),
], ids=["argon2-memory", "argon2-work", "pbkdf2-iterations", "digest-iterations"])
def test_claims_over_the_limits_are_named_not_tried(tmp_path: Path, pbkdf: str, edit: Any, why: str) -> None:
    """A header (checksums good) claiming more work than triage/defaults.py allows: named locked with the
    reason, the KDF never run. ``cryptsetup luksDump`` of the 64 GiB one prints "Memory: 67108864"."""
    image = build(tmp_path, pbkdf=pbkdf)
    luks2_edit_json(image, edit)
    proc, summary = scan(image, tmp_path / "out", "--password", PASSWORD, "-j", "1")
    (entry,) = summary["encryption"]
    assert entry["unlocked"] is False and entry["how"] == f"locked: {why}"
    assert "LOCKED" in proc.stderr


@pytest.mark.parametrize("edit", [
    lambda m: m.update(segments=[]),
    lambda m: m.update(segments={"0": {**m["segments"]["0"], "sector_size": 3}}),
    lambda m: m["segments"]["0"].update(offset="-5"),
    lambda m: m["segments"]["0"].update(encryption="serpent-xts-plain64"),
    lambda m: m["segments"]["0"].update(size="huge"),
    lambda m: m.update(segments={**m["segments"], "1": m["segments"]["0"]}),
    lambda m: m.update(config={"requirements": {"mandatory": ["online-reencrypt-v2"]}}),
    lambda m: _slot(m).update(key_size=None),
    lambda m: _slot(m)["af"].update(stripes=10 ** 30),
    lambda m: _slot(m)["area"].update(offset=str(1 << 40)),
    lambda m: _slot(m)["kdf"].update(salt="not base64!"),
    lambda m: _slot(m)["kdf"].update(type="scrypt"),
    lambda m: m["digests"]["0"].update(keyslots="0"),
    lambda m: m["digests"]["0"].update(digest=""),
    lambda m: m.update(keyslots={}),
    lambda m: m.clear(),
])
def test_malformed_metadata_is_a_reason_never_a_crash(tmp_path: Path, edit: Any) -> None:
    image = build(tmp_path)
    luks2_edit_json(image, edit)
    with pytest.raises(VolumeError) as caught:
        open_volume(image)
    assert str(caught.value) and "\n" not in str(caught.value)


def test_argon2i_unavailable_is_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An older cryptography has Argon2id only (pyproject asks for >= 44, the first with it): an argon2i keyslot
    is then named locked with that reason."""
    image = build(tmp_path, pbkdf="argon2i")
    monkeypatch.setitem(luks2.ARGON2, "argon2i", None)

    class Media:
        reader = SegmentedFileReader([image])

    peeled = Luks().peel(Media(), 0, Media.reader.size)
    assert peeled.entry["unlocked"] is False and not peeled.children
    assert peeled.entry["how"] == "locked: keyslot 0: argon2i not available (the cryptography package lacks it)"


@pytest.mark.parametrize("spec,key_size,sector_size,iv_tweak,first", [
    ("aes-xts-plain64", 64, 512, 0, 0),
    ("aes-xts-plain64", 32, 4096, 24, 5),
    ("aes-xts-plain64", 64, 2048, (1 << 64) - 8, 1),  # the 64-bit IV wraps
    ("aes-xts-plain", 32, 1024, (1 << 32) - 4, 0),  # the 32-bit IV wraps
    ("aes-cbc-essiv:sha256", 32, 512, 7, 3),
    ("aes-cbc-essiv:sha256", 16, 4096, 0, 2),
    ("aes-cbc-plain64", 24, 512, 0, 9),
    ("aes-cbc-plain", 32, 2048, (1 << 32) - 4, 0),
])
def test_sector_cipher_matches_one_cipher_object_per_sector(spec: str, key_size: int, sector_size: int,
                                                            iv_tweak: int, first: int) -> None:
    """The array code (one ECB pass, XTS tweaks and CBC chaining as XORs) against ``cryptography``'s own XTS
    and CBC modes sector by sector, with dm-crypt's IVs: the 512-byte sector number plus iv_tweak, truncated to
    32 bits for "plain", ESSIV = AES_sha256(key)(number)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = hashlib.shake_256(spec.encode()).digest(key_size)
    data = hashlib.shake_256(b"sectors").digest(sector_size * 6)
    reference = []
    for i in range(6):
        number = (iv_tweak + (first + i) * (sector_size // 512)) % (1 << (32 if spec.endswith("-plain") else 64))
        iv = number.to_bytes(16, "little")
        if "essiv" in spec:
            essiv = Cipher(algorithms.AES(hashlib.sha256(key).digest()), modes.ECB()).encryptor()
            iv = essiv.update(iv)
        mode = modes.XTS(iv) if "xts" in spec else modes.CBC(iv)
        reference.append(Cipher(algorithms.AES(key), mode).decryptor().update(
            data[i * sector_size : (i + 1) * sector_size]))
    ours = luks2.SectorCipher(spec, key, sector_size, iv_tweak).decrypt(data, first)
    assert ours == b"".join(reference)


def test_secrets_never_written(tmp_path: Path) -> None:
    """``--debug`` runs with a wrong and the right password: neither reaches the terminal or any output file."""
    image = build(tmp_path)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "triage.cli", "--debug", "scan", str(image), "-o", str(out),
                           "--password", "Sentinel-wrong-pass-7781", "--password", PASSWORD, "-j", "2"],
                          capture_output=True, timeout=300, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert_nowhere(out, proc, "Sentinel-wrong-pass-7781", PASSWORD)
