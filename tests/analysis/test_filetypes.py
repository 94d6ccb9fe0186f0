"""Signature typing: what a stream is by its first bytes, and whether its extension disagrees."""

from __future__ import annotations

from triage.analysis.typesniff import extension_mismatch, sniff


def test_common_signatures() -> None:
    assert sniff(b"\xff\xd8\xff\xe0\x00\x10JFIF") == "image/jpeg"
    assert sniff(b"\x89PNG\r\n\x1a\n" + b"\0" * 8) == "image/png"
    assert sniff(b"GIF89a") == "image/gif"
    assert sniff(b"\x00\x00\x00\x18ftypmp42") == "video/mp4"
    assert sniff(b"%PDF-1.7") == "application/pdf"
    assert sniff(b"hello world") is None


def test_table_of_small_integers_is_not_an_icon() -> None:
    upcase = bytes(range(0, 32, 1)).replace(b"", b"")  # 00 01 02 ... like the exFAT up-case table
    table = b"".join(i.to_bytes(2, "little") for i in range(32))
    assert sniff(table) is None
    assert sniff(upcase) is None
    icon = b"\x00\x00\x01\x00\x01\x00" + b"\x10\x10\x00\x00\x01\x00\x20\x00" + b"\x00" * 8
    assert sniff(icon) == "image/x-icon"


def test_extension_mismatch() -> None:
    assert extension_mismatch("image/jpeg", "txt") is True
    assert extension_mismatch("image/jpeg", "JPG") is False
    assert extension_mismatch(None, "jpg") is False
