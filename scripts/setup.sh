#!/usr/bin/env bash
# Sets up everything certreg needs on a fresh Debian machine, idempotently:
# Debian packages, the pinned npm toolchain (anvil, solc, OpenZeppelin), the
# Python environment in .venv/ and a Kubo binary built from its Go module.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(xmlsec1)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
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
echo "setup: done"
