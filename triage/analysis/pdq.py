"""PDQ in numpy: the reference algorithm (Meta's pdqhashing.cpp) as a few matrix products.

Why our own: the ``pdqhash`` binding box-filters every pixel in scalar C++ loops, which makes it the slowest step of
hashing a photo (figures in bench/RESULTS.md). PDQ only ever looks at 64x64 samples of the twice box-filtered
luminance, and a box filter followed by sampling is linear, so the whole downscale is ``Wr @ luma @ Wc.T`` with
small weight matrices built once per picture size. The result equals the binding's up to float rounding (checked in
tests against ``pdqhash.compute`` on the same luminance).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

OUT = 64
PASSES = 2


def window_size(old: int, new: int = OUT) -> int:
    """computeJaroszFilterWindowSize: ceil(old / (2 * new))."""
    return (old + 2 * new - 1) // (2 * new)


def box_bounds(length: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """The reference box1DFloat's window for every output index: inclusive input bounds (shorter at the edges)."""
    half = (window + 2) // 2
    out = np.arange(length)
    lo = np.maximum(0, out + half - window)
    hi = np.minimum(length - 1, out + half - 1)
    return lo, hi


@lru_cache(maxsize=32)
def sampling_weights(length: int) -> np.ndarray:
    """Rows of (box ∘ box) at the 64 decimation points: a (64 x length) float32 matrix.

    Decimation picks input index ``int((i + 0.5) * length / 64)`` like decimateFloat. Each row is built from
    the few box windows that reach it (O(window²) per row), not as a product of (length x length) box
    matrices: those products were slow for every picture size in every worker at photo sizes, and would need
    gigabytes for a 12 000-pixel side.
    """
    window = window_size(length)
    picks = ((np.arange(OUT) + 0.5) * length / OUT).astype(np.int64)
    weights = np.zeros((OUT, length))
    if window <= 1:
        weights[np.arange(OUT), picks] = 1.0
        return weights.astype(np.float32)
    lo, hi = box_bounds(length, window)
    share = 1.0 / (hi - lo + 1)
    for row, pick in enumerate(picks):
        weights[row, lo[pick] : hi[pick] + 1] = share[pick]
    for _ in range(PASSES - 1):
        previous, weights = weights, np.zeros((OUT, length))
        for row in range(OUT):
            for index in np.flatnonzero(previous[row]):
                weights[row, lo[index] : hi[index] + 1] += previous[row, index] * share[index]
    return weights.astype(np.float32)


@lru_cache(maxsize=1)
def dct_matrix() -> np.ndarray:
    """16 x 64 DCT-II basis without the DC row, as in dct64To16."""
    i = np.arange(1, 17)[:, None]
    j = np.arange(64)[None, :]
    return (np.sqrt(2.0 / 64.0) * np.cos(np.pi / 2.0 / 64.0 * i * (2 * j + 1))).astype(np.float32)


def quality(buffer: np.ndarray) -> int:
    """computePDQImageDomainQualityMetric: summed truncated gradients, scaled to 0..100."""
    vertical = np.trunc(np.abs((buffer[:-1, :] - buffer[1:, :]) * 100.0 / 255.0)).sum()
    horizontal = np.trunc(np.abs((buffer[:, :-1] - buffer[:, 1:]) * 100.0 / 255.0)).sum()
    return min(100, int(vertical + horizontal) // 90)


@lru_cache(maxsize=32)
def reduced_weights(length: int, scale: int) -> np.ndarray:
    """``sampling_weights(length)`` for a plane decoded at 1/scale: each group of ``scale`` taps summed.

    Why: a JPEG decoded at half size (the decoder's DCT scaling) gives each pixel the mean of 2x2 full-size
    pixels, so applying the full-size filter geometry to it keeps the hash close to the full-resolution one
    (within a few bits, measured by the benchmark), where hashing the small plane as a picture of its own would not.
    """
    small = length // scale
    full = sampling_weights(length).astype(np.float64)
    return np.ascontiguousarray(full[:, : small * scale].reshape(OUT, small, scale).sum(axis=2).astype(np.float32))


def _weights(
    luma: np.ndarray, full_size: tuple[int, int] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row weights, column weights and the luminance they apply to (``buffer64x64 = Wr @ luma @ Wc.T``)."""
    luma = np.asarray(luma, dtype=np.float32)
    rows, cols = luma.shape
    if full_size is None or full_size == (rows, cols):
        return sampling_weights(rows), sampling_weights(cols), luma
    row_scale, col_scale = round(full_size[0] / rows), round(full_size[1] / cols)
    row_weights = reduced_weights(full_size[0], row_scale)
    col_weights = reduced_weights(full_size[1], col_scale)
    return row_weights, col_weights, luma[: row_weights.shape[1], : col_weights.shape[1]]


def _hex_bits(coefficients: np.ndarray) -> str:
    """pdqBuffer16x16ToBits: bit ``i * 16 + j`` set where the coefficient exceeds the median, as 64 hex."""
    flat = coefficients.reshape(-1)
    median = np.sort(flat)[127]  # torben() returns the lower median of the 256 values
    bits = (flat > median)[::-1]
    return np.packbits(bits.astype(np.uint8)).tobytes().hex()


def pdq_from_luma(luma: np.ndarray, full_size: tuple[int, int] | None = None) -> tuple[str, int]:
    """PDQ hash (64 hex, bit 255 first, as the hash sets write it) and quality of a float luminance array.

    ``full_size`` (rows, columns) is the picture's size when ``luma`` was decoded at a reduced scale.
    """
    row_weights, col_weights, luma = _weights(luma, full_size)
    buffer = row_weights @ luma @ col_weights.T
    dct = dct_matrix()
    return _hex_bits(dct @ buffer @ dct.T), quality(buffer.astype(np.float32))


# The eight dihedral variants in the reference's order (pdqDihedralHash256esFromFloatLuma, pdqhash's
# compute_dihedral). Each is the PDQ of the picture with its rows reversed, its columns reversed, then
# transposed, as (rows, columns, transpose); "rotate90" is a turn counter-clockwise (numpy's rot90), "flipx"
# turns the picture upside down, "flipy" mirrors left and right, "flipplus1" is the transpose.
DIHEDRAL: dict[str, tuple[bool, bool, bool]] = {
    "original": (False, False, False),
    "rotate90": (False, True, True),
    "rotate180": (True, True, False),
    "rotate270": (True, False, True),
    "flipx": (True, False, False),
    "flipy": (False, True, False),
    "flipplus1": (False, False, True),
    "flipminus1": (True, True, True),
}
VARIANTS = tuple(DIHEDRAL)[1:]  # the seven carried beside the PDQ itself (``pdq_dihedral``), in this order

# What a match through each variant says of the picture found: it is the known picture with this done to it
# (the variant undoes it). A match through "rotate90" (found picture turned counter-clockwise) means the found
# picture is the known one turned 90° clockwise.
TRANSFORMS = {
    "rotate90": "rotate-90-cw",
    "rotate180": "rotate-180",
    "rotate270": "rotate-90-ccw",
    "flipx": "flip-vertical",
    "flipy": "flip-horizontal",
    "flipplus1": "transpose",
    "flipminus1": "transverse",
}


def pdq_dihedral_from_luma(
    luma: np.ndarray, full_size: tuple[int, int] | None = None, exact: bool = False
) -> tuple[tuple[str, ...], int]:
    """The eight dihedral PDQ hashes (``DIHEDRAL`` order) and the picture's quality; ``[0]`` is ``pdq_from_luma``.

    Reference (``exact=False``, as dct16OriginalToRotate90 etc.): one downscale and one DCT. Mirroring the
    64x64 buffer negates the DCT's odd frequencies (even indices) along that axis and a transpose transposes
    it, so the seven extra hashes cost a few 16x16 operations and a median each (every variant has its own
    median, as in the reference). Equals ``pdqhash.compute_dihedral`` bit for bit. But the reference's box
    filter and decimation are not mirror-symmetric, so a variant is up to ~15 bits (640x480), ~25 bits (small
    pictures) from the PDQ of the truly mirrored pixels (figures in bench/RESULTS.md).

    ``exact=True``: the mirrored buffers come from mirrored weights (``Wr[:, ::-1] @ luma`` is the downscale
    of the picture turned upside down), one more product over the whole luminance; every variant then equals
    ``pdq_from_luma`` of the transformed pixels (up to float rounding), so a mirrored copy of a known picture
    is as close to it as an unmirrored copy would be.
    """
    row_weights, col_weights, luma = _weights(luma, full_size)
    top = row_weights @ luma
    buffer = top @ col_weights.T
    dct = dct_matrix()
    if exact:
        bottom = row_weights[:, ::-1] @ luma
        buffers = {
            (False, False): buffer,
            (False, True): top @ col_weights[:, ::-1].T,
            (True, False): bottom @ col_weights.T,
            (True, True): bottom @ col_weights[:, ::-1].T,
        }
        coefficients = {key: dct @ value @ dct.T for key, value in buffers.items()}
    else:
        plain = dct @ buffer @ dct.T
        odd = np.where(np.arange(16) % 2 == 1, 1.0, -1.0).astype(np.float32)  # mirroring keeps even frequencies
        coefficients = {
            (rows, cols): plain * (odd[:, None] if rows else 1.0) * (odd[None, :] if cols else 1.0)
            for rows in (False, True)
            for cols in (False, True)
        }
    hashes = tuple(
        _hex_bits(coefficients[(rows, cols)].T if transpose else coefficients[(rows, cols)])
        for rows, cols, transpose in DIHEDRAL.values()
    )
    return hashes, quality(buffer.astype(np.float32))


LUMA_ROWS = 16  # rows per step: float64 temporaries of a few hundred KiB instead of 6 MB per 1024x768 picture


def luma_from_rgb(rgb: np.ndarray) -> np.ndarray:
    """Luminance exactly as the binding computes it (float64 weights, then float32).

    A few rows at a time: whole-picture float64 temporaries are fresh memory for every picture, and the page
    faults and zeroing cost about as much as the arithmetic. The values are the same, element by element.
    """
    out = np.empty(rgb.shape[:2], dtype=np.float32)
    for top in range(0, rgb.shape[0], LUMA_ROWS):
        part = rgb[top : top + LUMA_ROWS]
        out[top : top + LUMA_ROWS] = part[:, :, 0] * 0.299 + part[:, :, 1] * 0.587 + part[:, :, 2] * 0.114
    return out
