"""The chain projection: the event indexer and the batch manifests it reads."""

from registry.index.indexer import Indexer, IndexReport
from registry.index.manifest import MANIFEST_FORMAT, BatchManifest, ManifestCache, ManifestMember

__all__ = ["MANIFEST_FORMAT", "BatchManifest", "IndexReport", "Indexer", "ManifestCache",
           "ManifestMember"]
