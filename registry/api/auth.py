"""Authentication of the issuance API: `Authorization: Bearer <token>` → one issuer.

Tokens come from `certreg api-key create --issuer CODE` (registry.db.credentials keeps
only their SHA-256). The credential names its issuer; requests never do, so there is
no parameter with which one issuer could act for another. Whether this registry can act
for that issuer at all (its operator key serves it on chain) is checked per request by
the issuance routes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from registry.api.deps import SessionFactoryDep
from registry.api.ratelimit import Limiter, client_address
from registry.db.credentials import Credential, authenticate
from registry.errors import UnauthorizedError

# auto_error=False: a missing header is our 401 with a stable code, not FastAPI's 403.
_bearer = HTTPBearer(auto_error=False, scheme_name="ApiCredential",
                     description="An issuer's API token (`certreg api-key create`).")
# Longer than any token we issue: not worth hashing.
MAX_TOKEN_LENGTH = 256


def issuance_limiter(request: Request) -> Limiter:
    return request.app.state.issuance_limiter


def public_limiter(request: Request) -> Limiter:
    return request.app.state.public_limiter


def authenticated_credential(
        request: Request, sessions: SessionFactoryDep,
        presented: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Credential:
    """The active credential of the request; 401 `unauthorized` otherwise (missing,
    malformed, unknown and revoked tokens all look the same to the caller)."""
    token = presented.credentials if presented is not None else ""
    credential = (authenticate(sessions, token)
                  if token and len(token) <= MAX_TOKEN_LENGTH else None)
    if credential is None:
        # Failed attempts spend the caller's public budget, so guessing is throttled too.
        public_limiter(request).check(client_address(request.scope), "failed authentication")
        raise UnauthorizedError("a valid API credential is required: "
                                "`Authorization: Bearer <token>` (certreg api-key create)")
    request.state.credential_id = credential.id
    request.state.issuer = credential.issuer_code
    issuance_limiter(request).check(f"credential:{credential.id}", "per API credential")
    return credential


CredentialDep = Annotated[Credential, Depends(authenticated_credential)]
