"""Revoking one of the issuer's anchored documents, and superseding one: the corrected
certificate issued first (`Issuer.run`), the old one revoked as SUPERSEDED by it only
once the new one is anchored. Revoking many at once is registry.revocation's."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from anchor.chain import RevocationReason
from anchor.errors import ContractRevertError
from registry.db import ChainDocument, ChainRevocation, IssuedDocument
from registry.documents.model import DocumentType
from registry.errors import (
    DocumentAlreadyRevokedError,
    DocumentError,
    DocumentNotAnchoredError,
    DocumentNotFoundError,
    RegistryError,
)
from registry.issuance.outcomes import RevocationOutcome, SubmissionStatus, SupersessionOutcome
from registry.issuance.state import DEFAULT_BATCH_SIZE, IssuerState, normalise_sha256
from registry.preparation import DocumentSource


class RevocationStage(IssuerState):
    """`Issuer.revoke` and `Issuer.supersede` (which runs `Issuer.run` and takes
    `Issuer.exclusive`)."""

    def revoke(self, sha256: str, reason: RevocationReason,
               replacement: str | None = None,
               effective_from: int | None = None) -> RevocationOutcome:
        """Revoke one of this issuer's anchored documents (proof from the projection)."""
        sha256 = normalise_sha256(sha256)
        replacement_hex = None if replacement is None else normalise_sha256(replacement)
        self.indexer.catch_up()
        with self.sessions() as session:
            document = session.scalars(select(ChainDocument).where(
                ChainDocument.sha256 == sha256, ChainDocument.issuer_id == self.issuer_hex)
                .order_by(ChainDocument.batch_id)).first()
            revoked = session.scalars(select(ChainRevocation).where(
                ChainRevocation.issuer_id == self.issuer_hex,
                ChainRevocation.document_sha256 == sha256)).first()
            issued_state = session.scalar(select(IssuedDocument.state).where(
                IssuedDocument.issuer_id == self.issuer_hex, IssuedDocument.sha256 == sha256))
        if document is None:
            if issued_state is not None:
                raise DocumentNotAnchoredError(
                    f"document 0x{sha256} is {issued_state}; run `certreg issue` to finish "
                    "anchoring it before revoking", state=issued_state)
            raise DocumentNotFoundError(f"this issuer has no anchored document 0x{sha256}",
                                        sha256=sha256)
        if revoked is not None:
            if revoked.reason == reason.name.lower() and revoked.replacement == replacement_hex:
                # Same request again (e.g. a re-run of `supersede`): done already.
                return RevocationOutcome(sha256, revoked.batch_id, reason, revoked.replacement,
                                         None, revoked.block_number)
            raise DocumentAlreadyRevokedError(
                f"document 0x{sha256} was revoked already ({revoked.reason}); revocation is "
                "irreversible", reason=revoked.reason)
        try:
            outcome = self.client.revoke(
                bytes.fromhex(sha256), document.batch_id,
                [bytes.fromhex(p[2:]) for p in document.proof], reason,
                None if replacement_hex is None else bytes.fromhex(replacement_hex),
                effective_from or 0)
        except ContractRevertError as exc:
            if exc.error_name == "RevocationAlreadyRevoked":
                raise DocumentAlreadyRevokedError(
                    f"document 0x{sha256} was revoked already", sha256=sha256) from None
            raise
        self.indexer.catch_up()
        return RevocationOutcome(sha256, document.batch_id, reason, replacement_hex,
                                 outcome.transaction_hash, outcome.block_number)

    def supersede(self, old_sha256: str, new_document: DocumentSource | Path,
                  document_type: DocumentType | str = DocumentType.DCC, *,
                  encrypt: bool = False, batch_size: int = DEFAULT_BATCH_SIZE
                  ) -> SupersessionOutcome:
        """Issue the corrected certificate, then revoke the old one as SUPERSEDED by it.

        Re-running after a crash finds the new document issued (by its input hash) and
        completes the revocation; the old one is never revoked before the new one is
        anchored.
        """
        with self.exclusive():
            return self._supersede(normalise_sha256(old_sha256), new_document, document_type,
                                   encrypt, batch_size)

    def _supersede(self, old: str, new_document: DocumentSource | Path,
                   document_type: DocumentType | str, encrypt: bool,
                   batch_size: int) -> SupersessionOutcome:
        self.indexer.catch_up()
        with self.sessions() as session:
            if session.scalar(select(ChainDocument.id).where(
                    ChainDocument.sha256 == old,
                    ChainDocument.issuer_id == self.issuer_hex).limit(1)) is None:
                raise DocumentNotFoundError(
                    f"this issuer has no anchored document 0x{old} to supersede", sha256=old)
        report = self.run([new_document], document_type, batch_size=batch_size,
                          encrypt=encrypt)
        (new,) = report.submissions
        if new.status is SubmissionStatus.REJECTED:
            raise DocumentError(f"the replacement was rejected: {new.error}",
                                rejected_with=new.error_code)
        if new.sha256 is None or new.receipt is None:
            raise DocumentNotAnchoredError("the replacement is not anchored yet; run again")
        if new.sha256 == old:
            raise RegistryError("a document cannot supersede itself")
        revocation = self.revoke(old, RevocationReason.SUPERSEDED, replacement=new.sha256)
        return SupersessionOutcome(old, new, revocation)
