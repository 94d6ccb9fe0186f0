"""Perceptual hashes of pictures: PDQ (with its quality) and pHash, from one decode.

Why both: PDQ is what Project VIC / CAID style sets increasingly carry and it survives resizing, recompression
and greyscale well, but a crop of a few percent moves it by ~50 bits; pHash (DCT of a 32x32 thumbnail) is
coarser but stays within a few bits under such a light crop. Matching on either catches more copies.

Decisions, with reasons:

- **One decode; large JPEGs at half scale.** PDQ is defined on the full-resolution luminance, and hash sets are
  made that way. JPEGs are decoded to luminance only (the decoder's Y plane, no colour conversion); those whose
  shorter side is at least ``HALF_SCALE_FROM`` are decoded at 1/2 (DCT scaling: decoding is most of the cost)
  and PDQ is computed with the full-size filter geometry (``pdq.reduced_weights``): on the benchmark's pictures
  this stays within issue 6's tolerance of the full-resolution reference and is faster than the full-size Y
  plane, while 1/4 scale moves PDQ too far (figures in bench/RESULTS.md). Other formats are decoded at full
  size. The same pixels feed pHash so the two hashes describe one picture.
- **PDQ in numpy** (``triage.analysis.pdq``): the reference algorithm as matrix products, equal to the ``pdqhash``
  binding on the same luminance and several times faster. **pHash** is imagehash's, bit for bit
  (``triage.analysis.phash``), without scipy's costly import in every process.
- **Decompression bombs** are refused from the header alone (width x height against ``max_pixels``) before any
  pixel is decoded, so a 50 000 x 50 000 PNG of a few kilobytes cannot exhaust memory.
- **EXIF orientation is NOT applied.** The hashes describe the pixels as stored, which is what hash-set
  producers (PDQ reference hasher, imagehash) compute by default; applying a tag that anyone can edit without
  touching the pixels would make the same stored picture hash differently depending on metadata and break
  exact reproducibility between tools. Rotated and mirrored copies are caught instead by matching PDQ's eight
  dihedral variants (``pdq.pdq_dihedral_from_luma``: from mirrored downscales of the one decode, see
  ``defaults.PDQ_DIHEDRAL_EXACT``).
- **Alpha is dropped, not composited**: ``convert("RGB")`` is what the common tools do, so we agree with them.
- **Animated / multi-page** files (GIF, APNG, WebP, TIFF) are hashed on their first frame.
- **16-bit and float** greyscale is scaled to 8 bits (Pillow's own conversion would clip it to white).
- Every failure becomes a one-line ``error``; this module never raises on bad input, because carved and
  deleted pictures are often truncated or corrupt and the scan must go on.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from triage.analysis.pdq import luma_from_rgb, pdq_dihedral_from_luma
from triage.analysis.phash import phash as phash_of
from triage.analysis.typesniff import kind_of
from triage.defaults import MAX_PIXELS, PDQ_DIHEDRAL_EXACT
from triage.errors import one_line

try:  # HEIC/HEIF only where the optional plugin is installed.
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIF_AVAILABLE = True
except ImportError:  # pragma: no cover - depends on the environment
    HEIF_AVAILABLE = False

HALF_SCALE_FROM = 256  # JPEGs whose shorter side is at least this are decoded at half size

_HEIF_TYPES = frozenset({"image/heic", "image/heif"})


@dataclass(frozen=True)
class PerceptualResult:
    """Perceptual hashes of one picture; all hash fields are None when ``error`` says why.

    Attributes:
        pdq: 256-bit PDQ hash as 64 lower-case hex characters (canonical PDQ order, as in the hash sets).
        pdq_quality: PDQ quality 0-100; below ~50 the hash carries too little structure to be matched.
        phash: 64-bit pHash (imagehash) as 16 lower-case hex characters.
        error: one-line reason the picture could not be hashed, else None.
        embedded: child records of pictures found inside this one (its EXIF thumbnail), already hashed.
        notes: facts about the picture that are not failures (e.g. why a claimed EXIF thumbnail was not read).
        pdq_dihedral: the PDQ hashes of the seven rotated and mirrored variants (``pdq.VARIANTS`` order),
            for matching only: never written to files.jsonl (see ``FileRecord.pdq_dihedral``).
    """

    pdq: str | None = None
    pdq_quality: int | None = None
    phash: str | None = None
    error: str | None = None
    embedded: tuple[Any, ...] = ()
    notes: tuple[str, ...] = ()
    pdq_dihedral: tuple[str, ...] | None = None


def is_picture_type(mime: str | None) -> bool:
    """Tell whether a signature MIME type should get perceptual hashes (typesniff.kind_of decides)."""
    return kind_of(mime) == "picture"


def _to_rgb(img: Image.Image) -> Image.Image:
    """Bring any Pillow mode to 8-bit RGB without clipping high-bit-depth greyscale."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(img)
        if mode.startswith("I;16"):
            arr8 = (arr.astype(np.uint32) >> 8).astype(np.uint8)
        else:
            arr = arr.astype(np.float64)
            lo, hi = float(arr.min()), float(arr.max())
            if mode == "I" and lo >= 0 and hi <= 255:
                arr8 = arr.astype(np.uint8)
            elif mode == "I" and lo >= 0 and hi <= 65535:
                arr8 = (arr / 257.0).round().astype(np.uint8)
            else:
                span = hi - lo if hi > lo else 1.0
                arr8 = ((arr - lo) * (255.0 / span)).round().astype(np.uint8)
        return Image.fromarray(arr8, mode="L").convert("RGB")
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    return img.convert("RGB")


def perceptual_hashes(
    data: bytes, max_pixels: int = MAX_PIXELS, mime: str | None = None
) -> PerceptualResult:
    """Compute PDQ (+quality) and pHash of a picture held in memory.

    Args:
        data: the whole file content.
        max_pixels: refuse pictures whose header announces more pixels than this (decompression bombs).
        mime: the signature type if known; only used to give a clearer error for HEIC without pillow-heif.

    Returns:
        A PerceptualResult; never raises for bad pictures (the reason is in ``error``).
    """
    if mime in _HEIF_TYPES and not HEIF_AVAILABLE:
        return PerceptualResult(error="HEIC/HEIF decoding needs the optional pillow-heif package")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning, palette/transparency notes
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                if width * height > max_pixels:
                    return PerceptualResult(error=f"decompression bomb: {width}x{height} pixels")
                if getattr(img, "n_frames", 1) > 1:
                    img.seek(0)
                if img.format == "JPEG" and img.mode in ("RGB", "L"):
                    # Luminance straight from the decoder (no colour conversion): JPEG's Y is the same
                    # 0.299/0.587/0.114 weighting PDQ and pHash apply to RGB. Large pictures at half scale
                    # (DCT scaling), hashed with the full-size PDQ filter geometry.
                    full = (height, width)
                    if min(width, height) >= HALF_SCALE_FROM:
                        img.draft("L", (width // 2, height // 2))
                    else:
                        img.draft("L", img.size)
                    img.load()
                    luma = np.asarray(img, dtype=np.float32)
                    hashes, quality = pdq_dihedral_from_luma(luma, full, PDQ_DIHEDRAL_EXACT)
                    phash = phash_of(img)
                    return PerceptualResult(hashes[0], quality, phash, pdq_dihedral=hashes[1:])
                img.load()
                rgb = _to_rgb(img)
                pixels = np.asarray(rgb, dtype=np.uint8)
                hashes, quality = pdq_dihedral_from_luma(luma_from_rgb(pixels), exact=PDQ_DIHEDRAL_EXACT)
                phash = phash_of(rgb)
        return PerceptualResult(hashes[0], quality, phash, pdq_dihedral=hashes[1:])
    except Image.DecompressionBombError as exc:
        # Pillow's own (higher) limit fired inside Image.open, before we could read the size.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        return PerceptualResult(error=f"decompression bomb: {found.group(1) if found else 'too many'} pixels")
    except Image.UnidentifiedImageError:
        # Pillow's message carries a memory address; keep the error reproducible between runs.
        return PerceptualResult(error="cannot identify image file")
    except Exception as exc:  # every decoder failure is data, not a crash
        return PerceptualResult(error=one_line(exc, typed=True))
