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

Safety: ids are server-generated (32 hex digits, checked by the routes), so no path comes from a
client; each browser gets an unguessable owner token in an HttpOnly cookie and sees only its own
jobs, unless a link carries a job's share token (``?token=...``: read-only). Uploads are sniffed
by content (415 if not an image, 400 if corrupt), limited in bytes and pixels (413); the queue
length is bounded (429); settings are checked like CLI flags plus the server's limits (422).
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import secrets
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from PIL import Image, UnidentifiedImageError
from starlette.datastructures import UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from restyle.errors import ConfigError
from restyle.web.schema import Limits, config_schema, web_config
from restyle.web.store import ACTIVE, FINAL, JobStore, QueueFull
from restyle.web.sweeps import (
    CELLS_DIR,
    RESULTS_CSV,
    RESULTS_JSON,
    SHEET_NAME,
    SWEEP_DIR,
    parse_axes,
    plan_sweep,
    sweep_doc,
)
from restyle.web.worker import PREVIEW_NAME, RESULT_NAME, WorkerPool, WorkerSettings, job_dir, store_path

__all__ = ["Limits", "create_app"]

STATIC = Path(__file__).parent / "static"
#: The repository's example images (present in a source checkout).
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
OWNER_COOKIE = "restyle_owner"
_ID = re.compile(r"^[0-9a-f]{32}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
#: Formats accepted (Pillow's names) and the file suffix each upload is stored under.
FORMATS = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "TIFF": ".tif", "BMP": ".bmp", "GIF": ".gif"}
MEDIA = {".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp", ".tif": "image/tiff"}
MEDIA |= {".bmp": "image/bmp", ".gif": "image/gif"}


class _TooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the upload is larger than this server's limit of {limit / 1e6:g} MB")


class BodyLimit:
    """ASGI middleware: refuse request bodies above ``limit`` bytes (413), by header and while streaming."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await JSONResponse({"detail": _TooLarge(self.limit).detail}, 413)(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge(self.limit)
            return message

        await self.app(scope, limited, send)


def _new_id() -> str:
    return secrets.token_hex(16)


def _sniff(name: str, data: bytes, limits: Limits) -> str:
    """The stored suffix of an uploaded image; HTTPException 415/413/400 naming the upload."""
    if not data:
        raise HTTPException(400, f"{name}: the file is empty")
    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt = im.format or ""
            width, height = im.size
            if fmt not in FORMATS:
                raise HTTPException(
                    415, f"{name}: {fmt} images are not accepted; use PNG, JPEG, WebP, TIFF, BMP or GIF"
                )
            if width * height > limits.max_input_pixels:
                raise HTTPException(
                    413,
                    f"{name}: {width}x{height} is {width * height / 1e6:.1f} megapixels; this server accepts at most "
                    f"{limits.max_input_pixels / 1e6:g}",
                )
            im.load()
    except UnidentifiedImageError:
        raise HTTPException(415, f"{name}: not an image (PNG, JPEG, WebP, TIFF, BMP or GIF expected)") from None
    except Image.DecompressionBombError:
        raise HTTPException(413, f"{name}: the image has too many pixels") from None
    except HTTPException:
        raise
    except Exception as e:  # truncated or corrupt data: Pillow raises OSError, SyntaxError, ValueError...
        raise HTTPException(400, f"{name}: the image is corrupt or truncated ({type(e).__name__})") from None
    return FORMATS[fmt]


def _eta(row: dict[str, Any]) -> float | None:
    """Seconds left of a running job (or sweep cell): the worker's :class:`~restyle.engine.eta.RunETA` estimate
    at its last progress update, less the time since then; None when not running or not yet estimated."""
    if row["state"] != "running" or row.get("eta_s") is None:
        return None
    since = time.time() - row["eta_at"] if row.get("eta_at") else 0.0
    return max(float(row["eta_s"]) - max(since, 0.0), 0.0)


def _sweep_eta(row: dict[str, Any]) -> float | None:
    """Seconds left of a running sweep: the running cell's ETA plus the cells after it, each taking as long
    as the finished cells took on average (or as the running one is expected to take, before any finished)."""
    cell_eta = _eta(row)
    if cell_eta is None:
        return None
    times = [float(c["time_s"]) for c in row["cells"].values()]
    per_cell = sum(times) / len(times) if times else row["elapsed"] + cell_eta
    after = max(len(row["sweep"]["cells"]) - row["cells_done"] - 1, 0)
    return cell_eta + after * per_cell


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
    root = Path(data_dir).resolve()
    (root / "jobs").mkdir(parents=True, exist_ok=True)
    limits = limits or Limits()
    store = JobStore(store_path(root))
    settings = WorkerSettings(
        weights=str(weights) if weights is not None else None,
        preview_seconds=preview_seconds,
        checkpoint_seconds=checkpoint_seconds,
        torch_threads=torch_threads,
    )
    pool = WorkerPool(root, workers, settings)
    folder = Path(examples_dir) if examples_dir is not None else EXAMPLES
    examples = {
        p.name: p for p in sorted(folder.glob("*")) if p.suffix.lower() in (".jpg", ".jpeg", ".png") and p.is_file()
    }
    schema = config_schema(limits)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store.recover()  # jobs a previous server left running: interrupted, resumable
        pool.start()
        try:
            yield
        finally:
            await asyncio.to_thread(pool.stop)

    app = FastAPI(
        title="restyle",
        description="Neural style transfer: upload a photo and a painting, tune, watch it paint, download.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's Swagger UI and ReDoc load from a CDN: /docs is a local page instead
        redoc_url=None,
    )
    app.state.store, app.state.pool, app.state.limits, app.state.data_dir = store, pool, limits, root
    app.add_middleware(BodyLimit, limit=2 * limits.max_upload_bytes + 65536)

    @app.middleware("http")
    async def owner_cookie(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        token = request.cookies.get(OWNER_COOKIE, "")
        fresh = not _TOKEN.match(token)
        request.state.owner = secrets.token_urlsafe(24) if fresh else token
        response = await call_next(request)
        if fresh:
            response.set_cookie(
                OWNER_COOKIE, request.state.owner, max_age=365 * 86400, httponly=True, samesite="lax", path="/"
            )
        return response

    # ------------------------------------------------------------------ helpers
    def access(request: Request, job_id: str, token: str | None, *, write: bool = False) -> tuple[dict[str, Any], bool]:
        """The job row if this browser owns it or ``token`` is its share token; 404 otherwise (403 to write)."""
        if not _ID.match(job_id):
            raise HTTPException(404, "no such job")
        row = store.get(job_id)
        if row is None:
            raise HTTPException(404, "no such job")
        owner = secrets.compare_digest(row["owner"], request.state.owner)
        shared = token is not None and secrets.compare_digest(row["share"], token)
        if not (owner or shared):
            raise HTTPException(404, "no such job")
        if write and not owner:
            raise HTTPException(403, "only the browser that started this job can change it")
        return row, owner

    def sweep_view(row: dict[str, Any], base: str, q: str) -> dict[str, Any]:
        """A sweep's grid as the API shows it: axes, counts, and every cell's state, losses, time and image URL."""
        doc = row["sweep"]
        running = row["state"] == "running"
        cells = []
        for c in doc["cells"]:
            done = row["cells"].get(str(c["index"]))
            state = "done" if done else "running" if running and row["cell"] == c["index"] else "pending"
            cells.append(
                {
                    **c,
                    "state": state,
                    "losses": done["losses"] if done else None,
                    "time_s": done["time_s"] if done else None,
                    "size": done["size"] if done else None,
                    "resumed": bool(done and done.get("resumed")),  # found finished when the sweep resumed
                    "image": f"{base}/cells/{c['index']}.png{q}" if done else None,
                }
            )
        current = row["cell"] if running and row["cell"] >= 0 else None
        return {
            "axes": doc["axes"],
            "cols": doc["cols"],
            "rows": doc["rows"],
            "cells_done": row["cells_done"],
            "cells_total": len(doc["cells"]),
            "current": current,
            "cells": cells,
        }

    def public(row: dict[str, Any], owner: bool) -> dict[str, Any]:
        """What the API shows of a job (no owner token; the share token only to its owner)."""
        base = f"/api/jobs/{row['id']}"
        q = "" if owner else f"?token={row['share']}"
        sep = "&" if q else "?"
        folder = job_dir(root, row["id"])
        has_preview = row["preview_version"] > 0 and (folder / PREVIEW_NAME).is_file()
        is_sweep = row["kind"] == "sweep"
        done = row["state"] == "done"
        urls = {
            "self": base + q,
            "events": f"{base}/events{q}",
            "content": f"{base}/content{q}",
            "style": f"{base}/style{q}",
            "settings": f"{base}/settings.json{q}",
            "preview": f"{base}/preview.jpg{q}{sep}v={row['preview_version']}" if has_preview else None,
            "result": f"{base}/result.png{q}" if done and not is_sweep else None,
        }
        if is_sweep:
            urls["sheet"] = f"{base}/sheet.png{q}" if done else None
            urls["results_json"] = f"{base}/results.json{q}" if done else None
            urls["results_csv"] = f"{base}/results.csv{q}" if done else None
        if owner:
            urls["share"] = f"/?job={row['id']}&token={row['share']}"
        return {
            "id": row["id"],
            "kind": row["kind"],
            "state": row["state"],
            "owner": owner,
            "created": row["created"],
            "started": row["started"],
            "finished": row["finished"],
            "queue_position": store.position(row["id"]) if row["state"] == "queued" else None,
            "progress": {
                "step": row["step"],
                "total_steps": row["total_steps"],
                "scale": row["scale"],
                "scales": row["scales"],
                "size": [row["width"], row["height"]],
                "elapsed": row["elapsed"],
                "eta": _sweep_eta(row) if is_sweep else _eta(row),
                "resumed_from": row["resumed_from"],
                "checkpoint_step": row["checkpoint_step"],
            },
            "losses": row["losses"],
            "error": row["error"],
            "model": row["model"],
            "resumable": row["state"] in ("interrupted", "cancelled", "failed"),
            "content_name": row["content_name"],
            "style_name": row["style_name"],
            "overrides": row["overrides"],
            "config": row["config"],
            "preview_version": row["preview_version"],
            "sweep": sweep_view(row, base, q) if is_sweep else None,
            "urls": urls,
        }

    def file_of(row: dict[str, Any], name: str) -> Path:
        path = job_dir(root, row["id"]) / name
        if not path.is_file():
            raise HTTPException(404, "not available")
        return path

    # ------------------------------------------------------------------ jobs
    upload_doc = {
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

    @app.post("/api/jobs", status_code=202, openapi_extra=upload_doc, tags=["jobs"])
    async def create_job(request: Request) -> dict[str, Any]:
        """Queue a stylisation of ``content`` in the style of ``style`` with the settings in ``config``.

        With ``sweep``, queue one run per cell of a grid over one or two settings instead (``sweep``: a JSON
        list of axes, each ``{"field": F, "values": "V1,V2,..."}`` or ``"F=V1,V2,..."``; values holding commas,
        like layer lists, are separated by ``;``), checked as ``restyle sweep --vary`` checks them.
        Returns ``{"id": ..., "kind": ..., "notes": [...]}`` (notes: e.g. a preset's VGG19 replaced by VGG16)."""
        form = await request.form(max_files=2, max_fields=3, max_part_size=1_000_000)
        uploads: dict[str, tuple[str, bytes]] = {}
        for name in ("content", "style"):
            item = form.get(name)
            if not isinstance(item, UploadFile):
                raise HTTPException(400, f"{name}: an image file is required (multipart field {name!r})")
            data = await item.read(limits.max_upload_bytes + 1)
            if len(data) > limits.max_upload_bytes:
                raise HTTPException(
                    413, f"{name}: larger than this server's limit of {limits.max_upload_bytes / 1e6:g} MB"
                )
            uploads[name] = (Path(item.filename or name).name[:100], data)
        raw = form.get("config") or "{}"
        if not isinstance(raw, str):
            raise HTTPException(400, "config must be a JSON text field")
        try:
            overrides = json.loads(raw)
        except json.JSONDecodeError as e:
            raise HTTPException(400, f"config is not valid JSON: {e}") from None
        raw_sweep = form.get("sweep") or ""
        if not isinstance(raw_sweep, str):
            raise HTTPException(400, "sweep must be a JSON text field")
        try:
            spec = json.loads(raw_sweep) if raw_sweep.strip() else None
        except json.JSONDecodeError as e:
            raise HTTPException(400, f"sweep is not valid JSON: {e}") from None
        try:
            config, cleaned, notes = web_config(overrides, limits if spec is None else None)
            doc = None
            if spec is not None:  # the cells are checked against the limits (their values replace the base's)
                axes = parse_axes(spec)
                doc = sweep_doc(axes, plan_sweep(config, axes, limits))
        except ConfigError as e:
            raise HTTPException(422, str(e)) from None
        suffixes = {name: await asyncio.to_thread(_sniff, name, data, limits) for name, (_, data) in uploads.items()}
        if store.count("queued") >= limits.max_queued:
            raise HTTPException(429, f"the queue is full ({limits.max_queued} jobs waiting); try again in a while")
        job_id = _new_id()
        folder = job_dir(root, job_id)
        folder.mkdir(parents=True)
        for name, (_, data) in uploads.items():
            (folder / f"{name}{suffixes[name]}").write_bytes(data)
        try:
            store.create(
                {
                    "id": job_id,
                    "owner": request.state.owner,
                    "share": secrets.token_urlsafe(24),
                    "overrides": cleaned,
                    "config": config.to_dict(),
                    "content_name": uploads["content"][0],
                    "style_name": uploads["style"][0],
                    "content_file": f"content{suffixes['content']}",
                    "style_file": f"style{suffixes['style']}",
                    "created": time.time(),
                    "kind": "run" if doc is None else "sweep",
                    "sweep": doc,
                },
                limits.max_queued,
            )
        except QueueFull as e:
            shutil.rmtree(folder, ignore_errors=True)
            raise HTTPException(429, f"{e}; try again in a while") from None
        return {"id": job_id, "kind": "run" if doc is None else "sweep", "notes": notes}

    @app.get("/api/jobs", tags=["jobs"])
    def list_jobs(request: Request) -> list[dict[str, Any]]:
        """This browser's jobs, newest first."""
        return [public(r, True) for r in store.list(request.state.owner)]

    @app.get("/api/jobs/{job_id}", tags=["jobs"])
    def get_job(job_id: str, request: Request, token: str | None = None) -> dict[str, Any]:
        """State (queued/running/done/failed/cancelled/interrupted), progress, losses, error, settings, URLs."""
        row, owner = access(request, job_id, token)
        return public(row, owner)

    @app.get("/api/jobs/{job_id}/events", tags=["jobs"], response_class=StreamingResponse)
    async def job_events(job_id: str, request: Request, token: str | None = None) -> StreamingResponse:
        """Server-sent events: ``progress`` (the job as ``GET /api/jobs/{id}`` shows it) on every change of
        state, step or preview; ``end`` once the job is final; a comment every 15 s keeps the stream open."""
        row, owner = access(request, job_id, token)

        async def stream() -> AsyncIterator[str]:
            last: Any = None
            beat = time.monotonic()
            yield "retry: 2000\n\n"
            while True:
                current = await asyncio.to_thread(store.get, job_id)
                if current is None:
                    yield "event: end\ndata: {}\n\n"
                    return
                key = (
                    current["state"],
                    current["step"],
                    current["preview_version"],
                    current["error"],
                    current["cell"],
                    current["cells_done"],
                )
                if key != last:
                    last = key
                    view = await asyncio.to_thread(public, current, owner)
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
                await asyncio.sleep(poll_seconds)

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    @app.get("/api/jobs/{job_id}/result.png", tags=["files"], response_class=FileResponse)
    def job_result(job_id: str, request: Request, token: str | None = None) -> FileResponse:
        """The finished image (PNG, with the run's settings and losses in its metadata)."""
        row, _ = access(request, job_id, token)
        if row["kind"] == "sweep":
            raise HTTPException(409, "this job is a sweep: its images are sheet.png and cells/{index}.png")
        if row["state"] != "done":
            raise HTTPException(409, f"the job is {row['state']}: no result yet")
        return FileResponse(file_of(row, RESULT_NAME), media_type="image/png", filename=f"restyle-{job_id}.png")

    def sweep_file(row: dict[str, Any], name: str) -> Path:
        """A finished sweep's file (409 while it runs, 404 for a single run)."""
        if row["kind"] != "sweep":
            raise HTTPException(404, "this job is not a sweep")
        if row["state"] != "done":
            raise HTTPException(409, f"the sweep is {row['state']}: the sheet and tables are written at its end")
        return file_of(row, f"{SWEEP_DIR}/{name}")

    @app.get("/api/jobs/{job_id}/cells/{index}.png", tags=["sweeps"], response_class=FileResponse)
    def sweep_cell(job_id: str, index: int, request: Request, token: str | None = None) -> FileResponse:
        """One finished cell of a sweep (PNG with its run's metadata), available as soon as the cell is done."""
        row, _ = access(request, job_id, token)
        if row["kind"] != "sweep":
            raise HTTPException(404, "this job is not a sweep")
        cells = row["sweep"]["cells"]
        if not 0 <= index < len(cells):
            raise HTTPException(404, f"no cell {index}: this sweep has cells 0 to {len(cells) - 1}")
        if str(index) not in row["cells"]:
            raise HTTPException(409, f"cell {index} is not finished yet")
        name = cells[index]["name"]  # made by the server's plan, never a client's string
        path = file_of(row, f"{SWEEP_DIR}/{CELLS_DIR}/{name}.png")
        return FileResponse(path, media_type="image/png", filename=f"restyle-{job_id}-{name}.png")

    @app.get("/api/jobs/{job_id}/sheet.png", tags=["sweeps"], response_class=FileResponse)
    def sweep_sheet(job_id: str, request: Request, token: str | None = None) -> FileResponse:
        """A finished sweep's contact sheet: inputs, every cell labelled with its values, losses and seconds."""
        row, _ = access(request, job_id, token)
        path = sweep_file(row, SHEET_NAME)
        return FileResponse(path, media_type="image/png", filename=f"restyle-{job_id}-sheet.png")

    @app.get("/api/jobs/{job_id}/results.json", tags=["sweeps"])
    def sweep_results_json(job_id: str, request: Request, token: str | None = None) -> JSONResponse:
        """A finished sweep's record: base settings, axes, and every cell's values, settings, losses and time."""
        row, _ = access(request, job_id, token)
        doc = json.loads(sweep_file(row, RESULTS_JSON).read_text())
        doc["content"], doc["style"] = row["content_name"], row["style_name"]  # the uploads, not server paths
        disposition = f'attachment; filename="restyle-{job_id}-results.json"'
        return JSONResponse(doc, headers={"Content-Disposition": disposition})

    @app.get("/api/jobs/{job_id}/results.csv", tags=["sweeps"], response_class=FileResponse)
    def sweep_results_csv(job_id: str, request: Request, token: str | None = None) -> FileResponse:
        """A finished sweep's table: one row per cell (swept values, image, loss terms, seconds, size)."""
        row, _ = access(request, job_id, token)
        path = sweep_file(row, RESULTS_CSV)
        return FileResponse(path, media_type="text/csv", filename=f"restyle-{job_id}-results.csv")

    @app.get("/api/jobs/{job_id}/preview.jpg", tags=["files"], response_class=FileResponse)
    def job_preview(job_id: str, request: Request, token: str | None = None) -> FileResponse:
        """The latest preview of a running (or ended) job, refreshed every few seconds while it runs."""
        row, _ = access(request, job_id, token)
        return FileResponse(file_of(row, PREVIEW_NAME), media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.get("/api/jobs/{job_id}/settings.json", tags=["files"])
    def job_settings(job_id: str, request: Request, token: str | None = None) -> JSONResponse:
        """The job's settings: the full RunConfig and the values the user chose (``overrides``)."""
        row, _ = access(request, job_id, token)
        body: dict[str, Any] = {"config": row["config"], "overrides": row["overrides"]}
        if row["kind"] == "sweep":
            body["sweep"] = [{"field": a["field"], "values": a["labels"]} for a in row["sweep"]["axes"]]
        disposition = f'attachment; filename="restyle-{job_id}-settings.json"'
        return JSONResponse(body, headers={"Content-Disposition": disposition})

    @app.get("/api/jobs/{job_id}/{which}", tags=["files"], response_class=FileResponse)
    def job_input(job_id: str, which: str, request: Request, token: str | None = None) -> FileResponse:
        """The uploaded ``content`` or ``style`` image."""
        if which not in ("content", "style"):
            raise HTTPException(404, "not found")
        row, _ = access(request, job_id, token)
        name = row[f"{which}_file"]
        return FileResponse(file_of(row, name), media_type=MEDIA.get(Path(name).suffix, "application/octet-stream"))

    @app.post("/api/jobs/{job_id}/resume", status_code=202, tags=["jobs"])
    def resume_job(job_id: str, request: Request, token: str | None = None) -> dict[str, Any]:
        """Queue an interrupted, cancelled or failed job again; it continues from its checkpoint if it has one."""
        row, _ = access(request, job_id, token, write=True)
        try:
            ok = store.requeue(job_id, limits.max_queued)
        except QueueFull as e:
            raise HTTPException(429, f"{e}; try again in a while") from None
        if not ok:
            raise HTTPException(409, f"the job is {row['state']}: only interrupted, cancelled or failed jobs resume")
        return public(store.get(job_id) or row, True)

    @app.delete("/api/jobs/{job_id}", tags=["jobs"])
    def delete_job(job_id: str, request: Request, token: str | None = None) -> Response:
        """Cancel a queued or running job (202, its state after), or delete a finished one and its files (204)."""
        row, _ = access(request, job_id, token, write=True)
        if row["state"] in ACTIVE:
            state = store.cancel(job_id)
            return JSONResponse({"id": job_id, "state": state}, status_code=202)
        store.delete(job_id)
        shutil.rmtree(job_dir(root, job_id), ignore_errors=True)
        return Response(status_code=204)

    # ------------------------------------------------------------------ schema, examples, health
    @app.get("/api/config-schema", tags=["settings"])
    def get_schema() -> dict[str, Any]:
        """Every setting (from RunConfig's field metadata), the presets, and this server's limits."""
        return schema

    @app.get("/api/examples", tags=["settings"])
    def list_examples() -> list[dict[str, str]]:
        """The bundled example images."""
        return [{"name": n, "url": f"/api/examples/{n}"} for n in examples]

    @app.get("/api/examples/{name}", tags=["settings"], response_class=FileResponse)
    def get_example(name: str) -> FileResponse:
        """One bundled example image (only names from the listing exist)."""
        if name not in examples:
            raise HTTPException(404, "no such example")
        return FileResponse(examples[name], headers={"Cache-Control": "max-age=3600"})

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, Any]:
        """Liveness: the worker processes alive and the queue."""
        return {"ok": True, "workers": len(pool.pids()), "queued": store.count("queued")}

    # ------------------------------------------------------------------ the page
    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/docs", include_in_schema=False)
    def docs() -> FileResponse:
        return FileResponse(STATIC / "docs.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
