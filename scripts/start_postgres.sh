#!/usr/bin/env bash
# Runs a private PostgreSQL 15 cluster for certreg on 127.0.0.1 (default port 5432) in
# the foreground, data under var/postgres (kept between runs). Needs root: the server
# runs as the `postgres` system user. Extra arguments go to anchor.services.postgres
# (--workdir DIR, --port N). The SQLAlchemy URL, password included, is written to a
# 0600 file whose path is printed; the password itself never is.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m anchor.services.postgres "$@"
