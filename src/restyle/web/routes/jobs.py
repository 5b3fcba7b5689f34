"""The jobs themselves: create, list, read, follow (server-sent events), resume, cancel or delete."""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from restyle.config import RunConfig
from restyle.errors import ConfigError
from restyle.web.schema import web_config
from restyle.web.security import OwnedJob, Owner
from restyle.web.state import State, WebState
from restyle.web.store import ACTIVE, FINAL, QueueFull
from restyle.web.sweeps import parse_axes, plan_sweep, sweep_doc
from restyle.web.uploads import Submission, read_submission, sniff
from restyle.web.views import job_view

__all__ = ["router"]

router = APIRouter(prefix="/api/jobs", tags=["jobs"])

#: The multipart body of ``POST /api/jobs`` for the OpenAPI document (the route reads the form itself).
UPLOAD_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["content", "style"],
                    "properties": {
                        "content": {"type": "string", "format": "binary", "description": "the photo"},
                        "style": {"type": "string", "format": "binary", "description": "the painting"},
                        "config": {
                            "type": "string",
                            "description": 'settings as a JSON object (see /api/config-schema), e.g. {"size": 256}',
                        },
                        "sweep": {
                            "type": "string",
                            "description": "optional: a sweep over one or two settings (columns, rows), as JSON, "
                            'e.g. [{"field": "style_weight", "values": "1e4,1e5"}] or ["tv_weight=0.1,1"]',
                        },
                    },
                }
            }
        },
    }
}


def _new_id() -> str:
    return secrets.token_hex(16)


def _queue(state: WebState, job: dict[str, Any], files: dict[str, bytes]) -> str:
    """A new job: its files written to a fresh folder, then its row queued (429, folder removed, if the queue
    filled meanwhile); returns its server-made id."""
    job_id = _new_id()
    folder = state.job_dir(job_id)
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    try:
        state.store.create({"id": job_id, **job}, state.limits.max_queued)
    except QueueFull as e:
        shutil.rmtree(folder, ignore_errors=True)
        raise HTTPException(429, f"{e}; try again in a while") from None
    return job_id


def _plan(sub: Submission, state: WebState) -> tuple[RunConfig, dict[str, Any], list[str], dict[str, Any] | None]:
    """The job's settings (checked like CLI flags plus the limits), cleaned overrides, notes and sweep (422)."""
    try:
        config, cleaned, notes = web_config(sub.overrides, state.limits if sub.sweep is None else None)
        doc = None
        if sub.sweep is not None:  # the cells are checked against the limits (their values replace the base's)
            axes = parse_axes(sub.sweep)
            doc = sweep_doc(axes, plan_sweep(config, axes, state.limits))
    except ConfigError as e:
        raise HTTPException(422, str(e)) from None
    return config, cleaned, notes, doc


@router.post("", status_code=202, openapi_extra=UPLOAD_DOC)
async def create_job(request: Request, state: State, owner: Owner) -> dict[str, Any]:
    """Queue a stylisation of ``content`` in the style of ``style`` with the settings in ``config``.

    With ``sweep``, queue one run per cell of a grid over one or two settings instead (``sweep``: a JSON
    list of axes, each ``{"field": F, "values": "V1,V2,..."}`` or ``"F=V1,V2,..."``; values holding commas,
    like layer lists, are separated by ``;``), checked as ``restyle sweep --vary`` checks them.
    Returns ``{"id": ..., "kind": ..., "notes": [...]}`` (notes: e.g. a preset's VGG19 replaced by VGG16)."""
    limits = state.limits
    sub = await read_submission(request, limits)
    config, cleaned, notes, doc = _plan(sub, state)
    suffixes = {name: await asyncio.to_thread(sniff, name, u.data, limits) for name, u in sub.uploads.items()}
    if state.store.count("queued") >= limits.max_queued:
        raise HTTPException(429, f"the queue is full ({limits.max_queued} jobs waiting); try again in a while")
    kind = "run" if doc is None else "sweep"
    content, style = sub.uploads["content"], sub.uploads["style"]
    job = {
        "owner": owner,
        "share": secrets.token_urlsafe(24),
        "overrides": cleaned,
        "config": config.to_dict(),
        "content_name": content.filename,
        "style_name": style.filename,
        "content_file": f"content{suffixes['content']}",
        "style_file": f"style{suffixes['style']}",
        "created": time.time(),
        "kind": kind,
        "sweep": doc,
    }
    job_id = _queue(state, job, {job["content_file"]: content.data, job["style_file"]: style.data})
    return {"id": job_id, "kind": kind, "notes": notes}


@router.get("")
def list_jobs(state: State, owner: Owner) -> list[dict[str, Any]]:
    """This browser's jobs, newest first."""
    return [job_view(state, r, True) for r in state.store.list(owner)]


@router.get("/{job_id}")
def get_job(job: OwnedJob, state: State) -> dict[str, Any]:
    """State (queued/running/done/failed/cancelled/interrupted), progress, losses, error, settings, URLs."""
    return job_view(state, job.row, job.owner)


async def _events(state: WebState, job_id: str, owner: bool, request: Request) -> AsyncIterator[str]:
    """The event stream of one job: ``progress`` on every change, ``end`` once final, keep-alive comments."""
    last: Any = None
    beat = time.monotonic()
    yield "retry: 2000\n\n"
    while True:
        current = await asyncio.to_thread(state.store.get, job_id)
        if current is None:
            yield "event: end\ndata: {}\n\n"
            return
        key = tuple(current[k] for k in ("state", "step", "preview_version", "error", "cell", "cells_done"))
        if key != last:
            last = key
            view = await asyncio.to_thread(job_view, state, current, owner)
            kind = "end" if current["state"] in FINAL else "progress"
            yield f"event: {kind}\ndata: {json.dumps(view)}\n\n"
            beat = time.monotonic()
            if kind == "end":
                return
        elif time.monotonic() - beat > 15:
            yield ": keep-alive\n\n"
            beat = time.monotonic()
        if await request.is_disconnected():
            return
        await asyncio.sleep(state.poll_seconds)


@router.get("/{job_id}/events", response_class=StreamingResponse)
async def job_events(job: OwnedJob, state: State, request: Request) -> StreamingResponse:
    """Server-sent events: ``progress`` (the job as ``GET /api/jobs/{id}`` shows it) on every change of
    state, step or preview; ``end`` once the job is final; a comment every 15 s keeps the stream open."""
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    stream = _events(state, job.id, job.owner, request)
    return StreamingResponse(stream, media_type="text/event-stream", headers=headers)


@router.post("/{job_id}/resume", status_code=202)
def resume_job(job: OwnedJob, state: State) -> dict[str, Any]:
    """Queue an interrupted, cancelled or failed job again; it continues from its checkpoint if it has one."""
    try:
        ok = state.store.requeue(job.id, state.limits.max_queued)
    except QueueFull as e:
        raise HTTPException(429, f"{e}; try again in a while") from None
    if not ok:
        raise HTTPException(409, f"the job is {job.row['state']}: only interrupted, cancelled or failed jobs resume")
    return job_view(state, state.store.get(job.id) or job.row, True)


@router.delete("/{job_id}")
def delete_job(job: OwnedJob, state: State) -> Response:
    """Cancel a queued or running job (202, its state after), or delete a finished one and its files (204)."""
    if job.row["state"] in ACTIVE:
        return JSONResponse({"id": job.id, "state": state.store.cancel(job.id)}, status_code=202)
    state.store.delete(job.id)
    shutil.rmtree(job.folder, ignore_errors=True)
    return Response(status_code=204)
