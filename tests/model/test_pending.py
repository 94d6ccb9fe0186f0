"""The pending table (``triage.model.pending``): records spilled to disk while listed, loaded back when used."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from tests.model.test_record import full_record
from triage.model import pending
from triage.model.locator import Locator
from triage.model.pending import PendingRecords
from triage.model.record import FileRecord


def _record(k: int, parent: Locator) -> FileRecord:
    record = FileRecord(f"/f{k}.txt", None, "ext4", 12 + k, 10, True, locator=Locator("tsk", (0, 12 + k), parent))
    record.id = str(k)
    return record


def test_a_held_record_is_never_touched_by_the_spill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A record handed to a worker is pickled by the executor's feeder thread while the walk goes on; the spill
    once swapped every buffered record's locator for a parentless one while pickling it, so a worker could get a
    record it cannot reopen ("'NoneType' object has no attribute 'chain'", seen with every stream handed out
    during the walk). A held record is left alone; the others still come back whole."""
    records = PendingRecords(lambda: tmp_path, lambda exc: RuntimeError(str(exc)))
    parent = Locator("evidence", (("x.raw",), "raw"))
    made = [_record(k, parent) for k in range(5)]
    for record in made:
        records.append(record, "fs")
    held = made[2]
    assert records[2][0] is held  # held: as a worker batch or the media pass holds it
    pickled: list[object] = []
    dumps = pickle.dumps
    monkeypatch.setattr(pending.pickle, "dumps", lambda obj, *a, **k: pickled.append(obj) or dumps(obj, *a, **k))
    records._write()
    assert not any(obj is held for obj in pickled)
    assert held.locator is not None and held.locator.parent == parent
    records.load(range(5))
    for k in (0, 1, 3, 4):
        back = records[k][0]
        assert back.path == f"/f{k}.txt" and back.locator.parent == parent
    assert records.release(2)[0] is held
    records.close()


def test_rows_of_held_records_still_group_hard_links(tmp_path: Path) -> None:
    records = PendingRecords(lambda: tmp_path, lambda exc: RuntimeError(str(exc)))
    parent = Locator("evidence", (("x.raw",), "raw"))
    a, b = _record(1, parent), _record(2, parent)
    b.locator = a.locator  # the same stream under two names
    records.append(a, "fs")
    records.append(b, "fs")
    records[0]
    assert records.same_streams() == [[0, 1]]
    records.close()


def test_every_field_comes_back_from_the_table(tmp_path: Path) -> None:
    """Records are marshalled into the table (a record with an embedded one is pickled): every field, an
    undecodable name and the locator's parent chain come back as they went in."""
    records = PendingRecords(lambda: tmp_path, lambda exc: RuntimeError(str(exc)))
    child = FileRecord("thumb.jpg", None, "exif", None, 10, True, origin="exif-thumbnail")
    plain, nested = full_record(None), full_record(child)
    assert plain.locator is not None and plain.locator.parent is not None
    for record in (plain, nested):
        records.append(record, "fs")
    records._write()
    blobs = [blob for _, _, _, blob, _ in records._rows] or [row[0] for row in records._db.execute(
        "SELECT blob FROM pending ORDER BY idx")]
    assert blobs[0][0] != 0x80 and blobs[1][0] == 0x80  # marshal, then the pickle fallback
    records._live.clear()
    records.load([0, 1])
    for index, record in enumerate((plain, nested)):
        back = records[index][0]
        assert back is not record and back == record and type(back) is FileRecord
        assert back.locator == record.locator and back.locator.parent == record.locator.parent
    assert records[1][0].embedded == [child]
    records.close()
