"""Dependencies of the routes, as `Annotated` aliases.

The app keeps one registry client and one session factory (built lazily from its
Settings on first use), so a route never opens connections of its own.
"""

from __future__ import annotations

import threading
from typing import Annotated

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


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def registry_client_of(request: Request) -> RegistryClient:
    state = request.app.state
    with _BUILD_LOCK:
        if state.registry_client is None:
            from registry.context import registry_client

            state.registry_client = registry_client(state.settings)
    return state.registry_client


def session_factory_of(request: Request) -> sessionmaker[Session]:
    state = request.app.state
    with _BUILD_LOCK:
        if state.session_factory is None:
            from registry.db import open_database

            state.session_factory = open_database(state.settings.effective_database_url)
    return state.session_factory


def content_store_of(request: Request) -> ContentStore:
    state = request.app.state
    with _BUILD_LOCK:
        if getattr(state, "content_store", None) is None:
            from registry.context import content_store

            state.content_store = content_store(state.settings)
    return state.content_store


async def get_trust_anchors(request: Request) -> TrustAnchors | None:
    return request.app.state.trust_anchors


async def get_registry_client(request: Request) -> RegistryClient:
    client = request.app.state.registry_client
    return client if client is not None else await run_in_threadpool(registry_client_of,
                                                                       request)


async def get_session_factory(request: Request) -> sessionmaker[Session]:
    factory = request.app.state.session_factory
    return factory if factory is not None else await run_in_threadpool(session_factory_of,
                                                                         request)


async def get_content_store(request: Request) -> ContentStore:
    store = getattr(request.app.state, "content_store", None)
    return store if store is not None else await run_in_threadpool(content_store_of, request)


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
    state = request.app.state
    with _BUILD_LOCK:
        if getattr(state, "projection_watch", None) is None:
            state.projection_watch = watch_projection(session_factory_of(request).kw["bind"])
    return state.projection_watch


def fast_verifier_of(request: Request) -> FastVerifier:
    state = request.app.state
    with _BUILD_LOCK:
        if getattr(state, "fast_verifier", None) is None:
            state.fast_verifier = FastVerifier(session_factory_of(request),
                                               registry_client_of(request),
                                               content_store_of(request),
                                               state.settings.confirmations,
                                               watch=projection_watch_of(request))
    return state.fast_verifier


async def get_fast_verifier(request: Request) -> FastVerifier:
    """One per process: it holds the caches of confirmed batches and signature verdicts."""
    verifier = getattr(request.app.state, "fast_verifier", None)
    return verifier if verifier is not None else await run_in_threadpool(fast_verifier_of,
                                                                           request)


FastVerifierDep = Annotated[FastVerifier, Depends(get_fast_verifier)]


def projection_responses_of(request: Request) -> ProjectionResponses[bytes]:
    state = request.app.state
    with _BUILD_LOCK:
        if getattr(state, "projection_responses", None) is None:
            state.projection_responses = ProjectionResponses(projection_watch_of(request),
                                                              weigh=len)
    return state.projection_responses


async def get_projection_responses(request: Request) -> ProjectionResponses[bytes]:
    """One per process: lookup and search bodies by projection generation."""
    responses = getattr(request.app.state, "projection_responses", None)
    return responses if responses is not None else await run_in_threadpool(
        projection_responses_of, request)


ProjectionResponsesDep = Annotated[ProjectionResponses[bytes], Depends(get_projection_responses)]
