"""Perceptual hashes of pictures: formats, modes, first frames, EXIF, decompression bombs, broken files.

SYNTHETIC DATA ONLY: every picture here is generated from a seed.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pdqhash
import pytest
from PIL import Image

from tests.known.conftest import encode, textured_picture
from triage.analysis import pictures
from triage.analysis.pictures import PerceptualResult, is_picture_type, perceptual_hashes


def distance(a: str | None, b: str | None) -> int:
    assert a is not None and b is not None
    return bin(int(a, 16) ^ int(b, 16)).count("1")


@pytest.fixture(scope="module")
def picture() -> Image.Image:
    return textured_picture(42, 320, 240)


def valid(result: PerceptualResult) -> None:
    assert result.error is None
    assert result.pdq is not None and len(result.pdq) == 64 and result.pdq == result.pdq.lower()
    assert result.phash is not None and len(result.phash) == 16 and result.phash == result.phash.lower()
    assert isinstance(result.pdq_quality, int) and 0 <= result.pdq_quality <= 100


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF", "JPEG", "GIF", "WEBP"])
def test_every_common_format(picture: Image.Image, fmt: str) -> None:
    reference = perceptual_hashes(encode(picture, "PNG"))
    result = perceptual_hashes(encode(picture, fmt))
    valid(result)
    assert result.pdq_quality == 100
    if fmt in ("PNG", "BMP", "TIFF"):  # lossless: the very same pixels, the very same hashes
        assert result == reference
    else:
        assert distance(result.pdq, reference.pdq) <= 16
        assert distance(result.phash, reference.phash) <= 4


def test_pdq_is_computed_at_full_resolution_in_canonical_order(picture: Image.Image) -> None:
    bits, quality = pdqhash.compute(np.asarray(picture))
    result = perceptual_hashes(encode(picture, "PNG"))
    assert (
        result.pdq == f"{int(''.join(str(int(b)) for b in bits), 2):064x}"
    )  # bit 255 is the first hex digit
    assert result.pdq_quality == quality


@pytest.mark.parametrize("mode", ["P", "L", "LA", "RGBA", "1", "CMYK"])
def test_modes_are_brought_to_rgb(picture: Image.Image, mode: str) -> None:
    converted = picture.convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    result = perceptual_hashes(encode(converted, fmt))
    valid(result)
    if mode in ("L", "LA", "RGBA"):
        assert distance(result.phash, perceptual_hashes(encode(picture, "PNG")).phash) <= 2


def test_palette_with_transparency(picture: Image.Image) -> None:
    paletted = picture.convert("P", palette=Image.Palette.ADAPTIVE)
    paletted.info["transparency"] = 0
    valid(perceptual_hashes(encode(paletted, "PNG", transparency=0)))


def test_sixteen_bit_greyscale_is_scaled_not_clipped(picture: Image.Image) -> None:
    grey8 = np.asarray(picture.convert("L"), dtype=np.uint16)
    grey16 = Image.fromarray(grey8 * 257)  # same picture on 0..65535
    assert grey16.mode.startswith("I")
    result16 = perceptual_hashes(encode(grey16, "PNG"))
    result8 = perceptual_hashes(encode(picture.convert("L"), "PNG"))
    valid(result16)
    assert distance(result16.pdq, result8.pdq) <= 4
    assert distance(result16.phash, result8.phash) <= 2


def test_animated_gif_is_hashed_on_its_first_frame(picture: Image.Image) -> None:
    other = textured_picture(7, 320, 240)
    frames = [picture.convert("P"), other.convert("P")]
    animated = io.BytesIO()
    frames[0].save(animated, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    first_only = encode(frames[0], "GIF")
    assert perceptual_hashes(animated.getvalue()) == perceptual_hashes(first_only)


def test_exif_orientation_is_not_applied(picture: Image.Image) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    tagged = encode(picture, "JPEG", quality=95, exif=exif.tobytes())
    plain = encode(picture, "JPEG", quality=95)
    assert perceptual_hashes(tagged) == perceptual_hashes(plain)


def png_header_claiming(width: int, height: int) -> bytes:
    """A PNG whose (correctly checksummed) header announces a huge size; the pixel data is tiny."""
    data = encode(Image.new("L", (8, 8)), "PNG")
    ihdr = struct.pack(">II", width, height) + data[24:29]
    chunk = b"IHDR" + ihdr
    return data[:8] + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + data[33:]


def test_decompression_bombs_are_refused_from_the_header() -> None:
    assert perceptual_hashes(png_header_claiming(10000, 10001)) == PerceptualResult(
        error="decompression bomb: 10000x10001 pixels"
    )
    huge = perceptual_hashes(png_header_claiming(40000, 40000))
    assert huge.error == "decompression bomb: 1600000000 pixels"
    small = encode(Image.new("RGB", (100, 100)), "PNG")
    assert perceptual_hashes(small, max_pixels=9999).error == "decompression bomb: 100x100 pixels"


@pytest.mark.parametrize(
    "data", [b"", b"not a picture", b"\xff\xd8\xff\xe0" + b"\0" * 100, b"\x89PNG\r\n\x1a\n" + b"\0" * 50]
)
def test_broken_input_gives_one_line_reproducible_error(data: bytes) -> None:
    first, second = perceptual_hashes(data), perceptual_hashes(data)
    assert first.error and "\n" not in first.error and first.pdq is None and first.phash is None
    assert first == second


def test_truncated_jpeg(picture: Image.Image) -> None:
    data = encode(picture, "JPEG")
    result = perceptual_hashes(data[: len(data) // 2])
    assert result.error and result.pdq is None


def test_flat_picture_has_low_quality() -> None:
    result = perceptual_hashes(encode(Image.new("RGB", (200, 200), (120, 30, 200)), "PNG"))
    assert result.error is None and result.pdq_quality is not None and result.pdq_quality < 50


def test_picture_types() -> None:
    for mime in (
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/bmp",
        "image/tiff",
        "image/webp",
        "image/heic",
    ):
        assert is_picture_type(mime)
    for mime in (None, "image/x-icon", "video/mp4", "application/pdf", "image/svg+xml"):
        assert not is_picture_type(mime)


def test_heic_without_plugin_says_why() -> None:
    if pictures.HEIF_AVAILABLE:
        pytest.skip("pillow-heif is installed here")
    result = perceptual_hashes(b"\0\0\0\x18ftypheic" + b"\0" * 40, mime="image/heic")
    assert result.error == "HEIC/HEIF decoding needs the optional pillow-heif package"
