"""`certreg keys`: the operator's Ethereum keystore and the institute's (test) signing identity.

Secrets never travel as arguments (they would land in shell history and `ps`): passwords
and imported private keys come from an environment variable or an interactive prompt.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from anchor.accounts import create_keystore, keystore_address
from registry.cli import EXIT_OK
from registry.cli.output import emit
from registry.documents.keys import KeyType, generate_test_signing_identity
from registry.errors import ConfigurationError

KEYSTORE_PASSWORD_ENV = "CERTREG_KEYSTORE_PASSWORD"
PRIVATE_KEY_ENV = "CERTREG_IMPORT_PRIVATE_KEY"
SIGNING_PASSWORD_ENV = "CERTREG_SIGNING_PASSWORD"
MIN_PASSWORD_LENGTH = 8


def register(subparsers: argparse._SubParsersAction) -> None:
    keys = subparsers.add_parser("keys", help="operator keystores and signing identities")
    kinds = keys.add_subparsers(dest="keys_kind", required=True, metavar="KIND")

    eth = kinds.add_parser("eth", help="Ethereum keystores (operators, governors)")
    eth_actions = eth.add_subparsers(dest="eth_action", required=True, metavar="ACTION")
    new = eth_actions.add_parser("new", help="create a keystore with a new random key")
    new.add_argument("keystore", type=Path)
    new.add_argument("--password-env", default=KEYSTORE_PASSWORD_ENV,
                     help=f"variable holding the password (default ${KEYSTORE_PASSWORD_ENV}; "
                          "prompted if unset)")
    new.set_defaults(handler=_eth_new)
    imp = eth_actions.add_parser("import", help="encrypt an existing private key into a keystore")
    imp.add_argument("keystore", type=Path)
    imp.add_argument("--password-env", default=KEYSTORE_PASSWORD_ENV)
    imp.add_argument("--private-key-env", default=PRIVATE_KEY_ENV,
                     help=f"variable holding the hex private key (default ${PRIVATE_KEY_ENV}; "
                          "prompted if unset)")
    imp.set_defaults(handler=_eth_import)
    show = eth_actions.add_parser("show", help="the address a keystore holds (no password)")
    show.add_argument("keystore", type=Path)
    show.set_defaults(handler=_eth_show)

    signing = kinds.add_parser("signing", help="X.509 signing identities for XAdES")
    signing_actions = signing.add_subparsers(dest="signing_action", required=True,
                                             metavar="ACTION")
    snew = signing_actions.add_parser(
        "new", help="a TEST signing certificate + encrypted key (not for real certificates)")
    snew.add_argument("--out-dir", type=Path, required=True)
    snew.add_argument("--common-name", required=True)
    snew.add_argument("--organization", required=True)
    snew.add_argument("--country", required=True, help="two-letter country code")
    snew.add_argument("--key-type", default=KeyType.EC_P256.value,
                      choices=[k.value for k in KeyType])
    snew.add_argument("--password-env", default=SIGNING_PASSWORD_ENV)
    snew.set_defaults(handler=_signing_new)


def _secret(variable: str, prompt: str, *, confirm: bool = False) -> str:
    value = os.environ.get(variable)
    if value is None:
        if not sys.stdin.isatty():
            raise ConfigurationError(f"set ${variable} (no terminal to prompt on)")
        value = getpass.getpass(f"{prompt}: ")
        if confirm and getpass.getpass(f"{prompt} (again): ") != value:
            raise ConfigurationError("the two entries differ")
    return value


def _password(variable: str) -> str:
    password = _secret(variable, "password", confirm=True)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigurationError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    return password


def _eth_new(args: argparse.Namespace) -> int:
    keystore = create_keystore(args.keystore, _password(args.password_env))
    emit(args, {"keystore": str(keystore.path), "address": keystore.address},
         f"{keystore.address}  {keystore.path}")
    return EXIT_OK


def _eth_import(args: argparse.Namespace) -> int:
    private_key = _secret(args.private_key_env, "private key (hex)").strip()
    try:
        keystore = create_keystore(args.keystore, _password(args.password_env), private_key)
    except (ValueError, TypeError):
        # eth_account's message may quote the input: the key itself.
        raise ConfigurationError("that is not a valid private key") from None
    emit(args, {"keystore": str(keystore.path), "address": keystore.address},
         f"{keystore.address}  {keystore.path}")
    return EXIT_OK


def _eth_show(args: argparse.Namespace) -> int:
    address = keystore_address(args.keystore)
    emit(args, {"keystore": str(args.keystore), "address": address}, address)
    return EXIT_OK


def _signing_new(args: argparse.Namespace) -> int:
    files = generate_test_signing_identity(args.common_name, args.organization, args.country,
                                           args.out_dir, _password(args.password_env),
                                           key_type=KeyType(args.key_type))
    payload = {"private_key": str(files.private_key_pem),
               "certificate": str(files.certificate_pem), "pkcs12": str(files.pkcs12),
               "test_only": True}
    emit(args, payload,
         f"TEST signing identity (not trusted by anyone):\n"
         f"  CERTREG_SIGNING_KEY={files.private_key_pem}\n"
         f"  CERTREG_SIGNING_CERTIFICATE={files.certificate_pem}\n"
         f"  pkcs12: {files.pkcs12}")
    return EXIT_OK
