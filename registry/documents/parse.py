"""Hardened XML parsing: the only way registry code turns bytes into an XML tree.

Certificates come from anyone (uploads to the verification API), so the parser
refuses DTDs, entity declarations, external references and XInclude outright
instead of trying to expand them safely, and never touches the network.

Two layers, on purpose:
1. A pre-scan of the prolog rejects `<!DOCTYPE` before libxml2 sees the bytes.
   Without it an entity bomb (billion laughs, quadratic blowup) only surfaces as
   libxml2's "amplification factor exceeded" syntax error — reported as merely
   malformed, and after libxml2 already spent work expanding it.
2. The parser itself runs with entity resolution, DTD loading and network off,
   and the tree is checked afterwards, in case an encoding the pre-scan does not
   understand hid a DOCTYPE from it.
"""

from __future__ import annotations

import codecs

from lxml import etree

from registry.errors import (
    DocumentEmptyError,
    DocumentTooLargeError,
    XmlEncodingError,
    XmlForbiddenError,
    XmlMalformedError,
)

# Real DCCs are tens of kB to a few MB; 20 MiB leaves room for embedded files.
DEFAULT_MAX_BYTES = 20 * 1024 * 1024

XINCLUDE_NAMESPACES = frozenset({
    "http://www.w3.org/2001/XInclude",
    "http://www.w3.org/2003/XInclude",  # pre-recommendation namespace libxml2 still honours
})
_XINCLUDE_ELEMENTS = tuple(f"{{{namespace}}}*" for namespace in sorted(XINCLUDE_NAMESPACES))

_PARSER_OPTIONS = dict(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_blank_text=False,
    remove_comments=False,
    remove_pis=False,
)

# Byte-order marks / first bytes of "<?" in the encodings libxml2 auto-detects,
# so the pre-scan reads the prolog the way the parser will.
_UTF32_SIGNATURES = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (b"<\x00\x00\x00", "utf-32-le"), (b"\x00\x00\x00<", "utf-32-be"),
)
_UTF16_SIGNATURES = (
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
    (b"<\x00?\x00", "utf-16-le"), (b"\x00<\x00?", "utf-16-be"),
)


def _parser() -> etree.XMLParser:
    # A fresh parser per call: lxml parsers are not thread-safe.
    return etree.XMLParser(**_PARSER_OPTIONS)


def _decode_for_prescan(data: bytes) -> str:
    """The document as text, decoded just well enough to read markup in its prolog."""
    for signature, encoding in (*_UTF32_SIGNATURES, *_UTF16_SIGNATURES):
        if data.startswith(signature):
            return data.decode(encoding, errors="replace")
    # Every other encoding libxml2 reads without a declaration-guess is
    # ASCII-compatible for markup characters, and latin-1 never fails to decode.
    return data.decode("latin-1")


def reject_dtd_in_prolog(data: bytes) -> None:
    """Raise XmlForbiddenError if a DOCTYPE (and so any entity) precedes the root element.

    Only the prolog is read: `<!DOCTYPE` inside a comment or CDATA section in the
    body is text, not markup, and must not be refused.
    """
    text = _decode_for_prescan(data)
    position = 0
    length = len(text)
    while position < length:
        char = text[position]
        if char in " \t\r\n\ufeff":
            position += 1
        elif text.startswith("<?", position):
            end = text.find("?>", position + 2)
            if end < 0:
                return  # unterminated: the parser reports it as malformed
            position = end + 2
        elif text.startswith("<!--", position):
            end = text.find("-->", position + 4)
            if end < 0:
                return
            position = end + 3
        elif text.startswith("<!DOCTYPE", position) or text.startswith("<!ENTITY", position):
            raise XmlForbiddenError(
                "DOCTYPE and entity declarations are not accepted "
                "(they enable external entities and entity-expansion bombs)",
                construct="DOCTYPE")
        else:
            return  # root element or junk: the parser takes it from here


def _syntax_error(exc: etree.XMLSyntaxError) -> XmlMalformedError:
    message = exc.msg or str(exc)
    location = {"line": exc.lineno, "column": exc.offset}
    if exc.code == etree.ErrorTypes.ERR_DOCUMENT_EMPTY:
        # libxml2's code for "no root element": the bytes are not empty (checked
        # before parsing), they are not XML at all — a PDF, an image, text.
        return XmlMalformedError(f"not XML: {message}", **location)
    if exc.code in (etree.ErrorTypes.ERR_INVALID_CHAR, etree.ErrorTypes.ERR_INVALID_ENCODING,
                    etree.ErrorTypes.ERR_UNSUPPORTED_ENCODING) or "encoding" in message:
        return XmlEncodingError(f"text is not valid in the declared encoding: {message}",
                                **location)
    if "amplification" in message:
        # Reached only if an encoding hid a DOCTYPE from the pre-scan.
        return XmlForbiddenError(f"entity use is not accepted: {message}", **location)
    return XmlMalformedError(f"not well-formed XML: {message}", **location)


def parse_xml(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._ElementTree:
    """Parse untrusted XML bytes into a tree, or raise a DocumentError subclass.

    Codes: document-too-large, document-empty, xml-forbidden-construct (DOCTYPE,
    entity, XInclude), xml-encoding-invalid, xml-malformed.
    """
    if not isinstance(data, bytes | bytearray):
        raise TypeError("parse_xml takes bytes; decoding is the parser's job")
    if len(data) > max_bytes:
        raise DocumentTooLargeError(
            f"document is {len(data)} bytes, the limit is {max_bytes}",
            size=len(data), limit=max_bytes)
    data = bytes(data)
    if not data.strip():
        raise DocumentEmptyError("document is empty")
    reject_dtd_in_prolog(data)
    try:
        tree = etree.ElementTree(etree.fromstring(data, _parser()))
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc) from None
    docinfo = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise XmlForbiddenError("DOCTYPE declarations are not accepted", construct="DOCTYPE")
    for entity in tree.iter(etree.Entity):
        raise XmlForbiddenError(f"entity reference &{entity.name}; is not accepted",
                                construct="entity", line=entity.sourceline)
    # libxml2 filters by namespace itself; a QName per element in Python was half the cost
    # of parsing a DCC.
    for element in tree.iter(*_XINCLUDE_ELEMENTS):
        raise XmlForbiddenError("XInclude is not accepted (it would read other files)",
                                construct="XInclude", line=element.sourceline)
    return tree
