"""Output for humans (text) or scripts (`--json`), the same data either way."""

from __future__ import annotations

import argparse
import json


def emit(args: argparse.Namespace, payload: dict, text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(payload, default=str, sort_keys=True))
    else:
        print(text)
