#!/usr/bin/env bash
# The whole test suite on a fresh machine: set up, lint, then pytest.
# Extra arguments go to pytest (e.g. `-k merkle`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
