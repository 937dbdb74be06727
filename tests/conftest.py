"""Fixtures shared by the whole suite: the real nodes, started on loopback.

Nothing here fakes a node. When a required binary is missing, tests fail in CI
(CI=true) and are skipped with the reason elsewhere, so a green CI always means
the real thing ran.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from anchor.errors import ServiceError
from anchor.services.anvil import AnvilNode

REPO_ROOT = Path(__file__).resolve().parents[1]
# A git worktree elsewhere can point at the corpus with CERTREG_TEST_DCC_CORPUS.
SHARED_DCC = Path(os.environ.get("CERTREG_TEST_DCC_CORPUS")
                  or REPO_ROOT / ".." / "shared" / "dcc").resolve()
IN_CI = os.environ.get("CI") == "true"

pytest_plugins = ["tests.fixtures_postgres", "tests.fixtures_kubo",
                  "tests.registry.browser_fixtures"]


def require(condition: bool, reason: str) -> None:
    """Skip locally, fail in CI: a CI run never silently skips the real thing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_dcc() -> Path:
    require(SHARED_DCC.is_dir(), f"DCC corpus not found at {SHARED_DCC}")
    return SHARED_DCC


@pytest.fixture(scope="session")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    """One anvil for the session. Tests that need a clean chain use `chain_snapshot`."""
    try:
        node = AnvilNode.start(workdir=tmp_path_factory.mktemp("anvil"))
    except ServiceError as exc:
        require(False, f"anvil could not start: {exc}")
        raise
    yield node
    node.stop()
