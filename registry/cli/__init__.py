"""`certreg`: the command line for institutes, operators and auditors.

Each command group lives in its own module with a `register(subparsers)` function
that adds its parsers and sets `handler`. Handlers return an exit code; errors
raised below the CLI are mapped to exit codes here and only here.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence

from anchor.accounts import KeystoreError
from anchor.errors import AnchorError, ContractRevertError
from registry.errors import RegistryError

# Exit codes a script can rely on.
EXIT_OK = 0
EXIT_FAILURE = 1  # the operation ran and reports a negative outcome
EXIT_USAGE = 2  # argparse's own code for bad arguments
EXIT_INPUT = 3  # a document, argument or transaction was rejected (incl. contract reverts)
EXIT_BACKEND = 4  # chain, IPFS or a local service failed (AnchorError)

COMMAND_MODULES = (
    "registry.cli.chain",
    "registry.cli.up",
    "registry.cli.store",
    "registry.cli.issue",
    "registry.cli.keys",
    "registry.cli.audit",
    "registry.cli.api_keys",
    "registry.cli.bench",
    "registry.cli.trust",
    "registry.cli.instruments",

    "registry.cli.evidence",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="certreg",
        description="Blockchain-anchored certificate registry for metrology.")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _report(args: argparse.Namespace, code: str, message: str, details: dict) -> None:
    if getattr(args, "json", False):
        print(json.dumps({"error": {"code": code, "message": message, "details": details}},
                         default=str), file=sys.stderr)
    else:
        print(f"certreg: error [{code}]: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    # `--json` is accepted anywhere on the line (`certreg issue x.xml --json`), not just
    # before the command as argparse would require of a global option.
    wants_json = "--json" in arguments
    args = parser.parse_args([a for a in arguments if a != "--json"])
    args.json = wants_json
    try:
        return int(args.handler(args) or EXIT_OK)
    except (RegistryError, ContractRevertError, KeystoreError) as exc:
        _report(args, exc.code, exc.message, exc.details)
        return EXIT_INPUT
    except AnchorError as exc:
        _report(args, exc.code, exc.message, exc.details)
        return EXIT_BACKEND
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
