"""The registered versions of a digital directory (MI classifier), read from the projection.

A version counts when it is anchored and not revoked by its issuer (a superseded version
is revoked, so it stops counting). A directory id belongs to the issuer that anchored its
first version: versions another issuer anchors under the same id are ignored, so nobody
can slip codes into someone else's classifier.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from registry.db.models import ChainBatch, ChainDocument
from registry.db.search import NUMBER, identifier_matches, normalise, revoked_flag
from registry.documents.kinds import DirectoryContent, KindMetadata
from registry.documents.model import DocumentType


def directory_versions(session: Session, directory_id: str) -> list[DirectoryContent]:
    """The anchored, unrevoked versions of `directory_id`, first-anchored issuer only."""
    rows = session.execute(
        select(ChainDocument.issuer_id, ChainDocument.public_metadata, revoked_flag())
        .join(ChainBatch, ChainBatch.batch_id == ChainDocument.batch_id)
        .where(ChainDocument.document_type == DocumentType.MI_CLASSIFIER.value,
               ChainDocument.encrypted.is_(False),
               identifier_matches(NUMBER, normalise(directory_id)))
        .order_by(ChainDocument.block_number, ChainDocument.batch_id)).all()
    owner: str | None = None
    versions: dict[str, DirectoryContent] = {}
    for issuer_id, metadata, revoked in rows:
        try:
            directory = KindMetadata.from_json(metadata or {}).directory
        except (TypeError, ValueError):
            continue  # not readable as a classifier: not a version of it
        if directory is None or directory.id != directory_id:
            continue
        owner = owner or issuer_id
        if issuer_id == owner and not revoked:
            versions.setdefault(directory.version, directory)
    return list(versions.values())


class DirectoryLookup:
    """`versions_of(directory_id)` for `registry.documents.directories.check_codes`."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def __call__(self, directory_id: str) -> list[DirectoryContent]:
        with self.sessions() as session:
            return directory_versions(session, directory_id)
