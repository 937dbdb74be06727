"""Two Kubo daemons on loopback: a document added on one is retrievable by CID on the other."""

from __future__ import annotations

import random

from anchor.cid import compute_cid
from anchor.store import KuboStore, PinState


def test_kubo_federation_add_on_one_node_retrieve_on_the_other(kubo_factory) -> None:
    node_a = kubo_factory("fed-a")
    node_b = kubo_factory("fed-b")
    node_b.connect_to(node_a)
    assert node_a.peer_id in node_b.connected_peers()
    document = random.Random(42).randbytes(700_000)  # several blocks travel over bitswap

    with KuboStore(node_a.api_multiaddr) as store_a, \
            KuboStore(node_b.api_multiaddr, fetch_timeout=20.0) as store_b:
        cid = store_a.put(document)
        assert not store_b.has(cid)
        assert store_b.get(cid) == document  # fetched from A, verified against the CID
        assert cid == compute_cid(document)
        # B keeps a copy of its own once it pins; it then serves it without A.
        store_b.pin(cid)
        assert store_b.pin_status(cid) is PinState.PINNED
        node_a.stop()
        assert store_b.get(cid) == document


def test_kubo_federation_reconnects_to_a_restarted_peer(kubo_factory) -> None:
    node_a = kubo_factory("fed-restart-a")
    node_b = kubo_factory("fed-restart-b")
    node_b.connect_to(node_a)
    node_a.restart()  # same identity and swarm port: B can dial the same address again
    node_b.connect_to(node_a)
    document = b"<dcc>served by a restarted peer</dcc>"
    with KuboStore(node_a.api_multiaddr) as store_a, \
            KuboStore(node_b.api_multiaddr, fetch_timeout=20.0) as store_b:
        assert store_b.get(store_a.put(document)) == document
