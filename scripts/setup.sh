#!/usr/bin/env bash
# Sets up everything certreg needs on a fresh Debian machine, idempotently:
# Debian packages, the pinned npm toolchain (anvil, solc, OpenZeppelin), the
# Python environment in .venv/ and the Kubo and geth binaries built from their Go modules.
set -euo pipefail
cd "$(dirname "$0")/.."

# postgresql: the server binaries (/usr/lib/postgresql/15/bin) for private clusters
# started by anchor/services/postgres.py; Debian's own system cluster is not needed.
# chromium: the browser the verification-page tests drive (Playwright cannot download one).
# wrk: the HTTP load generator of scripts/bench_api.py.
APT_PACKAGES=(xmlsec1 postgresql chromium wrk)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  # Keep Debian from creating (and on systemd machines starting) a `main` cluster on
  # port 5432, the port scripts/start_postgres.sh uses.
  $SUDO mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.d/certreg.conf >/dev/null
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.certreg-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements.lock -nt "$stamp" ]; then
  echo "setup: installing Python packages into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -c requirements.lock -e '.[dev]'
  touch "$stamp"
fi

echo "setup: Kubo"
kubo=$(bash scripts/install_kubo.sh)
mkdir -p .venv/bin
ln -sf "$kubo" .venv/bin/ipfs

echo "setup: geth (Clique)"
geth=$(bash scripts/install_geth.sh)
ln -sf "$geth" .venv/bin/geth
echo "setup: done"
