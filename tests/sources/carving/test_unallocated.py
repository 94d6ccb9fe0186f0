"""Unallocated extents of every file system against The Sleuth Kit's ``blkls`` (and e2fsprogs' ``dumpe2fs``).

``blkls -o <sector> image`` writes the bytes of every unallocated block in order: the md5 of the bytes of our
ranges, read from the image in order, must equal the md5 of that output. ext4 groups flagged BLOCK_UNINIT are
the one difference (see triage/sources/carving/unallocated.py): there ``dumpe2fs``'s "Free blocks" lists, which
e2fsprogs computes as the kernel does, are the oracle.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import fixture_image, need_tool, realdata
from triage.sources.carving import unallocated
from triage.sources.carving.unallocated import Extents, unallocated_extents
from triage.sources.containers import open_evidence
from triage.sources.filesystems import open_filesystem
from triage.sources.volumes import find_volumes


def extents_of(image: Path, offset: int | None = None) -> tuple[Extents, int]:
    """The extents of the file system at byte ``offset`` (the first one when None), and TSK's block size."""
    evidence = open_evidence(image)
    try:
        volume = next(v for v in find_volumes(evidence).partitions if offset is None or v.offset == offset)
        fs = open_filesystem(evidence, volume)
        handle = getattr(fs, "fs", None)
        return unallocated_extents(fs), int(handle.info.block_size) if handle is not None else 0
    finally:
        evidence.close()


def md5_of(image: Path, ranges: list[tuple[int, int]]) -> tuple[str, int]:
    digest, total = hashlib.md5(), 0
    with image.open("rb") as fh:
        for offset, length in ranges:
            fh.seek(offset)
            data = fh.read(length)
            assert len(data) == length
            digest.update(data)
            total += length
    return digest.hexdigest(), total


def blkls(image: Path, sector: int = 0, *args: str) -> bytes:
    return subprocess.run([need_tool("blkls"), *args, "-o", str(sector), str(image)], check=True,
                          capture_output=True).stdout


# Oracle, run once on the committed fixtures and the team's real images (fixed files):
#   $ blkls -o 2048 laptop.raw | md5sum; ... | wc -c  ->  7ee6033ca78823839ffc96e501248ed3 33196544
#   $ blkls -o 69632 laptop.raw | md5sum; ... | wc -c  ->  78ce85d449dba680951c1a0f550fffca 1136640
#   $ blkls -o 75776 laptop.raw | md5sum; ... | wc -c  ->  0d8357697f3d25f91bd640f852a8cc5f 1888256
#   $ blkls -o 0 usb.raw | md5sum; ... | wc -c  ->  e5745d6b7f09a864b5052ed19ff0454f 3978752
#   $ blkls -o 2048 phone.raw | md5sum; ... | wc -c  ->  31f0e3d6b065b6c7c8611bf30a400b91 2967040
#   $ blkls -o 10240 phone.raw | md5sum; ... | wc -c  ->  d547fcc78af1020dda38ba20860b8c34 1754112
#   $ blkls -o 0 camera.raw | md5sum; ... | wc -c  ->  d62639856ace3da38b36e255c265926e 6033408
FIXTURES = [
    ("laptop.raw", 2048, "fat32", "7ee6033ca78823839ffc96e501248ed3", 33196544),
    ("laptop.raw", 69632, "ext4", "78ce85d449dba680951c1a0f550fffca", 1136640),
    ("laptop.raw", 75776, "ntfs", "0d8357697f3d25f91bd640f852a8cc5f", 1888256),
    ("usb.raw", 0, "fat16", "e5745d6b7f09a864b5052ed19ff0454f", 3978752),
    ("phone.raw", 2048, "fat16", "31f0e3d6b065b6c7c8611bf30a400b91", 2967040),
    ("phone.raw", 10240, "ext4", "d547fcc78af1020dda38ba20860b8c34", 1754112),
    ("camera.raw", 0, "exfat", "d62639856ace3da38b36e255c265926e", 6033408),
]
#   $ blkls -o 0 ext2.raw | md5sum; ... | wc -c  ->  54f0271997c3dbc129eb9fa728506cb1 4022272
#   $ blkls -o 1 mbr.raw | md5sum; ... | wc -c  ->  e8f16f5d99a7ec66f14a050944d7b8b0 37888
#   $ blkls -o 131 mbr.raw | md5sum; ... | wc -c  ->  e8f16f5d99a7ec66f14a050944d7b8b0 37888
#   $ blkls -o 0 hfsplus.raw | md5sum; ... | wc -c  ->  0e7c459e79077b37f8c55e8acda94606 3977216
REAL = [
    ("ext2.raw", 0, "ext2", "54f0271997c3dbc129eb9fa728506cb1", 4022272),
    ("mbr.raw", 1, "ext2", "e8f16f5d99a7ec66f14a050944d7b8b0", 37888),
    ("mbr.raw", 131, "ext4", "e8f16f5d99a7ec66f14a050944d7b8b0", 37888),
    ("hfsplus.raw", 0, "hfs+", "0e7c459e79077b37f8c55e8acda94606", 3977216),
]


@pytest.mark.parametrize(("name", "sector", "kind", "md5", "size"), FIXTURES)
def test_fixture_file_systems_equal_blkls(name: str, sector: int, kind: str, md5: str, size: int) -> None:
    image = fixture_image(name)
    extents, _ = extents_of(image, sector * 512)
    assert extents.reason is None and not extents.notes
    assert md5_of(image, extents.ranges) == (md5, size)
    assert extents.total_free == size
    assert all(a[0] + a[1] < b[0] for a, b in zip(extents.ranges, extents.ranges[1:], strict=False))  # merged


@pytest.mark.parametrize(("name", "sector", "kind", "md5", "size"), REAL)
def test_real_images_equal_blkls(name: str, sector: int, kind: str, md5: str, size: int) -> None:
    image = realdata(name)
    extents, _ = extents_of(image, sector * 512)
    assert extents.reason is None
    assert md5_of(image, extents.ranges) == (md5, size)


@pytest.mark.parametrize(("name", "kind"), [("apfs.raw", "apfs"), ("iso9660.raw", "iso9660")])
def test_unmapped_file_systems_give_a_reason(name: str, kind: str) -> None:
    extents, _ = extents_of(realdata(name))
    assert extents.ranges == [] and extents.reason == f"unallocated space of {kind} not mapped"


def _fat12(tmp_path: Path, cluster_sectors: int, size: str) -> Path:
    image = tmp_path / f"fat12_{cluster_sectors}.img"
    blob = tmp_path / "blob.bin"
    blob.write_bytes(np.random.default_rng(12).integers(0, 256, 300_000, dtype=np.uint8).tobytes())
    subprocess.run(["truncate", "-s", size, image], check=True)
    subprocess.run([need_tool("mkfs.fat"), "-F", "12", "-s", str(cluster_sectors), str(image)], check=True,
                   capture_output=True)
    for target in ("::A.BIN", "::B.BIN"):
        subprocess.run([need_tool("mcopy"), "-i", str(image), str(blob), target], check=True)
    subprocess.run([need_tool("mdel"), "-i", str(image), "::A.BIN"], check=True)
    return image


@pytest.mark.parametrize(("cluster_sectors", "size"), [(1, "1M"), (4, "8M")])
def test_fat12_equals_blkls(tmp_path: Path, cluster_sectors: int, size: str) -> None:
    image = _fat12(tmp_path, cluster_sectors, size)
    extents, _ = extents_of(image)
    out = blkls(image)
    assert md5_of(image, extents.ranges) == (hashlib.md5(out).hexdigest(), len(out))


def _ext(tmp_path: Path, name: str, options: list[str], size: str = "64M") -> Path:
    image = tmp_path / f"{name}.img"
    stage = tmp_path / "stage"
    stage.mkdir(exist_ok=True)
    (stage / "blob.bin").write_bytes(np.random.default_rng(7).integers(0, 256, 300_000, dtype=np.uint8).tobytes())
    subprocess.run(["truncate", "-s", size, image], check=True)
    subprocess.run([need_tool("mke2fs"), "-q", "-F", *options, "-d", str(stage), str(image)], check=True)
    return image


def _block_set(extents: Extents, block: int) -> set[int]:
    return {b for offset, length in extents.ranges for b in range(offset // block, (offset + length) // block)}


def _blkls_free(image: Path) -> set[int]:
    """``blkls -l`` lists every block as ``address|f`` (free) or ``address|a``."""
    out = blkls(image, 0, "-l").decode()
    return {int(m.group(1)) for m in re.finditer(r"^(\d+)\|f$", out, re.M)}


def _dumpe2fs(image: Path) -> tuple[set[int], set[int]]:
    """(free blocks, blocks of BLOCK_UNINIT groups) from ``dumpe2fs``'s per-group listing."""
    out = subprocess.run([need_tool("dumpe2fs"), str(image)], check=True, capture_output=True, text=True).stdout
    free: set[int] = set()
    uninit: set[int] = set()
    for group in re.finditer(r"^Group \d+: \(Blocks (\d+)-(\d+)\).*?\n(.*?)(?=^Group |\Z)", out, re.M | re.S):
        if "BLOCK_UNINIT" in group.group(0).splitlines()[0]:
            uninit.update(range(int(group.group(1)), int(group.group(2)) + 1))
        listed = re.search(r"^  Free blocks: ?(.*)$", group.group(3), re.M)
        for part in filter(None, (p.strip() for p in listed.group(1).split(","))) if listed else ():
            low, _, high = part.partition("-")
            free.update(range(int(low), int(high or low) + 1))
    return free, uninit


# mke2fs -O ^uninit_bg,^metadata_csum: no group is BLOCK_UNINIT, so blkls and we read the same bitmaps.
NO_UNINIT = [
    ("ext2", ["-t", "ext2"]),
    ("ext3", ["-t", "ext3"]),
    ("ext4_plain", ["-t", "ext4", "-O", "^uninit_bg,^metadata_csum"]),
    ("ext4_noflex", ["-t", "ext4", "-O", "^flex_bg,^uninit_bg,^metadata_csum"]),
    ("ext4_4k", ["-t", "ext4", "-b", "4096", "-O", "^uninit_bg,^metadata_csum"]),
]


@pytest.mark.parametrize(("name", "options"), NO_UNINIT)
def test_ext_without_uninit_groups_equals_blkls(tmp_path: Path, name: str, options: list[str]) -> None:
    image = _ext(tmp_path, name, options)
    extents, block = extents_of(image)
    out = blkls(image)
    assert md5_of(image, extents.ranges) == (hashlib.md5(out).hexdigest(), len(out))
    assert _block_set(extents, block) == _dumpe2fs(image)[0]


# mke2fs's defaults (flex_bg, metadata_csum, 64bit) leave groups 1, 3-6 BLOCK_UNINIT on a 64 MiB volume:
#   $ dumpe2fs ext4.img
#   Group 1: (Blocks 8193-16384) csum 0xdec8 [INODE_UNINIT, BLOCK_UNINIT, ITABLE_ZEROED]
#     Backup superblock at 8193, Group descriptors at 8194-8194
#     Reserved GDT blocks at 8195-8450
#     Block bitmap at 260 (bg #0 + 259), csum 0x00000000
#     8 free blocks ... Free blocks: 8451-16384
# blkls reads the zeroed on-disk bitmap of such a group and so also lists 8193-8450 (the backup superblock and
# descriptors) as free; with ^flex_bg also the group's own bitmaps and inode table (8193-8964).
UNINIT = [
    ("ext4_default", ["-t", "ext4"]),
    ("ext4_gdt_csum", ["-t", "ext4", "-O", "^metadata_csum,uninit_bg"]),
    ("ext4_noflex_uninit", ["-t", "ext4", "-O", "^flex_bg"]),
    ("ext4_meta_bg", ["-t", "ext4", "-O", "meta_bg,^resize_inode"]),
    ("ext4_sparse_super2", ["-t", "ext4", "-O", "sparse_super2"]),
    ("ext4_32bit", ["-t", "ext4", "-O", "^64bit"]),
]


@pytest.mark.parametrize(("name", "options"), UNINIT)
def test_ext4_block_uninit_groups_follow_the_kernel(tmp_path: Path, name: str, options: list[str]) -> None:
    image = _ext(tmp_path, name, options)
    extents, block = extents_of(image)
    ours = _block_set(extents, block)
    free, uninit = _dumpe2fs(image)
    assert uninit, "mke2fs made no BLOCK_UNINIT group: the case is not tested"
    assert ours == free
    tsk = _blkls_free(image)
    assert ours <= tsk
    assert tsk - ours and (tsk - ours) <= uninit  # only metadata blocks inside BLOCK_UNINIT groups differ
    assert extents.total_free == len(ours) * block


def test_reformatted_ext4_free_groups_that_blkls_misses(tmp_path: Path) -> None:
    """mke2fs over an old ext4 (no discard) leaves the old block bitmaps of BLOCK_UNINIT groups in place.

    TSK reads those stale bitmaps and calls the old file's blocks allocated; the kernel (and dumpe2fs, and we)
    treat the group as free: exactly the space a re-formatted volume's pictures are carved from.
    """
    image = _ext(tmp_path, "remade", ["-t", "ext4"])
    old = tmp_path / "old.bin"
    old.write_bytes(np.random.default_rng(3).integers(0, 256, 40 << 20, dtype=np.uint8).tobytes())
    debugfs = need_tool("debugfs")
    subprocess.run([debugfs, "-w", "-R", f"write {old} old.bin", str(image)], check=True, capture_output=True)
    listing = subprocess.run([debugfs, "-R", "blocks /old.bin", str(image)], check=True, capture_output=True,
                             text=True).stdout
    old_blocks = {int(b) for b in listing.split()}
    subprocess.run([need_tool("mke2fs"), "-q", "-F", "-t", "ext4", "-E", "nodiscard", str(image)], check=True)
    extents, block = extents_of(image)
    ours = _block_set(extents, block)
    free, uninit = _dumpe2fs(image)
    tsk = _blkls_free(image)
    assert ours == free
    missed = ours - tsk
    assert len(missed) > 30_000  # blkls misses ~39 MB of free space (observed: 8451-16384, 24835-40960, ...)
    assert missed <= uninit and missed & old_blocks and missed <= old_blocks | uninit
    with image.open("rb") as fh, old.open("rb") as src:  # the old file's bytes are still in what blkls misses
        first = min(missed & old_blocks)
        fh.seek(first * block)
        assert fh.read(block) in src.read()


def test_damaged_group_descriptor_is_noted(tmp_path: Path) -> None:
    image = _ext(tmp_path, "damaged", ["-t", "ext2"])
    whole, block = extents_of(image)
    with image.open("r+b") as fh:  # group 3's descriptor: block bitmap pointer past the end of the volume
        fh.seek(2 * block + 3 * 32)
        fh.write((0x0FFFFFFF).to_bytes(4, "little"))
    extents, _ = extents_of(image)
    assert extents.reason is None
    assert extents.notes == ["group 3: block bitmap at block 268435455 lies outside the file system; its "
                             "blocks are taken as allocated"]
    group3 = range((1 + 3 * 8192) * block, (1 + 4 * 8192) * block)
    assert not any(o in group3 for o, _ in extents.ranges)
    assert extents.total_free < whole.total_free


@pytest.mark.parametrize("chunk", [64, 1000])
def test_small_map_chunks_give_the_same_extents(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, chunk: int) -> None:
    images = [(fixture_image("laptop.raw"), o * 512) for o in (2048, 75776)] + [
        (fixture_image("camera.raw"), 0), (_fat12(tmp_path, 1, "1M"), 0)]
    expected = [extents_of(image, offset)[0] for image, offset in images]
    monkeypatch.setattr(unallocated, "UNALLOC_MAP_CHUNK", chunk)
    assert [extents_of(image, offset)[0] for image, offset in images] == expected


def test_extent_cap_stops_the_list_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    image = fixture_image("laptop.raw")
    whole, _ = extents_of(image, 75776 * 512)
    assert len(whole.ranges) == 5
    monkeypatch.setattr(unallocated, "UNALLOC_MAX_EXTENTS", 2)
    capped, _ = extents_of(image, 75776 * 512)
    assert capped.ranges == whole.ranges[:2]
    assert capped.total_free == whole.total_free
    left = whole.total_free - sum(length for _, length in whole.ranges[:2])
    assert capped.notes == [f"extent cap of 2 reached: {left} free bytes not listed"]


def test_truncated_image_clips_the_ranges(tmp_path: Path) -> None:
    image = tmp_path / "usb_cut.raw"
    with fixture_image("usb.raw").open("rb") as src, image.open("wb") as dst:
        shutil.copyfileobj(src, dst)
        dst.truncate(3 << 20)  # the file system says 4 MiB
    extents, _ = extents_of(image)
    assert extents.ranges and sum(extents.ranges[-1]) == 3 << 20
    assert extents.total_free == 3978752  # what the FAT says is free, as on the whole image
    assert extents.notes == [f"{3978752 - sum(n for _, n in extents.ranges)} free bytes lie past the end of the "
                             "image (truncated); not listed"]


def test_truncated_ext_reads_only_the_groups_on_the_image(tmp_path: Path) -> None:
    image = _ext(tmp_path, "cut", ["-t", "ext2"])  # 8 groups of 8 MiB (1 KiB blocks)
    with image.open("r+b") as fh:
        fh.truncate(20 << 20)  # groups 0, 1 and part of 2 remain
    extents, _ = extents_of(image)
    assert extents.reason is None and extents.ranges and sum(extents.ranges[-1]) == 20 << 20
    clipped = extents.total_free - sum(n for _, n in extents.ranges)
    assert extents.notes == ["5 block groups lie past the end of the image (truncated); not read",
                             f"{clipped} free bytes lie past the end of the image (truncated); not listed"]

