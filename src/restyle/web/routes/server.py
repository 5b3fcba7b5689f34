"""What this server offers, beside jobs: the settings' schema, the example images, and its health."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from restyle.web.state import State

__all__ = ["router"]

router = APIRouter()


@router.get("/api/config-schema", tags=["settings"])
def get_schema(state: State) -> dict[str, Any]:
    """Every setting (from RunConfig's field metadata), the presets, and this server's limits."""
    return state.schema


@router.get("/api/examples", tags=["settings"])
def list_examples(state: State) -> list[dict[str, str]]:
    """The bundled example images."""
    return [{"name": n, "url": f"/api/examples/{n}"} for n in state.examples]


@router.get("/api/examples/{name}", tags=["settings"], response_class=FileResponse)
def get_example(name: str, state: State) -> FileResponse:
    """One bundled example image (only names from the listing exist)."""
    if name not in state.examples:
        raise HTTPException(404, "no such example")
    return FileResponse(state.examples[name], headers={"Cache-Control": "max-age=3600"})


@router.get("/healthz", tags=["health"])
def healthz(state: State) -> dict[str, Any]:
    """Liveness: the worker processes alive and the queue."""
    return {"ok": True, "workers": len(state.pool.pids()), "queued": state.store.count("queued")}
