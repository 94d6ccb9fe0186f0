"""Every report of one synthetic device, byte for byte against committed golden files.

Why: the writers are tuned for speed (issue 17); this pins what they write, so a faster writer must give exactly
the same bytes. The input is the hostile sample of ``sample.py`` plus what the sample lacks: record ids, archive
members (``parent`` and a `` » `` location), carved streams, byte runs, several errors on one stream, a stream of a
volume the summary does not list, storage layers and a volume with two errors.

Regenerate after an intended change with ``TRIAGE_REGEN_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.report.sample import record, sample_records, sample_summary
from triage.report import REPORT_NAMES, write_reports

GOLDEN = Path(__file__).parent / "golden"


def golden_input() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(summary, records) of the golden device."""
    records = sample_records()
    archive = record("/Users/alex/Downloads/photos.zip", inode=700, kind="application/zip", size=90_000)
    records.append(archive)
    members = [record("/Users/alex/Downloads/photos.zip » holiday_003.jpg", inode=None, size=4000, day=6),
               record("/Users/alex/Downloads/photos.zip » inner.zip » b&w <1>.png", inode=None, kind="image/png",
                      size=512, day=7, errors=["CRC mismatch", "truncated member"])]
    records += members
    carved = record("$Carved/2455040.png", inode=None, kind="image/png", allocated=False, size=187_124)
    carved["times"] = dict.fromkeys(carved["times"])
    records.append(carved)
    records.append(record("/lost/volume9.jpg", volume=9, inode=77, size=10))
    for number, item in enumerate(records):
        item.update(id=str(number), parent=None, origin="filesystem" if item["allocated"] else "deleted",
                    location=item["path"])
        if item["inode"] is not None and number % 3 == 0:
            item["byte_runs"] = [[0, 1_048_576 + 4096 * number, 4096], [4096, 2_000_000 + 512 * number, 100]]
    archive_id = archive["id"]
    for member in members:
        member.update(parent=archive_id, origin="archive", path=member["path"].rsplit(" » ", 1)[1])
    carved.update(origin="carved", location="unallocated space of volume 2 (ntfs) » 2455040.png")
    summary = sample_summary(records)
    summary["volumes"][3]["errors"].append("second error <&>")
    summary["encryption"] = [{"volume": 4, "scheme": "BitLocker", "method": "XTS-AES 128", "unlocked": False,
                              "how": "no recovery key given"}]
    summary["layers"] = [{"volume": 3, "scheme": "LVM", "volume_group": "vg0",
                          "logical_volumes": [{"name": "root"}, {"name": "swap"}]}]
    summary["snapshots"] = [{"volume": 2, "snapshot": "{3808876b-c176-4e48-b7ae-04046e6cc752}",
                             "created": "2024-01-01T10:00:00Z", "listed": 2, "unchanged": 40}]
    return summary, records


@pytest.mark.parametrize("name", REPORT_NAMES)
def test_report_equals_golden(tmp_path: Path, name: str) -> None:
    summary, records = golden_input()
    (path,) = [p for p in write_reports(tmp_path, summary, records) if p.name == name]
    if os.environ.get("TRIAGE_REGEN_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        (GOLDEN / name).write_bytes(path.read_bytes())
    assert path.read_bytes() == (GOLDEN / name).read_bytes()
