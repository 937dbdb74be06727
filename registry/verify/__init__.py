"""Certificate verification: numbered, pure steps that return a verdict with its evidence.

Nothing here does I/O itself: the index (what the database says) and the chain (what
the contract says) come in as small read-only views, so the same steps run behind the
API, the CLI and the tests, and every verdict names the checks that produced it.
"""

from registry.verify.model import (
    AnchoringEvidence,
    CertificateVerification,
    Check,
    CheckStatus,
    DeclaredSignerEvidence,
    IssuerEvidence,
    RevocationEvidence,
    SignatureEvidence,
    SignerEvidence,
    Verdict,
)
from registry.verify.steps import ChainView, IndexedAnchoring, IndexView, verify_certificate

__all__ = [
    "AnchoringEvidence",
    "CertificateVerification",
    "ChainView",
    "Check",
    "CheckStatus",
    "DeclaredSignerEvidence",
    "IndexView",
    "IndexedAnchoring",
    "IssuerEvidence",
    "RevocationEvidence",
    "SignatureEvidence",
    "SignerEvidence",
    "Verdict",
    "verify_certificate",
]
