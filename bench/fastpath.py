"""Prototype fast paths for PDQ + pHash, measured by ``run_bench.py`` against the full-resolution reference.

Not used by triage: these are measurements to decide what ``triage/analysis/pictures.py`` should do (issue 6, item 2).

``pdq_numpy`` is Meta's PDQ (``pdqHash256FromFloatLuma``) restated as matrix products. The reference filters the
whole luminance plane with two passes of a box filter along rows and columns (Jarosz), then keeps 64×64
samples. Both filters are linear and separable, so the 64×64 samples are ``Kv @ Y @ Kh.T`` where ``Kh`` /
``Kv`` are the rows of the (box∘box) operator at the sampled positions, built once per picture size with the
reference's edge handling. One BLAS call replaces four passes over the plane and the samples come out exact
up to float rounding. With ``scale`` > 1 the plane is a JPEG decoded at 1/scale (``Image.draft``) and the
operator is the full-resolution one with each group of ``scale`` taps summed (the reduced pixel stands for
the mean of ``scale`` full pixels), so the hash still describes the full-resolution filter geometry.
"""

from __future__ import annotations

import io
from functools import lru_cache

import imagehash
import numpy as np
import pdqhash
from PIL import Image

_DCT = (np.sqrt(2.0 / 64.0) * np.cos(np.pi / 128.0 * np.outer(np.arange(1, 17), 2 * np.arange(64) + 1)))
_DCT32 = _DCT.astype(np.float32)


def _box_rows(n: int, window: int, rows: np.ndarray) -> np.ndarray:
    """Rows ``rows`` of the reference ``box1DFloat`` operator on a vector of length ``n`` (float64)."""
    half = (window + 2) // 2
    out = np.zeros((len(rows), n))
    for k, o in enumerate(rows.tolist()):
        lo, hi = max(0, o - (window - half)), min(n, o + half)
        out[k, lo:hi] = 1.0 / (hi - lo)
    return out


@lru_cache(maxsize=64)
def _operator(n_full: int, scale: int) -> np.ndarray:
    """64×(n_full/scale) float32: two box passes, then decimation to 64 samples (PDQ geometry for n_full)."""
    window = (n_full + 2 * 64 - 1) // (2 * 64)
    samples = ((np.arange(64) + 0.5) * n_full / 64).astype(np.int64)
    first = _box_rows(n_full, window, np.arange(n_full))  # n×n, used once per size (cached)
    k = _box_rows(n_full, window, samples) @ first
    if scale > 1:
        n_small = n_full // scale
        k = k[:, : n_small * scale].reshape(64, n_small, scale).sum(axis=2)
    return np.ascontiguousarray(k.astype(np.float32))


def pdq_numpy(luma: np.ndarray, full_shape: tuple[int, int] | None = None, scale: int = 1) -> tuple[str, int]:
    """PDQ hex (canonical order, as triage writes it) and quality from a float32 luminance plane."""
    h_full, w_full = full_shape or luma.shape
    kv, kh = _operator(h_full, scale), _operator(w_full, scale)
    rows, cols = kv.shape[1], kh.shape[1]
    plane = luma[:rows, :cols]
    a = kv @ (plane @ kh.T)  # 64×64 filtered samples
    d1 = np.trunc((a[:-1, :] - a[1:, :]) * 100.0 / 255.0)
    d2 = np.trunc((a[:, :-1] - a[:, 1:]) * 100.0 / 255.0)
    quality = min(100, int(np.abs(d1).sum() + np.abs(d2).sum()) // 90)
    b = (_DCT32 @ a @ _DCT32.T).ravel()
    median = np.partition(b, 127)[127]
    bits = (b > median)[::-1]
    return np.packbits(bits.astype(np.uint8)).tobytes().hex(), quality


def phash_from_l(img_l: Image.Image) -> str:
    """imagehash.phash of an 'L' picture (convert is then a no-op)."""
    return str(imagehash.phash(img_l))


def _pdqhash_hex(rgb: np.ndarray) -> tuple[str, int]:
    bits, quality = pdqhash.compute(rgb)
    return np.packbits(bits.astype(np.uint8)).tobytes().hex(), int(quality)


def full_rgb_numpy(data: bytes) -> tuple[str, int, str]:
    """Full RGB decode (as now), the reference luma, PDQ by matrix products, pHash as now."""
    with Image.open(io.BytesIO(data)) as img:
        rgb = img.convert("RGB")
    arr = np.asarray(rgb)
    luma = arr[:, :, 0] * np.float32(0.299) + arr[:, :, 1] * np.float32(0.587) + arr[:, :, 2] * np.float32(0.114)
    pdq, quality = pdq_numpy(luma)
    return pdq, quality, str(imagehash.phash(rgb))


def luma_full_numpy(data: bytes) -> tuple[str, int, str]:
    """JPEG decoded straight to its Y plane at full size (no chroma), PDQ by matrix products, pHash on Y."""
    with Image.open(io.BytesIO(data)) as img:
        if img.format == "JPEG" and img.mode in ("RGB", "YCbCr"):
            img.draft("L", img.size)
        img_l = img.convert("L")
    pdq, quality = pdq_numpy(np.asarray(img_l, dtype=np.float32))
    return pdq, quality, phash_from_l(img_l)


def luma_half_numpy(data: bytes) -> tuple[str, int, str]:
    """JPEG decoded at 1/2 scale to its Y plane, PDQ with the full-size geometry, pHash on the reduced Y."""
    with Image.open(io.BytesIO(data)) as img:
        full = (img.size[1], img.size[0])
        scale = 1
        if img.format == "JPEG" and img.mode in ("RGB", "YCbCr") and min(img.size) >= 256:
            img.draft("L", (img.size[0] // 2, img.size[1] // 2))
            scale = full[1] // img.size[0] if img.size[0] else 1
        img_l = img.convert("L")
    pdq, quality = pdq_numpy(np.asarray(img_l, dtype=np.float32), full, scale)
    return pdq, quality, phash_from_l(img_l)


def luma_full_pdqhash(data: bytes) -> tuple[str, int, str]:
    """JPEG Y plane at full size fed to the pdqhash binding (as 3 equal channels): isolates the decode saving."""
    with Image.open(io.BytesIO(data)) as img:
        if img.format == "JPEG" and img.mode in ("RGB", "YCbCr"):
            img.draft("L", img.size)
        img_l = img.convert("L")
    y = np.asarray(img_l)
    pdq, quality = _pdqhash_hex(np.ascontiguousarray(np.repeat(y[:, :, None], 3, axis=2)))
    return pdq, quality, phash_from_l(img_l)


CANDIDATES = {
    "full RGB + numpy PDQ": full_rgb_numpy,
    "Y plane full + pdqhash": luma_full_pdqhash,
    "Y plane full + numpy PDQ": luma_full_numpy,
    "Y plane 1/2 + numpy PDQ": luma_half_numpy,
}
