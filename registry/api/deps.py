"""Dependencies of the routes, as `Annotated` aliases.

The app keeps one registry client and one session factory (built lazily from its
Settings on first use), so a route never opens connections of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker

from anchor.chain import RegistryClient
from anchor.store import ContentStore
from registry.db.generation import ProjectionWatch, watch_projection
from registry.db.queries import DatabaseIndexView
from registry.documents.signer_trust import TrustAnchors
from registry.response_cache import ProjectionResponses
from registry.settings import Settings
from registry.verdicts import FastVerifier
from registry.verify import ChainView, IndexView
from registry.verify.steps import TrustChecks

# The dependencies are coroutines: FastAPI runs a plain function dependency in the
# thread pool, a round trip per dependency and request that cost verification most of
# its time. What they build on first use (an RPC connection, a migrated database) is
# built in the thread pool once; after that they only read app.state.


# Concurrent first requests (a page loads several feeds at once) would otherwise each
# build these in their own thread: two Alembic upgrades in one process race on Alembic's
# module-level proxies. Reentrant: the fast verifier builds the others.
_BUILD_LOCK = threading.RLock()
T = TypeVar("T")


def _built_once(request: Request, name: str, build: Callable[[], T]) -> T:
    """app.state.<name>, built by `build` on first use under the lock."""
    state = request.app.state
    with _BUILD_LOCK:
        if getattr(state, name, None) is None:
            setattr(state, name, build())
    return getattr(state, name)


async def _built_off_loop(request: Request, name: str,
                          built_of: Callable[[Request], T]) -> T:
    """app.state.<name> as it stands, or `built_of` run in the thread pool once (it may
    connect or migrate), never on the event loop."""
    built = getattr(request.app.state, name, None)
    return built if built is not None else await run_in_threadpool(built_of, request)


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def registry_client_of(request: Request) -> RegistryClient:
    from registry.context import registry_client

    return _built_once(request, "registry_client",
                       lambda: registry_client(request.app.state.settings))


def session_factory_of(request: Request) -> sessionmaker[Session]:
    from registry.db import open_database

    return _built_once(request, "session_factory", lambda: open_database(
        request.app.state.settings.effective_database_url))


def content_store_of(request: Request) -> ContentStore:
    from registry.context import content_store

    return _built_once(request, "content_store",
                       lambda: content_store(request.app.state.settings))


async def get_trust_anchors(request: Request) -> TrustAnchors | None:
    return request.app.state.trust_anchors


async def get_registry_client(request: Request) -> RegistryClient:
    return await _built_off_loop(request, "registry_client", registry_client_of)


async def get_session_factory(request: Request) -> sessionmaker[Session]:
    return await _built_off_loop(request, "session_factory", session_factory_of)


async def get_content_store(request: Request) -> ContentStore:
    return await _built_off_loop(request, "content_store", content_store_of)


SettingsDep = Annotated[Settings, Depends(get_settings)]
TrustAnchorsDep = Annotated[TrustAnchors | None, Depends(get_trust_anchors)]
RegistryClientDep = Annotated[RegistryClient, Depends(get_registry_client)]
SessionFactoryDep = Annotated[sessionmaker[Session], Depends(get_session_factory)]
ContentStoreDep = Annotated[ContentStore, Depends(get_content_store)]


async def get_index_view(sessions: SessionFactoryDep) -> IndexView:
    return DatabaseIndexView(sessions)


async def get_chain_view(client: RegistryClientDep) -> ChainView:
    return client


IndexViewDep = Annotated[IndexView, Depends(get_index_view)]
ChainViewDep = Annotated[ChainView, Depends(get_chain_view)]


async def get_trust_checks(sessions: SessionFactoryDep, store: ContentStoreDep) -> TrustChecks:
    from registry.trust import RegistryTrustChecks

    return RegistryTrustChecks(sessions, store)


TrustChecksDep = Annotated[TrustChecks, Depends(get_trust_checks)]


def projection_watch_of(request: Request) -> ProjectionWatch:
    return _built_once(request, "projection_watch", lambda: watch_projection(
        session_factory_of(request).kw["bind"]))


def fast_verifier_of(request: Request) -> FastVerifier:
    return _built_once(request, "fast_verifier", lambda: FastVerifier(
        session_factory_of(request), registry_client_of(request), content_store_of(request),
        request.app.state.settings.confirmations, watch=projection_watch_of(request)))


async def get_fast_verifier(request: Request) -> FastVerifier:
    """One per process: it holds the caches of confirmed batches and signature verdicts."""
    return await _built_off_loop(request, "fast_verifier", fast_verifier_of)


FastVerifierDep = Annotated[FastVerifier, Depends(get_fast_verifier)]


def projection_responses_of(request: Request) -> ProjectionResponses[bytes]:
    return _built_once(request, "projection_responses", lambda: ProjectionResponses(
        projection_watch_of(request), weigh=len))


async def get_projection_responses(request: Request) -> ProjectionResponses[bytes]:
    """One per process: lookup and search bodies by projection generation."""
    return await _built_off_loop(request, "projection_responses", projection_responses_of)


ProjectionResponsesDep = Annotated[ProjectionResponses[bytes], Depends(get_projection_responses)]
