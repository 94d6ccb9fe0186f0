"""pHash exactly as imagehash computes it, without importing ``scipy.fft`` in every process.

Why: ``imagehash.phash`` imports ``scipy.fftpack`` on its first call, and that pulls in ``scipy.fft``'s array-API
layer, ``scipy.special`` and ``numpy.f2py``: a noticeable import in every process that hashes pictures, for two
32-point DCTs. The DCT itself is scipy's compiled pocketfft module, which depends on nothing else in scipy, so it
is loaded on its own and called with exactly the arguments ``scipy.fftpack.dct`` passes it (type 2, no
normalisation, one thread): the same machine code on the same numbers, so the hash is imagehash's bit for bit
(tested against ``imagehash.phash`` on flat, gradient, two-tone and textured pictures). A DCT of our own, as
matrix products, was tried and rejected: its rounding differs, and on flat pictures the near-zero coefficients
then fall differently around the median (up to 31 bits apart).

Where the module cannot be loaded that way (another scipy layout), ``scipy.fftpack.dct`` is used: the same
result, only the import is slower.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 32  # imagehash: hash_size 8 x highfreq_factor 4
HASH = 8


def _load_pocketfft() -> Callable[..., np.ndarray] | None:
    """scipy's pypocketfft extension, loaded from its file without importing the ``scipy`` package."""
    try:
        spec = importlib.util.find_spec("scipy")  # a top-level name: found, not imported
        if spec is None or not spec.submodule_search_locations:
            return None
        folder = Path(next(iter(spec.submodule_search_locations))) / "fft" / "_pocketfft"
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = folder / f"pypocketfft{suffix}"
            if path.is_file():
                loader = importlib.machinery.ExtensionFileLoader("pypocketfft", str(path))
                module = importlib.util.module_from_spec(importlib.util.spec_from_loader("pypocketfft", loader))
                loader.exec_module(module)
                return module.dct
    except Exception:  # any other layout or loading problem: use scipy.fftpack instead
        return None
    return None


_POCKETFFT_DCT = _load_pocketfft()


def _dct_rows_then_columns(pixels: np.ndarray) -> np.ndarray:
    """``scipy.fftpack.dct(scipy.fftpack.dct(pixels, axis=0), axis=1)`` for a uint8 array.

    As scipy passes it: the uint8 input is converted to a float64 copy, which the first transform overwrites;
    the second gets that result and writes a new array. Type 2, normalisation 0 ("backward"), one worker, no
    orthogonalisation.
    """
    if _POCKETFFT_DCT is not None:
        try:
            first = np.asarray(pixels, dtype=np.float64)
            first = _POCKETFFT_DCT(first, 2, (0,), 0, first, 1, None)
            return _POCKETFFT_DCT(first, 2, (1,), 0, None, 1, None)
        except TypeError:  # a scipy whose module takes other arguments
            pass
    import scipy.fftpack

    return scipy.fftpack.dct(scipy.fftpack.dct(pixels, axis=0), axis=1)


def phash(image: Image.Image) -> str:
    """``str(imagehash.phash(image))``: 16 hex characters."""
    small = image.convert("L").resize((SIZE, SIZE), Image.Resampling.LANCZOS)
    coefficients = _dct_rows_then_columns(np.asarray(small))[:HASH, :HASH]
    bits = coefficients > np.median(coefficients)
    return np.packbits(bits.reshape(-1)).tobytes().hex()
