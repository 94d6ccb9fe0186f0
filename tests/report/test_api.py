"""write_reports / render_dir: the files, their order, byte-identical re-renders, clean failures."""

from __future__ import annotations

import json
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import realdata
from tests.report.sample import sample_records, sample_summary
from triage.errors import UsageError
from triage.model.record import json_safe
from triage.report import REPORT_NAMES, load_dir, render_dir, write_reports

NAMES = ["report.html", "files.csv", "matched.csv", "dfxml.xml", "vics.json", "case.jsonld"]


def write_scan_outputs(folder: Path, summary: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """Write files.jsonl + summary.json exactly as results.write_outputs does."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "files.jsonl", "w", encoding="utf-8", newline="\n") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    with open(folder / "summary.json", "w", encoding="utf-8", newline="\n") as fh:
        json.dump(summary, fh, ensure_ascii=False, indent=2)
        fh.write("\n")


def scan_like_records() -> list[dict[str, Any]]:
    """The sample as files.jsonl holds it: undecodable bytes already json_safe-escaped."""
    records = sample_records()
    for record in records:
        record["path"] = json_safe(record["path"])
    return records


def test_write_reports_files_and_order(tmp_path: Path) -> None:
    records = sample_records()
    paths = write_reports(tmp_path, sample_summary(records), records)
    assert list(REPORT_NAMES) == NAMES
    assert paths == [tmp_path / name for name in NAMES]
    assert all(p.stat().st_size > 0 for p in paths)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(NAMES)  # no temp file left behind


def test_byte_identical_across_renders(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    records = sample_records()
    a = write_reports(tmp_path / "a", sample_summary(records), records)
    b = write_reports(tmp_path / "b", sample_summary(sample_records()), sample_records())
    for pa, pb in zip(a, b, strict=True):
        assert pa.read_bytes() == pb.read_bytes(), pa.name


def test_only_times_and_host_differ_between_runs(tmp_path: Path) -> None:
    """Two scans of the same inputs differ in started/finished/host only; so do their reports, nowhere else."""
    records = sample_records()
    first, second = sample_summary(records), sample_summary(records)
    second.update(started="2024-02-01T10:00:00Z", finished="2024-02-01T10:03:00Z", host="other-host")
    (tmp_path / "1").mkdir(), (tmp_path / "2").mkdir()
    for one, two in zip(write_reports(tmp_path / "1", first, records),
                        write_reports(tmp_path / "2", second, records), strict=True):
        masked = [
            p.read_text(encoding="utf-8-sig")
            .replace("2024-01-16T08:00:00Z", "T0").replace("2024-01-16T08:04:31Z", "T1").replace("lab-ws-07", "H")
            .replace("2024-02-01T10:00:00Z", "T0").replace("2024-02-01T10:03:00Z", "T1").replace("other-host", "H")
            for p in (one, two)
        ]
        if one.name == "case.jsonld":  # the scan action's id is derived from its start time
            masked = [m.split('"case-investigation:InvestigativeAction"')[1] for m in masked]
        assert masked[0] == masked[1], one.name


def test_render_dir_matches_write_reports(tmp_path: Path) -> None:
    records = scan_like_records()
    summary = sample_summary(records, verification="mismatch")
    write_scan_outputs(tmp_path / "dev", summary, records)
    rendered = render_dir(tmp_path / "dev")
    assert [p.name for p in rendered] == NAMES
    (tmp_path / "direct").mkdir()
    direct = write_reports(tmp_path / "direct", summary, records)
    for a, b in zip(rendered, direct, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    assert load_dir(tmp_path / "dev") == (summary, records)
    # Re-rendering over existing reports replaces them, again byte-identical.
    again = render_dir(tmp_path / "dev")
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in direct]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing-folder", "not a folder"),
        ("no-summary", "no summary.json here"),
        ("no-files", "no files.jsonl here"),
        ("bad-summary", "summary.json: not valid JSON"),
        ("list-summary", "not a triage summary"),
        ("bad-line", "files.jsonl: line 2 is not valid JSON"),
        ("not-utf8", "files.jsonl: not UTF-8"),
    ],
)
def test_render_dir_errors(tmp_path: Path, setup: str, message: str) -> None:
    folder = tmp_path / "dev"
    if setup != "missing-folder":
        write_scan_outputs(folder, sample_summary([]), [{"path": "/a"}, {"path": "/b"}])
    if setup == "no-summary":
        (folder / "summary.json").unlink()
    elif setup == "no-files":
        (folder / "files.jsonl").unlink()
    elif setup == "bad-summary":
        (folder / "summary.json").write_text("{not json", encoding="utf-8")
    elif setup == "list-summary":
        (folder / "summary.json").write_text("[]", encoding="utf-8")
    elif setup == "bad-line":
        (folder / "files.jsonl").write_text('{"path": "/a"}\n{"path": \n', encoding="utf-8")
    elif setup == "not-utf8":
        (folder / "files.jsonl").write_bytes(b'{"path": "/\xff"}\n')
    with pytest.raises(UsageError) as caught:
        render_dir(folder)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not list(folder.glob("report.html")) if folder.exists() else True


def test_real_scan_renders(tmp_path: Path) -> None:
    """A real E01 scanned by triage re-renders from its folder alone, verified, with its three files."""
    scan = pytest.importorskip("triage.scan")
    image = realdata("ext2.E01")
    target, _summary = scan.scan_device(image, tmp_path, scan.ScanSettings())
    paths = render_dir(target)
    html = (target / "report.html").read_text(encoding="utf-8")
    assert '<b class="status">verified</b>' in html and "196066add11fb71c4c49cf1bb50d6d24" in html
    assert "No file matched any alert hash set." in html
    csv_text = (target / "files.csv").read_text(encoding="utf-8-sig")
    assert '"/passwords.txt",""' in csv_text  # whole-media file system: no volume index
    assert "02a2a6af2f1ecf4720d7d49d640f0d0a269a7ec733e41973bdd34f09dad0e252" in csv_text
    assert "<filename>a_directory/another_file</filename>" in (target / "dfxml.xml").read_text(encoding="utf-8")
    assert len(paths) == len(NAMES)


def test_tampered_e01_report_is_loud(tmp_path: Path) -> None:
    """One flipped bit inside a chunk of an E01 copy: every report says mismatch, report.html first of all."""
    scan = pytest.importorskip("triage.scan")
    from tests.test_scan import tamper_e01

    tamper_e01(realdata("ext2.E01"), tmp_path / "tampered.E01")
    target, _summary = scan.scan_device(tmp_path / "tampered.E01", tmp_path / "out", scan.ScanSettings())
    render_dir(target)
    html = (target / "report.html").read_text(encoding="utf-8")
    assert html.index('class="banner bad"') < html.index("<section")
    assert '<tr class="differs">' in html
    assert 'status="mismatch"' in (target / "dfxml.xml").read_text(encoding="utf-8")


def test_reports_rendered_on_worker_processes_are_the_same(tmp_path: Path) -> None:
    """A scan with workers renders dfxml.xml and case.jsonld on them, from files.jsonl + summary.json."""
    from concurrent.futures import ProcessPoolExecutor

    from triage.reading import workers

    records = scan_like_records()
    summary = sample_summary(records)
    write_scan_outputs(tmp_path / "here", summary, records)
    write_scan_outputs(tmp_path / "pool", summary, records)
    here = write_reports(tmp_path / "here", summary, records)
    with ProcessPoolExecutor(max_workers=2, mp_context=workers.context()) as pool:
        apart = write_reports(tmp_path / "pool", summary, records, pool)
    assert [p.name for p in apart] == NAMES
    for a, b in zip(here, apart, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_reports_still_written_when_the_pool_is_gone(tmp_path: Path) -> None:
    """A shut-down (or broken) pool never loses a report: the ones meant for it are rendered here."""
    from concurrent.futures import ProcessPoolExecutor

    from triage.reading import workers

    records = scan_like_records()
    summary = sample_summary(records)
    write_scan_outputs(tmp_path, summary, records)
    pool = ProcessPoolExecutor(max_workers=1, mp_context=workers.context())
    pool.shutdown()
    paths = write_reports(tmp_path, summary, records, pool)
    assert [p.name for p in paths] == NAMES and all(p.stat().st_size > 0 for p in paths)


class _DyingWorkers(Executor):
    """Workers that die while writing: each leaves its temp file behind and the pool reports it broken."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        out_dir, names = args  # a group of reports written in one pass
        for name in names:
            (out_dir / f".{name}.99999.1.tmp").write_text("half a report")
        future: Future[Any] = Future()
        future.set_exception(BrokenProcessPool("A child process terminated abruptly"))
        return future


def test_reports_rendered_here_when_a_worker_dies_while_writing(tmp_path: Path) -> None:
    records = scan_like_records()
    summary = sample_summary(records)
    write_scan_outputs(tmp_path, summary, records)
    paths = write_reports(tmp_path, summary, records, _DyingWorkers())
    assert [p.name for p in paths] == NAMES and all(p.stat().st_size > 0 for p in paths)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*NAMES, "files.jsonl", "summary.json"])


def test_every_way_of_writing_gives_the_same_bytes(tmp_path: Path) -> None:
    """case.jsonld fills the scan action's place last (its size from the record count): from a list (exact count),
    from files.jsonl (its line count: blank lines and CRLF make it too large, so the rest closes up), or from a
    generator (no count: the file nodes are spooled and copied in) — always the same bytes."""
    from triage.report import JsonlRecords, write_pass

    records = scan_like_records()
    summary = sample_summary(records)
    (tmp_path / "list").mkdir()
    expected = {name: path.read_bytes() for name, path in write_pass(tmp_path / "list", summary, records,
                                                                      list(REPORT_NAMES)).items()}
    lines = [json.dumps(record, ensure_ascii=False) for record in records]
    variants = {"exact": "\n".join(lines) + "\n", "blank": "\n\n".join(lines) + "\n\n  \n",
                "crlf": "\r\n".join(lines), "generator": None}
    for name, text in variants.items():
        folder = tmp_path / name
        folder.mkdir()
        if text is None:
            source: Any = (record for record in records)
        else:
            (folder / "files.jsonl").write_bytes(text.encode("utf-8"))
            source = JsonlRecords(folder / "files.jsonl")
        written = write_pass(folder, summary, source, list(REPORT_NAMES))
        assert {report: path.read_bytes() for report, path in written.items()} == expected, name
        assert not list(folder.glob(".*.tmp"))
