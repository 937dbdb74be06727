"""Verification at the speed of a lookup: the same numbered steps
(registry.verify.steps), fed from facts that need not be read again for every request.

* Chain facts that cannot change: a batch's root, issuer, block and time, as the
  contract's `getBatch` returned them, cached by batch id once the batch is past the
  confirmation depth (`ConfirmedBatches`). The cache holds only what the chain said, so
  a forged database row still meets the chain's root and gets `unknown`.
* Mutable chain facts (revocations, issuer status) as the indexer projected them, with
  the block they reflect (`as_of_block`); the indexer follows every event changing them.
* The trust results (issuer status at issue, traceability, accreditation scope) kept
  current by the indexer in `verdict_inputs` (registry.index.verdict_inputs).

`FastVerifier.verify` answers from one SQL statement plus the in-memory caches, and
takes the uncached path (`verify_fresh`: every chain fact read from the contract) for
any document whose inputs are not computed yet. `FastVerifier.render` also keeps the
rendered verdict by the exact rows it came from: the same rows give the same verdict.
tests/registry/test_verdicts_differential.py runs both paths over every certificate
through revocations, supersession, suspension, accreditation changes and a reorg.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from anchor.chain import (
    ZERO32,
    BatchRecord,
    IssuerStatus,
    OnChainVerification,
    RevocationReason,
)
from anchor.merkle import leaf_hash, process_proof
from anchor.store import ContentStore
from registry.chain_facts import ConfirmedBatches, NeedsThread
from registry.db.generation import Generation, ProjectionWatch
from registry.db.models import IndexerState
from registry.db.queries import DatabaseIndexView
from registry.db.verdicts import (
    AnchoringFacts,
    VerdictFacts,
    facts_of,
    verdict_rows,
)
from registry.documents.validate import dcc_document_warnings
from registry.response_cache import BoundedCache, ProjectionResponses
from registry.trust import RegistryTrustChecks
from registry.verify import CertificateVerification, IndexedAnchoring, verify_certificate
from registry.verify.model import ScopeEvidence, TraceabilityEvidence
from registry.verify.steps import (
    DeclaredSigningCertificate,
    IssuerSnapshot,
    traceability_evidence,
)

DEFAULT_MAX_CACHED_SIGNATURES = 10_000
DEFAULT_MAX_RENDERED_VERDICTS = 10_000
_VERDICT_JSON = TypeAdapter(CertificateVerification)
# When a verdict was taken, not what it is: left out of the ETag, appended to the body.
_WHEN = {"as_of_block", "blocks_behind_head"}


def _not_anchored() -> OnChainVerification:
    """What the contract's `verify` returns when the proof does not lead to its root."""
    return OnChainVerification(False, False, ZERO32, IssuerStatus.NONE, 0, 0,
                               RevocationReason.UNSPECIFIED, 0, 0, None)


class ProjectedChain:
    """registry.verify.ChainView from cached batch records plus the projection's mutable
    facts: `verify` is the contract's own logic (CertificateRegistry.verify) over them."""

    def __init__(self, batches: ConfirmedBatches, facts: VerdictFacts, *,
                 cached_only: bool = False) -> None:
        self._batches = batches
        self._by_batch = {a.anchoring.batch_id: a for a in facts.anchorings}
        self._cached_only = cached_only
        self._asked: set[int] = set()

    @property
    def answered_from_confirmed_batches(self) -> bool:
        """Whether every batch the steps asked about is one the cache holds (past the
        confirmation depth): only then may the verdict be kept for these facts."""
        return all(b in self._by_batch and self._batches.cached(
            b, self._by_batch[b].block_hash) for b in self._asked)

    def get_batch(self, batch_id: int) -> BatchRecord | None:
        self._asked.add(batch_id)
        indexed = self._by_batch.get(batch_id)
        if indexed is None:
            if self._cached_only:
                raise NeedsThread(f"batch {batch_id} is not indexed")
            return self._batches.chain.get_batch(batch_id)
        return self._batches.get(batch_id, indexed.block_hash, cached_only=self._cached_only)

    def verify(self, document_hash: bytes, batch_id: int,
               proof: Sequence[bytes]) -> OnChainVerification:
        batch = self.get_batch(batch_id)
        if batch is None or process_proof(leaf_hash(document_hash), proof) != batch.root:
            return _not_anchored()
        indexed = self._by_batch[batch_id]
        if indexed.anchoring.issuer_id != batch.issuer_id.hex():
            # The index disagrees with the chain about the issuer: the steps fail this
            # anchoring on the issuer alone, so the mutable facts are not needed.
            return dataclasses.replace(_not_anchored(), anchored=True,
                                       issuer_id=batch.issuer_id)
        status = (IssuerStatus[indexed.issuer_status.upper()] if indexed.issuer_status
                  else IssuerStatus.NONE)
        revocation = indexed.revocation
        if revocation is None:
            return OnChainVerification(True, False, batch.issuer_id, status, batch.anchored_at,
                                       batch.block_number, RevocationReason.UNSPECIFIED, 0, 0,
                                       None)
        return OnChainVerification(
            True, True, batch.issuer_id, status, batch.anchored_at, batch.block_number,
            RevocationReason[revocation.reason.upper()], int(revocation.revoked_at.timestamp()),
            revocation.effective_from,
            None if revocation.replacement is None else bytes.fromhex(revocation.replacement))


class PrecomputedIndex:
    """registry.verify.IndexView over the facts read in one statement; what they do not
    hold (a status at a block the inputs were not computed for, signers) goes to the
    database view."""

    def __init__(self, facts: VerdictFacts, database: DatabaseIndexView) -> None:
        self._facts = facts
        self._database = database
        # Whether an answer came from outside the facts (so a verdict is not to be kept
        # by the facts alone).
        self.went_beyond_facts = False

    def _beyond(self) -> DatabaseIndexView:
        self.went_beyond_facts = True
        return self._database

    def anchorings(self, sha256: str) -> Sequence[IndexedAnchoring]:
        if sha256 != self._facts.sha256:
            return self._beyond().anchorings(sha256)
        return [a.anchoring for a in self._facts.anchorings]

    def issuer(self, issuer_id: str) -> IssuerSnapshot | None:
        for a in self._facts.anchorings:
            if a.anchoring.issuer_id == issuer_id:
                if a.issuer_status is None:
                    return None
                return IssuerSnapshot(issuer_id, a.issuer_country or "", a.issuer_kind or "",
                                      a.issuer_status)
        return self._beyond().issuer(issuer_id)

    def issuer_status_at(self, issuer_id: str, block_number: int) -> str | None:
        for a in self._facts.anchorings:
            if a.anchoring.issuer_id == issuer_id and a.inputs_block == block_number:
                return a.issuer_status_at_issue
        return self._beyond().issuer_status_at(issuer_id, block_number)

    def signing_certificates(self, issuer_id: str) -> Sequence[DeclaredSigningCertificate]:
        # Only step 8 (signer-is-issuer) with a signed upload uses the answer; rendered
        # verdicts are of hashes alone (no signer), so they do not depend on it.
        return self._database.signing_certificates(issuer_id)


def scope_evidence(data: dict[str, Any]) -> ScopeEvidence:
    return ScopeEvidence(data["status"], data["detail"], data["accreditation"],
                         tuple(data["results"]))


class PrecomputedTrust:
    """registry.verify.steps.TrustChecks from verdict_inputs; an encrypted document
    uploaded for verification is checked against the scope live (its results are
    confidential, so nothing was precomputed from them)."""

    def __init__(self, facts: VerdictFacts, live: RegistryTrustChecks, *,
                 cached_only: bool = False) -> None:
        self._facts = facts
        self._live = live
        self._cached_only = cached_only
        self.went_beyond_facts = False

    def traceability(self, sha256: str) -> TraceabilityEvidence | None:
        for a in self._facts.anchorings:
            if a.anchoring.sha256 == sha256:
                data = a.traceability
                return None if data is None else TraceabilityEvidence(**data)
        if self._cached_only:
            raise NeedsThread("traceability of a document not in the facts")
        self.went_beyond_facts = True
        result = self._live.traceability(sha256)
        return None if result is None else traceability_evidence(result)

    def accreditation_scope(self, anchoring: IndexedAnchoring,
                            document: bytes | None) -> ScopeEvidence | None:
        if document is None or not anchoring.encrypted:
            for a in self._facts.anchorings:
                if a.anchoring.batch_id == anchoring.batch_id and a.scope is not None:
                    return scope_evidence(a.scope)
        if self._cached_only:
            raise NeedsThread("the scope is checked against the uploaded document")
        self.went_beyond_facts = True
        return self._live.accreditation_scope(anchoring, document)


@dataclass(frozen=True)
class RenderedVerdict:
    """A verdict as the API serves it: JSON of everything but when it was taken (the last
    two fields, appended per response), and a weak ETag over that JSON."""

    verdict: str
    stable_json: bytes
    etag: str

    def body(self, as_of_block: int | None, blocks_behind_head: int | None) -> bytes:
        def number(value: int | None) -> bytes:
            return b"null" if value is None else str(value).encode()

        return (self.stable_json[:-1] + b',"as_of_block":' + number(as_of_block)
                + b',"blocks_behind_head":' + number(blocks_behind_head) + b"}")


def render_verdict(result: CertificateVerification) -> RenderedVerdict:
    stable = _VERDICT_JSON.dump_json(result, exclude=_WHEN)
    return RenderedVerdict(result.verdict.value, stable,
                           'W/"' + hashlib.sha256(stable).hexdigest()[:32] + '"')


class SignatureCache:
    """Signature verdicts by the SHA-256 of the exact bytes, kept only when they cannot
    depend on the clock: the document states its signing time (the certificate is
    judged at that time) or carries no signature. Bounded, least recently used out."""

    def __init__(self, max_entries: int = DEFAULT_MAX_CACHED_SIGNATURES) -> None:
        self._verdicts: BoundedCache[str, Any] = BoundedCache(max_entries)

    def checker(self, verify_signature: Callable[[bytes], Any], *,
                cached_only: bool) -> Callable[[bytes], Any]:
        def check(document: bytes) -> Any:
            key = hashlib.sha256(document).hexdigest()
            hit = self._verdicts.get(key)
            if hit is not None:
                return hit
            if cached_only:
                raise NeedsThread("the signature is not checked yet")
            result = verify_signature(document)
            if result.signing_time is not None or result.status.value == "unsigned":
                self._verdicts.put(key, result)
            return result

        return check

    def holds(self, document_sha256: str) -> bool:
        """Whether the verdict on these bytes is kept (so it is not the clock's)."""
        return document_sha256 in self._verdicts


@dataclass
class FastVerifier:
    """Verification from cached chain facts and precomputed verdict inputs."""

    sessions: sessionmaker[Session]
    chain: Any  # RegistryClient: get_batch, verify, head_block_number
    store: ContentStore | None
    confirmations: int = 1
    max_rendered: int = DEFAULT_MAX_RENDERED_VERDICTS
    # Tells which projection generation the database is at (never, by default).
    watch: ProjectionWatch = field(default_factory=ProjectionWatch)
    batches: ConfirmedBatches = field(init=False)
    signatures: SignatureCache = field(init=False)

    def __post_init__(self) -> None:
        self.engine = self.sessions.kw["bind"]
        self.batches = ConfirmedBatches(self.chain, self.confirmations)
        self.signatures = SignatureCache()
        self._rendered: BoundedCache[tuple[Any, ...], RenderedVerdict] = BoundedCache(
            self.max_rendered)
        self.by_generation: ProjectionResponses[RenderedVerdict] = ProjectionResponses(
            self.watch, self.max_rendered, weigh=lambda r: len(r.stable_json))

    def verify(self, sha256: str | None, document: bytes | None, *,
               verify_signature: Callable[[bytes], Any] | None = None,
               metrology: bool = True, cached_only: bool = False) -> CertificateVerification:
        """The verdict from one SELECT and the caches. With `cached_only`, NeedsThread
        instead of any chain read, signature check or fallback to the uncached path
        (anything that would block for long), so it can run on an event loop."""
        digest = (hashlib.sha256(document).hexdigest() if document is not None
                  else (sha256 or "").lower().removeprefix("0x"))
        rows, as_of = verdict_rows(self.engine, digest)
        result, _ = self._verify_rows(sha256, document, facts_of(digest, rows, as_of),
                                      verify_signature, metrology, cached_only)
        return result

    def render_cached(self, sha256: str | None, *, metrology: bool = True,
                      document: bytes | None = None
                      ) -> tuple[RenderedVerdict, int | None, int | None] | None:
        """The rendered verdict kept for the projection generation this process was last
        told of, or None: no database, no chain, so it runs on the event loop (NeedsThread
        when the chain head is due to be read again)."""
        return self._kept_for_generation(_key(sha256, document, metrology), True)[1]

    def kept(self, sha256: str | None, *, metrology: bool = True,
             document: bytes | None = None) -> RenderedVerdict | None:
        """The rendered verdict kept for the generation this process knows, if any."""
        return self.by_generation.get(self.by_generation.seen(),
                                      _key(sha256, document, metrology))

    def render(self, sha256: str, *, metrology: bool = True,
               cached_only: bool = False) -> tuple[RenderedVerdict, int | None, int | None]:
        """Verify by hash, rendered, with the block it reflects and how far behind the
        head that is. Kept by projection generation (`render_cached`) and by the exact
        rows it was computed from, when every batch it needed is a confirmed, cached one
        and nothing came from outside the rows: the same facts give the same verdict."""
        digest = sha256.lower().removeprefix("0x")
        key = _key(digest, None, metrology)
        seen, kept = self._kept_for_generation(key, cached_only)
        if kept is not None:
            return kept
        rows, as_of = verdict_rows(self.engine, digest)
        rows_key = (digest, metrology, rows)
        hit = self._rendered.get(rows_key)
        if hit is not None:
            self.by_generation.put(seen, key, hit)
            return hit, as_of, self._behind(as_of, cached_only)
        result, keep = self._verify_rows(sha256, None, facts_of(digest, rows, as_of), None,
                                         metrology, cached_only)
        rendered = render_verdict(result)
        if keep:
            self._rendered.put(rows_key, rendered)
            self.by_generation.put(seen, key, rendered)
        return rendered, result.as_of_block, result.blocks_behind_head

    def render_upload(self, sha256: str | None, document: bytes, *,
                      verify_signature: Callable[[bytes], Any], metrology: bool = True
                      ) -> tuple[RenderedVerdict, int | None, int | None]:
        """Verify an upload, rendered. Kept by projection generation and the bytes' hash
        when the verdict rests on the precomputed facts alone and the signature verdict
        on these bytes does not depend on the clock: a repeated upload then costs its
        hashing and a lookup."""
        key = _key(sha256, document, metrology)
        seen, kept = self._kept_for_generation(key, False)
        if kept is not None:
            return kept
        digest = key[1]
        rows, as_of = verdict_rows(self.engine, digest)
        result, keep = self._verify_rows(sha256, document, facts_of(digest, rows, as_of),
                                         verify_signature, metrology, False)
        rendered = render_verdict(result)
        if keep and self.signatures.holds(digest):
            self.by_generation.put(seen, key, rendered)
        return rendered, result.as_of_block, result.blocks_behind_head

    def _kept_for_generation(self, key: tuple[Any, ...], cached_only: bool
                             ) -> tuple[Generation | None,
                                        tuple[RenderedVerdict, int | None, int | None] | None]:
        """The generation this process was last told of, and the verdict kept under it
        for `key` with the block it reflects and how far behind the head (None if none)."""
        seen = self.by_generation.seen()
        hit = self.by_generation.get(seen, key)
        if hit is None or seen is None:
            return seen, None
        return seen, (hit, seen.indexed_block, self._behind(seen.indexed_block, cached_only))

    def _behind(self, as_of: int | None, cached_only: bool) -> int | None:
        return None if as_of is None else max(0, self.batches.head(cached_only=cached_only)
                                              - as_of)

    def _verify_rows(self, sha256: str | None, document: bytes | None, facts: VerdictFacts,
                     verify_signature: Callable[[bytes], Any] | None, metrology: bool,
                     cached_only: bool) -> tuple[CertificateVerification, bool]:
        """The verdict over `facts`, and whether it may be kept for them."""
        if not facts.complete:
            if cached_only:
                raise NeedsThread("the verdict inputs are not computed yet")
            return self.verify_fresh(sha256, document, verify_signature=verify_signature,
                                     metrology=metrology), False
        behind = self._behind(facts.as_of_block, cached_only)
        checker = None if verify_signature is None else self.signatures.checker(
            verify_signature, cached_only=cached_only)
        chain = ProjectedChain(self.batches, facts, cached_only=cached_only)
        index = PrecomputedIndex(facts, DatabaseIndexView(self.sessions))
        trust = PrecomputedTrust(facts, RegistryTrustChecks(self.sessions, self.store),
                                 cached_only=cached_only)
        result = verify_certificate(sha256, document, index=index, chain=chain,
                                    verify_signature=checker,
                                    trust=trust if metrology else None,
                                    document_warnings=dcc_document_warnings)
        keep = (chain.answered_from_confirmed_batches and not index.went_beyond_facts
                and not trust.went_beyond_facts)
        return (dataclasses.replace(result, as_of_block=facts.as_of_block,
                                    blocks_behind_head=behind), keep)

    def verify_fresh(self, sha256: str | None, document: bytes | None, *,
                     verify_signature: Callable[[bytes], Any] | None = None,
                     metrology: bool = True) -> CertificateVerification:
        """The uncached path: every chain fact read from the contract for this request,
        traceability and scope evaluated from the projection and the content store."""
        head = self.chain.head_block_number()
        result = verify_certificate(
            sha256, document, index=DatabaseIndexView(self.sessions), chain=self.chain,
            verify_signature=verify_signature,
            trust=RegistryTrustChecks(self.sessions, self.store) if metrology else None,
            document_warnings=dcc_document_warnings)
        return dataclasses.replace(result, as_of_block=head, blocks_behind_head=0)


def _key(sha256: str | None, document: bytes | None, metrology: bool) -> tuple[Any, ...]:
    """What a rendered verdict is kept under, besides the generation: by hash, the hash;
    by upload, the bytes' hash and the hash the request claims (if any)."""
    if document is None:
        return ("hash", (sha256 or "").lower().removeprefix("0x"), metrology)
    return ("upload", hashlib.sha256(document).hexdigest(),
            None if sha256 is None else sha256.lower().removeprefix("0x"), metrology)


def indexed_block(sessions: sessionmaker[Session]) -> int | None:
    with sessions() as session:
        return session.scalar(select(IndexerState.last_block).limit(1))


__all__ = ["AnchoringFacts", "ConfirmedBatches", "FastVerifier", "NeedsThread",
           "ProjectedChain", "RenderedVerdict", "indexed_block", "render_verdict"]
