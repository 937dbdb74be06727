"""Digital directories: the MI classifier, MI group cards, and the check of cited codes.

A classifier (`certreg.mi-classifier/1`) is identified by its `id` and `version`; a
version is *in force* on the days from its `valid_from` to its `valid_until` (inclusive;
open-ended without one). Each code may have its own validity inside it.

A document that cites a code (`{"directory", "version"?, "code"}`: a group card's
`codes`, a verification's `instrument/classifier_code`, a type's `classifier_code`) is
checked AT ISSUANCE against the directory versions the registry holds — anchored and
not revoked (`registry.db.directories`), so only a published directory counts:

1. the reference date is the document's verification date, else its issue date;
2. the version used is the one named, which must be in force on that date; or, when
   none is named, the version in force on that date (the latest `valid_from` if
   versions overlap);
3. the code must be in that version and valid on that date.

Anything else refuses the document with `classifier-code-unknown`, naming the code, the
directory and the reason. The check sits at issuance rather than in verification:
whether a code existed is a fact about the day the document was issued, which later
directory versions do not change; verification then shows what was anchored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

from registry.documents.citations import CitationRole
from registry.documents.kinds import (
    CLASSIFIER_CODE,
    NUMBER,
    CodeUse,
    DirectoryCode,
    DirectoryContent,
    KindMetadata,
    code_use,
    pairs,
    parse_date,
    reference_citation,
    require_order,
)
from registry.documents.legal_metrology import check_characteristics
from registry.documents.model import DocumentType
from registry.errors import ClassifierCodeUnknownError, DocumentContentInvalidError

MI_CLASSIFIER_KIND = "certreg.mi-classifier/1"
MI_GROUP_CARD_KIND = "certreg.mi-group-card/1"


def directory_identifier(directory_id: str, version: str) -> str:
    """The registry number of one directory version: `<id>@<version>`."""
    return f"{directory_id}@{version}"


def _first_text(localized: Sequence[Mapping[str, str]], language: str | None) -> str:
    for text in localized:
        if text["lang"] == language:
            return text["text"]
    return localized[0]["text"]


def _check_codes_tree(codes: Sequence[Mapping[str, Any]], languages: Sequence[str]) -> None:
    kind = MI_CLASSIFIER_KIND
    by_code: dict[str, Mapping[str, Any]] = {}
    for index, entry in enumerate(codes):
        where = f"/codes/{index}"
        if entry["code"] in by_code:
            raise DocumentContentInvalidError(f"{kind}: code {entry['code']!r} listed twice",
                                              kind=kind, field=f"{where}/code")
        by_code[entry["code"]] = entry
        missing = sorted(set(languages) - {name["lang"] for name in entry["names"]})
        if missing:
            raise DocumentContentInvalidError(
                f"{kind}: code {entry['code']!r} has no name in {', '.join(missing)}",
                kind=kind, field=f"{where}/names")
        require_order((f"{where}/valid_from", parse_date(entry.get("valid_from"))),
                      (f"{where}/valid_until", parse_date(entry.get("valid_until"))), kind)
    for index, entry in enumerate(codes):
        seen = {entry["code"]}
        parent = entry.get("parent")
        while parent is not None:
            if parent not in by_code:
                raise DocumentContentInvalidError(
                    f"{kind}: code {entry['code']!r} names parent {parent!r}, which is not "
                    "in this directory", kind=kind, field=f"/codes/{index}/parent")
            if parent in seen:
                raise DocumentContentInvalidError(
                    f"{kind}: code {entry['code']!r} is its own ancestor (parent cycle)",
                    kind=kind, field=f"/codes/{index}/parent")
            seen.add(parent)
            parent = by_code[parent].get("parent")


def extract_classifier(document: Mapping[str, Any]) -> KindMetadata:
    kind = MI_CLASSIFIER_KIND
    valid_from, valid_until = parse_date(document["valid_from"]), parse_date(
        document.get("valid_until"))
    issued = parse_date(document["issue_date"])
    require_order(("valid_from", valid_from), ("valid_until", valid_until), kind)
    require_order(("issue_date", issued), ("valid_until", valid_until), kind)
    _check_codes_tree(document["codes"], document["languages"])
    assert valid_from is not None  # required by the schema
    directory = DirectoryContent(
        id=document["id"], version=document["version"], valid_from=valid_from,
        valid_until=valid_until,
        codes=tuple(DirectoryCode(code=entry["code"], parent=entry.get("parent"),
                                  valid_from=parse_date(entry.get("valid_from")),
                                  valid_until=parse_date(entry.get("valid_until")))
                    for entry in document["codes"]))
    identifier = directory_identifier(document["id"], document["version"])
    language = document["languages"][0]
    return KindMetadata(
        kind=kind, document_type=DocumentType.MI_CLASSIFIER, identifier=identifier,
        issuer=document["issuer"]["name"], country_code=document["issuer"]["country"],
        issue_date=issued, performed_on=None, valid_from=valid_from, valid_until=valid_until,
        title=_first_text(document["title"], language), language=language,
        identifiers=pairs((NUMBER, identifier), (NUMBER, document["id"])),
        facts=pairs(("directory", document["id"]), ("version", document["version"]),
                    ("codes", len(document["codes"])),
                    ("supersedes", document.get("supersedes"))),
        directory=directory)


def extract_group_card(document: Mapping[str, Any]) -> KindMetadata:
    kind = MI_GROUP_CARD_KIND
    check_characteristics(document.get("characteristics", []), "/characteristics", kind)
    verification = document["verification"]
    codes = tuple(use for index, value in enumerate(document["codes"])
                  for use in code_use(value, f"/codes/{index}"))
    return KindMetadata(
        kind=kind, document_type=DocumentType.MI_GROUP_CARD, identifier=document["number"],
        issuer=document["issuer"]["name"], country_code=document["issuer"]["country"],
        issue_date=parse_date(document["issue_date"]), performed_on=None, valid_from=None,
        valid_until=None, title=_first_text(document["names"], document["language"]),
        language=document["language"],
        identifiers=pairs((NUMBER, document["number"]),
                          *((CLASSIFIER_CODE, use.code) for use in codes)),
        facts=pairs(("verification_interval_months", verification["interval_months"])),
        citations=tuple(reference_citation(CitationRole.PROCEDURE.value, procedure)
                        for procedure in verification.get("procedures", [])),
        codes=codes)


DirectoryVersions = Callable[[str], Sequence[DirectoryContent]]


def _in_force(use: CodeUse, versions: Sequence[DirectoryContent], day: date
              ) -> DirectoryContent | str:
    """The directory version a code use is checked against, or why there is none."""
    if use.version is not None:
        named = [v for v in versions if v.version == use.version]
        if not named:
            return f"version {use.version} of directory {use.directory} is not registered"
        if not named[0].in_force_on(day):
            return (f"version {use.version} of directory {use.directory} is not in force "
                    f"on {day.isoformat()}")
        return named[0]
    in_force = [v for v in versions if v.in_force_on(day)]
    if not in_force:
        return f"no version of directory {use.directory} is in force on {day.isoformat()}"
    return max(in_force, key=lambda v: (v.valid_from, v.version))


def check_codes(metadata: KindMetadata, versions_of: DirectoryVersions) -> None:
    """Raise ClassifierCodeUnknownError unless every code the document uses is valid in
    the directory version in force on its reference date (see the module docstring).
    `versions_of(directory_id)` gives the registered (anchored, unrevoked) versions."""
    day = metadata.reference_date
    if not metadata.codes or day is None:
        return
    for use in metadata.codes:
        found = _in_force(use, versions_of(use.directory), day)
        if isinstance(found, str):
            reason = found
        else:
            code = next((c for c in found.codes if c.code == use.code), None)
            if code is not None and code.valid_on(day):
                continue
            reason = (f"code {use.code!r} is not in directory {use.directory} version "
                      f"{found.version}" if code is None else
                      f"code {use.code!r} of directory {use.directory} version "
                      f"{found.version} is not valid on {day.isoformat()}")
        raise ClassifierCodeUnknownError(
            f"{metadata.kind}: {use.where}: {reason}", kind=metadata.kind, field=use.where,
            directory=use.directory, version=use.version, code=use.code, date=day.isoformat())


__all__ = ["MI_CLASSIFIER_KIND", "MI_GROUP_CARD_KIND", "DirectoryVersions", "check_codes",
           "directory_identifier", "extract_classifier", "extract_group_card"]
