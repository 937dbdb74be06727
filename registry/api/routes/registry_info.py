"""What this registry is: contract, chain, governance."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from registry.api.deps import RegistryClientDep

router = APIRouter(prefix="/v1", tags=["registry"])


class RegistryInfo(BaseModel):
    contract_address: str
    chain_id: int
    deployment_block: int
    governors: list[str]
    threshold: int
    paused: bool
    batch_count: int


@router.get("/registry", response_model=RegistryInfo)
def registry_info(client: RegistryClientDep) -> RegistryInfo:
    return RegistryInfo(contract_address=client.address, chain_id=client.chain_id,
                        deployment_block=client.deployment_block, governors=client.governors(),
                        threshold=client.threshold(), paused=client.paused(),
                        batch_count=client.batch_count())
