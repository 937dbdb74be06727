"""`certreg verify HASH|FILE` and `certreg trace HASH | --bundle FILE`: what a customer,
regulator or auditor runs.

`verify` gives the same verdict as the API (all eleven numbered steps: authenticity,
the signer's belonging to the issuer, revocation, traceability, accreditation scope);
`trace` draws a certificate's traceability chain from the registry's projection or,
offline, from a trace bundle (`certreg receipt --with-chain`) checked against the chain
alone.

Exit codes: verify 0 valid, 1 any other verdict; trace 0 complete, 1 broken, incomplete
or compromised (or an invalid receipt in the bundle); 3 bad input; 4 chain or IPFS
unavailable.
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

from registry.cli import EXIT_FAILURE, EXIT_OK
from registry.cli.output import emit
from registry.errors import DocumentNotFoundError, ReceiptBundleError, RequestInvalidError
from registry.issuance import normalise_sha256
from registry.settings import Settings, load_settings
from registry.verify import CertificateVerification, Verdict
from registry.verify.model import SignerEvidence
from registry.verify.traceability import TraceabilityResult, TraceabilityStatus

_MARK = {"sound": "ok", "revoked-before-use": "BROKEN", "anchored-after-use": "BROKEN",
         "compromised-at-use": "COMPROMISED", "unknown": "?", "external": "?"}


def register(subparsers: argparse._SubParsersAction) -> None:
    verify = subparsers.add_parser(
        "verify", help="verify a certificate: authenticity, revocation, traceability, scope")
    verify.add_argument("certificate", metavar="HASH|FILE",
                        help="the certificate's SHA-256, or the certificate file itself")
    verify.add_argument("--no-metrology", action="store_true",
                        help="skip steps 10 and 11 (traceability, accreditation scope)")
    verify.set_defaults(handler=_verify)
    trace = subparsers.add_parser(
        "trace", help="a certificate's traceability chain up to national metrology institutes")
    trace.add_argument("sha256", metavar="HASH", nargs="?",
                       help="SHA-256 of the certificate (from this registry's index)")
    trace.add_argument("--bundle", type=Path,
                       help="check a trace bundle offline instead (needs only the RPC URL)")
    trace.set_defaults(handler=_trace)


def render(result: TraceabilityResult) -> str:
    """The chain as an indented tree, each link with its verdict."""
    nodes = {node.facts.sha256: node for node in result.nodes}
    links: dict[str, list] = {}
    for link in result.links:
        links.setdefault(link.citing_sha256, []).append(link)
    lines = [f"traceability: {result.status.value}"
             + (" (a reference standard was compromised at use)" if result.compromised else "")]

    def describe(sha256: str) -> str:
        facts = nodes[sha256].facts
        kind = " [national standard]" if facts.national_standard else ""
        calibrated = facts.calibration_date.isoformat() if facts.calibration_date else "-"
        revoked = f", revoked ({facts.revocation.reason})" if facts.revocation else ""
        return (f"{facts.unique_identifier or '0x' + sha256[:16]} by {facts.issuer_code}{kind}, "
                f"calibrated {calibrated}, anchored {facts.anchored_at.date()}{revoked}")

    def walk(sha256: str, depth: int, seen: frozenset[str]) -> None:
        for link in links.get(sha256, ()):
            role = "" if link.citation.carries_traceability else " (history)"
            target = (describe(link.cited_sha256) if link.cited_sha256 in nodes
                      else link.citation.referral_id or link.citation.value)
            lines.append(f"{'  ' * depth}-> [{_MARK[link.verdict.value]} {link.verdict.value}]"
                         f"{role} {target}")
            if link.verdict.value != "sound":
                lines.append(f"{'  ' * (depth + 1)}   {link.detail}")
            if link.cited_sha256 in nodes and link.cited_sha256 not in seen:
                walk(link.cited_sha256, depth + 1, seen | {link.cited_sha256})

    lines.append(describe(result.sha256))
    walk(result.sha256, 1, frozenset({result.sha256}))
    if result.problem is not None:
        lines.append(f"first problem: {result.problem.detail}")
    return "\n".join(lines)


def render_verification(result: CertificateVerification) -> str:
    lines = [f"{c.number:2}. {c.name:20} {c.status.value:7} {c.detail}" for c in result.checks]
    lines.append(f"verdict: {result.verdict.value}")
    if result.signature is not None and result.signature.signer_test_only:
        lines.append("signer: a TEST signing identity, not for real certificates")
    lines.extend(f"warning [{w['code']}]: {w['message']}" for w in result.warnings)
    if result.signer is not None:
        lines.extend(_signer_lines(result.signer))
    if result.traceability is not None:
        lines.append(f"traceability: {result.traceability.status}"
                     + (" (compromised)" if result.traceability.compromised else ""))
    if result.accreditation_scope is not None:
        lines.append(f"accreditation scope: {result.accreditation_scope.status}: "
                     f"{result.accreditation_scope.detail}")
    return "\n".join(lines)


def _signer_lines(signer: SignerEvidence) -> list[str]:
    when = signer.time_used.isoformat() if signer.time_used else "-"
    lines = [f"signer: {signer.status}: {signer.signer_subject} (SHA-256 "
             f"{signer.signer_fingerprint}), at {when} ({signer.time_source})"]
    for declared in signer.declared:
        withdrawn = (f", withdrawn at block {declared.withdrawn_block}"
                     if declared.withdrawn_block is not None else "")
        lines.append(f"  declared {declared.kind}: {declared.subject} (SHA-256 "
                     f"{declared.certificate_sha256}), {declared.valid_from.isoformat()} to "
                     f"{declared.valid_until.isoformat()}{withdrawn}")
    return lines


def _verify(args: argparse.Namespace) -> int:
    from registry.cli.audit import build_indexer
    from registry.context import trust_anchors
    from registry.db.queries import DatabaseIndexView
    from registry.documents.signing import verify_signature
    from registry.documents.validate import dcc_document_warnings
    from registry.trust import RegistryTrustChecks
    from registry.verify import verify_certificate

    settings = load_settings()
    path = Path(args.certificate)
    document = None
    sha256 = None
    if path.is_file():
        try:
            document = path.read_bytes()
        except OSError as exc:
            raise RequestInvalidError(f"cannot read {path}: {exc.strerror}") from None
    else:
        sha256 = normalise_sha256(args.certificate)
    indexer = build_indexer(settings)
    indexer.catch_up()
    trust = None if args.no_metrology else RegistryTrustChecks(indexer.sessions, indexer.store)
    anchors = trust_anchors(settings)
    result = verify_certificate(
        sha256, document, index=DatabaseIndexView(indexer.sessions), chain=indexer.client,
        verify_signature=partial(verify_signature, anchors=anchors) if document is not None
        and document.lstrip()[:1] == b"<" else None, trust=trust,
        document_warnings=dcc_document_warnings)
    emit(args, result.to_dict(), render_verification(result))
    return EXIT_OK if result.verdict is Verdict.VALID else EXIT_FAILURE


def _exit_code(result: TraceabilityResult | None) -> int:
    if result is None or result.compromised or result.status is not TraceabilityStatus.COMPLETE:
        return EXIT_FAILURE
    return EXIT_OK


def _trace(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.bundle is not None:
        return _trace_bundle(args, settings.effective_rpc_url)
    if args.sha256 is None:
        raise RequestInvalidError("give the certificate's SHA-256, or --bundle FILE")
    return _trace_registry(args, settings)


def _trace_bundle(args: argparse.Namespace, rpc_url: str) -> int:
    from registry.bundle import TraceBundle, verify_trace_bundle

    try:
        text = args.bundle.read_bytes()
    except OSError as exc:
        raise ReceiptBundleError(f"cannot read {args.bundle}: {exc.strerror}") from None
    verification = verify_trace_bundle(TraceBundle.from_json(text), rpc_url)
    receipts_ok = all(v.verdict.value != "invalid" for v in verification.receipts.values())
    lines = [f"receipt 0x{sha[:16]}…: {v.verdict.value}"
             for sha, v in verification.receipts.items()]
    result = verification.traceability
    lines.append("the traced certificate's receipt is invalid" if result is None
                 else render(result))
    for sha, scope in verification.accreditation_scope.items():
        lines.append(f"accreditation scope of 0x{sha[:16]}…: {scope.status}: {scope.detail}")
    emit(args, verification.to_dict(), "\n".join(lines))
    return EXIT_OK if receipts_ok and _exit_code(result) == EXIT_OK else EXIT_FAILURE


def _trace_registry(args: argparse.Namespace, settings: Settings) -> int:
    sha256 = normalise_sha256(args.sha256)
    from registry.cli.audit import build_indexer
    from registry.trust import RegistryTrustChecks

    indexer = build_indexer(settings)
    indexer.catch_up()
    result = RegistryTrustChecks(indexer.sessions, indexer.store).traceability(sha256)
    if result is None:
        raise DocumentNotFoundError(f"no anchored certificate 0x{sha256} is known to this "
                                    "registry", sha256=sha256)
    emit(args, result.to_dict(), render(result))
    return _exit_code(result)
