"""The pages a person uses: `/` verifies (drop a file, see the verdict and its evidence);
`/registry` finds instruments and their history, lists issuers with their accreditations,
and shows the alerts feeds."""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["page"])
_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


@cache
def _page(name: str = "verify.html") -> tuple[str, str]:
    """The page and its Content-Security-Policy: only its own inline script and style
    (by hash) may run, so text injected through a certificate's fields never could."""
    page = resources.files("registry.api").joinpath(f"static/{name}").read_text("utf-8")
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for kind, body in _INLINE.findall(page):
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode()
        hashes[kind].append(f"'sha256-{digest}'")
    policy = (f"default-src 'self'; script-src 'self' {' '.join(hashes['script'])}; "
              f"style-src 'self' {' '.join(hashes['style'])}; img-src 'self' data:; "
              "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
    return page, policy


def _served(name: str) -> HTMLResponse:
    page, policy = _page(name)
    return HTMLResponse(page, headers={
        # The page talks only to this origin and loads nothing from elsewhere.
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer"})


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def verification_page() -> HTMLResponse:
    return _served("verify.html")


@router.get("/registry", response_class=HTMLResponse, include_in_schema=False)
def registry_page() -> HTMLResponse:
    return _served("registry.html")
