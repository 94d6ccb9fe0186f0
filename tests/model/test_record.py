"""FileRecord pickles as its field values (``__reduce__``): the workers get it back whole."""

from __future__ import annotations

import pickle
from dataclasses import fields

from triage.model.record import FileRecord, Locator, decode_name


def full_record(child: FileRecord | None) -> FileRecord:
    """A record whose every field differs from its default (``embedded`` holds ``child``; None: no embedded)."""
    return FileRecord(decode_name(b"/d/bad\xffname.jpg"), 2, "ntfs", 2**40, 2**63 - 1, False,
                        times={"modified": "2024-01-01T00:00:00.5Z", "accessed": None},
                        locator=Locator("tsk", (1048576, 5, 128, 3), Locator("raw", ("x.raw",))),
                        md5="a" * 32, sha1="b" * 40, sha256="c" * 64, type="image/jpeg", ext_mismatch=True,
                        pdq="d" * 64, pdq_quality=80, phash="e" * 16, known=True,
                        matches=[{"hashset": "s", "algorithm": "md5", "distance": 0, "category": "1"}],
                        errors=["e"], notes=["n"], byte_runs=[(0, 4096, 10)], id="7.2", parent="7",
                        origin="archive", location="/d/a.zip » b.jpg", snapshot=3, identifier="k",
                        embedded=None if child is None else [child], pdq_dihedral=("f" * 64,) * 7)


def test_a_record_pickles_whole() -> None:
    child = FileRecord("thumb.jpg", None, "exif", None, 10, True, origin="exif-thumbnail")
    record = full_record(child)
    assert all(getattr(record, item.name) != getattr(FileRecord("", None, "", None, 0, True), item.name)
               for item in fields(FileRecord))  # every field differs from its default: each one is checked
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        again = pickle.loads(pickle.dumps(record, protocol))
        assert again == record and type(again) is FileRecord
        assert again.embedded is not None and again.embedded[0] == child
