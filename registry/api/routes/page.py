"""The verification page a person uses: drop a file, see the verdict and its evidence."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["page"])


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def verification_page() -> HTMLResponse:
    page = resources.files("registry.api").joinpath("static/verify.html").read_text("utf-8")
    return HTMLResponse(page, headers={
        # The page talks only to this origin and loads nothing from elsewhere.
        "Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline' 'self'; "
                                   "style-src 'unsafe-inline' 'self'; img-src 'self' data:",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer"})
