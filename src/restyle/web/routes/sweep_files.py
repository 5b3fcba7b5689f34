"""A sweep's files: each finished cell's image, and at the end the contact sheet and the JSON/CSV tables."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, JSONResponse

from restyle.web.security import JobAccess, OwnedJob
from restyle.web.sweeps import CELLS_DIR, RESULTS_CSV, RESULTS_JSON, SHEET_NAME, SWEEP_DIR

__all__ = ["router"]

router = APIRouter(prefix="/api/jobs/{job_id}", tags=["sweeps"])


def _finished_file(job: JobAccess, name: str) -> Path:
    """A finished sweep's file (409 while it runs, 404 for a single run)."""
    if job.row["kind"] != "sweep":
        raise HTTPException(404, "this job is not a sweep")
    if job.row["state"] != "done":
        raise HTTPException(409, f"the sweep is {job.row['state']}: the sheet and tables are written at its end")
    return job.file(f"{SWEEP_DIR}/{name}")


@router.get("/cells/{index}.png", response_class=FileResponse)
def sweep_cell(index: int, job: OwnedJob) -> FileResponse:
    """One finished cell of a sweep (PNG with its run's metadata), available as soon as the cell is done."""
    if job.row["kind"] != "sweep":
        raise HTTPException(404, "this job is not a sweep")
    cells = job.row["sweep"]["cells"]
    if not 0 <= index < len(cells):
        raise HTTPException(404, f"no cell {index}: this sweep has cells 0 to {len(cells) - 1}")
    if str(index) not in job.row["cells"]:
        raise HTTPException(409, f"cell {index} is not finished yet")
    name = cells[index]["name"]  # made by the server's plan, never a client's string
    path = job.file(f"{SWEEP_DIR}/{CELLS_DIR}/{name}.png")
    return FileResponse(path, media_type="image/png", filename=f"restyle-{job.id}-{name}.png")


@router.get("/sheet.png", response_class=FileResponse)
def sweep_sheet(job: OwnedJob) -> FileResponse:
    """A finished sweep's contact sheet: inputs, every cell labelled with its values, losses and seconds."""
    path = _finished_file(job, SHEET_NAME)
    return FileResponse(path, media_type="image/png", filename=f"restyle-{job.id}-sheet.png")


@router.get("/results.json")
def sweep_results_json(job: OwnedJob) -> JSONResponse:
    """A finished sweep's record: base settings, axes, and every cell's values, settings, losses and time."""
    doc = json.loads(_finished_file(job, RESULTS_JSON).read_text())
    doc["content"], doc["style"] = job.row["content_name"], job.row["style_name"]  # the uploads, not server paths
    disposition = f'attachment; filename="restyle-{job.id}-results.json"'
    return JSONResponse(doc, headers={"Content-Disposition": disposition})


@router.get("/results.csv", response_class=FileResponse)
def sweep_results_csv(job: OwnedJob) -> FileResponse:
    """A finished sweep's table: one row per cell (swept values, image, loss terms, seconds, size)."""
    path = _finished_file(job, RESULTS_CSV)
    return FileResponse(path, media_type="text/csv", filename=f"restyle-{job.id}-results.csv")
