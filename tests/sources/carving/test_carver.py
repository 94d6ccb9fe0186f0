"""Carving of contiguous pictures and videos from in-memory media (synthetic bytes only).

The media is a bytearray of random and zero space with pictures made by Pillow, videos made by PyAV and
hand-built ISO media files written at known offsets; every carved item must have the original's offset, length
and md5, and every distractor must be dropped with its reason counted.
"""

from __future__ import annotations

import hashlib
import io
import struct

import numpy as np
import pytest
from PIL import Image, features

from triage.analysis.pictures import HEIF_AVAILABLE
from triage.defaults import PICTURE_BYTES
from triage.errors import ReadError
from triage.sources.carving.carver import HEIF_MISSING, CarveLimits, CarveStats, carve
from triage.sources.carving.signatures import SIGNATURES, find_headers

BLOCK = 256 << 10  # small blocks, so items and headers straddle block boundaries
SIZE = 6 << 20


def _picture(seed: int, size: tuple[int, int] = (96, 64)) -> Image.Image:
    """A small noisy gradient: textured enough that every encoder emits real entropy-coded data."""
    rng = np.random.default_rng(seed)
    w, h = size
    base = np.linspace(0, 200, w, dtype=np.float32)[None, :, None] + np.linspace(0, 55, h)[:, None, None]
    pixels = base + rng.normal(0, 20, (h, w, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _encode(img: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **options)
    return out.getvalue()


def _with_exif_thumbnail(main: bytes, thumb: bytes) -> bytes:
    """``main`` with an APP1 Exif segment right after SOI whose IFD1 holds ``thumb`` (its own SOI ... EOI)."""
    ifd1 = struct.pack("<H", 2) + struct.pack("<HHII", 0x201, 4, 1, 44) + struct.pack("<HHII", 0x202, 4, 1,
                                                                                      len(thumb))
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<HI", 0, 14) + ifd1 + struct.pack("<I", 0) + thumb
    payload = b"Exif\x00\x00" + tiff
    return main[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + main[2:]


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _mp4_by_hand(seed: int) -> bytes:
    """ftyp (isom) + mdat + moov(mvhd, trak): the box layout of a camera MP4, no codec needed."""
    rng = np.random.default_rng(seed)
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 0x200) + b"isommp41")
    mvhd = _box(b"mvhd", bytes(4) + bytes(8) + struct.pack(">II", 1000, 2000) + bytes(80))
    return ftyp + _box(b"mdat", rng.bytes(3000)) + _box(b"moov", mvhd + _box(b"trak", b""))


def _heic_by_hand(seed: int) -> bytes:
    """ftyp (heic) + meta(hdlr 'pict', pitm) + mdat: the top-level layout of an HEIC photo."""
    rng = np.random.default_rng(seed)
    ftyp = _box(b"ftyp", b"heic" + bytes(4) + b"mif1heic")
    hdlr = _box(b"hdlr", bytes(4) + bytes(4) + b"pict" + bytes(12) + b"\x00")
    meta = _box(b"meta", bytes(4) + hdlr + _box(b"pitm", bytes(4) + b"\x00\x01"))
    return ftyp + meta + _box(b"mdat", rng.bytes(700))


def _video(fmt: str, codec: str) -> bytes:
    """A real 8-frame video made with PyAV (skipped where PyAV is not installed)."""
    av = pytest.importorskip("av")
    out = io.BytesIO()
    with av.open(out, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=8)
        stream.width, stream.height = 64, 48
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        for i in range(8):
            frame = av.VideoFrame.from_ndarray(np.asarray(_picture(100 + i, (64, 48))), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


class Media:
    """Random space with zero runs; items and distractors written at chosen offsets."""

    def __init__(self, size: int = SIZE, seed: int = 7) -> None:
        rng = np.random.default_rng(seed)
        self.bytes = bytearray(rng.bytes(size))
        for start in range(0, size, 1 << 20):  # every other 512 KiB is zeros, as wiped or unused space
            self.bytes[start + (512 << 10) : start + (1 << 20)] = bytes(512 << 10)
        self.items: dict[int, tuple[str, bytes]] = {}

    def put(self, offset: int, data: bytes, mime: str | None = None) -> None:
        self.bytes[offset : offset + len(data)] = data
        if mime:
            self.items[offset] = (mime, data)

    def read(self, offset: int, length: int) -> bytes:
        return bytes(self.bytes[offset : offset + length])


def _carve(media: Media, ranges=None, **limits):
    stats = CarveStats()
    items = list(carve(media.read, ranges or [(0, len(media.bytes))], CarveLimits(block=BLOCK, **limits), stats))
    return items, stats


def _check_items(media: Media, items) -> None:
    found = {item.offset: item for item in items}
    assert sorted(found) == sorted(media.items)
    for offset, (mime, data) in media.items.items():
        item = found[offset]
        assert (item.type, item.length) == (mime, len(data))
        assert item.data is not None and hashlib.md5(item.data).hexdigest() == hashlib.md5(data).hexdigest()


def test_every_format_carved_with_offset_length_and_md5() -> None:
    media = Media()
    jpeg = _encode(_picture(1), "JPEG", quality=85)
    media.put(4096, jpeg, "image/jpeg")
    media.put(40_000, _encode(_picture(2, (120, 90)), "JPEG", quality=80, progressive=True), "image/jpeg")
    thumb = _encode(_picture(3, (32, 24)), "JPEG")
    with_thumb = _with_exif_thumbnail(_encode(_picture(4), "JPEG"), thumb)
    media.put(90_000, with_thumb, "image/jpeg")
    mpo = _encode(_picture(16), "MPO", save_all=True, append_images=[_picture(17, (48, 32))])
    media.put(120_000, mpo, "image/jpeg")  # multi-picture JPEG: the item runs over the second picture
    media.put(150_000, _encode(_picture(5), "PNG"), "image/png")
    media.put(1_100_000, _encode(_picture(6), "GIF"), "image/gif")
    media.put(1_200_000, _encode(_picture(7), "BMP"), "image/bmp")
    media.put(1_300_000, _encode(_picture(8), "WEBP", quality=80), "image/webp")
    media.put(1_350_000, _encode(_picture(9), "WEBP", lossless=True), "image/webp")
    media.put(2_100_000, _mp4_by_hand(10), "video/mp4")
    items, stats = _carve(media)
    _check_items(media, items)
    assert stats.inside["jpeg"] == 2  # the EXIF thumbnail and the MPO's second picture: not carved again
    assert stats.kept == {"image/jpeg": 4, "image/png": 1, "image/gif": 1, "image/bmp": 1, "image/webp": 2,
                          "video/mp4": 1}
    assert stats.scanned == SIZE
    assert all(item.note is None for item in items)


def test_headers_straddling_block_boundaries() -> None:
    media = Media()
    media.put(BLOCK - 3, _encode(_picture(11), "PNG"), "image/png")  # magic split by the boundary
    media.put(2 * BLOCK - 2, _mp4_by_hand(12), "video/mp4")  # size field before, "ftyp" after the boundary
    media.put(3 * BLOCK - 1, _encode(_picture(13), "JPEG"), "image/jpeg")  # FF | D8 FF
    media.put(4 * BLOCK - 5, _encode(_picture(14), "WEBP"), "image/webp")  # "RIFF" split, "WEBPVP8" after
    media.put(5 * BLOCK, _encode(_picture(15), "GIF"), "image/gif")  # exactly at a boundary
    items, stats = _carve(media)
    _check_items(media, items)
    assert sum(stats.dropped.get("jpeg", {}).values()) == 0


def test_real_videos_and_no_double_counting_of_their_frames() -> None:
    media = Media()
    mp4 = _video("mp4", "mpeg4")
    mov = _video("mov", "mjpeg")  # Motion-JPEG: every frame is a whole JPEG inside the mdat
    media.put(300_000, mp4, "video/mp4")
    media.put(1_100_000, mov, "video/quicktime")
    items, stats = _carve(media)
    _check_items(media, items)
    assert stats.inside["jpeg"] == mov.count(b"\xff\xd8\xff") == 8
    assert "image/jpeg" not in stats.kept


def test_avif_picture_carved_and_decoded() -> None:
    if not features.check("avif"):
        pytest.skip("this Pillow has no AVIF codec")
    media = Media()
    media.put(5_000, _encode(_picture(21), "AVIF"), "image/avif")  # ftyp avif + meta + mdat, decoded by Pillow
    items, _ = _carve(media)
    _check_items(media, items)


def test_heic_kept_on_its_structure_when_it_cannot_be_decoded() -> None:
    media = Media()
    heic = _heic_by_hand(20)
    media.put(70_000, heic)
    items, stats = _carve(media)
    if HEIF_AVAILABLE:  # a hand-built HEIC has no coded picture: with the decoder present it must be dropped
        assert not items and stats.dropped["ftyp"] == {"does not decode": 1}
        return
    assert [(i.offset, i.length, i.type, i.note) for i in items] == [(70_000, len(heic), "image/heic",
                                                                       HEIF_MISSING)]
    assert items[0].data == heic


def _distractors(media: Media) -> None:
    rng = np.random.default_rng(99)
    media.put(10_000, b"\xff\xd8\xff\xe0" + rng.bytes(4000))  # random data starting with a JPEG marker
    png = _encode(_picture(30), "PNG")
    media.put(520_000, png[: len(png) // 2])  # truncated PNG, followed by zeros (IDAT cut short)
    jpeg = _encode(_picture(31), "JPEG")
    sos = jpeg.index(b"\xff\xda")
    header_end = sos + 2 + (jpeg[sos + 2] << 8 | jpeg[sos + 3])
    media.put(1_050_000, jpeg[:header_end] + rng.bytes(6000))  # a JPEG header, then garbage
    bmp = b"BM" + struct.pack("<IIII", 0xFFFFFF00, 0, 54, 40) + struct.pack("<iiHHI", 100, 100, 1, 24, 0)
    media.put(1_070_000, bmp + bytes(24))  # a BMP header whose size field is absurd
    media.put(1_080_000, struct.pack(">I", 0x7FFFFFF0) + b"ftypisom" + bytes(8))  # a ftyp box of absurd size
    mp4 = _mp4_by_hand(32)
    media.put(1_090_000, mp4[:-200])  # an MP4 whose moov is cut off by random data


def test_distractors_are_dropped_with_reasons_and_nothing_crashes() -> None:
    media = Media()
    _distractors(media)
    items, stats = _carve(media)
    assert items == []
    # What stats.lines() printed for this seeded media:
    #   bmp: size field larger than 64 MiB: 1 / ftyp: implausible ftyp box: 1 / ftyp: no moov box: 1
    #   jpeg: bad marker in entropy data: 1 / jpeg: bad marker segment: 1 / png: bad CRC: 1
    assert stats.dropped == {"jpeg": {"bad marker segment": 1, "bad marker in entropy data": 1},
                             "png": {"bad CRC": 1}, "bmp": {"size field larger than 64 MiB": 1},
                             "ftyp": {"implausible ftyp box": 1, "no moov box": 1}}
    assert sum(stats.headers.values()) == sum(sum(r.values()) for r in stats.dropped.values())


def test_jpeg_without_end_marker_within_its_size_bound() -> None:
    media = Media()
    jpeg = _encode(_picture(33), "JPEG")
    media.put(600_000, jpeg[: len(jpeg) // 2])  # the rest of this 512 KiB run is zeros: no EOI ever comes
    sizes = dict(CarveLimits().max_size)
    sizes["jpeg"] = 64 << 10
    items, stats = _carve(media, max_size=sizes)
    assert items == []
    assert stats.dropped["jpeg"] == {"no end marker within 64 KiB": 1}
    assert stats.lines()[-1] == "jpeg: no end marker within 64 KiB: 1"


def test_signature_search_equals_a_plain_find() -> None:
    """The numpy search finds exactly what one ``bytes.find`` loop per magic finds, at odd and even offsets."""
    rng = np.random.default_rng(5)
    for trial in range(20):
        size = int(rng.integers(1, 300_000))
        buf = bytearray(rng.bytes(size))
        if trial % 2:
            buf[size // 3 : 2 * size // 3] = bytes(2 * size // 3 - size // 3)
        for sig in SIGNATURES:
            for _ in range(3):
                at = int(rng.integers(0, size))
                buf[at : at + len(sig.magic)] = sig.magic
                if sig.zeros and rng.integers(0, 2):
                    buf[at + 6 : at + 10] = bytes(4)
        data = bytes(buf[:size])
        count = max(0, size - int(rng.integers(0, 40)))
        expected = []
        for sig in SIGNATURES:
            i = data.find(sig.magic)
            while i >= 0:
                start = i - sig.shift
                zeros = all(start + z < size and data[start + z] == 0 for z in sig.zeros)
                if 0 <= start < count and zeros:
                    expected.append((start, sig.name))
                i = data.find(sig.magic, i + 1)
        assert sorted(expected) == sorted((start, sig.name) for start, sig in find_headers(data, count))


def test_pictures_found_among_distractors() -> None:
    media = Media()
    _distractors(media)
    media.put(2_000_000, _encode(_picture(40), "JPEG"), "image/jpeg")
    # A real JPEG right after garbage that started with a JPEG marker: the failed region is searched on.
    media.put(10_100, _encode(_picture(41), "JPEG"), "image/jpeg")
    items, _ = _carve(media)
    _check_items(media, items)


def test_items_do_not_span_ranges_that_do_not_touch() -> None:
    media = Media()
    jpeg = _encode(_picture(50), "JPEG")
    media.put(100_000, jpeg)  # its second half is in a gap (an allocated cluster, say)
    media.put(200_000, _encode(_picture(51), "PNG"), "image/png")
    ranges = [(0, 100_000 + len(jpeg) // 2), (100_000 + len(jpeg) // 2 + 4096, 500_000)]
    items, stats = _carve(media, ranges)
    _check_items(media, items)
    assert stats.dropped["jpeg"]["no end marker before the end of the range"] == 1
    assert stats.ranges == 2


def test_touching_ranges_are_joined() -> None:
    media = Media()
    media.put(100_000, _encode(_picture(52), "PNG"), "image/png")
    items, stats = _carve(media, [(0, 100_500), (100_500, 50_000), (150_500, 0)])
    _check_items(media, items)
    assert stats.ranges == 1 and stats.scanned == 150_500


def test_item_limit_and_read_errors_are_recorded() -> None:
    media = Media()
    for i in range(4):
        media.put(1_000 + i * 20_000, _encode(_picture(60 + i), "PNG"))
    items, stats = _carve(media, max_items=2)
    assert len(items) == 2 and stats.limit == "carving stopped after 2 items (limit)"

    def failing(offset: int, length: int) -> bytes:
        if offset == BLOCK:
            raise ReadError("bad sector")
        return media.read(offset, length)

    stats = CarveStats()
    media.put(BLOCK + 1000, _encode(_picture(70), "PNG"))
    found = list(carve(failing, [(0, 2 * BLOCK)], CarveLimits(block=BLOCK), stats))
    assert len(found) == 4
    assert stats.errors == [f"carving read at offset {BLOCK}: bad sector"]


def test_multi_picture_jpeg_whose_second_picture_is_gone() -> None:
    media = Media()
    mpo = _encode(_picture(80), "MPO", save_all=True, append_images=[_picture(81, (48, 32))])
    second = mpo.index(b"\xff\xd8\xff", 2)  # the second picture's SOI, right after the first's EOI
    damaged = mpo[:second] + b"\x00\x00" + mpo[second + 2 :]  # overwritten since: no SOI where indexed
    media.put(200_000, damaged)
    items, _ = _carve(media)
    assert [(i.offset, i.length, i.note) for i in items] == [
        (200_000, second, "MPF pictures after the first not found where indexed")]


def test_video_larger_than_picture_bytes_is_carved_without_its_bytes() -> None:
    small = _mp4_by_hand(90)
    ftyp_end = struct.unpack(">I", small[:4])[0]
    mdat = _box(b"mdat", bytes(PICTURE_BYTES))  # zeros: the search skips them, only box headers are read
    moov = small[ftyp_end + 8 + 3000 :]
    video = small[:ftyp_end] + mdat + moov
    media = Media(size=PICTURE_BYTES + (4 << 20))
    media.put(1 << 20, video)
    items, _ = _carve(media)
    assert [(i.offset, i.length, i.type, i.data) for i in items] == [(1 << 20, len(video), "video/mp4", None)]
