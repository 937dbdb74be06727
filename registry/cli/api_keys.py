"""`certreg api-key create|list|revoke`: credentials for the issuance API.

A new token is printed once and exists nowhere else afterwards: the database keeps its
SHA-256 only (registry.db.credentials). The issuer must be registered on the configured
chain, so a typo cannot create a credential nobody can use.
"""

from __future__ import annotations

import argparse

from anchor.chain import IssuerStatus, issuer_id_from_name
from registry.cli import EXIT_OK
from registry.cli.output import emit
from registry.db import open_database
from registry.db.credentials import (
    Credential,
    create_credential,
    list_credentials,
    revoke_credential,
)
from registry.errors import ConfigurationError
from registry.settings import load_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    api_key = subparsers.add_parser("api-key", help="API credentials for issuance over HTTP")
    actions = api_key.add_subparsers(dest="api_key_action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="a new credential for one issuer (token "
                                               "shown once)")
    create.add_argument("--issuer", required=True, help="issuer code, e.g. PTB")
    create.add_argument("--label", help="who or what uses it (e.g. 'LIMS production')")
    create.set_defaults(handler=_create)
    listing = actions.add_parser("list", help="credentials (never their tokens)")
    listing.add_argument("--issuer", help="only this issuer's")
    listing.set_defaults(handler=_list)
    revoke = actions.add_parser("revoke", help="revoke a credential now (irreversible)")
    revoke.add_argument("credential_id", type=int, metavar="ID")
    revoke.set_defaults(handler=_revoke)


def _issuer_id(code: str) -> bytes:
    try:
        return issuer_id_from_name(code)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None


def _view(credential: Credential) -> dict[str, object]:
    return {"id": credential.id, "issuer": credential.issuer_code,
            "issuer_id": "0x" + credential.issuer_id, "label": credential.label,
            "created_at": credential.created_at.isoformat(),
            "revoked_at": None if credential.revoked_at is None
            else credential.revoked_at.isoformat(),
            "active": credential.active}


def _create(args: argparse.Namespace) -> int:
    from registry.context import registry_client

    settings = load_settings()
    issuer_id = _issuer_id(args.issuer)
    if registry_client(settings).get_issuer(issuer_id).status is IssuerStatus.NONE:
        raise ConfigurationError(f"no issuer {args.issuer!r} on this registry")
    created = create_credential(open_database(settings.effective_database_url), issuer_id,
                                args.issuer, args.label)
    view = _view(created.credential) | {"token": created.token}
    emit(args, view, f"API credential {created.credential.id} for {args.issuer}\n"
                     f"token: {created.token}\n"
                     "This is the only time the token is shown: store it now "
                     "(send it as `Authorization: Bearer <token>`).")
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    settings = load_settings()
    issuer_id = None if args.issuer is None else _issuer_id(args.issuer)
    credentials = list_credentials(open_database(settings.effective_database_url), issuer_id)
    lines = [f"{c.id:>5}  {c.issuer_code:<20} {'active' if c.active else 'revoked':<8} "
             f"{c.created_at:%Y-%m-%d %H:%M}  {c.label or ''}" for c in credentials]
    emit(args, {"credentials": [_view(c) for c in credentials]},
         "\n".join(lines) or "no API credentials")
    return EXIT_OK


def _revoke(args: argparse.Namespace) -> int:
    settings = load_settings()
    credential = revoke_credential(open_database(settings.effective_database_url),
                                   args.credential_id)
    emit(args, _view(credential), f"API credential {credential.id} ({credential.issuer_code}) "
                                  f"revoked at {credential.revoked_at:%Y-%m-%d %H:%M:%S} UTC")
    return EXIT_OK
