#!/usr/bin/env bash
# Run every check: set up if needed, then ruff and the test suite.
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh --no-scan
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
