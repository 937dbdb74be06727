"""Hardened parsing beyond the corpus: size limit, encodings that could hide a DTD."""

from __future__ import annotations

import pytest

from registry.documents.parse import DEFAULT_MAX_BYTES, parse_xml
from registry.documents.validate import load_document
from registry.errors import DocumentError

BOMB = (b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n<r>&b;</r>')


def test_dcc_oversized_upload_is_refused_before_parsing() -> None:
    oversized = bytearray(b"<a>") + bytearray(100 * 1024 * 1024) + bytearray(b"</a>")
    with pytest.raises(DocumentError) as rejected:
        load_document(bytes(oversized), "dcc")
    assert rejected.value.code == "document-too-large"
    assert rejected.value.details["limit"] == DEFAULT_MAX_BYTES


def test_dcc_size_limit_is_configurable() -> None:
    with pytest.raises(DocumentError) as rejected:
        parse_xml(b"<a>0123456789</a>", max_bytes=10)
    assert rejected.value.code == "document-too-large"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_dcc_doctype_in_other_encodings_is_forbidden(encoding: str) -> None:
    text = BOMB.decode().replace('version="1.0"', f'version="1.0" encoding="{encoding}"')
    data = text.encode(encoding)
    with pytest.raises(DocumentError) as rejected:
        parse_xml(data)
    assert rejected.value.code == "xml-forbidden-construct"


def test_dcc_doctype_after_prolog_comment_is_forbidden() -> None:
    data = b'<?xml version="1.0"?>\n<!-- harmless -->\n<?pi x?>\n' + BOMB.split(b"\n", 1)[1]
    with pytest.raises(DocumentError) as rejected:
        parse_xml(data)
    assert rejected.value.code == "xml-forbidden-construct"


def test_dcc_doctype_text_inside_the_body_is_not_a_doctype() -> None:
    data = b"<r><!-- <!DOCTYPE x> --><![CDATA[<!ENTITY y 'z'>]]>text</r>"
    root = parse_xml(data).getroot()
    assert root.tag == "r"
    assert root[0].tail == "<!ENTITY y 'z'>text"  # after the comment


def test_dcc_xinclude_in_older_namespace_is_forbidden() -> None:
    data = b'<r xmlns:xi="http://www.w3.org/2003/XInclude"><xi:include href="/etc/passwd"/></r>'
    with pytest.raises(DocumentError) as rejected:
        parse_xml(data)
    assert rejected.value.code == "xml-forbidden-construct"


@pytest.mark.parametrize("document", [
    # default namespace, deep inside, the root itself, another prefix, a fallback element
    b'<r><a><b><include xmlns="http://www.w3.org/2001/XInclude" href="x"/></b></a></r>',
    b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="/etc/passwd"/>',
    b'<r xmlns:inc="http://www.w3.org/2001/XInclude"><x/><y><inc:fallback/></y></r>',
    b'<r xmlns:xi="http://www.w3.org/2003/XInclude"><a/><xi:anything/></r>',
], ids=["default-namespace-deep", "root", "other-prefix-fallback", "old-namespace-any"])
def test_dcc_any_element_in_an_xinclude_namespace_is_forbidden(document: bytes) -> None:
    with pytest.raises(DocumentError) as rejected:
        parse_xml(document)
    assert rejected.value.code == "xml-forbidden-construct"
    assert rejected.value.details["construct"] == "XInclude"


def test_dcc_xinclude_lookalike_namespaces_are_accepted() -> None:
    data = (b'<r xmlns:a="http://www.w3.org/2001/XInclude/extra" '
            b'xmlns:b="http://www.w3.org/2001/xinclude"><a:include/><b:include/>'
            b'<include/></r>')
    assert len(parse_xml(data).getroot()) == 3


def test_dcc_parse_refuses_text_input() -> None:
    with pytest.raises(TypeError):
        parse_xml("<r/>")  # type: ignore[arg-type]
