"""The verification steps, in order.

1. document-hash: the uploaded bytes hash to the SHA-256 asked about (if bytes given)
2. signature: the document's XAdES signature verifies (if bytes given and signed), and
   its signer's certificate chains to a configured trust anchor and had not been revoked
   when it signed (registry.documents.signer_trust)
3. index-lookup: the index knows an anchoring of this hash
4. merkle-proof: the indexed proof leads from the document's leaf to the indexed root
5. chain-root: the contract's batch holds that root — read from the chain, not the index
6. contract-verify: the contract's `verify` confirms the document and its issuer
7. issuer-authorised: the issuer was active when the batch was anchored
8. signer-is-issuer: the document's signer is a signing certificate (or was issued by
   a CA) the anchoring issuer declared on chain for the signing time
   (registry.verify.signer); skipped, not failed, when the issuer declares none
9. revocation: the contract's revocation status of the document
10. traceability: the certificates it cites lead, through sound links, to a national
   metrology institute (registry.verify.traceability); a standard compromised at use
   makes the verdict `traceability-compromised`
11. accreditation-scope: each result lies within the issuer's accreditation scope valid
   on the calibration date

A failed step decides the verdict; later steps that depend on it are skipped, and say so.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from anchor.chain import BatchRecord, IssuerStatus, OnChainVerification, issuer_name
from anchor.errors import EvidenceError
from anchor.merkle import leaf_hash, process_proof
from anchor.renewal_tree import digest_of
from registry.documents.signer_trust import SignerTrustStatus, without_proof_of_existence
from registry.verify.model import (
    AnchoringEvidence,
    CertificateVerification,
    Check,
    CheckStatus,
    IssuerEvidence,
    RevocationEvidence,
    ScopeEvidence,
    SignatureEvidence,
    SignerEvidence,
    TraceabilityEvidence,
    Verdict,
)
from registry.verify.signer import (
    STATUS_DECLARED,
    STATUS_NOT_DECLARED,
    DeclaredSigningCertificate,
    check_signer,
)
from registry.verify.traceability import TraceabilityResult, TraceabilityStatus

STEP_DOCUMENT_HASH = "document-hash"
STEP_SIGNATURE = "signature"
STEP_INDEX_LOOKUP = "index-lookup"
STEP_MERKLE_PROOF = "merkle-proof"
STEP_CHAIN_ROOT = "chain-root"
STEP_CONTRACT_VERIFY = "contract-verify"
STEP_ISSUER_AUTHORISED = "issuer-authorised"
STEP_SIGNER_IS_ISSUER = "signer-is-issuer"
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
    # The hash the contract knows the document by when it is not its SHA-256 (64 hex):
    # a migrated document's migration leaf (docs/evidence-records.md, "Mapping").
    anchored_hash: str | None = None
    # "<algorithm>:<hex>": the digest of the evidence the migration covered; the leaf is
    # H(SHA-256 || it), recomputed here, so a row cannot lend a document another's leaf.
    migration_binding: str | None = None


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

    def signing_certificates(self, issuer_id: str) -> Sequence[DeclaredSigningCertificate]:
        """The signing certificates and CAs the issuer declared on chain (withdrawn ones
        included, with their withdrawal), in order of declaration."""
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

    def revise(self, name: str, status: CheckStatus, detail: str) -> None:
        """Correct an earlier step once a later one has shown more (keeps its number)."""
        index = next(i for i, c in enumerate(self.checks) if c.name == name)
        self.checks[index] = Check(index + 1, name, status, detail)

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
                             signing_time=result.signing_time,
                             signer_trust=getattr(result, "signer_trust", None),
                             signer_test_only=bool(signer and signer.test_only))


def _signature_step(steps: _Steps, signature: SignatureEvidence, *,
                    revise: bool = False) -> Verdict | None:
    """Record (or `revise`) step 2; the verdict it decides, if it fails."""
    record = steps.revise if revise else steps.record
    trust = signature.signer_trust
    if signature.status == "unsigned":
        record(STEP_SIGNATURE, CheckStatus.SKIPPED, "the document carries no XML signature; "
               "its integrity rests on the anchored hash")
    elif signature.status != "valid":
        record(STEP_SIGNATURE, CheckStatus.FAILED, signature.reason)
        return Verdict.SIGNATURE_INVALID
    elif trust is not None and trust.status is SignerTrustStatus.REVOKED:
        record(STEP_SIGNATURE, CheckStatus.FAILED,
               f"the signature verifies, but the signer certificate {signature.signer_subject} "
               f"was {trust.revocation.detail}" if trust.revocation else trust.detail)
        return Verdict.SIGNER_CERTIFICATE_REVOKED
    elif trust is not None and trust.status is SignerTrustStatus.UNTRUSTED:
        record(STEP_SIGNATURE, CheckStatus.FAILED, f"the signature verifies, but {trust.detail}")
        return Verdict.SIGNER_UNTRUSTED
    else:
        record(STEP_SIGNATURE, CheckStatus.PASSED,
               f"XAdES signature by {signature.signer_subject} verifies"
               + (" (a TEST signer: not for real certificates)"
                  if signature.signer_test_only else "")
               + (f"; {trust.detail}" if trust is not None else ""))
    return None


def verify_certificate(sha256: str | None, document: bytes | None, *, index: IndexView,
                       chain: ChainView,
                       verify_signature: Callable[[bytes], Any] | None = None,
                       trust: TrustChecks | None = None,
                       document_warnings: Callable[[bytes], Sequence[Any]] | None = None,
                       ) -> CertificateVerification:
    """Verify a certificate given by its bytes, its SHA-256 (64 hex), or both.

    `document_warnings` reads what a verifier should know of the bytes without it
    deciding the verdict (e.g. a DCC version taken from xsi:schemaLocation, a signature
    its schema has no place for): objects with `code` and `message`."""
    result = _verify_certificate(sha256, document, index=index, chain=chain,
                                 verify_signature=verify_signature, trust=trust)
    if document is None or document_warnings is None:
        return result
    notes = tuple({"code": w.code, "message": w.message} for w in document_warnings(document))
    return dataclasses.replace(result, warnings=notes) if notes else result


def _verify_certificate(sha256: str | None, document: bytes | None, *, index: IndexView,
                        chain: ChainView, verify_signature: Callable[[bytes], Any] | None,
                        trust: TrustChecks | None) -> CertificateVerification:
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
                             STEP_SIGNER_IS_ISSUER, STEP_REVOCATION, *_TRUST_STEPS],
                            "the document is not the one asked about")
            return CertificateVerification(Verdict.UNKNOWN, "0x" + actual, tuple(steps.checks))
        digest_hex = actual
        steps.record(STEP_DOCUMENT_HASH, CheckStatus.PASSED, f"SHA-256 {actual}")
    else:
        steps.record(STEP_DOCUMENT_HASH, CheckStatus.SKIPPED,
                     "no document given: verifying the hash alone")

    # 2. signature
    signature_verdict: Verdict | None = None
    signature_result: Any = None
    if document is not None and verify_signature is not None:
        signature_result = verify_signature(document)
        signature = _signature_evidence(signature_result)
        signature_verdict = _signature_step(steps, signature)
    else:
        steps.record(STEP_SIGNATURE, CheckStatus.SKIPPED, "no document bytes to check")

    # 3. index-lookup
    candidates = sorted(index.anchorings(digest_hex), key=lambda a: (a.block_number, a.batch_id))
    if not candidates:
        steps.record(STEP_INDEX_LOOKUP, CheckStatus.FAILED,
                     "no anchoring of this document is known to this registry")
        steps.skip_rest([STEP_MERKLE_PROOF, STEP_CHAIN_ROOT, STEP_CONTRACT_VERIFY,
                         STEP_ISSUER_AUTHORISED, STEP_SIGNER_IS_ISSUER, STEP_REVOCATION,
                         *_TRUST_STEPS],
                        "nothing to check against")
        verdict = signature_verdict or Verdict.UNKNOWN
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
        anchored = _anchored_hash(digest, candidate)
        if anchored is None:
            failures.append((STEP_MERKLE_PROOF, f"batch {candidate.batch_id}: the indexed "
                             "migration leaf is not this document's"))
            continue
        if process_proof(leaf_hash(anchored), proof).hex() != candidate.merkle_root:
            failures.append((STEP_MERKLE_PROOF, f"batch {candidate.batch_id}: the indexed "
                             "proof does not lead to the indexed root"))
            continue
        batch = chain.get_batch(candidate.batch_id)
        if batch is None or batch.root.hex() != candidate.merkle_root:
            failures.append((STEP_CHAIN_ROOT, f"batch {candidate.batch_id}: the contract "
                             "holds a different root (or none) than the index"))
            continue
        on_chain = chain.verify(anchored, candidate.batch_id, proof)
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
                         STEP_SIGNER_IS_ISSUER, STEP_REVOCATION, *_TRUST_STEPS],
                        "the chain does not confirm the indexed anchoring")
        verdict = signature_verdict or Verdict.UNKNOWN
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
    if signature is not None and signature.signer_trust is not None and signature_verdict is None:
        # The anchoring is the document's proof of existence; it can undo a backdated claim.
        reconsidered = without_proof_of_existence(signature.signer_trust, evidence.anchored_at)
        if reconsidered is not signature.signer_trust:
            signature = dataclasses.replace(signature, signer_trust=reconsidered)
            signature_verdict = _signature_step(steps, signature, revise=True)

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
    authorised = not problems
    if problems:
        steps.record(STEP_ISSUER_AUTHORISED, CheckStatus.FAILED, "; ".join(problems))
    elif status_at_issue is None:
        steps.record(STEP_ISSUER_AUTHORISED, CheckStatus.SKIPPED,
                     "the issuer's history is not indexed")
    else:
        steps.record(STEP_ISSUER_AUTHORISED, CheckStatus.PASSED,
                     f"issuer {issuer.code} was {status_at_issue} at block "
                     f"{on_chain.anchored_block}; it is {issuer.status_now} now")

    # 8. signer-is-issuer
    signer = _signer_step(steps, index, issuer.code, anchoring, on_chain, signature_result)
    signer_declared = signer is None or signer.status != STATUS_NOT_DECLARED

    # 9. revocation
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

    # 10. traceability
    traceability = None
    if trust is None:
        steps.skip_rest(_TRUST_STEPS, "metrological checks not requested")
        scope = None
    else:
        traceability = _traceability_step(steps, trust.traceability(digest_hex))
        # 11. accreditation-scope
        scope = trust.accreditation_scope(anchoring, document)
        _scope_step(steps, scope)

    if signature_verdict is not None:
        verdict = signature_verdict
    elif not authorised:
        verdict = Verdict.ISSUER_NOT_AUTHORISED_AT_ISSUE
    elif not signer_declared:
        verdict = Verdict.SIGNER_NOT_ISSUER
    elif revocation is not None:
        verdict = Verdict.REVOKED
    elif traceability is not None and traceability.compromised:
        verdict = Verdict.TRACEABILITY_COMPROMISED
    else:
        verdict = Verdict.VALID
    return CertificateVerification(verdict, "0x" + digest_hex, tuple(steps.checks), issuer=issuer,
                                   anchoring=evidence, revocation=revocation,
                                   signature=signature, metadata=anchoring.metadata,
                                   traceability=traceability, accreditation_scope=scope,
                                   signer=signer)


def _signer_step(steps: _Steps, index: IndexView, issuer_code: str,
                 anchoring: IndexedAnchoring, on_chain: OnChainVerification,
                 signature: Any) -> SignerEvidence | None:
    """Step 8: match the verified signer against the anchoring issuer's declarations."""
    certificate = getattr(signature, "signer_certificate", None)
    if signature is None or not signature.is_valid or certificate is None:
        why = ("no signature checked (verifying by hash, or not an XML document): there "
               "is no signer to compare" if signature is None
               else "the document is not signed: no signer to check"
               if signature.status == "unsigned" else "no verified signature to take "
               "the signer from")
        steps.record(STEP_SIGNER_IS_ISSUER, CheckStatus.SKIPPED, why)
        return None
    evidence = check_signer(
        issuer_code, certificate, signature.key_info_certificates,
        index.signing_certificates(anchoring.issuer_id), signing_time=signature.signing_time,
        anchored_at=_utc(on_chain.anchored_at), anchored_block=on_chain.anchored_block)
    if evidence.status == STATUS_NOT_DECLARED:
        status = CheckStatus.FAILED
    elif evidence.status == STATUS_DECLARED:
        status = CheckStatus.PASSED
    else:  # the issuer declares none: reported, not held against the document
        status = CheckStatus.SKIPPED
    steps.record(STEP_SIGNER_IS_ISSUER, status, evidence.detail)
    return evidence


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


def _anchored_hash(digest: bytes, candidate: IndexedAnchoring) -> bytes | None:
    """The hash the contract knows the document by: its SHA-256, or for a migrated
    document the migration leaf recomputed from the SHA-256 and the covered evidence's
    digest (None when the row's leaf is not that)."""
    if candidate.anchored_hash is None:
        return digest
    algorithm, _, previous = (candidate.migration_binding or "").partition(":")
    try:
        leaf = digest_of(algorithm, digest + bytes.fromhex(previous))
    except (EvidenceError, ValueError):
        return None
    return leaf if leaf.hex() == candidate.anchored_hash else None
