"""triage: find which seized device holds known material, fast and defensibly."""

from __future__ import annotations

import os

# Each worker process is one core's worth of work: BLAS threads inside it only fight the other workers and the
# media pass (measured: bench/RESULTS.md, "Where it stands"). Set here, before numpy is first
# imported by the package, so that every entry point gets it: the CLI, `triage case` on a Dask worker, tests.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

__version__ = "0.1.0"
TOOL_NAME = "triage"
