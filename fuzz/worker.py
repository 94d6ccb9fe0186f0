"""The fuzz worker: runs targets on input files named on stdin, one JSON request per line.

Why a separate process: the code under test calls C libraries (The Sleuth Kit, libewf, libyal, zlib, SQLite)
that can crash or loop on hostile input. The parent (``harness.Worker``) kills and restarts this process on a
crash or a timeout and reports the input; a Python exception that is not a ``TriageError`` comes back as a
traceback. Memory is capped (RLIMIT_AS) so that a runaway allocation becomes a MemoryError, not an OOM kill.
"""

from __future__ import annotations

import json
import resource
import signal
import sys
import traceback
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MEMORY_LIMIT = 3 << 30


def main() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the fuzz runner's to handle
    warnings.simplefilter("ignore")
    from fuzz.targets import TARGETS

    out = sys.stdout
    sys.stdout = sys.stderr  # nothing the targets print may corrupt the reply channel
    for line in sys.stdin:
        request = json.loads(line)
        try:
            reply = {"ok": True, "outcome": TARGETS[request["target"]](Path(request["path"]))}
        except BaseException as exc:  # everything that is not a TriageError is a finding
            frames = traceback.extract_tb(exc.__traceback__)
            where = next((f"{Path(f.filename).name}:{f.lineno}" for f in reversed(frames)
                          if "/triage/" in f.filename), "?")
            reply = {"ok": False, "kind": type(exc).__name__, "where": where,
                     "message": " ".join(str(exc).split())[:500], "traceback": traceback.format_exc()}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
