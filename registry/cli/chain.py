"""`certreg contract|govern|issuer`: deploy the registry, run M-of-N governance, manage
operators and declared signing certificates.

Who signs: `--keystore FILE` (password from $CERTREG_KEYSTORE_PASSWORD or
`--password-file`), or `--dev-account N` for anvil's public development keys,
which are refused on any chain but a development one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
from pathlib import Path

from eth_account.signers.local import LocalAccount

from anchor.accounts import DEV_CHAIN_IDS, load_keystore
from anchor.chain import (
    GovernanceAction,
    IssuerKind,
    IssuerStatus,
    RegistryClient,
    account_from_key,
    connect,
    issuer_id_from_name,
    issuer_name,
)
from anchor.compile import compile_registry, load_artifact, write_artifact
from anchor.services.anvil import dev_private_key
from registry.cli import signers
from registry.cli.output import emit
from registry.devnet import write_deployment
from registry.documents.accreditation import ACCREDITATION_FORMAT, AccreditationDocument
from registry.errors import ConfigurationError
from registry.settings import Settings, load_settings

ISSUER_KINDS = {"nmi": IssuerKind.NATIONAL_METROLOGY_INSTITUTE,
                "lab": IssuerKind.ACCREDITED_LABORATORY, "other": IssuerKind.OTHER}
STATUS_ACTIONS = {"suspend": IssuerStatus.SUSPENDED, "reactivate": IssuerStatus.ACTIVE,
                  "retire": IssuerStatus.RETIRED}


def _signer_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    who = parent.add_mutually_exclusive_group()
    who.add_argument("--keystore", type=Path, help="encrypted Ethereum keystore of the signer")
    who.add_argument("--dev-account", type=int, metavar="N",
                     help="anvil development account N (development chains only)")
    parent.add_argument("--password-file", type=Path,
                        help="keystore password file (default: $CERTREG_KEYSTORE_PASSWORD)")
    parent.add_argument("--rpc-url", help="Ethereum JSON-RPC endpoint (default: settings)")
    return parent


def register(subparsers: argparse._SubParsersAction) -> None:
    signer = _signer_options()

    contract = subparsers.add_parser("contract", help="compile, deploy and inspect the contract")
    c = contract.add_subparsers(dest="contract_command", required=True, metavar="ACTION")
    compile_ = c.add_parser("compile", help="compile contracts/ into the committed artifact")
    compile_.add_argument("--check", action="store_true",
                          help="fail if the committed artifact differs from a fresh compile")
    compile_.set_defaults(handler=_compile)
    deploy = c.add_parser("deploy", parents=[signer], help="deploy a new registry")
    deploy.add_argument("--governor", action="append", required=True, metavar="ADDRESS",
                        help="a governor account (repeat for each member institute)")
    deploy.add_argument("--threshold", type=int, required=True,
                        help="approvals an administrative action needs")
    deploy.set_defaults(handler=_deploy)
    status = c.add_parser("status", parents=[signer], help="governance and anchoring state")
    status.set_defaults(handler=_status)

    govern = subparsers.add_parser("govern", help="propose and approve administrative actions")
    g = govern.add_subparsers(dest="govern_command", required=True, metavar="ACTION")
    propose = g.add_parser("propose", help="propose an action (counts as your approval)")
    p = propose.add_subparsers(dest="action", required=True, metavar="KIND")
    reg = p.add_parser("register-issuer", parents=[signer], help="add an issuer")
    reg.add_argument("--issuer", required=True, help="issuer code, e.g. PTB (max 32 bytes)")
    reg.add_argument("--country", required=True, help="ISO 3166-1 alpha-2 code")
    reg.add_argument("--kind", choices=sorted(ISSUER_KINDS), required=True)
    reg.add_argument("--admin", required=True, help="the issuer's admin account")
    reg.add_argument("--metadata-cid", default="", help="CID of the issuer's metadata document")
    for name in STATUS_ACTIONS:
        sp = p.add_parser(name, parents=[signer], help=f"{name} an issuer")
        sp.add_argument("--issuer", required=True)
    admin = p.add_parser("set-admin", parents=[signer], help="replace an issuer's admin account")
    admin.add_argument("--issuer", required=True)
    admin.add_argument("--admin", required=True)
    meta = p.add_parser("set-metadata", parents=[signer], help="replace an issuer's metadata CID")
    meta.add_argument("--issuer", required=True)
    meta.add_argument("--metadata-cid", required=True)
    for name in ("add-governor", "remove-governor"):
        gp = p.add_parser(name, parents=[signer], help=name.replace("-", " "))
        gp.add_argument("governor", metavar="ADDRESS")
    th = p.add_parser("set-threshold", parents=[signer], help="change M of M-of-N")
    th.add_argument("threshold", type=int)
    accreditation = p.add_parser(
        "set-accreditation", parents=[signer],
        help="record an issuer's accreditation document (stored on IPFS, its hash on chain)")
    accreditation.add_argument("--issuer", required=True)
    what = accreditation.add_mutually_exclusive_group(required=True)
    what.add_argument("--document", type=Path,
                      help=f"accreditation JSON ({ACCREDITATION_FORMAT}): body, number, "
                           "validity and scope entries")
    what.add_argument("--withdraw", action="store_true",
                      help="record that the issuer holds no accreditation from the date on")
    accreditation.add_argument("--effective-from", required=True, type=_date_argument,
                               help="YYYY-MM-DD (UTC) from which this record applies")
    declare = p.add_parser("declare-signer", parents=[signer],
                           help="declare a signing certificate (or CA) for an issuer")
    declare.add_argument("--issuer", required=True)
    signers.add_declare_arguments(declare)
    withdraw = p.add_parser("withdraw-signer", parents=[signer],
                            help="withdraw an issuer's declared signing certificate")
    withdraw.add_argument("--issuer", required=True)
    signers.add_withdraw_arguments(withdraw)
    p.add_parser("pause", parents=[signer], help="stop anchoring and revocation")
    p.add_parser("unpause", parents=[signer], help="resume anchoring and revocation")
    propose.set_defaults(handler=_propose)
    for action_parser in p.choices.values():
        action_parser.set_defaults(handler=_propose)
    approve = g.add_parser("approve", parents=[signer], help="approve a pending proposal")
    approve.add_argument("proposal_id", type=int)
    approve.set_defaults(handler=_approve)
    show = g.add_parser("show", parents=[signer], help="a proposal and its approvals")
    show.add_argument("proposal_id", type=int)
    show.set_defaults(handler=_show_proposal)

    issuer = subparsers.add_parser("issuer", help="issuer records and operator accounts")
    i = issuer.add_subparsers(dest="issuer_command", required=True, metavar="ACTION")
    ishow = i.add_parser("show", parents=[signer], help="an issuer's on-chain record")
    ishow.add_argument("issuer")
    ishow.set_defaults(handler=_show_issuer)
    for name in ("add-operator", "remove-operator"):
        op = i.add_parser(name, parents=[signer], help=f"{name.replace('-', ' ')} (issuer admin)")
        op.add_argument("issuer")
        op.add_argument("operator", metavar="ADDRESS")
        op.set_defaults(handler=_operator)
    declare = i.add_parser("declare-signer", parents=[signer],
                           help="declare a certificate (or CA, --ca) the issuer signs with "
                                "(issuer admin)")
    declare.add_argument("issuer")
    signers.add_declare_arguments(declare)
    declare.set_defaults(handler=_declare_signer)
    withdraw = i.add_parser("withdraw-signer", parents=[signer],
                            help="withdraw a declared signing certificate (issuer admin)")
    withdraw.add_argument("issuer")
    signers.add_withdraw_arguments(withdraw)
    withdraw.set_defaults(handler=_withdraw_signer)


# --------------------------------------------------------------------- helpers


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(rpc_url=getattr(args, "rpc_url", None))


def _signer(args: argparse.Namespace, chain_id: int) -> LocalAccount:
    if args.dev_account is not None:
        if chain_id not in DEV_CHAIN_IDS:
            raise ConfigurationError(
                f"--dev-account uses public keys; refused on chain {chain_id}")
        return account_from_key(dev_private_key(args.dev_account))
    if args.keystore is None:
        raise ConfigurationError("who signs? give --keystore FILE or --dev-account N")
    if args.password_file is not None:
        password = args.password_file.read_text().rstrip("\n")
    else:
        password = os.environ.get("CERTREG_KEYSTORE_PASSWORD", "")
    if not password:
        raise ConfigurationError("keystore password missing: set $CERTREG_KEYSTORE_PASSWORD "
                                 "or --password-file")
    return load_keystore(args.keystore, password)


def _client(args: argparse.Namespace, *, signing: bool) -> RegistryClient:
    settings = _settings(args)
    deployment = settings.require_deployment()
    w3 = connect(settings.effective_rpc_url)
    account = _signer(args, w3.eth.chain_id) if signing else None
    return RegistryClient(w3, deployment["address"], account=account,
                          confirmations=settings.confirmations,
                          deployment_block=int(deployment.get("block_number", 0)))


def _action(args: argparse.Namespace) -> GovernanceAction:
    name = args.action
    if name == "register-issuer":
        return GovernanceAction.register_issuer(issuer_id_from_name(args.issuer), args.country,
                                                ISSUER_KINDS[args.kind], args.admin,
                                                args.metadata_cid)
    if name in STATUS_ACTIONS:
        return GovernanceAction.set_issuer_status(issuer_id_from_name(args.issuer),
                                                  STATUS_ACTIONS[name])
    if name == "set-admin":
        return GovernanceAction.set_issuer_admin(issuer_id_from_name(args.issuer), args.admin)
    if name == "set-metadata":
        return GovernanceAction.set_issuer_metadata(issuer_id_from_name(args.issuer),
                                                    args.metadata_cid)
    if name == "add-governor":
        return GovernanceAction.add_governor(args.governor)
    if name == "remove-governor":
        return GovernanceAction.remove_governor(args.governor)
    if name == "set-threshold":
        return GovernanceAction.set_threshold(args.threshold)
    if name == "set-accreditation":
        return _accreditation_action(args)
    if name == "declare-signer":
        return signers.declare_action(args)
    if name == "withdraw-signer":
        return signers.withdraw_action(args)
    return GovernanceAction.pause() if name == "pause" else GovernanceAction.unpause()


def _proposal_view(client: RegistryClient, proposal_id: int) -> dict:
    proposal = client.get_proposal(proposal_id)
    return {"proposal_id": proposal_id, "kind": proposal.kind.name.lower().replace("_", "-"),
            "executed": proposal.executed, "approvals": proposal.approvals,
            "threshold": client.threshold(), "proposer": proposal.proposer,
            "epoch": proposal.epoch}


# -------------------------------------------------------------------- handlers


def _compile(args: argparse.Namespace) -> int:
    fresh = compile_registry()
    if args.check:
        same = fresh == load_artifact()
        emit(args, {"up_to_date": same},
             "artifact is up to date" if same else "artifact differs from a fresh compile")
        return 0 if same else 1
    path = write_artifact(fresh)
    emit(args, {"artifact": str(path)}, f"wrote {path}")
    return 0


def _deploy(args: argparse.Namespace) -> int:
    settings = _settings(args)
    w3 = connect(settings.effective_rpc_url)
    deployer = _signer(args, w3.eth.chain_id)
    client, deployment = RegistryClient.deploy(w3, deployer, args.governor, args.threshold,
                                               confirmations=settings.confirmations)
    record = {"address": deployment.address, "chain_id": deployment.chain_id,
              "block_number": deployment.block_number,
              "transaction_hash": deployment.transaction_hash,
              "governors": client.governors(), "threshold": client.threshold()}
    write_deployment(settings.deployment_path, record)
    emit(args, record, f"deployed CertificateRegistry at {deployment.address} "
                       f"(block {deployment.block_number}); recorded in {settings.deployment_path}")
    return 0


def _status(args: argparse.Namespace) -> int:
    client = _client(args, signing=False)
    view = {"contract_address": client.address, "chain_id": client.chain_id,
            "deployment_block": client.deployment_block, "governors": client.governors(),
            "threshold": client.threshold(), "paused": client.paused(),
            "batch_count": client.batch_count(),
            "proposal_count": int(client.contract.functions.proposalCount().call())}
    emit(args, view, "\n".join(f"{k}: {v}" for k, v in view.items()))
    return 0


def _date_argument(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("a date as YYYY-MM-DD") from None


def _accreditation_action(args: argparse.Namespace) -> GovernanceAction:
    """Validate the document, store it (Kubo or the embedded store), propose its hash."""
    issuer_id = issuer_id_from_name(args.issuer)
    effective = int(dt.datetime.combine(args.effective_from, dt.time(), dt.UTC).timestamp())
    if args.withdraw:
        return GovernanceAction.set_accreditation(issuer_id, None, "", effective)
    try:
        raw = args.document.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {args.document}: {exc.strerror}") from None
    document = AccreditationDocument.from_json(raw)
    if document.issuer != issuer_name(issuer_id):
        raise ConfigurationError(f"the document is for issuer {document.issuer!r}, not "
                                 f"{args.issuer!r}")
    from registry.context import content_store

    data = document.to_bytes()  # canonical JSON: what is hashed is what is stored
    cid = content_store(_settings(args)).put(data)
    return GovernanceAction.set_accreditation(issuer_id, hashlib.sha256(data).digest(),
                                              str(cid), effective)


def _propose(args: argparse.Namespace) -> int:
    client = _client(args, signing=True)
    proposal_id, outcome = client.propose(_action(args))
    view = _proposal_view(client, proposal_id) | {"transaction_hash": outcome.transaction_hash}
    emit(args, view, f"proposal {proposal_id} ({view['kind']}): {view['approvals']}/"
                     f"{view['threshold']} approvals" + (", executed" if view["executed"] else ""))
    return 0


def _approve(args: argparse.Namespace) -> int:
    client = _client(args, signing=True)
    outcome = client.approve(args.proposal_id)
    view = _proposal_view(client, args.proposal_id) | {
        "transaction_hash": outcome.transaction_hash}
    emit(args, view, f"proposal {args.proposal_id}: {view['approvals']}/{view['threshold']} "
                     "approvals" + (", executed" if view["executed"] else ""))
    return 0


def _show_proposal(args: argparse.Namespace) -> int:
    client = _client(args, signing=False)
    view = _proposal_view(client, args.proposal_id)
    emit(args, view, json.dumps(view, indent=2))
    return 0


def _show_issuer(args: argparse.Namespace) -> int:
    client = _client(args, signing=False)
    record = client.get_issuer(issuer_id_from_name(args.issuer))
    if record.status is IssuerStatus.NONE:
        raise ConfigurationError(f"no issuer {args.issuer!r} on this registry")
    view = {"issuer": issuer_name(record.issuer_id), "country": record.country,
            "kind": record.kind.name.lower(), "status": record.status.name.lower(),
            "admin": record.admin, "registered_at": record.registered_at,
            "status_changed_at": record.status_changed_at, "metadata_cid": record.metadata_cid}
    declared = [signers.record_view(r) for r in client.signing_certificates(record.issuer_id)]
    text = "\n".join([*(f"{k}: {v}" for k, v in view.items()),
                      f"signing certificates: {len(declared) or 'none declared'}",
                      *map(signers.record_line, declared)])
    emit(args, view | {"signing_certificates": declared}, text)
    return 0


def _operator(args: argparse.Namespace) -> int:
    client = _client(args, signing=True)
    issuer_id = issuer_id_from_name(args.issuer)
    if args.issuer_command == "add-operator":
        outcome = client.add_operator(issuer_id, args.operator)
    else:
        outcome = client.remove_operator(issuer_id, args.operator)
    view = {"issuer": args.issuer, "operator": args.operator, "action": args.issuer_command,
            "transaction_hash": outcome.transaction_hash}
    emit(args, view, f"{args.issuer_command} {args.operator} for {args.issuer}: "
                     f"{outcome.transaction_hash}")
    return 0


def _declare_signer(args: argparse.Namespace) -> int:
    issuer_id, der, kind, valid_from, valid_until = signers.declaration(args)
    client = _client(args, signing=True)
    outcome = client.declare_signing_certificate(issuer_id, der, kind, valid_from, valid_until)
    record = client.get_signing_certificate(issuer_id, hashlib.sha256(der).digest())
    assert record is not None  # the transaction just stored it
    view = {"issuer": args.issuer, **signers.record_view(record),
            "transaction_hash": outcome.transaction_hash}
    emit(args, view, f"declared for {args.issuer}:\n{signers.record_line(view)}")
    return 0


def _withdraw_signer(args: argparse.Namespace) -> int:
    issuer_id, certificate_hash = signers.withdrawal(args)
    client = _client(args, signing=True)
    outcome = client.withdraw_signing_certificate(issuer_id, certificate_hash)
    view = {"issuer": args.issuer, "certificate_sha256": certificate_hash.hex(),
            "transaction_hash": outcome.transaction_hash}
    emit(args, view, f"withdrew {certificate_hash.hex()} for {args.issuer}: "
                     f"{outcome.transaction_hash}")
    return 0
