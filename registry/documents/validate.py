"""Offline XSD validation of DCCs, and `load_document`, the entry point for every submission.

Schemas are the bundled copies in `schemas/` (see its README for origin and
licence). A resolver maps every schema URL or path to those files and refuses
anything else, and the parsers run with `no_network`, so validation never opens
a connection. The DCC schema is chosen by the root's `schemaVersion`, or, in DCCs
older than that attribute, by the DCC location in `xsi:schemaLocation`.

Compiled schemas are cached per thread: an lxml XMLSchema keeps its error log on
the object, so one instance validating in two threads at once would mix up the
errors it reports. Compiling costs ~4 ms once per version and thread.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import re
import threading
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from lxml import etree

from registry.documents.metadata import DCC_NS, SI_NS, extract_dcc_metadata
from registry.documents.model import (
    DccValidation,
    DocumentType,
    DocumentWarning,
    IssuerMetadata,
    SchemaViolation,
    ValidatedDocument,
)
from registry.documents.parse import DEFAULT_MAX_BYTES, parse_xml
from registry.documents.reference_materials import refuse_drmd
from registry.documents.typed_documents import load_typed_json
from registry.documents.units import dsi_unit_problem
from registry.errors import (
    DccRootInvalidError,
    DccSchemaInvalidError,
    DccVersionUnsupportedError,
    DocumentEmptyError,
    DocumentError,
    DocumentMetadataError,
    DocumentTooLargeError,
    SchemaResolutionError,
)

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
DCC_ROOT_TAG = f"{{{DCC_NS}}}digitalCalibrationCertificate"
XMLDSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

SUPPORTED_DCC_VERSIONS: tuple[str, ...] = tuple(sorted(
    (path.parent.name.removeprefix("v") for path in SCHEMA_DIR.glob("dcc/v*/dcc.xsd")),
    key=lambda version: tuple(int(part) for part in version.split("."))))

# Published locations that schemas (or tools rewriting them) may name; each maps
# to its bundled copy. Nothing outside this table or the bundle directory loads.
_PUBLISHED_SCHEMA_URLS = re.compile(
    r"https?://ptb\.de/(?P<kind>dcc|si)/v(?P<version>\d+\.\d+\.\d+)/(?:dcc|SI_Format)\.xsd")
_XMLDSIG_URLS = frozenset({
    "http://www.w3.org/TR/2002/REC-xmldsig-core-20020212/xmldsig-core-schema.xsd",
    "http://www.w3.org/TR/xmldsig-core/xmldsig-core-schema.xsd",
})

# ds:Signature became a permitted last child of the root in DCC 3.2.0.
_FIRST_VERSION_ALLOWING_SIGNATURE = (3, 2, 0)

_MAX_VIOLATIONS_REPORTED = 50
_NAMESPACE_PREFIXES = {DCC_NS: "dcc", SI_NS: "si", XMLDSIG_NS: "ds"}

_ISSUER_METADATA_KEYS = ("identifier", "issuer", "issue_date", "title", "language",
                         "country_code")


class _BundledSchemaResolver(etree.Resolver):
    """Serve schema imports from the bundle; refuse (never fetch) anything else."""

    def resolve(self, system_url: str, public_id: str | None, context: Any) -> Any:
        bundled = _bundled_schema_path(system_url)
        if bundled is None:
            raise SchemaResolutionError(
                f"schema {system_url!r} is not bundled; it is not fetched", url=system_url)
        return self.resolve_filename(str(bundled), context)


def _bundled_schema_path(system_url: str) -> Path | None:
    published = _PUBLISHED_SCHEMA_URLS.fullmatch(system_url)
    if published:
        name = "dcc.xsd" if published["kind"] == "dcc" else "SI_Format.xsd"
        candidate = SCHEMA_DIR / published["kind"] / f"v{published['version']}" / name
    elif system_url in _XMLDSIG_URLS:
        candidate = SCHEMA_DIR / "xmldsig" / "xmldsig-core-schema.xsd"
    elif "://" in system_url and not system_url.startswith("file://"):
        return None
    else:
        candidate = Path(system_url.removeprefix("file://")).resolve()
    if not candidate.is_file() or not candidate.is_relative_to(SCHEMA_DIR):
        return None
    return candidate


def _schema_parser() -> etree.XMLParser:
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    parser.resolvers.add(_BundledSchemaResolver())
    return parser


_compiled = threading.local()


def dcc_schema(version: str) -> etree.XMLSchema:
    """The compiled bundled schema of a DCC version (cached per thread)."""
    if version not in SUPPORTED_DCC_VERSIONS:
        raise DccVersionUnsupportedError(
            f"no bundled DCC schema for schemaVersion {version!r}; supported: "
            f"{', '.join(SUPPORTED_DCC_VERSIONS)}",
            schema_version=version, supported=list(SUPPORTED_DCC_VERSIONS))
    cache: dict[str, etree.XMLSchema] = _compiled.__dict__.setdefault("schemas", {})
    schema = cache.get(version)
    if schema is None:
        path = SCHEMA_DIR / "dcc" / f"v{version}" / "dcc.xsd"
        schema = etree.XMLSchema(etree.parse(str(path), _schema_parser()))
        cache[version] = schema
    return schema


def dcc_schema_version(root: etree._Element) -> tuple[str, list[DocumentWarning]]:
    """The schemaVersion of a DCC root and any warning about it; refuses non-DCC roots.

    DCCs before 2.3 had no schemaVersion attribute (2.2.0's schema declares none), and
    such documents are still issued: then the version is the one in the location that
    xsi:schemaLocation gives for the DCC namespace, with a warning. Without either, the
    version is unknown, and guessing one would validate against the wrong schema.
    """
    if root.tag != DCC_ROOT_TAG:
        raise DccRootInvalidError(
            f"root element is {root.tag!r}, not dcc:digitalCalibrationCertificate "
            f"in namespace {DCC_NS}", root=root.tag)
    version = root.get("schemaVersion")
    if version:
        return version, []
    location = _dcc_schema_location(root.get(f"{{{XSI_NS}}}schemaLocation") or "")
    if location is None:
        raise DccVersionUnsupportedError(
            "the root has no schemaVersion attribute, and its xsi:schemaLocation names no "
            f"DCC schema version for namespace {DCC_NS}: the DCC version is unknown",
            schema_version=None, supported=list(SUPPORTED_DCC_VERSIONS))
    version, url = location
    return version, [DocumentWarning(
        code="schema-version-inferred",
        message=f"the root has no schemaVersion attribute; DCC {version} taken from "
                f"xsi:schemaLocation {url}", line=root.sourceline)]


# A DCC schema's location names its version: https://ptb.de/dcc/v2.1.0/dcc.xsd (PTB's
# published URL, with or without www, http or https), .../raw/2.4.0/dcc.xsd (PTB's
# GitLab), or a local copy such as dcc_v2.4.0.xsd.
_DCC_SCHEMA_LOCATION_VERSION = re.compile(
    r"(?:/v?(?P<dir>\d+\.\d+\.\d+)/dcc\.xsd|(?:^|/)dcc[_-]v?(?P<file>\d+\.\d+\.\d+)\.xsd)$",
    re.IGNORECASE)


def _dcc_schema_location(schema_location: str) -> tuple[str, str] | None:
    """(version, location) of the DCC schema in an xsi:schemaLocation value: the location
    paired with the DCC namespace, else (a list that forgot the namespaces) any DCC one."""
    tokens = schema_location.split()
    paired = [location for namespace, location in zip(tokens[::2], tokens[1::2], strict=False)
              if namespace.rstrip("/") == DCC_NS]
    for location in paired or tokens:
        named = _DCC_SCHEMA_LOCATION_VERSION.search(location)
        if named:
            return named["dir"] or named["file"], location
    return None


def _readable(text: str) -> str:
    """`{https://ptb.de/dcc}uniqueIdentifier` -> `dcc:uniqueIdentifier` in libxml2 messages."""
    for namespace, prefix in _NAMESPACE_PREFIXES.items():
        text = text.replace(f"{{{namespace}}}", f"{prefix}:")
    return text


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _misplaced_signature(root: etree._Element, version: str) -> DocumentWarning | None:
    """Before DCC 3.2.0 the schema has no place for ds:Signature, yet signed DCCs put one
    as the root's last child: say so (the schema is then checked without it)."""
    element_children = [child for child in root if isinstance(child.tag, str)]
    if (not element_children or element_children[-1].tag != f"{{{XMLDSIG_NS}}}Signature"
            or _version_tuple(version) >= _FIRST_VERSION_ALLOWING_SIGNATURE):
        return None
    return DocumentWarning(
        code="signature-outside-schema",
        message=f"DCC {version} does not allow ds:Signature in the root; the enveloped "
                "signature was set aside for schema validation",
        line=element_children[-1].sourceline)


def _set_aside_enveloped_signature(
        root: etree._Element, version: str) -> tuple[etree._Element, list[DocumentWarning]]:
    """Validate the certificate without a misplaced signature instead of rejecting it;
    the signature itself is checked by the signature module, on the original bytes."""
    warning = _misplaced_signature(root, version)
    if warning is None:
        return root, []
    without_signature = copy.deepcopy(root)
    signature = [child for child in without_signature if isinstance(child.tag, str)][-1]
    without_signature.remove(signature)
    return without_signature, [warning]


def dcc_document_warnings(data: bytes) -> tuple[DocumentWarning, ...]:
    """For verification: what the schema check would warn of a DCC's structure (version
    from xsi:schemaLocation, a signature set aside), without validating it; nothing for
    documents that are not DCCs or not readable (the verification steps judge those)."""
    try:
        root = parse_xml(data, max_bytes=max(len(data), 1)).getroot()
        version, warnings = dcc_schema_version(root)
    except DocumentError:
        return ()
    signature = _misplaced_signature(root, version)
    return (*warnings, *([signature] if signature else []))


@functools.cache
def _schema_declares_version_attribute(version: str) -> bool:
    """Whether the bundled schema of `version` has a schemaVersion attribute (2.3.0 on
    require it; 2.2.0 has none)."""
    text = (SCHEMA_DIR / "dcc" / f"v{version}" / "dcc.xsd").read_text(encoding="utf-8")
    return 'name="schemaVersion"' in text


def _with_inferred_version(root: etree._Element, version: str,
                           original: etree._Element) -> etree._Element:
    """A root without schemaVersion whose version came from xsi:schemaLocation, under a
    schema that requires the attribute: validate the content as if it were written, which
    is what the warning says; the signed bytes are never changed."""
    if original.get("schemaVersion") or not _schema_declares_version_attribute(version):
        return root
    if root is original:
        root = copy.deepcopy(original)
    root.set("schemaVersion", version)
    return root


def unit_warnings(tree: etree._ElementTree) -> tuple[DocumentWarning, ...]:
    """One warning per distinct malformed D-SI unit string, at its first occurrence."""
    first_seen: dict[str, tuple[etree._Element, str, int]] = {}
    for element in tree.getroot().iter(*(f"{{{SI_NS}}}{name}" for name in (
            "unit", "unitXMLList", "unitPhase", "unitPhaseXMLList"))):
        text = element.text or ""
        units = text.split() if element.tag.endswith("XMLList") else [text.strip()]
        for unit in units:
            if unit in first_seen:
                seen_element, problem, count = first_seen[unit]
                first_seen[unit] = (seen_element, problem, count + 1)
                continue
            problem = dsi_unit_problem(unit)
            if problem is not None:
                first_seen[unit] = (element, problem, 1)
    warnings = []
    for _unit, (element, problem, count) in first_seen.items():
        if not problem:
            continue
        times = f" (used {count} times)" if count > 1 else ""
        warnings.append(DocumentWarning(
            code="dsi-unit-invalid", message=problem + times, line=element.sourceline,
            path=_readable(element.getroottree().getpath(element))))
    return tuple(warnings)


def validate_dcc(tree: etree._ElementTree) -> DccValidation:
    """Validate a parsed DCC against the bundled schema of its schemaVersion.

    Raises DccRootInvalidError, DccVersionUnsupportedError, or DccSchemaInvalidError
    whose `details["violations"]` lists {line, path, message} dicts.
    """
    version, warnings = dcc_schema_version(tree.getroot())
    schema = dcc_schema(version)
    root, set_aside = _set_aside_enveloped_signature(tree.getroot(), version)
    warnings.extend(set_aside)
    root = _with_inferred_version(root, version, tree.getroot())
    if not schema.validate(root):
        violations = [
            SchemaViolation(line=entry.line or None, path=_readable(entry.path or "") or None,
                            message=_readable(entry.message))
            for entry in schema.error_log]
        first = violations[0]
        raise DccSchemaInvalidError(
            f"DCC {version} schema violation at line {first.line}: {first.message}"
            + (f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""),
            schema_version=version,
            violations=[vars(violation) for violation in violations[:_MAX_VIOLATIONS_REPORTED]])
    warnings.extend(unit_warnings(tree))
    return DccValidation(schema_version=version, warnings=tuple(warnings))


def issuer_metadata_from_dict(document_type: DocumentType,
                              supplied: Mapping[str, object] | None) -> IssuerMetadata:
    """Check issuer-supplied metadata: `identifier` and `issuer` are required strings,
    `issue_date` an ISO date; other keys are kept as string attributes."""
    if not supplied:
        raise DocumentMetadataError(
            f"a {document_type.value} needs issuer metadata (at least identifier and issuer)",
            document_type=document_type.value)
    values: dict[str, str] = {}
    for key, value in supplied.items():
        if not isinstance(key, str):
            raise DocumentMetadataError("metadata keys must be strings", key=repr(key))
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise DocumentMetadataError(f"metadata {key!r} must be a string or a number",
                                        key=key)
        values[key] = str(value).strip()
    for required in ("identifier", "issuer"):
        if not values.get(required):
            raise DocumentMetadataError(f"issuer metadata lacks {required!r}", key=required)
    issue_date = None
    if values.get("issue_date"):
        try:
            issue_date = date.fromisoformat(values["issue_date"])
        except ValueError:
            raise DocumentMetadataError("issue_date must be an ISO date (YYYY-MM-DD)",
                                        key="issue_date") from None
    return IssuerMetadata(
        document_type=document_type,
        identifier=values["identifier"],
        issuer=values["issuer"],
        issue_date=issue_date,
        title=values.get("title") or None,
        language=values.get("language") or None,
        country_code=values.get("country_code") or None,
        attributes=tuple(sorted((key, value) for key, value in values.items()
                                if key not in _ISSUER_METADATA_KEYS)),
    )


def _looks_like_xml(data: bytes) -> bool:
    # A BOM or leading whitespace may precede the first "<"; UTF-16/32 put NULs around it.
    head = data[:64].lstrip(b"\xef\xbb\xbf\xff\xfe\x00 \t\r\n")
    return head.startswith(b"<")


def load_document(data: bytes, document_type: DocumentType | str,
                  issuer_metadata: Mapping[str, object] | None = None,
                  *, max_bytes: int = DEFAULT_MAX_BYTES) -> ValidatedDocument:
    """Accept a submitted document or raise a DocumentError with a stable code.

    - DCC: hardened parse, schema validation for its schemaVersion, metadata read from
      the document. If issuer metadata is supplied, its `identifier` must equal the
      DCC's uniqueIdentifier (other keys are ignored: the signed document is authoritative).
    - Typed JSON (`"type": "certreg.<kind>/1"`, see `typed_documents`): hardened JSON
      parse, schema and kind checks, metadata read from the document.
    - Other types: issuer metadata required. XML gets the same hardened parse (hostile
      XML is refused whatever the type); anything else (PDF, ...) is stored as given.
    """
    document_type = DocumentType(document_type)
    if not isinstance(data, bytes | bytearray):
        raise TypeError("load_document takes bytes")
    data = bytes(data)
    if len(data) > max_bytes:
        raise DocumentTooLargeError(f"document is {len(data)} bytes, the limit is {max_bytes}",
                                    size=len(data), limit=max_bytes)
    if not data.strip():
        raise DocumentEmptyError("document is empty")
    digest = hashlib.sha256(data).hexdigest()
    typed = load_typed_json(data, digest, document_type, max_bytes=max_bytes)
    if typed is not None:
        return typed

    if document_type is DocumentType.DCC:
        tree = parse_xml(data, max_bytes=max_bytes)
        refuse_drmd(tree)  # a clearer refusal than dcc-root-invalid
        validation = validate_dcc(tree)
        metadata = extract_dcc_metadata(tree)
        if metadata.schema_version != validation.schema_version:  # from xsi:schemaLocation
            metadata = dataclasses.replace(metadata, schema_version=validation.schema_version)
        claimed = (issuer_metadata or {}).get("identifier")
        if claimed is not None and str(claimed) != metadata.unique_identifier:
            raise DocumentMetadataError(
                f"issuer metadata names {claimed!r}, the DCC is "
                f"{metadata.unique_identifier!r}", key="identifier")
        return ValidatedDocument(raw=data, sha256=digest, document_type=document_type,
                                 metadata=metadata, schema_version=validation.schema_version,
                                 warnings=validation.warnings, media_type="application/xml",
                                 tree=tree)

    metadata_supplied = issuer_metadata_from_dict(document_type, issuer_metadata)
    tree = None
    if _looks_like_xml(data):
        tree = parse_xml(data, max_bytes=max_bytes)
        media_type = "application/xml"
    elif data.startswith(b"%PDF-"):
        media_type = "application/pdf"
    else:
        media_type = "application/octet-stream"
    return ValidatedDocument(raw=data, sha256=digest, document_type=document_type,
                             metadata=metadata_supplied, schema_version=None, warnings=(),
                             media_type=media_type, tree=tree)
