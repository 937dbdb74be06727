"""Hardened JSON parsing and JSON Schema validation: the base of every `certreg.<kind>/1`.

JSON documents come from anyone, like XML ones, so they get the same care:
1. size: refused above the limit before anything is decoded (`document-too-large`);
2. encoding: UTF-8 only, an optional BOM tolerated (`json-malformed`);
3. depth: nesting is counted on the text before `json.loads` sees it, so a
   `[[[[...` bomb is refused with `json-too-deep` instead of exhausting the C stack;
4. duplicate keys are refused (`json-duplicate-key`): two parsers reading
   `{"result": "conforms", "result": "does-not-conform"}` may disagree on the result;
5. NaN/Infinity (not JSON) are refused (`json-malformed`);
6. the value is then checked against the kind's bundled JSON Schema (draft 2020-12,
   offline: `$ref`s resolve only to schemas in `schemas/certreg/`), every violation
   reported with its JSON pointer (`document-schema-invalid`).

Validity is decided first by `jsonschema_rs` (Rust, ~100x faster than `jsonschema`: a
classifier of thousands of codes would otherwise take seconds); only a document it
finds invalid goes through `jsonschema` for the violations' report, which also has the
last word. tests/registry/documents/test_json_documents.py checks that both give the
same verdict on every example and thousands of mutations of them.
"""

from __future__ import annotations

import json
import re
import threading
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from registry.errors import (
    DocumentEmptyError,
    DocumentSchemaInvalidError,
    DocumentTooLargeError,
    JsonDuplicateKeyError,
    JsonMalformedError,
    JsonTooDeepError,
)

CERTREG_SCHEMA_DIR = Path(__file__).resolve().parent / "schemas" / "certreg"
# Real documents nest 5-8 levels; 64 leaves room and keeps far from recursion limits.
MAX_JSON_DEPTH = 64
MAX_VIOLATIONS_REPORTED = 50

# A JSON string (escapes included), unrolled so the regex runs in linear time.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")
_UTF8_BOM = b"\xef\xbb\xbf"


def looks_like_json(data: bytes) -> bool:
    """Whether the bytes start (after a BOM and whitespace) like a JSON object or array."""
    return data[:64].removeprefix(_UTF8_BOM).lstrip(b" \t\r\n")[:1] in (b"{", b"[")


def reject_constant(name: str) -> None:
    """`json.loads(parse_constant=...)`: NaN, Infinity and -Infinity are not JSON."""
    raise ValueError(f"{name} is not JSON")


class _DuplicateKey(ValueError):
    pass


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`json.loads(object_pairs_hook=...)`: an object naming a key twice is refused."""
    value = dict(pairs)
    if len(value) != len(pairs):
        keys = [key for key, _ in pairs]
        raise _DuplicateKey(
            f"duplicate keys {sorted({key for key in keys if keys.count(key) > 1})}")
    return value


def json_depth(data: bytes) -> int:
    """The deepest nesting of arrays/objects, read with strings blanked out."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(_JSON_STRING.sub(b'""', data)):
        if match.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def load_json(data: bytes, *, max_bytes: int, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse untrusted JSON bytes, or raise a DocumentError subclass with a stable code."""
    if len(data) > max_bytes:
        raise DocumentTooLargeError(f"document is {len(data)} bytes, the limit is {max_bytes}",
                                    size=len(data), limit=max_bytes)
    if not data.strip():
        raise DocumentEmptyError("document is empty")
    data = data.removeprefix(_UTF8_BOM)
    depth = json_depth(data)
    if depth > max_depth:
        raise JsonTooDeepError(f"JSON nested {depth} levels deep, the limit is {max_depth}",
                               depth=depth, limit=max_depth)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonMalformedError(f"JSON must be UTF-8: {exc}") from None
    try:
        return json.loads(text, object_pairs_hook=unique_keys, parse_constant=reject_constant)
    except _DuplicateKey as exc:
        raise JsonDuplicateKeyError(f"not accepted: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise JsonMalformedError(f"not well-formed JSON: {exc}") from None


@cache
def _bundled_schemas() -> tuple[tuple[str, dict[str, Any]], ...]:
    schemas = (json.loads(path.read_text(encoding="utf-8"))
               for path in sorted(CERTREG_SCHEMA_DIR.glob("*.schema.json")))
    return tuple((schema["$id"], schema) for schema in schemas)


@cache
def schema_registry() -> Registry:
    # No `retrieve`: a $ref to anything not bundled fails instead of being fetched.
    return Registry().with_resources(
        (uri, Resource.from_contents(schema, default_specification=DRAFT202012))
        for uri, schema in _bundled_schemas())


@cache
def fast_validator(schema_file: str) -> jsonschema_rs.Draft202012Validator:
    """The jsonschema_rs validator of a bundled schema: offline, formats checked."""
    schema = json.loads((CERTREG_SCHEMA_DIR / schema_file).read_text(encoding="utf-8"))
    return jsonschema_rs.Draft202012Validator(
        schema, registry=jsonschema_rs.Registry(list(_bundled_schemas())),
        validate_formats=True, offline=True)


_validators = threading.local()


def schema_validator(schema_file: str) -> Draft202012Validator:
    """The validator of a bundled schema (`verification.schema.json`), cached per thread."""
    cache_: dict[str, Draft202012Validator] = _validators.__dict__.setdefault("v", {})
    validator = cache_.get(schema_file)
    if validator is None:
        schema = json.loads((CERTREG_SCHEMA_DIR / schema_file).read_text(encoding="utf-8"))
        validator = Draft202012Validator(schema, registry=schema_registry(),
                                         format_checker=FormatChecker(["date"]))
        cache_[schema_file] = validator
    return validator


def _pointer(path: Any) -> str:
    return "/" + "/".join(str(part) for part in path) if path else "/"


def validate_json(value: Any, schema_file: str, kind: str) -> None:
    """Check a decoded document against its schema; raise DocumentSchemaInvalidError."""
    if fast_validator(schema_file).is_valid(value):
        return
    errors = sorted(schema_validator(schema_file).iter_errors(value),
                    key=lambda error: (list(map(str, error.absolute_path)), error.validator))
    if not errors:
        return
    violations = [{"path": _pointer(error.absolute_path), "keyword": str(error.validator),
                   "message": error.message[:500]} for error in errors]
    first = violations[0]
    raise DocumentSchemaInvalidError(
        f"{kind}: {first['message']} at {first['path']}"
        + (f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""),
        kind=kind, violations=violations[:MAX_VIOLATIONS_REPORTED])


__all__ = [
    "CERTREG_SCHEMA_DIR",
    "MAX_JSON_DEPTH",
    "fast_validator",
    "json_depth",
    "load_json",
    "looks_like_json",
    "reject_constant",
    "schema_registry",
    "schema_validator",
    "unique_keys",
    "validate_json",
]
