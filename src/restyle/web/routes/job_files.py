"""A job's files: the result, the live preview, the settings, and the two uploads.

Included after every other router with routes under ``/api/jobs/{job_id}/``: its last route,
``/{which}``, matches any one-segment name there (see :data:`restyle.web.routes.ROUTERS`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse, JSONResponse

from restyle.web.security import OwnedJob
from restyle.web.uploads import IMAGE_FIELDS, MEDIA
from restyle.web.worker import PREVIEW_NAME, RESULT_NAME

__all__ = ["router"]

router = APIRouter(prefix="/api/jobs/{job_id}", tags=["files"])


@router.get("/result.png", response_class=FileResponse)
def job_result(job: OwnedJob) -> FileResponse:
    """The finished image (PNG, with the run's settings and losses in its metadata)."""
    if job.row["kind"] == "sweep":
        raise HTTPException(409, "this job is a sweep: its images are sheet.png and cells/{index}.png")
    if job.row["state"] != "done":
        raise HTTPException(409, f"the job is {job.row['state']}: no result yet")
    return FileResponse(job.file(RESULT_NAME), media_type="image/png", filename=f"restyle-{job.id}.png")


@router.get("/preview.jpg", response_class=FileResponse)
def job_preview(job: OwnedJob) -> FileResponse:
    """The latest preview of a running (or ended) job, refreshed every few seconds while it runs."""
    return FileResponse(job.file(PREVIEW_NAME), media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get("/settings.json")
def job_settings(job: OwnedJob) -> JSONResponse:
    """The job's settings: the full RunConfig and the values the user chose (``overrides``)."""
    row = job.row
    body: dict[str, Any] = {"config": row["config"], "overrides": row["overrides"]}
    if row["kind"] == "sweep":
        body["sweep"] = [{"field": a["field"], "values": a["labels"]} for a in row["sweep"]["axes"]]
    disposition = f'attachment; filename="restyle-{job.id}-settings.json"'
    return JSONResponse(body, headers={"Content-Disposition": disposition})


def _input_field(which: str) -> str:
    """``content`` or ``style``; 404 for any other name (checked before the job is looked up)."""
    if which not in IMAGE_FIELDS:
        raise HTTPException(404, "not found")
    return which


@router.get("/{which}", response_class=FileResponse)
def job_input(which: Annotated[str, Depends(_input_field)], job: OwnedJob) -> FileResponse:
    """The uploaded ``content`` or ``style`` image."""
    name = job.row[f"{which}_file"]
    return FileResponse(job.file(name), media_type=MEDIA.get(Path(name).suffix, "application/octet-stream"))
