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
