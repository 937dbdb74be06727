"""Kubo fixtures (a pytest plugin, see tests/conftest.py): real daemons on loopback, each
with its own repository and ports."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from anchor.errors import ServiceError
from anchor.services.kubo import KuboNode, KuboPeer, kubo_binary
from anchor.store import KuboStore
from tests.conftest import require

StartKubo = Callable[..., KuboNode]


def pytest_configure(config: pytest.Config) -> None:
    # ipfshttpclient 0.7 passes an argument urllib3 2 deprecated, on every request.
    config.addinivalue_line(
        "filterwarnings", "ignore:The 'strict' parameter is no longer needed:FutureWarning")


@pytest.fixture(scope="session")
def kubo_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartKubo]:
    """Starts extra Kubo nodes (for federation or outage tests); stops them all at the end."""
    try:
        kubo_binary()
    except ServiceError as exc:
        require(False, str(exc))
    started: list[KuboNode] = []
    workdir = tmp_path_factory.mktemp("kubo")

    def start(name: str, peers: tuple[KuboPeer, ...] = ()) -> KuboNode:
        try:
            node = KuboNode.start(workdir=workdir, name=name, peers=peers)
        except ServiceError as exc:
            require(False, f"Kubo could not start: {exc} {exc.details.get('log', '')}")
            raise
        started.append(node)
        return node

    yield start
    for node in started:
        with contextlib.suppress(Exception):
            node.stop()


@pytest.fixture(scope="session")
def kubo(kubo_factory: StartKubo) -> KuboNode:
    """One Kubo daemon for the session. Tests that stop a daemon start their own."""
    return kubo_factory("session")


@pytest.fixture
def kubo_store(kubo: KuboNode) -> Iterator[KuboStore]:
    with KuboStore(kubo.api_multiaddr, timeout=30.0, fetch_timeout=2.0) as store:
        yield store


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"
