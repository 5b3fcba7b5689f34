"""The page (``/``), the offline API reference (``/docs``), and their static files (``/static``)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["STATIC", "router", "static_files"]

#: The page's HTML, CSS and JavaScript (nothing is loaded from elsewhere).
STATIC = Path(__file__).resolve().parents[1] / "static"

router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> FileResponse:
    """The single-page app."""
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/docs")
def docs() -> FileResponse:
    """A local reader of ``/openapi.json`` (FastAPI's Swagger UI and ReDoc would load from a CDN)."""
    return FileResponse(STATIC / "docs.html", headers={"Cache-Control": "no-cache"})


def static_files() -> StaticFiles:
    """The app to mount at ``/static`` (a mount is the app's, not a router's)."""
    return StaticFiles(directory=STATIC)
