#!/usr/bin/env bash
# Builds go-ethereum's geth from its Go module through the Go module proxy and caches
# the binary. v1.13.15 is the last release that still seals Clique (proof of authority),
# which is what our native permissioned test network runs. Newer Go toolchains refuse
# the go:linkname tricks of that release's dependencies unless -checklinkname=0.
# Prints the path of the binary on stdout; everything else goes to stderr.
set -euo pipefail
GETH_VERSION="${GETH_VERSION:-v1.13.15}"
CACHE_DIR="${CERTREG_CACHE:-$HOME/.cache/certreg}"
BIN_DIR="$CACHE_DIR/geth-$GETH_VERSION"
BIN="$BIN_DIR/geth"
if [ -x "$BIN" ] && "$BIN" version >/dev/null 2>&1; then
  echo "$BIN"; exit 0
fi
command -v go >/dev/null || { echo "install_geth: Go toolchain not found" >&2; exit 1; }
mkdir -p "$BIN_DIR"
# Build into a scratch GOBIN and move into place only when complete, so an interrupted
# build never leaves a half-written binary that the check above would trust.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
echo "install_geth: building geth $GETH_VERSION (a few minutes on a cold Go cache)" >&2
GOBIN="$scratch" go install -ldflags=-checklinkname=0 \
  "github.com/ethereum/go-ethereum/cmd/geth@$GETH_VERSION" >&2
mv "$scratch/geth" "$BIN"
echo "$BIN"
