"""Dependencies of the routes, as `Annotated` aliases.

The app keeps one registry client and one session factory (built lazily from its
Settings on first use), so a route never opens connections of its own.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from anchor.chain import RegistryClient
from anchor.store import ContentStore
from registry.db.queries import DatabaseIndexView
from registry.settings import Settings
from registry.verdicts import FastVerifier
from registry.verify import ChainView, IndexView
from registry.verify.steps import TrustChecks


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_registry_client(request: Request) -> RegistryClient:
    state = request.app.state
    if state.registry_client is None:
        from registry.context import registry_client

        state.registry_client = registry_client(state.settings)
    return state.registry_client


def get_session_factory(request: Request) -> sessionmaker[Session]:
    state = request.app.state
    if state.session_factory is None:
        from registry.db import open_database

        state.session_factory = open_database(state.settings.effective_database_url)
    return state.session_factory


def get_content_store(request: Request) -> ContentStore:
    state = request.app.state
    if getattr(state, "content_store", None) is None:
        from registry.context import content_store

        state.content_store = content_store(state.settings)
    return state.content_store


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryClientDep = Annotated[RegistryClient, Depends(get_registry_client)]
SessionFactoryDep = Annotated[sessionmaker[Session], Depends(get_session_factory)]
ContentStoreDep = Annotated[ContentStore, Depends(get_content_store)]


def get_index_view(sessions: SessionFactoryDep) -> IndexView:
    return DatabaseIndexView(sessions)


def get_chain_view(client: RegistryClientDep) -> ChainView:
    return client


IndexViewDep = Annotated[IndexView, Depends(get_index_view)]
ChainViewDep = Annotated[ChainView, Depends(get_chain_view)]


def get_trust_checks(sessions: SessionFactoryDep, store: ContentStoreDep) -> TrustChecks:
    from registry.trust import RegistryTrustChecks

    return RegistryTrustChecks(sessions, store)


TrustChecksDep = Annotated[TrustChecks, Depends(get_trust_checks)]


def get_fast_verifier(request: Request, sessions: SessionFactoryDep,
                      client: RegistryClientDep, store: ContentStoreDep) -> FastVerifier:
    """One per process: it holds the cache of confirmed batch records."""
    state = request.app.state
    if getattr(state, "fast_verifier", None) is None:
        state.fast_verifier = FastVerifier(sessions, client, store,
                                           state.settings.confirmations)
    return state.fast_verifier


FastVerifierDep = Annotated[FastVerifier, Depends(get_fast_verifier)]
