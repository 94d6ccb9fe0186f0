"""What a lean path for the usual stream could cost in Python: triage's own walk, runs, direct read, digests and
files.jsonl line and record store, without the layers between them (listing, pending table, intake, pipeline,
finders) — against the whole scan's main process and ``bare_walk.py`` (issue 17, item 1: decision (a)).

Not used by triage: a measurement. Every stream of an ext4 raw image is listed by ``TskFileSystem.walk``, placed by
its runs, read and digested by ``DirectReader`` (type sniffed, three digests), stored by ``RecordStore.add`` (tally,
line, SQLite); no hash sets, no media hash, no reports, no worker.

    .venv/bin/python bench/lean_walk.py bench/cache/reports-200000.raw
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from triage.model.store import RecordStore
from triage.reading.direct import DirectReader
from triage.sources.containers import open_evidence
from triage.sources.filesystems.tsk import TskFileSystem


def lean_walk(image: Path, out: Path) -> tuple[int, float]:
    """Walk, read, digest and store every stream; returns (records, seconds)."""
    evidence = open_evidence(image)
    direct = DirectReader.of(evidence)
    assert direct is not None, "a raw image"
    fs = TskFileSystem(evidence.img, 0, None)  # type: ignore[arg-type]
    store = RecordStore(out, "lean")
    start = time.perf_counter()
    count = 0
    for record in fs.walk():
        record.id = str(count)
        runs = fs.runs(record.locator, record.size) if record.locator is not None and record.size else None
        if runs:
            record.byte_runs = runs
            direct.digest(record, runs)
        store.add(record)
        count += 1
    seconds = time.perf_counter() - start
    store.close()
    evidence.close()
    return count, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for number in range(args.rounds):
        with tempfile.TemporaryDirectory() as folder:
            count, seconds = lean_walk(args.image, Path(folder))
        print(f"  [{number + 1}] {seconds:6.2f} s, {count:,} records: {seconds / count * 1e6:.1f} µs a record")


if __name__ == "__main__":
    main()
