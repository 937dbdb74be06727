"""The verification steps, in order.

1. document-hash: the uploaded bytes hash to the SHA-256 asked about (if bytes given)
2. signature: the document's XAdES signature verifies (if bytes given and signed)
3. index-lookup: the index knows an anchoring of this hash
4. merkle-proof: the indexed proof leads from the document's leaf to the indexed root
5. chain-root: the contract's batch holds that root — read from the chain, not the index
6. contract-verify: the contract's `verify` confirms the document and its issuer
7. issuer-authorised: the issuer was active when the batch was anchored, and the
   document's signer is one of the signing certificates the issuer declared
8. revocation: the contract's revocation status of the document
9. traceability: the certificates it cites lead, through sound links, to a national
   metrology institute (registry.verify.traceability); a standard compromised at use
   makes the verdict `traceability-compromised`
10. accreditation-scope: each result lies within the issuer's accreditation scope valid
   on the calibration date

A failed step decides the verdict; later steps that depend on it are skipped, and say so.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from anchor.chain import BatchRecord, IssuerStatus, OnChainVerification, issuer_name
from anchor.merkle import leaf_hash, process_proof
from registry.verify.model import (
    AnchoringEvidence,
    CertificateVerification,
    Check,
    CheckStatus,
    IssuerEvidence,
    RevocationEvidence,
    ScopeEvidence,
    SignatureEvidence,
    TraceabilityEvidence,
    Verdict,
)
from registry.verify.traceability import TraceabilityResult, TraceabilityStatus

STEP_DOCUMENT_HASH = "document-hash"
STEP_SIGNATURE = "signature"
STEP_INDEX_LOOKUP = "index-lookup"
STEP_MERKLE_PROOF = "merkle-proof"
STEP_CHAIN_ROOT = "chain-root"
STEP_CONTRACT_VERIFY = "contract-verify"
STEP_ISSUER_AUTHORISED = "issuer-authorised"
STEP_REVOCATION = "revocation"
STEP_TRACEABILITY = "traceability"
STEP_ACCREDITATION_SCOPE = "accreditation-scope"
_TRUST_STEPS = (STEP_TRACEABILITY, STEP_ACCREDITATION_SCOPE)


@dataclass(frozen=True)
class IndexedAnchoring:
    """What the index (database) says about one anchoring of a document."""

    sha256: str  # 64 hex, no 0x
    batch_id: int
    issuer_id: str  # 64 hex, no 0x
    merkle_root: str  # 64 hex, no 0x
    proof: tuple[str, ...]  # 0x-hex siblings
    transaction_hash: str
    block_number: int
    anchored_at: dt.datetime
    manifest_cid: str
    cid: str
    document_type: str
    unique_identifier: str | None
    encrypted: bool
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True)
class IssuerSnapshot:
    issuer_id: str  # 64 hex, no 0x
    country: str
    kind: str
    status: str


class IndexView(Protocol):
    """Read-only questions the steps ask the index."""

    def anchorings(self, sha256: str) -> Sequence[IndexedAnchoring]: ...

    def issuer(self, issuer_id: str) -> IssuerSnapshot | None: ...

    def issuer_status_at(self, issuer_id: str, block_number: int) -> str | None: ...

    def authorised_signers(self, issuer_id: str, block_number: int) -> frozenset[str] | None:
        """SHA-256 fingerprints of the X.509 signing certificates the issuer declared in
        its metadata document as of that block; None when it declares none."""
        ...


class TrustChecks(Protocol):
    """The metrological checks (steps 9 and 10); they read the index and the content
    store, so they come in from outside like the views."""

    def traceability(self, sha256: str
                     ) -> TraceabilityResult | TraceabilityEvidence | None:
        """The traceability tree, or only its summary when that is all the checks keep
        (the precomputed verdict inputs); None when the index does not know the document."""
        ...

    def accreditation_scope(self, anchoring: IndexedAnchoring,
                            document: bytes | None) -> ScopeEvidence | None: ...


class ChainView(Protocol):
    """Read-only questions the steps ask the contract (RegistryClient satisfies it)."""

    def get_batch(self, batch_id: int) -> BatchRecord | None: ...

    def verify(self, document_hash: bytes, batch_id: int,
               proof: Sequence[bytes]) -> OnChainVerification: ...


@dataclass
class _Steps:
    checks: list[Check] = field(default_factory=list)

    def record(self, name: str, status: CheckStatus, detail: str) -> bool:
        self.checks.append(Check(len(self.checks) + 1, name, status, detail))
        return status is CheckStatus.PASSED

    def skip_rest(self, names: Sequence[str], why: str) -> None:
        for name in names:
            self.record(name, CheckStatus.SKIPPED, f"not checked: {why}")


def _utc(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def _signature_evidence(result: Any) -> SignatureEvidence:
    signer = result.signer
    return SignatureEvidence(status=result.status.value, reason=result.reason,
                             signer_subject=signer.subject if signer else None,
                             signer_fingerprint=signer.sha256_fingerprint if signer else None,
                             signing_time=result.signing_time)


def verify_certificate(sha256: str | None, document: bytes | None, *, index: IndexView,
                       chain: ChainView,
                       verify_signature: Callable[[bytes], Any] | None = None,
                       trust: TrustChecks | None = None) -> CertificateVerification:
    """Verify a certificate given by its bytes, its SHA-256 (64 hex), or both."""
    steps = _Steps()
    if document is None and sha256 is None:
        raise ValueError("verify needs the document or its SHA-256")
    digest_hex = (sha256 or "").lower().removeprefix("0x")
    signature: SignatureEvidence | None = None

    # 1. document-hash
    if document is not None:
        actual = hashlib.sha256(document).hexdigest()
        if digest_hex and digest_hex != actual:
            steps.record(STEP_DOCUMENT_HASH, CheckStatus.FAILED,
                         f"the document hashes to {actual}, not to the SHA-256 given")
            steps.skip_rest([STEP_SIGNATURE, STEP_INDEX_LOOKUP, STEP_MERKLE_PROOF,
                             STEP_CHAIN_ROOT, STEP_CONTRACT_VERIFY, STEP_ISSUER_AUTHORISED,
                             STEP_REVOCATION, *_TRUST_STEPS],
                            "the document is not the one asked about")
            return CertificateVerification(Verdict.UNKNOWN, "0x" + actual, tuple(steps.checks))
        digest_hex = actual
        steps.record(STEP_DOCUMENT_HASH, CheckStatus.PASSED, f"SHA-256 {actual}")
    else:
        steps.record(STEP_DOCUMENT_HASH, CheckStatus.SKIPPED,
                     "no document given: verifying the hash alone")

    # 2. signature
    if document is not None and verify_signature is not None:
        result = verify_signature(document)
        signature = _signature_evidence(result)
        if signature.status == "unsigned":
            steps.record(STEP_SIGNATURE, CheckStatus.SKIPPED, "the document carries no "
                         "XML signature; its integrity rests on the anchored hash")
        elif signature.status == "valid":
            steps.record(STEP_SIGNATURE, CheckStatus.PASSED,
                         f"XAdES signature by {signature.signer_subject} verifies")
        else:
            steps.record(STEP_SIGNATURE, CheckStatus.FAILED, signature.reason)
    else:
        steps.record(STEP_SIGNATURE, CheckStatus.SKIPPED, "no document bytes to check")
    signature_failed = steps.checks[-1].status is CheckStatus.FAILED

    # 3. index-lookup
    candidates = sorted(index.anchorings(digest_hex), key=lambda a: (a.block_number, a.batch_id))
    if not candidates:
        steps.record(STEP_INDEX_LOOKUP, CheckStatus.FAILED,
                     "no anchoring of this document is known to this registry")
        steps.skip_rest([STEP_MERKLE_PROOF, STEP_CHAIN_ROOT, STEP_CONTRACT_VERIFY,
                         STEP_ISSUER_AUTHORISED, STEP_REVOCATION, *_TRUST_STEPS],
                        "nothing to check against")
        verdict = Verdict.SIGNATURE_INVALID if signature_failed else Verdict.UNKNOWN
        return CertificateVerification(verdict, "0x" + digest_hex, tuple(steps.checks),
                                       signature=signature)
    steps.record(STEP_INDEX_LOOKUP, CheckStatus.PASSED,
                 f"{len(candidates)} anchoring(s) indexed; checking batch "
                 f"{candidates[0].batch_id} first")

    # 4-6: the first anchoring the chain confirms is the one that counts.
    digest = bytes.fromhex(digest_hex)
    confirmed: tuple[IndexedAnchoring, OnChainVerification] | None = None
    failures: list[tuple[str, str]] = []
    for candidate in candidates:
        proof = [bytes.fromhex(p.removeprefix("0x")) for p in candidate.proof]
        if process_proof(leaf_hash(digest), proof).hex() != candidate.merkle_root:
            failures.append((STEP_MERKLE_PROOF, f"batch {candidate.batch_id}: the indexed "
                             "proof does not lead to the indexed root"))
            continue
        batch = chain.get_batch(candidate.batch_id)
        if batch is None or batch.root.hex() != candidate.merkle_root:
            failures.append((STEP_CHAIN_ROOT, f"batch {candidate.batch_id}: the contract "
                             "holds a different root (or none) than the index"))
            continue
        on_chain = chain.verify(digest, candidate.batch_id, proof)
        if not on_chain.anchored or on_chain.issuer_id.hex() != candidate.issuer_id:
            failures.append((STEP_CONTRACT_VERIFY, f"batch {candidate.batch_id}: the "
                             "contract does not confirm this document for this issuer"))
            continue
        confirmed = (candidate, on_chain)
        break

    if confirmed is None:
        step, detail = failures[0]
        order = [STEP_MERKLE_PROOF, STEP_CHAIN_ROOT, STEP_CONTRACT_VERIFY]
        for name in order[:order.index(step)]:
            steps.record(name, CheckStatus.PASSED, "checked")
        steps.record(step, CheckStatus.FAILED, detail)
        steps.skip_rest([*order[order.index(step) + 1:], STEP_ISSUER_AUTHORISED,
                         STEP_REVOCATION, *_TRUST_STEPS],
                        "the chain does not confirm the indexed anchoring")
        verdict = Verdict.SIGNATURE_INVALID if signature_failed else Verdict.UNKNOWN
        return CertificateVerification(verdict, "0x" + digest_hex, tuple(steps.checks),
                                       signature=signature)

    anchoring, on_chain = confirmed
    steps.record(STEP_MERKLE_PROOF, CheckStatus.PASSED,
                 f"proof of {len(anchoring.proof)} sibling(s) leads to root "
                 f"0x{anchoring.merkle_root}")
    steps.record(STEP_CHAIN_ROOT, CheckStatus.PASSED,
                 f"batch {anchoring.batch_id} on chain holds root 0x{anchoring.merkle_root}")
    steps.record(STEP_CONTRACT_VERIFY, CheckStatus.PASSED,
                 f"anchored at block {on_chain.anchored_block} "
                 f"({_utc(on_chain.anchored_at).isoformat()})")
    evidence = AnchoringEvidence(
        batch_id=anchoring.batch_id, merkle_root="0x" + anchoring.merkle_root,
        proof=anchoring.proof, transaction_hash=anchoring.transaction_hash,
        block_number=on_chain.anchored_block, anchored_at=_utc(on_chain.anchored_at),
        manifest_cid=anchoring.manifest_cid, cid=anchoring.cid,
        document_type=anchoring.document_type, unique_identifier=anchoring.unique_identifier,
        encrypted=anchoring.encrypted, proof_checked_against_chain_root=True)

    # 7. issuer-authorised
    snapshot = index.issuer(anchoring.issuer_id)
    status_at_issue = index.issuer_status_at(anchoring.issuer_id, on_chain.anchored_block)
    issuer = IssuerEvidence(
        issuer_id="0x" + anchoring.issuer_id,
        code=issuer_name(bytes.fromhex(anchoring.issuer_id)),
        country=snapshot.country if snapshot else None,
        kind=snapshot.kind if snapshot else None,
        status_now=on_chain.issuer_status_now.name.lower(),
        status_at_issue=status_at_issue)
    problems: list[str] = []
    if status_at_issue is not None and status_at_issue != IssuerStatus.ACTIVE.name.lower():
        problems.append(f"issuer {issuer.code} was {status_at_issue} at block "
                        f"{on_chain.anchored_block}")
    declared = index.authorised_signers(anchoring.issuer_id, on_chain.anchored_block)
    signer = signature.signer_fingerprint if signature and signature.status == "valid" else None
    if declared is not None and signer is not None and signer.lower() not in declared:
        problems.append(f"the document was signed by {signature.signer_subject}, not by a "
                        f"signing certificate issuer {issuer.code} declared")
    authorised = not problems
    if problems:
        steps.record(STEP_ISSUER_AUTHORISED, CheckStatus.FAILED, "; ".join(problems))
    elif status_at_issue is None and (declared is None or signer is None):
        steps.record(STEP_ISSUER_AUTHORISED, CheckStatus.SKIPPED,
                     "the issuer's history and signing certificates are not indexed")
    else:
        steps.record(STEP_ISSUER_AUTHORISED, CheckStatus.PASSED,
                     f"issuer {issuer.code} was {status_at_issue or 'registered'} at block "
                     f"{on_chain.anchored_block}"
                     + (" and the signer is one of its declared certificates"
                        if declared is not None and signer is not None else "")
                     + f"; it is {issuer.status_now} now")

    # 8. revocation
    revocation = None
    if on_chain.revoked:
        revocation = RevocationEvidence(
            reason=on_chain.revocation_reason.name.lower().replace("_", "-"),
            revoked_at=_utc(on_chain.revoked_at), effective_from=_utc(on_chain.effective_from),
            replacement=None if on_chain.replacement is None else "0x" + on_chain.replacement.hex())
        steps.record(STEP_REVOCATION, CheckStatus.FAILED,
                     f"revoked ({revocation.reason}) at {revocation.revoked_at.isoformat()}")
    else:
        steps.record(STEP_REVOCATION, CheckStatus.PASSED, "not revoked")

    # 9. traceability
    traceability = None
    if trust is None:
        steps.skip_rest(_TRUST_STEPS, "metrological checks not requested")
        scope = None
    else:
        traceability = _traceability_step(steps, trust.traceability(digest_hex))
        # 10. accreditation-scope
        scope = trust.accreditation_scope(anchoring, document)
        _scope_step(steps, scope)

    if signature_failed:
        verdict = Verdict.SIGNATURE_INVALID
    elif not authorised:
        verdict = Verdict.ISSUER_NOT_AUTHORISED_AT_ISSUE
    elif revocation is not None:
        verdict = Verdict.REVOKED
    elif traceability is not None and traceability.compromised:
        verdict = Verdict.TRACEABILITY_COMPROMISED
    else:
        verdict = Verdict.VALID
    return CertificateVerification(verdict, "0x" + digest_hex, tuple(steps.checks), issuer=issuer,
                                   anchoring=evidence, revocation=revocation,
                                   signature=signature, metadata=anchoring.metadata,
                                   traceability=traceability, accreditation_scope=scope)


def traceability_evidence(result: TraceabilityResult) -> TraceabilityEvidence:
    return TraceabilityEvidence(
        status=result.status.value, compromised=result.compromised,
        certificates=len(result.nodes), links=len(result.links), truncated=result.truncated,
        first_problem=None if result.problem is None else result.problem.to_dict())


def _traceability_step(steps: _Steps,
                       result: TraceabilityResult | TraceabilityEvidence | None
                       ) -> TraceabilityEvidence | None:
    if result is None:
        steps.record(STEP_TRACEABILITY, CheckStatus.SKIPPED,
                     "the index holds no citations for this document")
        return None
    evidence = (result if isinstance(result, TraceabilityEvidence)
                else traceability_evidence(result))
    if evidence.status == TraceabilityStatus.COMPLETE.value:
        steps.record(STEP_TRACEABILITY, CheckStatus.PASSED,
                     f"complete: {evidence.certificates} certificate(s) lead to a national "
                     "metrology institute through sound links")
    else:
        problem = evidence.first_problem["detail"] if evidence.first_problem else ""
        status = (CheckStatus.FAILED if evidence.status == TraceabilityStatus.BROKEN.value
                  else CheckStatus.SKIPPED)
        steps.record(STEP_TRACEABILITY, status, f"{evidence.status}: {problem}")
    return evidence


def _scope_step(steps: _Steps, scope: ScopeEvidence | None) -> None:
    if scope is None or scope.status in ("unchecked", "not-accredited"):
        steps.record(STEP_ACCREDITATION_SCOPE, CheckStatus.SKIPPED,
                     scope.detail if scope is not None else "no scope check for this document")
    elif scope.status == "within-scope":
        steps.record(STEP_ACCREDITATION_SCOPE, CheckStatus.PASSED, scope.detail)
    else:
        steps.record(STEP_ACCREDITATION_SCOPE, CheckStatus.FAILED, scope.detail)
