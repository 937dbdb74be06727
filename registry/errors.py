"""Every error the registry raises, each with a stable code. The API and the CLI map them."""

from __future__ import annotations


class RegistryError(Exception):
    """Base of all registry errors. `code` is stable and machine-readable."""

    code = "registry-error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class DocumentError(RegistryError):
    """A submitted document is malformed, hostile or invalid."""

    code = "document-invalid"


class DocumentTooLargeError(DocumentError):
    code = "document-too-large"


class XmlMalformedError(DocumentError):
    code = "xml-malformed"


class XmlForbiddenError(DocumentError):
    """DTDs, entities, XInclude and other constructs we refuse on principle."""

    code = "xml-forbidden-construct"


class ConfigurationError(RegistryError):
    code = "configuration-invalid"


class DocumentEmptyError(XmlMalformedError):
    code = "document-empty"


class XmlEncodingError(XmlMalformedError):
    """Bytes that are not valid in the encoding the document declares."""

    code = "xml-encoding-invalid"


class DccRootInvalidError(DocumentError):
    """Well-formed XML whose root is not dcc:digitalCalibrationCertificate."""

    code = "dcc-root-invalid"


class DccVersionUnsupportedError(DocumentError):
    """The root's schemaVersion names no DCC schema bundled with the registry."""

    code = "dcc-version-unsupported"


class DccSchemaInvalidError(DocumentError):
    """The DCC breaks its own schema. `details["violations"]` lists {line, path, message}."""

    code = "dcc-schema-invalid"


class DocumentMetadataError(DocumentError):
    """Issuer-supplied metadata is missing, malformed or contradicts the document."""

    code = "document-metadata-invalid"


class SchemaResolutionError(ConfigurationError):
    """A bundled schema referred to a schema that is not bundled: never fetched."""

    code = "schema-resolution-refused"


class SigningError(RegistryError):
    """A certificate could not be signed; nothing was produced."""

    code = "signing-failed"


class DocumentAlreadySignedError(SigningError):
    """The document carries a signature already: it is verified and kept, never re-signed."""

    code = "document-already-signed"


class SigningKeyError(RegistryError):
    """The signing key or certificate is unusable. Messages never contain key material."""

    code = "signing-key-invalid"


class SigningKeyPasswordError(SigningKeyError):
    """The password does not decrypt the key. The password itself is never in the message."""

    code = "signing-key-password-wrong"


class SigningKeyPasswordMissingError(SigningKeyError):
    code = "signing-key-password-missing"


class SignatureInvalidError(DocumentError):
    """Raised on request for a signature that did not verify (the verdict itself is a value)."""

    code = "signature-invalid"


class OperatorNotAuthorisedError(ConfigurationError):
    """The operator account serves no issuer on chain, so it cannot anchor or revoke."""

    code = "operator-not-authorised"


class DocumentNotFoundError(RegistryError):
    """No document with this hash is known (to the issuer, or anchored on chain)."""

    code = "document-not-found"


class DocumentNotAnchoredError(RegistryError):
    """The document is known but not anchored yet (or not indexed yet): nothing to revoke."""

    code = "document-not-anchored"


class DocumentAlreadyRevokedError(RegistryError):
    """The document is revoked already; revocation is irreversible."""

    code = "document-already-revoked"


class DatabaseStateError(RegistryError):
    """The database belongs to another registry contract or chain, or is inconsistent."""

    code = "database-state-invalid"


class ManifestInvalidError(RegistryError):
    """A batch manifest is malformed or does not describe the batch anchored on chain."""

    code = "manifest-invalid"


class RequestInvalidError(RegistryError):
    """A request is malformed (missing document, bad parameter)."""

    code = "request-invalid"


class DocumentTypeUnsupportedError(DocumentError):
    """The upload is neither XML nor a document format the registry accepts."""

    code = "document-type-unsupported"


# ------------------------------------------------------------ API (issue 5)


class UnauthorizedError(RegistryError):
    """No API credential, an unknown one, or a revoked one. Never says which: a guesser
    learns nothing from the answer."""

    code = "unauthorized"


class IssuerNotServedError(RegistryError):
    """The credential's issuer is not the issuer this registry's operator key serves on
    chain, so the request would act for another issuer."""

    code = "issuer-not-served"


class RateLimitedError(RegistryError):
    """Too many requests from one client or credential. `details["retry_after"]` is in
    whole seconds."""

    code = "rate-limited"


class IssuanceBusyError(RegistryError):
    """Another issuance (e.g. the CLI) holds this registry's issuance lock; try again."""

    code = "issuance-busy"


class DocumentRejectedError(DocumentError):
    """The issuance pipeline rejected a document; `code` is the pipeline's own stable code
    (e.g. xml-forbidden-construct), so HTTP and CLI report the same reason."""

    def __init__(self, code: str, message: str, **details: object) -> None:
        super().__init__(message, **details)
        self.code = code


class CredentialNotFoundError(RegistryError):
    code = "credential-not-found"


class NotFoundError(RegistryError):
    """No certificate, issuer or other record with this id is known to the registry."""

    code = "not-found"


class DocumentKeyRequiredError(RegistryError):
    """The document is stored encrypted: fetching it needs its key (`X-Document-Key`)."""

    code = "document-key-required"


class ReceiptBundleError(RegistryError):
    """A trace bundle (`certreg receipt --with-chain`) is malformed or of another format."""

    code = "trace-bundle-invalid"


# --- typed JSON documents (certreg.<kind>/1) and DRMD --------------------------------


class JsonMalformedError(DocumentError):
    """Bytes that are not one UTF-8 JSON value (syntax, encoding, NaN/Infinity)."""

    code = "json-malformed"


class JsonDuplicateKeyError(JsonMalformedError):
    """An object names the same key twice: parsers disagree on which one counts."""

    code = "json-duplicate-key"


class JsonTooDeepError(DocumentError):
    """Arrays/objects nested deeper than the limit (a stack-exhaustion attempt)."""

    code = "json-too-deep"


class DocumentKindUnsupportedError(DocumentError):
    """A JSON document whose `type` names no kind this registry reads."""

    code = "document-kind-unsupported"


class DocumentTypeMismatchError(DocumentError):
    """The declared document type is not the one the document says it is."""

    code = "document-type-mismatch"


class DocumentSchemaInvalidError(DocumentError):
    """A typed document breaks its data model: `details["violations"]` lists
    {path, keyword, message}; `details["kind"]` names the model."""

    code = "document-schema-invalid"


class DocumentDatesInvalidError(DocumentError):
    """Dates out of order (valid_from after valid_until, issued before performed ...)."""

    code = "document-dates-invalid"


class DocumentContentInvalidError(DocumentError):
    """Schema-valid fields that contradict each other (duplicate codes, unknown parent,
    a range whose minimum is above its maximum, a malformed D-SI unit ...)."""

    code = "document-content-invalid"


class ClassifierCodeUnknownError(DocumentError):
    """A cited classifier code is not in the directory version in force, or no version
    of that directory is in force at the document's date."""

    code = "classifier-code-unknown"


class DrmdSchemaUnavailableError(DocumentError):
    """A Digital Reference Material Document: its schema is not bundled, so it cannot be
    validated as a typed document (register it as certreg.reference-material/1 JSON)."""

    code = "drmd-schema-unavailable"


class SigningCertificateFileError(RegistryError):
    """A signing certificate to declare is unreadable, not X.509, or its period is wrong."""

    code = "signing-certificate-invalid"


class DevSigningIdentityRefusedError(ConfigurationError):
    """`certreg up`'s TEST signing identity, asked to sign on a chain that is not the
    development chain (or its files are damaged)."""

    code = "signing-identity-test-only"


class UcumUnitError(DocumentError):
    """A UCUM unit code that breaks the UCUM grammar or names no UCUM unit."""

    code = "ucum-unit-invalid"


class UcumNoDsiEquivalentError(DocumentError):
    """A valid UCUM unit that D-SI cannot express (annotation, numeric factor, ...)."""

    code = "ucum-no-dsi-equivalent"

class InstrumentIdInvalidError(RegistryError):
    """Not an instrument id (`mi:<manufacturer>:<model>:<serial>` or `ta:<approval>:
    <serial>`, each part a normalised key: lowercase letters and digits only)."""

    code = "instrument-id-invalid"


class EvidenceNotFoundError(RegistryError):
    """No anchored document or batch to build, renew or migrate evidence for."""

    code = "evidence-not-found"


class MigrationError(RegistryError):
    """A migration export is unreadable, or the new contract cannot take it (the signing
    account is no issuer's operator there, nothing of its issuer to import)."""

    code = "migration-invalid"
