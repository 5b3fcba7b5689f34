"""The FastAPI app of ``restyle serve``: the JSON/SSE API, the page, and the worker pool's lifetime.

API (documented at ``/docs``; the page uses exactly this):

* ``POST /api/jobs`` (multipart: ``content``, ``style`` files, ``config`` JSON, optional ``sweep`` JSON)
  → 202 ``{"id": ..., "kind": "run" | "sweep", "notes": [...]}``
* ``GET /api/jobs`` → this browser's jobs, newest first
* ``GET /api/jobs/{id}`` → state, progress, losses, error, settings and URLs
* ``GET /api/jobs/{id}/events`` → server-sent events: ``progress`` on every change, ``end`` when final
* ``GET /api/jobs/{id}/preview.jpg``, ``/result.png``, ``/settings.json``, ``/content``, ``/style``
* ``POST /api/jobs/{id}/resume`` → queue an interrupted/cancelled/failed job again (from its checkpoint)
* ``DELETE /api/jobs/{id}`` → cancel a queued or running job; delete a finished one
* a sweep (``sweep``: one or two axes, ``[{"field": "style_weight", "values": "1e4,1e5"}]``, parsed
  and checked as ``restyle sweep --vary``) is a job too: the same state, events, cancel, resume and
  delete; ``GET /api/jobs/{id}`` adds ``sweep`` (axes, cells done / total, each cell's state, losses,
  seconds and image URL); its files are ``/cells/{index}.png`` (each as soon as it is finished),
  ``/sheet.png`` (the labelled contact sheet), ``/results.json`` and ``/results.csv``
* ``GET /api/config-schema``, ``GET /api/examples``, ``GET /api/examples/{name}``, ``GET /healthz``

Layout: this module assembles the app; the routes are :mod:`restyle.web.routes` (one APIRouter per
concern), what they share is :mod:`restyle.web.state` (a FastAPI dependency), the access rules are
:mod:`restyle.web.security` (one dependency every job route takes), the JSON a job shows is
:mod:`restyle.web.views`, and a new job's request is read and sniffed by :mod:`restyle.web.uploads`.

Safety: ids are server-generated (32 hex digits, checked by ``security.owned_job``), so no path comes from a
client; each browser gets an unguessable owner token in an HttpOnly cookie and sees only its own
jobs, unless a link carries a job's share token (``?token=...``: read-only). Uploads are sniffed
by content (415 if not an image, 400 if corrupt), limited in bytes and pixels (413); the queue
length is bounded (429); settings are checked like CLI flags plus the server's limits (422).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from restyle.web.routes import ROUTERS
from restyle.web.routes.page import static_files
from restyle.web.schema import Limits
from restyle.web.security import BodyLimit, owner_cookie
from restyle.web.state import WebState, open_state
from restyle.web.views import job_eta as _eta  # noqa: F401 -- the names the tests (and older callers) import
from restyle.web.views import sweep_eta as _sweep_eta  # noqa: F401
from restyle.web.worker import WorkerSettings

__all__ = ["Limits", "create_app"]


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Jobs a previous server left running become interrupted (resumable); the workers run while the app does."""
    state: WebState = app.state.web
    state.store.recover()
    state.pool.start()
    try:
        yield
    finally:
        await asyncio.to_thread(state.pool.stop)


def create_app(
    data_dir: str | Path,
    workers: int = 1,
    *,
    limits: Limits | None = None,
    weights: str | Path | None = None,
    preview_seconds: float = 2.0,
    checkpoint_seconds: float = 15.0,
    torch_threads: int | None = None,
    examples_dir: str | Path | None = None,
    poll_seconds: float = 0.25,
) -> FastAPI:
    """The web app for ``data_dir`` (SQLite store and job files), with ``workers`` worker processes.

    Args:
        data_dir: where jobs live (created if missing); a restart on the same folder keeps every job.
        workers: worker processes (0: none -- jobs stay queued; for tests of the API alone).
        limits: what the server accepts (:class:`Limits`).
        weights: a weights file every job uses instead of the registry's model (server-side only).
        preview_seconds: how often a running job writes its preview image.
        checkpoint_seconds: how often a running job writes a resumable checkpoint.
        torch_threads: torch threads per worker (None: torch's default).
        examples_dir: the example images offered by the page (default: the repository's ``examples/``).
        poll_seconds: how often an event stream looks for changes.
    """
    settings = WorkerSettings(
        weights=str(weights) if weights is not None else None,
        preview_seconds=preview_seconds,
        checkpoint_seconds=checkpoint_seconds,
        torch_threads=torch_threads,
    )
    state = open_state(data_dir, workers, limits or Limits(), settings, examples_dir, poll_seconds)
    app = FastAPI(
        title="restyle",
        description="Neural style transfer: upload a photo and a painting, tune, watch it paint, download.",
        version="0.1.0",
        lifespan=_lifespan,
        docs_url=None,  # FastAPI's Swagger UI and ReDoc load from a CDN: /docs is a local page instead
        redoc_url=None,
    )
    app.state.web = state  # what the routes' ``State`` reads; the four below as before, for callers and tests
    app.state.store, app.state.pool = state.store, state.pool
    app.state.limits, app.state.data_dir = state.limits, state.root
    app.add_middleware(BodyLimit, limit=2 * state.limits.max_upload_bytes + 65536)
    app.middleware("http")(owner_cookie)  # outside BodyLimit: a refused upload still gets its cookie
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", static_files(), name="static")
    return app
