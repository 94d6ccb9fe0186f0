"""Our numpy PDQ against the reference binding (pdqhash) on the same luminance: identical bits and quality."""

from __future__ import annotations

import io

import numpy as np
import pdqhash
import pytest
from PIL import Image

from triage.analysis.pdq import OUT, box_bounds, luma_from_rgb, pdq_from_luma, sampling_weights, window_size
from triage.analysis.pictures import perceptual_hashes


def reference(rgb: np.ndarray) -> tuple[str, int]:
    bits, quality = pdqhash.compute(np.ascontiguousarray(rgb))
    return np.packbits(bits.astype(np.uint8)).tobytes().hex(), int(quality)


def textured(seed: int, size: tuple[int, int]) -> np.ndarray:
    """Smooth noise plus a gradient: structure at several scales, like a photo (synthetic)."""
    rng = np.random.default_rng(seed)
    h, w = size
    out = np.zeros((h, w, 3))
    for octave in range(1, 6):
        cells = rng.random((2**octave + 1, 2**octave + 1, 3))
        small = Image.fromarray((cells * 255).astype(np.uint8)).resize((w, h), Image.Resampling.BICUBIC)
        out += np.asarray(small, dtype=np.float64) / octave
    out += np.linspace(0, 80, w)[None, :, None]
    return np.clip(out / out.max() * 255, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("shape", [(768, 1024), (1, 1), (15, 7), (16, 3), (17, 5), (33, 700)])
def test_luma_computed_in_row_blocks_is_the_whole_picture_formula(shape: tuple[int, int]) -> None:
    """The binding's luminance (float64 weights over the whole array, then float32), element for element."""
    rgb = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3), dtype=np.uint8)
    whole = (rgb[:, :, 0] * 0.299 + rgb[:, :, 1] * 0.587 + rgb[:, :, 2] * 0.114).astype(np.float32)
    assert luma_from_rgb(rgb).dtype == np.float32
    assert np.array_equal(luma_from_rgb(rgb), whole)


def box_matrix(length: int) -> np.ndarray:
    """The reference box1DFloat as a (length x length) averaging operator, built the slow, obvious way."""
    lo, hi = box_bounds(length, window_size(length))
    matrix = np.zeros((length, length))
    for out in range(length):
        matrix[out, lo[out] : hi[out] + 1] = 1.0 / (hi[out] - lo[out] + 1)
    return matrix


@pytest.mark.parametrize("length", [1, 2, 63, 64, 127, 128, 129, 255, 300, 480, 511, 768, 1024, 1200, 1601])
def test_sampling_weights_are_the_two_box_passes_at_the_decimation_points(length: int) -> None:
    """Built window by window, the weights equal (box @ box) sampled at decimateFloat's picks."""
    picks = ((np.arange(OUT) + 0.5) * length / OUT).astype(np.int64)
    box = box_matrix(length)
    expected = (box[picks] @ box).astype(np.float32) if window_size(length) > 1 else np.eye(length)[picks]
    assert np.array_equal(sampling_weights(length), expected.astype(np.float32))


@pytest.mark.parametrize(("seed", "size"), [(1, (480, 640)), (2, (768, 1024)), (3, (97, 211)), (4, (64, 64)),
                                            (5, (1200, 300)), (6, (33, 700))])
def test_numpy_pdq_equals_binding(seed: int, size: tuple[int, int]) -> None:
    rgb = textured(seed, size)
    assert pdq_from_luma(luma_from_rgb(rgb)) == reference(rgb)


@pytest.mark.parametrize("seed", range(8))
def test_jpeg_luma_path_agrees_with_full_resolution_rgb(seed: int) -> None:
    """Issue 6: any fast path must agree within 10 bits (PDQ) and 2 bits (pHash) at quality >= 80."""
    import imagehash

    from fixtures.make_pictures import textured_picture

    buf = io.BytesIO()
    textured_picture(100 + seed, (1024, 768)).save(buf, "JPEG", quality=90)
    rgb = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    ref_pdq, ref_quality = reference(rgb)
    ref_phash = str(imagehash.phash(Image.fromarray(rgb)))
    fast = perceptual_hashes(buf.getvalue())
    assert ref_quality >= 80
    assert bin(int(fast.pdq, 16) ^ int(ref_pdq, 16)).count("1") <= 10
    assert bin(int(fast.phash, 16) ^ int(ref_phash, 16)).count("1") <= 2


@pytest.mark.parametrize("size", [(1023, 767), (257, 1601), (300, 2000), (255, 900)])
def test_half_scale_jpeg_path_on_odd_sizes(size: tuple[int, int]) -> None:
    """Half-scale decoding (shorter side >= 256) with odd sizes: the last odd row/column is left out, and the
    hashes still agree with the full-resolution reference within issue 6's bounds."""
    import imagehash

    from fixtures.make_pictures import textured_picture

    buf = io.BytesIO()
    textured_picture(7, size).save(buf, "JPEG", quality=92)
    rgb = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    ref_pdq, ref_quality = reference(rgb)
    fast = perceptual_hashes(buf.getvalue())
    assert fast.error is None and ref_quality >= 80
    assert bin(int(fast.pdq, 16) ^ int(ref_pdq, 16)).count("1") <= 10
    assert bin(int(fast.phash, 16) ^ int(str(imagehash.phash(Image.fromarray(rgb))), 16)).count("1") <= 2
