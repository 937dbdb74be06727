"""The traceability rules (registry.verify.traceability) on hand-built graphs.

Pure logic, so a dictionary stands in for the index here; the same rules run against
the real chain, IPFS and database in test_traceability_chain.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from registry.documents.citations import Citation, CitationRole, cited_sha256
from registry.verify.traceability import (
    CertificateFacts,
    LinkVerdict,
    Resolution,
    RevocationFacts,
    TraceabilityStatus,
    trace,
)

NMI = "national_metrology_institute"
LAB = "accredited_laboratory"


def sha(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day + "T12:00:00+00:00")


def cite(target: str, role: CitationRole = CitationRole.MEASURING_EQUIPMENT, *,
         by_number: bool = False, position: int = 0) -> Citation:
    value = "" if by_number else sha(target)
    return Citation(position, role, target, target, "SHA-256" if value else "", value,
                    cited_sha256("SHA-256", value) if value else None)


class Graph:
    """A fake index: certificates by name, resolved by hash or number."""

    def __init__(self) -> None:
        self.facts: dict[str, CertificateFacts] = {}

    def add(self, name: str, kind: str, *, anchored: str, calibrated: str | None,
            cites: tuple[Citation, ...] = (), revoked: RevocationFacts | None = None) -> str:
        self.facts[sha(name)] = CertificateFacts(
            sha256=sha(name), issuer_id=sha("issuer-" + name), issuer_code=name.upper(),
            issuer_kind=kind, unique_identifier=name, anchored_at=at(anchored),
            anchored_block=len(self.facts) + 1,
            calibration_date=None if calibrated is None else dt.date.fromisoformat(calibrated),
            revocation=revoked, citations=cites)
        return sha(name)

    def certificate(self, sha256: str) -> CertificateFacts | None:
        return self.facts.get(sha256)

    def resolve(self, citation: Citation, citing: CertificateFacts) -> Resolution:
        if citation.cited_sha256 is not None:
            found = citation.cited_sha256 in self.facts
            return Resolution(citation.cited_sha256 if found else None, "hash",
                              "found" if found else "no registry knows this SHA-256")
        for facts in self.facts.values():
            if facts.unique_identifier == citation.referral_id:
                return Resolution(facts.sha256, "number", "found by number")
        return Resolution(None, "number", f"no certificate numbered {citation.referral_id}")


def chain(**overrides: dict) -> Graph:
    """NMI -> reference lab -> working-standard lab -> customer instrument."""
    graph = Graph()
    spec = {
        "nmi": dict(kind=NMI, anchored="2026-01-05", calibrated="2026-01-04"),
        "ref": dict(kind=LAB, anchored="2026-02-05", calibrated="2026-02-01",
                    cites=(cite("nmi"),)),
        "work": dict(kind=LAB, anchored="2026-03-05", calibrated="2026-03-01",
                     cites=(cite("ref"),)),
        "customer": dict(kind=LAB, anchored="2026-04-05", calibrated="2026-04-01",
                         cites=(cite("work"),)),
    }
    for name, values in spec.items():
        graph.add(name, **{**values, **overrides.get(name, {})})
    return graph


def test_traceability_four_level_chain_is_complete_to_the_nmi() -> None:
    result = trace(sha("customer"), chain())
    assert result is not None
    assert result.status is TraceabilityStatus.COMPLETE and not result.compromised
    assert [n.facts.unique_identifier for n in result.nodes] == ["customer", "work", "ref", "nmi"]
    assert [n.depth for n in result.nodes] == [0, 1, 2, 3]
    assert all(link.verdict is LinkVerdict.SOUND for link in result.links)
    assert result.problem is None
    assert result.to_dict()["nodes"][-1]["national_standard"] is True


@pytest.mark.parametrize("broken, change, verdict", [
    ("ref", {"revoked": RevocationFacts("superseded", at("2026-02-20"), at("2026-02-20"))},
     LinkVerdict.REVOKED_BEFORE_USE),
    ("ref", {"anchored": "2026-03-02"}, LinkVerdict.ANCHORED_AFTER_USE),
    ("nmi", {"revoked": RevocationFacts("compromised", at("2026-06-01"), at("2026-01-20"))},
     LinkVerdict.COMPROMISED_AT_USE),
])
def test_traceability_each_break_names_the_link(broken: str, change: dict,
                                                 verdict: LinkVerdict) -> None:
    result = trace(sha("customer"), chain(**{broken: change}))
    assert result is not None
    assert result.status is TraceabilityStatus.BROKEN
    assert result.problem is not None and result.problem.link is not None
    assert result.problem.link.cited_sha256 == sha(broken)
    assert result.problem.link.verdict is verdict
    assert result.compromised is (verdict is LinkVerdict.COMPROMISED_AT_USE)
    assert broken in result.problem.detail


def test_traceability_revoked_after_use_for_a_harmless_reason_stays_sound() -> None:
    # Superseded after it was used: the calibration that used it stands.
    late = RevocationFacts("superseded", at("2026-05-01"), at("2026-01-01"))
    result = trace(sha("customer"), chain(ref={"revoked": late}))
    assert result is not None and result.status is TraceabilityStatus.COMPLETE


def test_traceability_compromise_after_the_calibration_date_does_not_cascade() -> None:
    # Out of tolerance only from 2026-03-15: "work" (calibrated 2026-03-01 with ref)
    # is unaffected, so the customer's chain stays complete.
    late = RevocationFacts("out-of-tolerance", at("2026-06-01"), at("2026-03-15"))
    result = trace(sha("customer"), chain(ref={"revoked": late}))
    assert result is not None and result.status is TraceabilityStatus.COMPLETE
    assert not result.compromised


def test_traceability_unknown_hash_is_external_and_unknown_number_is_unknown() -> None:
    graph = chain(ref={"cites": (cite("missing-nmi-cert"),)})
    result = trace(sha("customer"), graph)
    assert result is not None and result.status is TraceabilityStatus.INCOMPLETE
    assert result.problem is not None and result.problem.link is not None
    assert result.problem.link.verdict is LinkVerdict.EXTERNAL
    graph = chain(ref={"cites": (cite("NMI-0042", by_number=True),)})
    result = trace(sha("customer"), graph)
    assert result is not None and result.problem is not None
    assert result.problem.link is not None
    assert result.problem.link.verdict is LinkVerdict.UNKNOWN


def test_traceability_by_number_resolves_like_by_hash() -> None:
    result = trace(sha("customer"), chain(work={"cites": (cite("ref", by_number=True),)}))
    assert result is not None and result.status is TraceabilityStatus.COMPLETE
    assert {link.resolved_by for link in result.links} == {"hash", "number"}


def test_traceability_chain_ending_at_a_laboratory_is_incomplete() -> None:
    result = trace(sha("customer"), chain(ref={"cites": ()}))
    assert result is not None and result.status is TraceabilityStatus.INCOMPLETE
    assert result.problem is not None and result.problem.link is None
    assert result.problem.at_sha256 == sha("ref")


def test_traceability_previous_report_is_shown_but_not_required() -> None:
    history = cite("old-customer", CitationRole.PREVIOUS_REPORT, position=1)
    graph = chain(customer={"cites": (cite("work"), history)})
    result = trace(sha("customer"), graph)
    assert result is not None and result.status is TraceabilityStatus.COMPLETE
    assert [link.verdict for link in result.links if not link.citation.carries_traceability] \
        == [LinkVerdict.EXTERNAL]
    # ...but a previous report alone carries no traceability.
    result = trace(sha("customer"), chain(customer={"cites": (history,)}))
    assert result is not None and result.status is TraceabilityStatus.INCOMPLETE


def test_traceability_broken_beats_incomplete_and_every_standard_counts() -> None:
    graph = chain(work={"cites": (cite("ref"), cite("nowhere", by_number=True, position=1))})
    result = trace(sha("customer"), graph)
    assert result is not None and result.status is TraceabilityStatus.INCOMPLETE
    graph = chain(work={"cites": (cite("nowhere", by_number=True), cite("ref", position=1))},
                  ref={"anchored": "2026-03-02"})
    result = trace(sha("customer"), graph)
    assert result is not None and result.status is TraceabilityStatus.BROKEN
    assert result.problem is not None and result.problem.link is not None
    assert result.problem.link.verdict is LinkVerdict.ANCHORED_AFTER_USE


def test_traceability_number_cycles_and_limits_end_as_incomplete() -> None:
    graph = Graph()
    graph.add("a", LAB, anchored="2026-01-01", calibrated="2026-01-02",
              cites=(cite("b", by_number=True),))
    graph.add("b", LAB, anchored="2026-01-01", calibrated="2026-01-02",
              cites=(cite("a", by_number=True),))
    result = trace(sha("a"), graph)
    assert result is not None and result.status is TraceabilityStatus.INCOMPLETE
    deep = chain()
    result = trace(sha("customer"), deep, max_nodes=2)
    assert result is not None and result.truncated
    assert result.status is TraceabilityStatus.INCOMPLETE


def test_traceability_nmi_certificate_is_complete_by_itself() -> None:
    result = trace(sha("nmi"), chain())
    assert result is not None and result.status is TraceabilityStatus.COMPLETE
    assert trace(sha("nobody"), chain()) is None


def test_traceability_cited_sha256_accepts_only_sha256_values() -> None:
    digest = sha("x")
    assert cited_sha256("SHA-256", digest.upper()) == digest
    assert cited_sha256("", "0x" + digest) == digest
    assert cited_sha256("SHA3-512", digest) is None
    assert cited_sha256("SHA-256", "not a hash") is None
