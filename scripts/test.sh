#!/usr/bin/env bash
# The whole test suite on a fresh machine: set up, lint, then pytest twice:
# everything on the embedded defaults (SQLite), then the database-backed tests
# (tests/registry) again on a real PostgreSQL cluster that the fixtures start.
# Extra arguments go to both pytest runs (e.g. `-k merkle`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
echo "test.sh: database-backed tests again, on PostgreSQL"
status=0
CERTREG_TEST_DATABASE=postgresql .venv/bin/python -m pytest tests/registry "$@" || status=$?
# 5 = nothing selected (a -k filter that matches no database-backed test): not a failure.
if [ "$status" -ne 0 ] && [ "$status" -ne 5 ]; then
  exit "$status"
fi
