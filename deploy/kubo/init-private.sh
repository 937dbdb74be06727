#!/bin/sh
# Runs inside the ipfs/kubo image before every daemon start (/container-init.d).
# Makes the node private to the federation: no public bootstrap peers, no DHT, no mDNS
# (the same settings as anchor/services/kubo.py uses natively), and, when KUBO_PEER_API
# is set, a persistent Peering link to that node, whose identity is asked from its RPC
# API over the compose network (it is generated at its first start, never committed).
set -eu
ipfs bootstrap rm --all >/dev/null
ipfs config Routing.Type none
ipfs config --json Discovery.MDNS.Enabled false
# Inside the compose network; docker-compose.yml publishes these on the host's loopback only.
ipfs config Addresses.API /ip4/0.0.0.0/tcp/5001
ipfs config Addresses.Gateway /ip4/0.0.0.0/tcp/8080

if [ -n "${KUBO_PEER_API:-}" ]; then
  tries=0
  until peer_id=$(ipfs --api="$KUBO_PEER_API" id -f='<id>' 2>/dev/null); do
    tries=$((tries + 1))
    if [ "$tries" -ge 60 ]; then
      echo "kubo init: peer API $KUBO_PEER_API unreachable for 60 s" >&2
      exit 1
    fi
    sleep 1
  done
  ipfs config --json Peering.Peers \
    "[{\"ID\": \"$peer_id\", \"Addrs\": [\"${KUBO_PEER_SWARM:?KUBO_PEER_SWARM unset}\"]}]"
  echo "kubo init: peering with $peer_id at $KUBO_PEER_SWARM"
fi
