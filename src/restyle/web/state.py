"""What every route of the web app shares: the store, the worker pool, the limits, and the data folder.

One :class:`WebState` per app, built by :func:`open_state` in :func:`~restyle.web.app.create_app` and kept
on ``app.state.web``; a route asks for it as a FastAPI dependency (``state: State``) instead of closing
over it, so routes live in their own modules (:mod:`restyle.web.routes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request

from restyle.web.schema import Limits, config_schema
from restyle.web.store import JobStore
from restyle.web.worker import WorkerPool, WorkerSettings, job_dir, store_path

__all__ = ["EXAMPLES", "State", "WebState", "open_state", "web_state"]

#: The repository's example images (present in a source checkout).
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
_EXAMPLE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class WebState:
    """The app's shared parts (one per app; routes read it through :func:`web_state`)."""

    root: Path  #: the data folder (resolved): ``jobs.sqlite3`` and ``jobs/<id>/``
    store: JobStore
    pool: WorkerPool
    limits: Limits
    schema: dict[str, Any]  #: ``GET /api/config-schema``'s answer (computed once)
    examples: dict[str, Path]  #: example images by file name (only these names are served)
    poll_seconds: float  #: how often an event stream looks for changes

    def job_dir(self, job_id: str) -> Path:
        """The folder of one job's files (uploads, result, preview, checkpoint, sweep files)."""
        return job_dir(self.root, job_id)


def open_state(
    data_dir: str | Path,
    workers: int,
    limits: Limits,
    settings: WorkerSettings,
    examples_dir: str | Path | None,
    poll_seconds: float,
) -> WebState:
    """The shared state for ``data_dir`` (created if missing); the worker pool is made here, started later."""
    root = Path(data_dir).resolve()
    (root / "jobs").mkdir(parents=True, exist_ok=True)
    folder = Path(examples_dir) if examples_dir is not None else EXAMPLES
    examples = {p.name: p for p in sorted(folder.glob("*")) if p.suffix.lower() in _EXAMPLE_SUFFIXES and p.is_file()}
    return WebState(
        root=root,
        store=JobStore(store_path(root)),
        pool=WorkerPool(root, workers, settings),
        limits=limits,
        schema=config_schema(limits),
        examples=examples,
        poll_seconds=poll_seconds,
    )


def web_state(request: Request) -> WebState:
    """FastAPI dependency: the :class:`WebState` of the app serving ``request``."""
    return request.app.state.web


#: A route's parameter ``state: State`` receives the app's :class:`WebState`.
State = Annotated[WebState, Depends(web_state)]
