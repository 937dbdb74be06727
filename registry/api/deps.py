"""Dependencies of the routes, as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from anchor.chain import RegistryClient
from registry.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_registry_client(request: Request) -> RegistryClient:
    state = request.app.state
    if getattr(state, "registry_client", None) is None:
        from registry.context import registry_client

        state.registry_client = registry_client(state.settings)
    return state.registry_client


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryClientDep = Annotated[RegistryClient, Depends(get_registry_client)]
