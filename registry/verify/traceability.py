"""Traceability: is the measurement behind a certificate traceable, through unbroken and
unrevoked calibrations, up to a national metrology institute?

Pure: the certificates and their citations come in through a small read-only view
(the database projection, or a receipt bundle offline), so the API, the CLI and the
offline verifier give the same answer from the same facts.

Rules (numbered as the evaluation applies them to each citation, a *link*):

1. resolve: the cited certificate is found by its SHA-256 (the hashType `value`) or by
   its number (`referralID`). Not found: `external` when it was cited by a SHA-256 no
   registry on the network knows (or by another hash algorithm), `unknown` otherwise.
2. anchored-after-use: the cited certificate was anchored after the citing
   certificate's calibration date (the day after it, in UTC: anchoring times are
   block times, calibration dates are days).
3. revoked-before-use: it was revoked before the calibration date.
4. compromised-at-use: it was revoked later, but for a reason that affects
   measurements (compromised, error, out-of-tolerance) with an effective date on or
   before the calibration date: the cascade. Every certificate that relies on it,
   directly or through others, is `traceability-compromised`, with no transaction
   from its own issuer.
5. otherwise the link is `sound`.

A certificate issued by a national metrology institute ends a chain (`complete`). Any
other certificate is `complete` only if it cites at least one reference standard and
every standard it cites (measuring equipment and influence-condition instruments; a
previous report is history, shown but not required) has a sound link to a complete
certificate. `broken` beats `incomplete` beats `complete`.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from registry.documents.citations import Citation

NATIONAL_METROLOGY_INSTITUTE = "national_metrology_institute"
# Revocation reasons (as the index and the API spell them) that mean the certificate's
# values were wrong from the effective date on, not merely replaced or withdrawn.
MEASUREMENT_AFFECTING_REASONS = frozenset({"compromised", "error", "out-of-tolerance",
                                           "out_of_tolerance"})
DEFAULT_MAX_NODES = 5_000
DEFAULT_MAX_DEPTH = 32


class LinkVerdict(StrEnum):
    SOUND = "sound"
    REVOKED_BEFORE_USE = "revoked-before-use"
    ANCHORED_AFTER_USE = "anchored-after-use"
    COMPROMISED_AT_USE = "compromised-at-use"
    UNKNOWN = "unknown"
    EXTERNAL = "external"

    @property
    def breaks(self) -> bool:
        return self in (LinkVerdict.REVOKED_BEFORE_USE, LinkVerdict.ANCHORED_AFTER_USE,
                        LinkVerdict.COMPROMISED_AT_USE)

    @property
    def unresolved(self) -> bool:
        return self in (LinkVerdict.UNKNOWN, LinkVerdict.EXTERNAL)


class TraceabilityStatus(StrEnum):
    COMPLETE = "complete"
    INCOMPLETE = "incomplete"
    BROKEN = "broken"


_SEVERITY = {TraceabilityStatus.COMPLETE: 0, TraceabilityStatus.INCOMPLETE: 1,
             TraceabilityStatus.BROKEN: 2}


@dataclass(frozen=True)
class RevocationFacts:
    reason: str
    revoked_at: dt.datetime
    effective_from: dt.datetime

    @property
    def affects_measurements(self) -> bool:
        return self.reason in MEASUREMENT_AFFECTING_REASONS


@dataclass(frozen=True)
class CertificateFacts:
    """What traceability needs to know about one anchored certificate."""

    sha256: str  # 64 hex
    issuer_id: str  # 64 hex
    issuer_code: str
    issuer_kind: str | None  # IssuerKind name, lower case
    unique_identifier: str | None
    anchored_at: dt.datetime
    anchored_block: int
    calibration_date: dt.date | None
    revocation: RevocationFacts | None
    citations: tuple[Citation, ...]

    @property
    def use_date(self) -> dt.date:
        """The day the certificate's standards were used: its calibration date, or, for a
        document that states none, the day it was anchored."""
        return self.calibration_date or self.anchored_at.astimezone(dt.UTC).date()

    @property
    def national_standard(self) -> bool:
        return self.issuer_kind == NATIONAL_METROLOGY_INSTITUTE


@dataclass(frozen=True)
class Resolution:
    """Where a citation leads: a certificate's SHA-256, or why nowhere."""

    sha256: str | None
    method: str  # "hash" | "number" | "none"
    detail: str


class TraceabilityView(Protocol):
    def certificate(self, sha256: str) -> CertificateFacts | None: ...

    def resolve(self, citation: Citation, citing: CertificateFacts) -> Resolution: ...


@dataclass(frozen=True)
class TraceLink:
    citing_sha256: str
    citation: Citation
    verdict: LinkVerdict
    detail: str
    cited_sha256: str | None  # the certificate it resolved to
    resolved_by: str

    def to_dict(self) -> dict[str, Any]:
        return {"citing": "0x" + self.citing_sha256, "citation": self.citation.to_dict(),
                "verdict": self.verdict.value, "detail": self.detail,
                "cited": None if self.cited_sha256 is None else "0x" + self.cited_sha256,
                "resolved_by": self.resolved_by,
                "carries_traceability": self.citation.carries_traceability}


@dataclass(frozen=True)
class TraceNode:
    facts: CertificateFacts
    status: TraceabilityStatus
    detail: str
    depth: int  # shortest distance from the certificate traced

    def to_dict(self) -> dict[str, Any]:
        facts = self.facts
        revocation = None if facts.revocation is None else {
            "reason": facts.revocation.reason,
            "revoked_at": facts.revocation.revoked_at.isoformat(),
            "effective_from": facts.revocation.effective_from.isoformat()}
        return {"sha256": "0x" + facts.sha256, "issuer_id": "0x" + facts.issuer_id,
                "issuer": facts.issuer_code, "issuer_kind": facts.issuer_kind,
                "national_standard": facts.national_standard,
                "certificate_number": facts.unique_identifier,
                "calibration_date": None if facts.calibration_date is None
                else facts.calibration_date.isoformat(),
                "anchored_at": facts.anchored_at.isoformat(),
                "anchored_block": facts.anchored_block, "revocation": revocation,
                "status": self.status.value, "detail": self.detail, "depth": self.depth}


@dataclass(frozen=True)
class TraceProblem:
    """The first link (breadth first, from the certificate traced) that breaks the chain,
    or, if none does, the first one that leaves it unresolved."""

    link: TraceLink | None  # None when the chain ends at a certificate citing nothing
    at_sha256: str
    detail: str
    at_number: str | None = None  # the certificate number of `at_sha256`

    def to_dict(self) -> dict[str, Any]:
        return {"at": "0x" + self.at_sha256, "at_certificate_number": self.at_number,
                "detail": self.detail,
                "link": None if self.link is None else self.link.to_dict()}


@dataclass(frozen=True)
class TraceabilityResult:
    sha256: str
    status: TraceabilityStatus
    compromised: bool  # a standard it relies on was compromised at use: the cascade
    nodes: tuple[TraceNode, ...]  # breadth first, the certificate traced first
    links: tuple[TraceLink, ...]
    problem: TraceProblem | None
    truncated: bool  # the graph was larger than the limits; status is then incomplete

    @property
    def root(self) -> TraceNode:
        return self.nodes[0]

    def to_dict(self) -> dict[str, Any]:
        return {"sha256": "0x" + self.sha256, "status": self.status.value,
                "compromised": self.compromised,
                "first_problem": None if self.problem is None else self.problem.to_dict(),
                "truncated": self.truncated,
                "nodes": [node.to_dict() for node in self.nodes],
                "links": [link.to_dict() for link in self.links]}


def _day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(dt.UTC).date()


def judge_link(citing: CertificateFacts, cited: CertificateFacts) -> tuple[LinkVerdict, str]:
    """Rules 2-5 for a resolved citation."""
    use = citing.use_date
    number = cited.unique_identifier or cited.sha256[:12]
    if _day(cited.anchored_at) > use:
        return (LinkVerdict.ANCHORED_AFTER_USE,
                f"{number} was anchored on {_day(cited.anchored_at)}, after it was used "
                f"on {use}")
    revocation = cited.revocation
    if revocation is not None and _day(revocation.revoked_at) < use:
        return (LinkVerdict.REVOKED_BEFORE_USE,
                f"{number} was revoked ({revocation.reason}) on {_day(revocation.revoked_at)}, "
                f"before it was used on {use}")
    if revocation is not None and revocation.affects_measurements \
            and _day(revocation.effective_from) <= use:
        return (LinkVerdict.COMPROMISED_AT_USE,
                f"{number} was revoked ({revocation.reason}) with effect from "
                f"{_day(revocation.effective_from)}, on or before its use on {use}")
    return LinkVerdict.SOUND, f"{number} was anchored and not revoked when used on {use}"


def _unresolved_verdict(citation: Citation, resolution: Resolution) -> LinkVerdict:
    if citation.cited_sha256 is not None or (citation.value and not citation.referral_id):
        return LinkVerdict.EXTERNAL
    return LinkVerdict.UNKNOWN


def trace(sha256: str, view: TraceabilityView, *, max_nodes: int = DEFAULT_MAX_NODES,
          max_depth: int = DEFAULT_MAX_DEPTH) -> TraceabilityResult | None:
    """The traceability tree of an anchored certificate; None if the view does not know it."""
    root = view.certificate(sha256)
    if root is None:
        return None
    facts: dict[str, CertificateFacts] = {root.sha256: root}
    depth: dict[str, int] = {root.sha256: 0}
    order: list[str] = [root.sha256]
    links: list[TraceLink] = []
    out: dict[str, list[TraceLink]] = {}
    truncated = False
    queue = deque([root.sha256])
    while queue:
        current = facts[queue.popleft()]
        out[current.sha256] = []
        if current.national_standard:
            continue  # a national standard ends the chain: its own sources are the NMI's
        for citation in current.citations:
            resolution = view.resolve(citation, current)
            cited = None if resolution.sha256 is None else (
                facts.get(resolution.sha256) or view.certificate(resolution.sha256))
            if cited is None:
                verdict = _unresolved_verdict(citation, resolution)
                link = TraceLink(current.sha256, citation, verdict, resolution.detail, None,
                                 resolution.method)
            else:
                verdict, detail = judge_link(current, cited)
                link = TraceLink(current.sha256, citation, verdict, detail, cited.sha256,
                                 resolution.method)
                if cited.sha256 not in facts:
                    if len(facts) >= max_nodes or depth[current.sha256] + 1 > max_depth:
                        truncated = True
                    else:
                        facts[cited.sha256] = cited
                        depth[cited.sha256] = depth[current.sha256] + 1
                        order.append(cited.sha256)
                        queue.append(cited.sha256)
            links.append(link)
            out[current.sha256].append(link)

    statuses = _statuses(order, facts, out, truncated)
    nodes = tuple(TraceNode(facts[s], statuses[s][0], statuses[s][1], depth[s]) for s in order)
    compromised = _reaches_compromise(root.sha256, out)
    status = statuses[root.sha256][0]
    return TraceabilityResult(root.sha256, status, compromised, nodes, tuple(links),
                              _first_problem(order, facts, out, statuses), truncated)


def _statuses(order: list[str], facts: dict[str, CertificateFacts],
              out: dict[str, list[TraceLink]], truncated: bool
              ) -> dict[str, tuple[TraceabilityStatus, str]]:
    """Each node's status, children first; a cycle (possible only through numbers, never
    through hashes) counts as incomplete while it is being decided."""
    decided: dict[str, tuple[TraceabilityStatus, str]] = {}
    in_progress: set[str] = set()

    def decide(sha256: str) -> tuple[TraceabilityStatus, str]:
        if sha256 in decided:
            return decided[sha256]
        if sha256 in in_progress or sha256 not in facts:
            return (TraceabilityStatus.INCOMPLETE,
                    "not evaluated (cycle or beyond the limits of the trace)")
        in_progress.add(sha256)
        node = facts[sha256]
        if node.national_standard:
            result = (TraceabilityStatus.COMPLETE,
                      f"issued by national metrology institute {node.issuer_code}")
        else:
            standards = [link for link in out.get(sha256, ()) if
                         link.citation.carries_traceability]
            if not standards:
                result = (TraceabilityStatus.INCOMPLETE,
                          "cites no reference standard's certificate and its issuer "
                          f"{node.issuer_code} is not a national metrology institute")
            else:
                result = (TraceabilityStatus.COMPLETE,
                          f"all {len(standards)} reference standard(s) trace to a national "
                          "metrology institute")
                for link in standards:
                    if link.verdict.breaks:
                        child = (TraceabilityStatus.BROKEN, link.detail)
                    elif link.verdict.unresolved or link.cited_sha256 is None:
                        child = (TraceabilityStatus.INCOMPLETE, link.detail)
                    else:
                        child = decide(link.cited_sha256)
                    if _SEVERITY[child[0]] > _SEVERITY[result[0]]:
                        result = child
        in_progress.discard(sha256)
        decided[sha256] = result
        return result

    for sha256 in reversed(order):
        decide(sha256)
    if truncated and decided[order[0]][0] is TraceabilityStatus.COMPLETE:
        decided[order[0]] = (TraceabilityStatus.INCOMPLETE,
                             "the graph exceeds the trace limits; not every path was checked")
    return decided


def _traceability_links(start: str, out: dict[str, list[TraceLink]]) -> Iterator[TraceLink]:
    """Links that carry traceability, breadth first from `start`, each once."""
    seen = {start}
    queue = deque([start])
    while queue:
        for link in out.get(queue.popleft(), ()):
            if not link.citation.carries_traceability:
                continue
            yield link
            if link.cited_sha256 is not None and link.cited_sha256 not in seen:
                seen.add(link.cited_sha256)
                queue.append(link.cited_sha256)


def _reaches_compromise(root: str, out: dict[str, list[TraceLink]]) -> bool:
    return any(link.verdict is LinkVerdict.COMPROMISED_AT_USE
               for link in _traceability_links(root, out))


def _first_problem(order: list[str], facts: dict[str, CertificateFacts],
                   out: dict[str, list[TraceLink]],
                   statuses: dict[str, tuple[TraceabilityStatus, str]]) -> TraceProblem | None:
    root = order[0]
    if statuses[root][0] is TraceabilityStatus.COMPLETE:
        return None
    links = list(_traceability_links(root, out))
    for wanted in ("breaks", "unresolved"):
        for link in links:
            if getattr(link.verdict, wanted):
                return TraceProblem(link, link.citing_sha256, link.detail,
                                    facts[link.citing_sha256].unique_identifier)
    # No bad link: the chain ends at a certificate that cites no standard (or was cut).
    for sha256 in order:
        status, detail = statuses[sha256]
        node_links = [link for link in out.get(sha256, ())
                      if link.citation.carries_traceability]
        if status is not TraceabilityStatus.COMPLETE and not node_links:
            return TraceProblem(None, sha256, detail, facts[sha256].unique_identifier)
    return TraceProblem(None, root, statuses[root][1], facts[root].unique_identifier)
