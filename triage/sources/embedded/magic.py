"""Which picture a block of bytes holds, and names safe to use in a location: shared by the cache finders.

Why the signature table of ``triage.analysis.typesniff``: a thumbnail is yielded only when the sniffer would call
it a JPEG, PNG or BMP, so a cache entry and a file on disk are typed by the same rule.
"""

from __future__ import annotations

from triage.analysis.typesniff import sniff

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/bmp": "bmp"}  # what a thumbnail cache stores
HEAD = 16  # bytes the sniffer needs to type (and check) these three
_STARTS = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM")
_UNSAFE = set('/\\:*?"<>|')


def picture_ext(head: bytes) -> str | None:
    """"jpg", "png" or "bmp" when ``head`` starts with that picture's signature, else None."""
    return EXTENSIONS.get(sniff(head[:HEAD]) or "")


def find_picture(data: bytes, start: int, window: int) -> tuple[int, str] | None:
    """The first JPEG/PNG/BMP signature at or after ``start`` and less than ``window`` bytes past it.

    Why a search: the header in front of a thumbnail differs between Windows versions; the picture's own
    signature is the one thing they agree on.
    """
    end = min(len(data), start + window)
    best: tuple[int, str] | None = None
    for magic in _STARTS:
        at = data.find(magic, start, end + len(magic) - 1)
        while at != -1:
            ext = picture_ext(data[at : at + HEAD])
            if ext is not None:
                if best is None or at < best[0]:
                    best = (at, ext)
                break
            at = data.find(magic, at + 1, end + len(magic) - 1)
    return best


def safe_name(text: str, limit: int = 120) -> str:
    """``text`` as one path component: separators and control characters become "_", cut to ``limit``."""
    cleaned = "".join("_" if ch in _UNSAFE or ord(ch) < 32 or ord(ch) == 127 else ch for ch in text).strip(" .")
    return cleaned[:limit] or "_"
