"""File systems on the team's real public images (dfVFS test data): every format gives the same files."""

from __future__ import annotations

import hashlib

import pytest

from tests.conftest import realdata
from triage.sources.containers import open_evidence
from triage.sources.filesystems import open_filesystem
from triage.sources.volumes import find_volumes

# ../shared/realdata/README.md: passwords.txt 116 bytes sha256 02a2a6af…e0252; another_file 22 bytes.
PASSWORDS_SHA256 = "02a2a6af2f1ecf4720d7d49d640f0d0a269a7ec733e41973bdd34f09dad0e252"


def walk(name: str) -> dict[str, tuple[int, str, bool]]:
    evidence = open_evidence(realdata(name))
    out = {}
    for volume in find_volumes(evidence).partitions:
        fs = open_filesystem(evidence, volume)
        for record in fs.walk():
            data = b"".join(fs.read_stream(record.locator, record.size)) if record.locator else b""
            key = f"{volume.index}:{fs.name}:{record.path}"
            out[key] = (record.size, hashlib.sha256(data).hexdigest(), record.allocated)
    evidence.close()
    return out


def test_ext2_matches_fls() -> None:
    # fls -r -p ext2.raw:
    # d/d 11:	lost+found
    # d/d 12:	a_directory
    # r/r 13:	a_directory/a_file
    # r/r 15:	a_directory/another_file
    # r/r 14:	passwords.txt
    # l/l 16:	a_link
    # V/V 1025:	$OrphanFiles
    files = walk("ext2.raw")
    assert sorted(files) == [
        "None:ext2:/a_directory/a_file",
        "None:ext2:/a_directory/another_file",
        "None:ext2:/passwords.txt",
    ]
    assert files["None:ext2:/passwords.txt"] == (116, PASSWORDS_SHA256, True)
    assert files["None:ext2:/a_directory/another_file"][0] == 22


@pytest.mark.parametrize("name", ["ext2.E01", "ext2.split.E01", "ext2.splitraw.000"])
def test_every_container_gives_identical_files(name: str) -> None:
    assert walk(name) == walk("ext2.raw")


def test_vhd_same_file_hashes() -> None:
    raw = {k.split(":", 2)[2]: v for k, v in walk("ext2.raw").items()}
    vhd = {k.split(":", 2)[2]: v for k, v in walk("ext2.vhd").items()}
    assert raw == vhd


def test_mbr_both_partitions_hold_the_tree() -> None:
    files = walk("mbr.raw")
    assert files["2:ext2:/passwords.txt"][1] == PASSWORDS_SHA256
    assert files["6:ext4:/passwords.txt"][1] == PASSWORDS_SHA256


def test_hfsplus_data_and_resource_fork() -> None:
    files = walk("hfsplus.raw")
    assert files["None:hfs+:/passwords.txt"][1] == PASSWORDS_SHA256
    assert files["None:hfs+:/a_directory/another_file"][0] == 22
    assert files["None:hfs+:/a_directory/a_resourcefork:rsrc"][0] == 17


def test_apfs_through_pyfsapfs() -> None:
    # pyfsapfs on apfs.raw, volume apfs_test: .fseventsd, a_directory, a_link, passwords.txt
    files = walk("apfs.raw")
    assert files["None:apfs:/passwords.txt"] == (116, PASSWORDS_SHA256, True)
    assert files["None:apfs:/a_directory/another_file"][0] == 22
    assert files["None:apfs:/a_directory/a_resourcefork:rsrc"][0] == 17
    assert not any("a_link" in k for k in files)  # symbolic links carry no data stream


def test_iso9660_upper_case_names() -> None:
    files = walk("iso9660.raw")
    assert files["None:iso9660:/PASSWORDS.TXT"][1] == PASSWORDS_SHA256
    assert "None:iso9660:/A_DIRECTORY/ANOTHER_FILE" in files
