"""What the API shows of a job: the JSON of ``GET /api/jobs/{id}`` (and of the event stream), its URLs and ETA."""

from __future__ import annotations

import time
from typing import Any

from restyle.web.state import WebState
from restyle.web.worker import PREVIEW_NAME

__all__ = ["job_eta", "job_view", "sweep_eta", "sweep_view"]


def job_eta(row: dict[str, Any]) -> float | None:
    """Seconds left of a running job (or sweep cell): the worker's :class:`~restyle.jobs.eta.RunETA` estimate
    at its last progress update, less the time since then; None when not running or not yet estimated."""
    if row["state"] != "running" or row.get("eta_s") is None:
        return None
    since = time.time() - row["eta_at"] if row.get("eta_at") else 0.0
    return max(float(row["eta_s"]) - max(since, 0.0), 0.0)


def sweep_eta(row: dict[str, Any]) -> float | None:
    """Seconds left of a running sweep: the running cell's ETA plus the cells after it, each taking as long
    as the finished cells took on average (or as the running one is expected to take, before any finished)."""
    cell_eta = job_eta(row)
    if cell_eta is None:
        return None
    times = [float(c["time_s"]) for c in row["cells"].values()]
    per_cell = sum(times) / len(times) if times else row["elapsed"] + cell_eta
    after = max(len(row["sweep"]["cells"]) - row["cells_done"] - 1, 0)
    return cell_eta + after * per_cell


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


def _urls(state: WebState, row: dict[str, Any], owner: bool, base: str, q: str) -> dict[str, str | None]:
    """The job's links; a reader through the share token gets them with the token."""
    sep = "&" if q else "?"
    has_preview = row["preview_version"] > 0 and (state.job_dir(row["id"]) / PREVIEW_NAME).is_file()
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
    return urls


def job_view(state: WebState, row: dict[str, Any], owner: bool) -> dict[str, Any]:
    """What the API shows of a job (no owner token; the share token only to its owner)."""
    base = f"/api/jobs/{row['id']}"
    q = "" if owner else f"?token={row['share']}"
    is_sweep = row["kind"] == "sweep"
    return {
        "id": row["id"],
        "kind": row["kind"],
        "state": row["state"],
        "owner": owner,
        "created": row["created"],
        "started": row["started"],
        "finished": row["finished"],
        "queue_position": state.store.position(row["id"]) if row["state"] == "queued" else None,
        "progress": {
            "step": row["step"],
            "total_steps": row["total_steps"],
            "scale": row["scale"],
            "scales": row["scales"],
            "size": [row["width"], row["height"]],
            "elapsed": row["elapsed"],
            "eta": sweep_eta(row) if is_sweep else job_eta(row),
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
        "urls": _urls(state, row, owner, base, q),
    }
