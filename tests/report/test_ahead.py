"""Reports rendered ahead by the workers during the scan (``report.ahead``) and copied into place at its end
(``report.write_ahead``): byte for byte what rendering every report at the end gives (``write_reports``)."""

from __future__ import annotations

import copy
import io
import json
import os
import random
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, ROOT
from tests.report.sample import sample
from triage.known import HashSets
from triage.model import store
from triage.model.store import record_key
from triage.report import REPORT_NAMES, ahead, render_dir, write_ahead, write_reports
from triage.report.output import Out
from triage.scan import ScanSettings, scan_device


def _rows(records: list[dict[str, Any]]) -> list[tuple[bytes, int, str]]:
    """As the record store holds them; a line keeps non-ASCII text as is unless it cannot be UTF-8 (a lone
    surrogate of an undecodable name: escaped, as files.jsonl writes it)."""
    def line(record: dict[str, Any]) -> str:
        text = json.dumps(record, ensure_ascii=False)
        return text if text.isascii() or _encodable(text) else json.dumps(record)
    return sorted((record_key(r["id"]), seq, line(r)) for seq, r in enumerate(records))


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _tricky() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The report sample, with what may not be rendered ahead: a repeated CASE file id (same volume, path and
    inode), an archive member, a record on a volume the summary does not list."""
    summary, records = sample()
    for number, record in enumerate(records):
        record["id"] = str(number * 2)
    records.append({**copy.deepcopy(records[0]), "id": "99"})  # a second stream of the same file: id made unique
    records.append({**copy.deepcopy(records[8]), "id": "2.1", "parent": "2", "path": "/a.zip » b.txt",
                    "location": "/a.zip » b.txt"})
    records.append({**copy.deepcopy(records[8]), "id": "101", "volume": 42})
    return summary, records


def _both(tmp_path: Path, summary: dict[str, Any], records: list[dict[str, Any]], batches: list[list[int]],
          listed: dict[str, Any] | None = None) -> tuple[Path, Path, list[int]]:
    rows = _rows(records)
    at_end = tmp_path / "end"
    at_end.mkdir()
    write_reports(at_end, summary, [json.loads(line) for _, _, line in rows])
    copied = tmp_path / "ahead"
    copied.mkdir()
    flags: list[int] = []
    with ThreadPoolExecutor(1) as pool:
        early = ahead.Ahead(pool, tmp_path, lambda: listed or summary)
        for batch in batches:
            early.offer([rows[n] for n in batch])
        flags = [row[2] for row in early.rendered(ahead.context(summary))]
        early.close()
        with open(copied / "files.jsonl", "w", encoding="utf-8", newline="\n") as fh:
            write_ahead(copied, summary, rows, len(rows), early, fh)
    assert (copied / "files.jsonl").read_text() == "".join(line + "\n" for _, _, line in rows)
    return at_end, copied, flags


def _same(a: Path, b: Path) -> None:
    for name in REPORT_NAMES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_copied_reports_equal_rendered_ones(tmp_path: Path) -> None:
    summary, records = _tricky()
    n = len(records)
    order = list(range(n))
    random.Random(7).shuffle(order)  # batches stored in any order: rows sorting before what was sent are late
    at_end, copied, flags = _both(tmp_path, summary, records, [order[k:k + 5] for k in range(0, n, 5)])
    _same(at_end, copied)
    assert 0 < sum(f & ahead.COVERED for f in flags) < n  # some copied, some (late or tricky) rendered at the end


def test_all_in_order_and_the_tricky_ones(tmp_path: Path) -> None:
    summary, records = _tricky()
    at_end, copied, flags = _both(tmp_path, summary, records, [list(range(len(records)))])
    _same(at_end, copied)
    assert len(flags) == len(records)
    assert sum(not f & ahead.COVERED for f in flags) == 2  # the archive member and the unknown volume
    assert "kb:file-" in (copied / "case.jsonld").read_text()


def test_a_batch_from_another_listing_is_not_used(tmp_path: Path) -> None:
    """Volumes that changed after a batch was rendered (another offset): its text is not copied."""
    summary, records = _tricky()
    listed = copy.deepcopy(summary)
    for volume in listed["volumes"]:
        volume["offset"] += 512
    at_end, copied, flags = _both(tmp_path, summary, records, [list(range(len(records)))], listed)
    _same(at_end, copied)
    assert flags == []


def test_out_copies_joined_ranges(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.write_bytes(b"0123456789")
    fd = os.open(source, os.O_RDONLY)
    try:
        buffer = io.BytesIO()
        out = Out(buffer)
        out.write("<")
        out.copy(fd, 2, 3)
        out.copy(fd, 5, 2)  # joined with the last
        out.copy(fd, 0, 1)
        out.write(">")
        out.flush()
        assert buffer.getvalue() == b"<234560>"
    finally:
        os.close(fd)


@pytest.mark.parametrize("name", ["laptop.raw", "usb.raw", "phone.raw", "camera.raw", "laptop.E01"])
def test_a_scan_copies_what_a_re_render_writes(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real scan with workers, its store batches made small so that these small devices give many: its
    reports are byte-identical to ``triage report`` rendering them again from files.jsonl and summary.json."""
    sets = HashSets.load([str(ROOT / "hashsets" / "demo_vics2.json"), str(ROOT / "hashsets" / "demo_alert.md5")],
                         cache_dir=tmp_path / "cache")
    monkeypatch.setattr(store, "BATCH", 7)
    monkeypatch.setattr(ahead, "MIN_SHARE", 0.0)  # copy whatever was rendered, however little
    flags: list[int] = []
    rendered = ahead.Ahead.rendered

    def counted(self: ahead.Ahead, final: ahead.Context, wait: bool = True) -> Any:
        for row in rendered(self, final, wait):
            flags.append(row[2])
            yield row

    monkeypatch.setattr(ahead.Ahead, "rendered", counted)
    target, _ = scan_device(FIXTURES / name, tmp_path / "out", ScanSettings(hashsets=sets, jobs=2))
    again = tmp_path / "again"
    shutil.copytree(target, again)
    render_dir(again)
    _same(again, target)
    if name.endswith(".raw"):  # read as listed: most rows in order. An E01's finish in media order: too few
        assert any(f & ahead.COVERED for f in flags)


def test_a_first_hit_scan_stops_with_batches_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--first-hit kills the workers, batches still rendering among them: their rows are rendered at the end,
    and the partial reports equal a re-render of the partial files.jsonl."""
    sets = HashSets.load([str(ROOT / "hashsets" / "demo_alert.md5")], cache_dir=tmp_path / "cache")
    monkeypatch.setattr(store, "BATCH", 3)
    monkeypatch.setattr(ahead, "MIN_SHARE", 0.0)
    target, summary = scan_device(FIXTURES / "laptop.raw", tmp_path / "out",
                                  ScanSettings(hashsets=sets, jobs=2, first_hit=True))
    assert summary["stopped"] == "first hit"
    again = tmp_path / "again"
    shutil.copytree(target, again)
    render_dir(again)
    _same(again, target)


def test_a_first_hit_scan_writes_its_reports_with_a_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first hit killed the workers; one is started again for the reports (half of them are written there:
    issue 17, time to exit after the answer), and they equal a re-render of the partial files.jsonl."""
    from triage import results

    sets = HashSets.load([str(ROOT / "hashsets" / "demo_alert.md5")], cache_dir=tmp_path / "cache")
    pools = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        pools.append(args[3] if len(args) > 3 else kwargs.get("pool"))
        return write_reports(*args, **kwargs)

    monkeypatch.setattr(results, "write_reports", spy)
    target, summary = scan_device(FIXTURES / "laptop.raw", tmp_path / "out",
                                  ScanSettings(hashsets=sets, jobs=2, first_hit=True))
    assert summary["stopped"] == "first hit"
    assert len(pools) == 1 and pools[0] is not None
    again = tmp_path / "again"
    shutil.copytree(target, again)
    render_dir(again)
    _same(again, target)


def test_partial_results_do_not_wait_for_batches_out(tmp_path: Path) -> None:
    """After a Ctrl-C the partial results use only batches already back: one still out is neither waited for
    nor counted (its rows are rendered at the end)."""
    summary, _ = sample()
    final = ahead.context(summary)
    early = ahead.Ahead(ThreadPoolExecutor(1), tmp_path, lambda: summary)
    early.batches.append(ahead.Batch(final, Future(), 10))  # never finishes
    assert not early.worth(final, 10, wait=False)
    assert list(early.rendered(final, wait=False)) == []
