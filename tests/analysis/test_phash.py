"""triage.analysis.phash is imagehash.phash bit for bit, on the pictures where a different DCT's rounding would show."""

from __future__ import annotations

import subprocess
import sys

import imagehash
import numpy as np
import pytest
from PIL import Image

from triage.analysis import phash as phash_module
from triage.analysis.phash import phash


def pictures() -> list[tuple[str, Image.Image]]:
    """Flat, gradient, two-tone, striped, noise, colour and textured pictures of assorted sizes (synthetic)."""
    rng = np.random.default_rng(6)
    out: list[tuple[str, Image.Image]] = []
    for level in (0, 1, 127, 128, 254, 255):
        out.append((f"flat {level}", Image.fromarray(np.full((48, 64), level, np.uint8))))
    for width in (31, 32, 100, 257):
        ramp = np.tile(np.linspace(0, 255, width).astype(np.uint8), (40, 1))
        out.append((f"gradient {width}", Image.fromarray(ramp)))
    for split in (1, 16, 31, 45):
        two = np.zeros((64, 64), np.uint8)
        two[:, :split] = 255
        out.append((f"two-tone {split}", Image.fromarray(two)))
    for period in (2, 3, 5):
        stripes = ((np.add.outer(np.arange(90), np.arange(70)) % period) * 60).astype(np.uint8)
        out.append((f"stripes {period}", Image.fromarray(stripes)))
    for shape in ((1, 1), (7, 300), (600, 800)):
        out.append((f"noise {shape}", Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8))))
    colour = rng.integers(0, 256, (120, 90, 3), dtype=np.uint8)
    out.append(("rgb noise", Image.fromarray(colour)))
    out.append(("rgba", Image.fromarray(np.dstack([colour, np.full((120, 90), 128, np.uint8)]))))
    smooth = np.cumsum(np.cumsum(rng.normal(size=(300, 400)), axis=0), axis=1)
    smooth = ((smooth - smooth.min()) / np.ptp(smooth) * 255).astype(np.uint8)
    out.append(("textured", Image.fromarray(smooth)))
    return out


@pytest.mark.parametrize(("name", "picture"), pictures(), ids=[name for name, _ in pictures()])
def test_phash_equals_imagehash(name: str, picture: Image.Image) -> None:
    assert phash(picture) == str(imagehash.phash(picture)), name


def test_the_scipy_fallback_gives_the_same_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where scipy's pocketfft module cannot be loaded on its own, scipy.fftpack does the same transform."""
    assert phash_module._POCKETFFT_DCT is not None  # the fast path is what the scan uses here
    expected = [phash(picture) for _, picture in pictures()]
    monkeypatch.setattr(phash_module, "_POCKETFFT_DCT", None)
    assert [phash(picture) for _, picture in pictures()] == expected


def test_hashing_a_picture_does_not_import_scipy() -> None:
    """The point of the module: worker processes skip scipy's ~0.1 s import."""
    code = (
        "import sys; from PIL import Image; import triage.analysis.pictures as p; "
        "img = Image.new('RGB', (64, 48)); img.putpixel((3, 4), (200, 10, 10)); "
        "import io; b = io.BytesIO(); img.save(b, 'PNG'); r = p.perceptual_hashes(b.getvalue()); "
        "assert r.phash and r.error is None, r; print(sorted(m for m in sys.modules if m.startswith('scipy')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
