"""Which typed kind a submitted JSON document is, and its validation: the one dispatch.

A JSON document says what it is in its top-level `"type"` (`certreg.verification/1`).
`load_typed_json` parses every JSON-looking submission with the hardened parser
(hostile JSON is refused whatever the declared type), and for a `certreg.*` type:
schema validation, the kind's own checks, metadata. The declared document type must be
the kind's, or `dcc` (the CLI/API default: then the document's own type decides).
A JSON document without a `type` is not typed and is handled as before (issuer metadata).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from registry.documents.directories import (
    MI_CLASSIFIER_KIND,
    MI_GROUP_CARD_KIND,
    extract_classifier,
    extract_group_card,
)
from registry.documents.json_documents import load_json, looks_like_json, validate_json
from registry.documents.kinds import KindMetadata
from registry.documents.legal_metrology import (
    TYPE_APPROVAL_KIND,
    TYPE_DESCRIPTION_KIND,
    VERIFICATION_KIND,
    extract_type_approval,
    extract_type_description,
    extract_verification,
)
from registry.documents.model import DocumentType, ValidatedDocument
from registry.documents.reference_materials import (
    REFERENCE_MATERIAL_KIND,
    extract_reference_material,
)
from registry.errors import DocumentKindUnsupportedError, DocumentTypeMismatchError

JSON_MEDIA_TYPE = "application/json"


@dataclass(frozen=True)
class Kind:
    name: str  # the `type` value
    document_type: DocumentType
    schema_file: str
    extract: Callable[[Mapping[str, Any]], KindMetadata]


KINDS: dict[str, Kind] = {kind.name: kind for kind in (
    Kind(VERIFICATION_KIND, DocumentType.VERIFICATION_CERTIFICATE,
         "verification.schema.json", extract_verification),
    Kind(TYPE_APPROVAL_KIND, DocumentType.TYPE_APPROVAL, "type-approval.schema.json",
         extract_type_approval),
    Kind(TYPE_DESCRIPTION_KIND, DocumentType.TYPE_DESCRIPTION,
         "type-description.schema.json", extract_type_description),
    Kind(MI_CLASSIFIER_KIND, DocumentType.MI_CLASSIFIER, "mi-classifier.schema.json",
         extract_classifier),
    Kind(MI_GROUP_CARD_KIND, DocumentType.MI_GROUP_CARD, "mi-group-card.schema.json",
         extract_group_card),
    Kind(REFERENCE_MATERIAL_KIND, DocumentType.REFERENCE_MATERIAL_CERTIFICATE,
         "reference-material.schema.json", extract_reference_material),
)}


def check_declared_type(declared: DocumentType, actual: DocumentType, what: str) -> None:
    """The declared type must be the document's own, or the `dcc` default."""
    if declared not in (actual, DocumentType.DCC):
        raise DocumentTypeMismatchError(
            f"declared as {declared.value}, but the document is {what} ({actual.value})",
            declared=declared.value, actual=actual.value)


def load_typed_json(data: bytes, sha256: str, declared: DocumentType, *,
                    max_bytes: int) -> ValidatedDocument | None:
    """The validated typed document, None if `data` is not a typed JSON document, or a
    DocumentError with a stable code."""
    if not looks_like_json(data):
        return None
    value = load_json(data, max_bytes=max_bytes)
    type_name = value.get("type") if isinstance(value, dict) else None
    if not isinstance(type_name, str) or not type_name.startswith("certreg."):
        return None
    kind = KINDS.get(type_name)
    if kind is None:
        raise DocumentKindUnsupportedError(
            f"document type {type_name[:80]!r} is not one this registry reads; supported: "
            f"{', '.join(KINDS)}", kind=type_name[:80], supported=list(KINDS))
    check_declared_type(declared, kind.document_type, kind.name)
    validate_json(value, kind.schema_file, kind.name)
    metadata = kind.extract(value)
    return ValidatedDocument(raw=data, sha256=sha256, document_type=kind.document_type,
                             metadata=metadata, schema_version=kind.name, warnings=(),
                             media_type=JSON_MEDIA_TYPE)


__all__ = ["JSON_MEDIA_TYPE", "KINDS", "Kind", "check_declared_type", "load_typed_json"]
