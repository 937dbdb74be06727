"""Fixtures for the DCC document tests: the shared corpus, read in place, never copied.

Tests that take `dcc_example`, `dcc_invalid` or `dcc_signed` run once per entry of
the corpus MANIFEST.json section, so a file added to the corpus is tested at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from registry.documents.signer_trust import TrustAnchors
from tests.conftest import SHARED_DCC
from tests.registry.documents._pki_fixtures import (
    CertificateHierarchy,
    IssuingCA,
    create_test_pki,
)

# tests/conftest.py's SHARED_DCC (which CERTREG_TEST_DCC_CORPUS moves); needed at collection.
_CORPUS = SHARED_DCC
_PARAMETRIZED_SECTIONS = {"dcc_example": "examples", "dcc_invalid": "invalid",
                          "dcc_signed": "signed"}


def _manifest_section(section: str) -> list[dict[str, Any]]:
    manifest = _CORPUS / "MANIFEST.json"
    if not manifest.is_file():
        return []  # test_dcc_corpus_is_present reports the missing corpus
    return json.loads(manifest.read_text(encoding="utf-8"))[section]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for argname, section in _PARAMETRIZED_SECTIONS.items():
        if argname in metafunc.fixturenames:
            entries = _manifest_section(section)
            metafunc.parametrize(argname, entries,
                                 ids=[Path(entry["file"]).name for entry in entries])


@pytest.fixture(scope="session")
def dcc_manifest(shared_dcc: Path) -> dict[str, Any]:
    return json.loads((shared_dcc / "MANIFEST.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def read_corpus(shared_dcc: Path) -> Callable[[str], bytes]:
    """Bytes of a corpus file, given its path relative to the corpus root."""

    def read(relative_path: str) -> bytes:
        return (shared_dcc / relative_path).read_bytes()

    return read


# --- the signer-trust tests' test PKI --------------------------------------------------------

SIGNER_TRUST_EXAMPLE = "examples/dcc_gp_temperature_simplified_v12.xml"


@pytest.fixture(scope="module")
def pki() -> CertificateHierarchy:
    return create_test_pki()


@pytest.fixture(scope="module")
def anchors(pki: CertificateHierarchy) -> TrustAnchors:
    return TrustAnchors((pki.anchor,), "the test trusted list")


@pytest.fixture
def ca(pki: CertificateHierarchy) -> IssuingCA:
    # Each test revokes what it likes without touching the others' CA state.
    pki.issuing.revoked.clear()
    return pki.issuing


@pytest.fixture(scope="module")
def example(shared_dcc: Path) -> bytes:
    """The DCC the signer-trust tests sign."""
    return (shared_dcc / SIGNER_TRUST_EXAMPLE).read_bytes()
