"""Hardened JSON parsing of typed documents: hostile input is refused with a stable code."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing.exceptions import Unresolvable

from registry.documents.json_documents import (
    CERTREG_SCHEMA_DIR,
    fast_validator,
    json_depth,
    load_json,
    schema_registry,
    schema_validator,
)
from registry.documents.model import DocumentType
from registry.documents.typed_documents import KINDS
from registry.documents.validate import load_document
from registry.errors import DocumentError

EXAMPLE = (Path(__file__).resolve().parents[3] / "docs" / "examples" / "verification"
           / "fuel-dispenser-periodic.json")


def _code(data: bytes, document_type: DocumentType | str = DocumentType.DCC, **kwargs) -> str:
    with pytest.raises(DocumentError) as caught:
        load_document(data, document_type, **kwargs)
    return caught.value.code


def test_duplicate_key_is_refused_even_where_the_schema_would_accept_either_value() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    doubled = text.replace('"conformity": "conforms"',
                           '"conformity": "conforms", "conformity": "does-not-conform"')
    assert doubled != text
    assert _code(doubled.encode()) == "json-duplicate-key"


def test_deep_nesting_is_refused_before_the_parser_recurses() -> None:
    bomb = b'{"type": "certreg.verification/1", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert _code(bomb) == "json-too-deep"


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    assert json_depth(b'{"a": "[[[[[[[[[[{{{{{{\\"]]]]"}') == 1
    assert load_json(b'{"a": "' + b"[" * 500 + b'"}', max_bytes=10_000) == {"a": "[" * 500}


def test_oversized_document_is_refused_before_decoding() -> None:
    data = EXAMPLE.read_bytes()
    assert _code(data, max_bytes=len(data) - 1) == "document-too-large"


@pytest.mark.parametrize("data", [
    b'{"type": "certreg.verification/1", "value": NaN}',
    b'{"type": "certreg.verification/1", "value": Infinity}',
    b'{"type": "certreg.verification/1",',
    '{"type": "certreg.verification/1", "n": "caf\u00e9"}'.encode("latin-1"),
])
def test_not_json_is_malformed(data: bytes) -> None:
    assert _code(data) == "json-malformed"


def test_hostile_json_is_refused_whatever_the_declared_type() -> None:
    doubled = b'{"title": "a", "title": "b"}'
    assert _code(doubled, DocumentType.OTHER,
                 issuer_metadata={"identifier": "X-1", "issuer": "LAB"}) == "json-duplicate-key"


def test_a_deep_top_level_array_is_refused_too() -> None:
    assert _code(b"[" * 1000 + b"]" * 1000, DocumentType.OTHER,
                 issuer_metadata={"identifier": "X-1", "issuer": "LAB"}) == "json-too-deep"


def test_json_without_a_type_stays_an_opaque_document_with_issuer_metadata() -> None:
    document = load_document(b'{"title": "notes"}', DocumentType.OTHER,
                             issuer_metadata={"identifier": "X-1", "issuer": "LAB"})
    assert document.metadata.identifier == "X-1"
    assert document.schema_version is None


def test_unknown_certreg_kind_is_unsupported() -> None:
    data = json.dumps({"type": "certreg.calibration-plan/1", "number": "1"}).encode()
    assert _code(data) == "document-kind-unsupported"


def test_declared_type_must_match_the_documents_own() -> None:
    assert _code(EXAMPLE.read_bytes(), DocumentType.TYPE_APPROVAL) == "document-type-mismatch"


def test_a_utf8_bom_is_tolerated_and_kept_in_the_hashed_bytes() -> None:
    data = b"\xef\xbb\xbf" + EXAMPLE.read_bytes()
    document = load_document(data, DocumentType.VERIFICATION_CERTIFICATE)
    assert document.raw == data
    assert document.document_type is DocumentType.VERIFICATION_CERTIFICATE


def test_bundled_schemas_are_valid_draft_2020_12_and_match_their_checksums() -> None:
    listed = dict((path, digest) for digest, path in re.findall(
        r"^([0-9a-f]{64})  (\S+)$", (CERTREG_SCHEMA_DIR / "README.md").read_text(),
        re.MULTILINE))
    bundled = {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
               for path in CERTREG_SCHEMA_DIR.glob("*.json")}
    assert listed == bundled
    for path in CERTREG_SCHEMA_DIR.glob("*.json"):
        Draft202012Validator.check_schema(json.loads(path.read_text(encoding="utf-8")))
    assert {kind.schema_file for kind in KINDS.values()} <= set(bundled)


def test_a_reference_outside_the_bundle_is_never_fetched() -> None:
    validator = Draft202012Validator({"$ref": "https://example.org/evil.schema.json"},
                                     registry=schema_registry())
    with pytest.raises(Unresolvable):
        validator.validate({})


_EXAMPLES = sorted((EXAMPLE.parents[1]).glob("*/*.json"))
_REPLACEMENTS: tuple[object, ...] = (None, 0, 1.5, -1, True, "", " ", "x", "-1", "1e999",
                                     "2026-02-30", "2026-13-01", "26-01-01", [], {}, ["x"],
                                     {"x": 1}, "a" * 3000, "\\notaunit", "conforms")


def _paths(value: object, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _mutated(document: object, path: tuple, action: object) -> object:
    document = json.loads(json.dumps(document))
    if not path:
        return action if action != "delete" else {}
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    if action == "delete":
        del parent[path[-1]]
    elif action == "add-unknown" and isinstance(parent[path[-1]], dict):
        parent[path[-1]]["zz_unknown"] = 1
    else:
        parent[path[-1]] = action
    return document


def test_fast_and_reporting_validators_agree_on_examples_and_mutations() -> None:
    random = __import__("random").Random(17)
    checked = disagreements = 0
    for path in _EXAMPLES:
        document = json.loads(path.read_text(encoding="utf-8"))
        kind = KINDS[document["type"]]
        fast, slow = fast_validator(kind.schema_file), schema_validator(kind.schema_file)
        assert fast.is_valid(document) and slow.is_valid(document), path.name
        paths = _paths(document)
        for where in random.sample(paths, min(len(paths), 40)):
            for action in ("delete", "add-unknown", *random.sample(_REPLACEMENTS, 4)):
                if action == "delete" and (not where or isinstance(where[-1], int)):
                    continue
                variant = _mutated(document, where, action)
                checked += 1
                disagreements += fast.is_valid(variant) != slow.is_valid(variant)
    assert checked > 3000
    assert disagreements == 0
