#!/usr/bin/env bash
# Runs a fresh geth Clique network (3 signers, chain id 1337, 1 s blocks) on 127.0.0.1
# in the foreground, data under var/clique (must not exist yet). Prints each node's RPC
# URL and writes keystores of the funded accounts (password in a 0600 file) for
# `certreg contract deploy --keystore ... --password-file ...`.
# Extra arguments go to anchor.services.geth (--workdir, --signers, --period, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_geth.sh >/dev/null
exec .venv/bin/python -m anchor.services.geth "$@"
