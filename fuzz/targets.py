"""What each fuzz target runs on one input file, inside the worker process.

The contract under test: on any input the tool either gives a result or raises a ``TriageError`` subclass
(an ``EvidenceError`` the CLI turns into exit 3, a ``HashSetError`` into exit 2). Any other exception is a
bug; so is a crash of the process or a hang, which the parent (``harness.Worker``) detects.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from triage.errors import HashSetError, TriageError


def evidence(path: Path) -> str:
    """The whole scan path: open_evidence, volumes, file systems, walk, read and hash every stream, reports.

    ``scan_device`` is used (one job, media verification on) because it is what examiners run: a bug in the
    summary or a report writer on a damaged image matters as much as one in the walk.
    """
    from triage.scan import ScanSettings, scan_device

    out = Path(tempfile.mkdtemp(prefix="fuzz-out-"))
    try:
        _, summary = scan_device(path, out, ScanSettings(jobs=1))
    except TriageError as exc:
        return f"refused ({type(exc).__name__})"
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return f"scanned: {summary['counts']['files']} streams, {summary['counts']['errors']} errors"


def hashset(path: Path) -> str:
    """Format detection plus the parser it picks (``parse_file``), as ``-H`` and ``triage hashset`` use it."""
    from triage.known.detect import parse_file

    try:
        parsed = parse_file(path)
    except HashSetError:
        return "refused"
    return f"parsed {parsed.format}"


def parsers(path: Path) -> str:
    """Every parser on the same bytes, whatever detection would pick: each must parse or raise HashSetError."""
    from triage.known.parse_lines import parse_lines
    from triage.known.parse_nsrl import parse_nsrl
    from triage.known.parse_tabular import parse_csv, parse_hashdeep
    from triage.known.parse_vics import parse_vics

    data = path.read_bytes()
    text = data.decode("utf-8", errors="replace")
    calls: list[tuple[str, Callable[[], object]]] = [
        ("lines", lambda: parse_lines(data, "hash-list")),
        ("csv", lambda: parse_csv(text)),
        ("hashdeep", lambda: parse_hashdeep(text)),
        ("vics", lambda: parse_vics(text)),
    ]
    if data.startswith(b"SQLite format 3\x00"):
        calls.append(("nsrl", lambda: parse_nsrl(path)))
    outcomes = []
    for name, call in calls:
        try:
            call()
            outcomes.append(f"{name}:ok")
        except HashSetError:
            outcomes.append(f"{name}:refused")
    return " ".join(outcomes)


TARGETS: dict[str, Callable[[Path], str]] = {"evidence": evidence, "hashset": hashset, "parsers": parsers}
