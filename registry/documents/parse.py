"""Hardened XML parsing: the only way registry code turns bytes into an XML tree.

Certificates come from anyone (uploads to the verification API), so the parser
refuses DTDs, entity declarations, external references and XInclude outright
instead of trying to expand them safely, and never touches the network.
"""

from __future__ import annotations

from lxml import etree

from registry.errors import DocumentTooLargeError, XmlForbiddenError, XmlMalformedError

# Real DCCs are tens of kB to a few MB; 20 MiB leaves room for embedded files.
DEFAULT_MAX_BYTES = 20 * 1024 * 1024

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


def _parser() -> etree.XMLParser:
    # A fresh parser per call: lxml parsers are not thread-safe.
    return etree.XMLParser(**_PARSER_OPTIONS)


def parse_xml(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._ElementTree:
    """Parse untrusted XML bytes into a tree, or raise a DocumentError subclass."""
    if not isinstance(data, bytes | bytearray):
        raise TypeError("parse_xml takes bytes; decoding is the parser's job")
    if len(data) > max_bytes:
        raise DocumentTooLargeError(
            f"document is {len(data)} bytes, the limit is {max_bytes}",
            size=len(data), limit=max_bytes)
    if not data.strip():
        raise XmlMalformedError("document is empty")
    try:
        tree = etree.ElementTree(etree.fromstring(bytes(data), _parser()))
    except etree.XMLSyntaxError as exc:
        raise XmlMalformedError(f"not well-formed XML: {exc.msg}",
                                line=exc.lineno, column=exc.offset) from None
    docinfo = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise XmlForbiddenError("DOCTYPE declarations are not accepted")
    for node in tree.iter(etree.Entity, etree.ProcessingInstruction):
        if isinstance(node, etree._Entity):
            raise XmlForbiddenError(f"entity reference &{node.name}; is not accepted")
    if tree.getroot().find(".//{http://www.w3.org/2001/XInclude}include") is not None:
        raise XmlForbiddenError("XInclude is not accepted")
    return tree
