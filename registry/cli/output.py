"""Output for humans (text) or scripts (`--json`), the same data either way."""

from __future__ import annotations

import argparse
import json


def emit(args: argparse.Namespace, payload: dict, text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(payload, default=str, sort_keys=True))
    else:
        print(text)


def write_or_print(args: argparse.Namespace, document: str, payload: dict, text: str) -> None:
    """A JSON document (receipt, bundle, evidence record) to `--output`, reported with
    `emit`, or printed as it is when no file is named."""
    if args.output:
        args.output.write_text(document)
        emit(args, {"output": str(args.output), **payload}, text)
    else:
        print(document, end="")
