"""Helpers for the signing tests: xmlsec1 as an independent verifier, test identities."""

from __future__ import annotations

import datetime as dt
import itertools
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree
from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
)

from registry.documents.keys import SigningIdentity
from registry.documents.parse import parse_xml
from registry.documents.signing import check_own_signature, default_signature_algorithm
from registry.documents.xmldsig import _FixedTimeXAdESSigner
from tests.conftest import require

DCC_NS = "https://ptb.de/dcc"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"

# The corpus MANIFEST says signed/signed_siliziumkugel.xml is "valid"; the bytes as
# shipped are not. Its SignedProperties digest and SignedInfo signature only match
# once the indentation whitespace is removed (the file was re-indented after
# signing), and the document digest matches under no whitespace variant. xmlsec1
# rejects it too; test_corpus_signed_verdicts asserts xmlsec1 agrees with us.
CORPUS_VERDICT_CORRECTIONS = {"signed/signed_siliziumkugel.xml": "invalid"}


def xmlsec1() -> str:
    """Path of Debian's xmlsec1; skipped locally, a failure in CI, when missing."""
    path = shutil.which("xmlsec1")
    require(path is not None, "xmlsec1 is not installed (scripts/setup.sh installs it)")
    assert path is not None
    return path


def write_pem(certificates: list[x509.Certificate], path: Path) -> Path:
    path.write_bytes(b"".join(cert.public_bytes(serialization.Encoding.PEM)
                              for cert in certificates))
    return path


def xmlsec1_verify(document: bytes, workdir: Path, *, trusted: list[x509.Certificate] | None,
                   root_id_element: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `xmlsec1 --verify` on `document`; trust `trusted` or, if None, any certificate.

    `root_id_element` ("ns:localName") registers the root's Id attribute, which
    xmlsec1 needs to resolve a reference to the root by Id.
    """
    document_path = workdir / "document.xml"
    document_path.write_bytes(document)
    command = [xmlsec1(), "--verify"]
    if trusted is None:
        command.append("--insecure")  # the corpus signers' CAs are not available
    else:
        command += ["--trusted-pem", str(write_pem(trusted, workdir / "trusted.pem"))]
    if root_id_element is not None:
        command += ["--id-attr:Id", root_id_element]
    command.append(str(document_path))
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def tokens() -> Callable[..., str]:
    """Signature Ids from one fixed sequence (patched into both signers to compare bytes)."""
    counter: Iterator[int] = itertools.count(0x1A2B3C00)
    return lambda *_args, **_kwargs: f"{next(counter):08X}"


def signxml_signed(document: bytes, identity: SigningIdentity, when: dt.datetime) -> bytes:
    """The previous sign_document: signxml's signer on the parsed root, serialised, then
    checked by parsing the bytes again."""
    signer = _FixedTimeXAdESSigner(
        when, method=SignatureConstructionMethod.enveloped,
        signature_algorithm=default_signature_algorithm(identity).xmldsig_method,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    signer._get_token = tokens()  # type: ignore[method-assign]
    signed_root = signer.sign(parse_xml(document).getroot(), key=identity.private_key,
                              cert=[identity.certificate, *identity.chain],
                              always_add_key_value=False)
    data = etree.tostring(signed_root, xml_declaration=True, encoding="UTF-8")
    check_own_signature(data, identity.certificate, when)
    return data


def reshape(document: bytes, shape: str) -> bytes:
    """A DCC in a shape signing must cope with (root Id, comments, PIs, encodings ...)."""
    root = parse_xml(document).getroot()
    if shape == "root-id":
        root.set("Id", "dcc-root")
    elif shape == "comments":
        root.insert(0, etree.Comment(" a comment inside "))
        root.addprevious(etree.Comment(" a comment before the root "))
    elif shape == "after-the-root":
        root.addnext(etree.Comment(" a comment after the root "))
        root.addnext(etree.ProcessingInstruction("certreg", "after"))
    elif shape == "processing-instruction":
        root.addprevious(etree.ProcessingInstruction("xml-stylesheet",
                                                     'type="text/xsl" href="dcc.xsl"'))
    elif shape == "trailing-whitespace":
        root[-1].tail = "\n\n   \n"
    elif shape == "ds-declared-on-root":
        # DCCs that allow a signature (3.2 on) may declare ds: on the root already.
        text = etree.tostring(root, encoding="unicode")
        return text.replace("<dcc:digitalCalibrationCertificate ",
                            f'<dcc:digitalCalibrationCertificate xmlns:ds="{DS_NS}" ',
                            1).encode()
    elif shape == "non-ascii-comment":
        root.insert(0, etree.Comment(" Prüfschein für Kalibrierung "))
    elif shape == "latin-1-standalone":
        # Signed documents are UTF-8 whatever the submitted encoding and declaration.
        root.insert(0, etree.Comment(" Prüfschein für Kalibrierung "))
        return etree.tostring(root.getroottree(), xml_declaration=True,
                              encoding="ISO-8859-1", standalone=True)
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")
