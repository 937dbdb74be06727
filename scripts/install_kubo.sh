#!/usr/bin/env bash
# Builds Kubo (the reference IPFS node) from its Go module through the Go module
# proxy and caches the binary. No prebuilt download is reachable on our machines,
# so we compile it as a dependency of a throw-away module.
# Pinning go-libp2p avoids kubo's `replace` directive to a fork the proxy lacks.
# Prints the path of the binary on stdout.
set -euo pipefail
KUBO_VERSION="${KUBO_VERSION:-v0.43.1}"
LIBP2P_VERSION="${LIBP2P_VERSION:-v0.50.0}"
CACHE_DIR="${CERTREG_CACHE:-$HOME/.cache/certreg}"
BIN="$CACHE_DIR/kubo-$KUBO_VERSION/ipfs"
if [ -x "$BIN" ] && "$BIN" version >/dev/null 2>&1; then
  echo "$BIN"; exit 0
fi
command -v go >/dev/null || { echo "install_kubo: Go toolchain not found" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$(dirname "$BIN")"
(
  cd "$work"
  go mod init certreg.local/kubo-build >/dev/null 2>&1
  cat > main.go <<'GO'
package main

import _ "github.com/ipfs/kubo/cmd/ipfs"

func main() {}
GO
  go get "github.com/ipfs/kubo/cmd/ipfs@$KUBO_VERSION" "github.com/libp2p/go-libp2p@$LIBP2P_VERSION" >&2
  go build -o "$BIN.tmp" github.com/ipfs/kubo/cmd/ipfs >&2
)
mv "$BIN.tmp" "$BIN"
echo "$BIN"
