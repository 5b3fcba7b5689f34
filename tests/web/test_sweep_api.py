"""Sweeps through the web API: a 2x2 grid of tiny cells end to end (events, cell images, sheet, JSON, CSV),
cancel and resume (finished cells kept, the stopped cell continued), a server restart, and every refusal
of a bad axis with the CLI's message."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from restyle.io.image import read_metadata
from restyle.web.store import _SCHEMA, JobStore
from web.conftest import FAST, NO_WEB_EXTRA, png_bytes, wait_for

pytest.importorskip("fastapi", reason=NO_WEB_EXTRA)

#: Cell 0 takes two steps; cell 1 runs long enough to be caught running, cancelled and resumed.
FAST_THEN_SLOW = [{"field": "iterations", "values": "2,2000"}]
PNG = b"\x89PNG\r\n\x1a\n"


def start_sweep(client: Any, axes: Any, config: dict[str, Any] | None = None) -> Any:
    """POST /api/jobs with two images, a config and ``axes`` (JSON-encoded unless already text)."""
    files = {
        "content": ("photo.png", png_bytes(seed=1), "image/png"),
        "style": ("painting.png", png_bytes(40, 40, seed=2), "image/png"),
    }
    data = {"config": json.dumps(FAST if config is None else config)}
    data["sweep"] = axes if isinstance(axes, str) else json.dumps(axes)
    return client.post("/api/jobs", files=files, data=data)


def sse(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


def until(client: Any, job_id: str, check: Any, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/jobs/{job_id}").json()
        if check(job):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def test_a_2x2_sweep_runs_every_cell_and_serves_sheet_json_and_csv(make_client, tmp_path: Path) -> None:
    axes = [{"field": "style_weight", "values": "1,100"}, "tv_weight=0.1,10"]  # an object and the --vary form
    with make_client() as client:
        r = start_sweep(client, axes)
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        assert r.json()["kind"] == "sweep"
        with client.stream("GET", f"/api/jobs/{job_id}/events") as stream:
            events = sse("".join(stream.iter_text()))
        assert events[-1][0] == "end" and events[-1][1]["state"] == "done", events[-1]
        done_counts = [e["sweep"]["cells_done"] for _, e in events]
        assert done_counts == sorted(done_counts) and done_counts[-1] == 4  # progress through the same events
        job = client.get(f"/api/jobs/{job_id}").json()
        sweep = job["sweep"]
        assert sweep["cols"] == 2 and sweep["rows"] == 2 and sweep["cells_total"] == 4 and sweep["current"] is None
        assert sweep["axes"] == [
            {"field": "style_weight", "labels": ["1", "100"]},
            {"field": "tv_weight", "labels": ["0.1", "10"]},
        ]
        by_pos = {(c["row"], c["col"]): c for c in sweep["cells"]}
        assert by_pos[(1, 0)]["labels"] == {"style_weight": "1", "tv_weight": "10"}
        for cell in sweep["cells"]:
            assert cell["state"] == "done" and cell["time_s"] > 0 and cell["size"] == [32, 27]
            assert set(cell["losses"]) >= {"content", "style", "tv", "total"}
            image = client.get(cell["image"])
            assert image.status_code == 200 and image.content[:8] == PNG
            saved = tmp_path / f"cell{cell['index']}.png"
            saved.write_bytes(image.content)
            meta = read_metadata(saved)
            assert meta["config"]["style_weight"] == float(cell["labels"]["style_weight"])
            assert meta["config"]["tv_weight"] == float(cell["labels"]["tv_weight"])
        # the swept values change the result: more style weight, more weighted style loss
        assert by_pos[(0, 1)]["losses"]["style"] > by_pos[(0, 0)]["losses"]["style"]
        assert by_pos[(1, 0)]["losses"]["tv"] > by_pos[(0, 0)]["losses"]["tv"]
        sheet = client.get(job["urls"]["sheet"])
        assert (
            sheet.status_code == 200
            and sheet.content[:8] == PNG
            and "attachment" in sheet.headers["content-disposition"]
        )
        assert Image.open(io.BytesIO(sheet.content)).width > 2 * 256  # two 256-px columns plus headers
        results = client.get(job["urls"]["results_json"])
        assert "attachment" in results.headers["content-disposition"]
        doc = results.json()
        assert doc["content"] == "photo.png" and doc["style"] == "painting.png"  # no server path
        assert len(doc["cells"]) == 4 and [a["field"] for a in doc["axes"]] == ["style_weight", "tv_weight"]
        rows = list(csv.DictReader(io.StringIO(client.get(job["urls"]["results_csv"]).text)))
        assert len(rows) == 4 and {r["style_weight"] for r in rows} == {"1", "100"}
        assert client.get(f"/api/jobs/{job_id}/result.png").status_code == 409  # a sweep has no single result
        settings = client.get(job["urls"]["settings"]).json()
        assert settings["sweep"] == [
            {"field": "style_weight", "values": ["1", "100"]},
            {"field": "tv_weight", "values": ["0.1", "10"]},
        ]
        assert client.get(f"/api/jobs/{job_id}/cells/4.png").status_code == 404
        # another browser sees it only through the share link, cells and sheet included
        share = job["urls"]["share"].split("token=")[1]
        owner = dict(client.cookies)
        client.cookies.clear()
        assert client.get(f"/api/jobs/{job_id}/sheet.png").status_code == 404
        assert client.get(f"/api/jobs/{job_id}/cells/0.png").status_code == 404
        shared = client.get(f"/api/jobs/{job_id}?token={share}").json()
        assert client.get(shared["sweep"]["cells"][0]["image"]).content[:8] == PNG
        assert client.get(shared["urls"]["sheet"]).content[:8] == PNG
        client.cookies.update(owner)
        assert client.delete(f"/api/jobs/{job_id}").status_code == 204
        assert not (Path(client.app.state.data_dir) / "jobs" / job_id).exists()


def test_cancel_resume_and_restart_keep_finished_cells(make_client, tmp_path: Path) -> None:
    data = tmp_path / "data"
    with make_client(data_dir=data) as client:
        job_id = start_sweep(client, FAST_THEN_SLOW, {**FAST, "size": 64}).json()["id"]
        job = until(client, job_id, lambda j: j["sweep"]["current"] == 1 and j["progress"]["step"] > 0)
        # the finished cell is viewable at once, while the next one runs
        assert job["state"] == "running" and job["sweep"]["cells_done"] == 1
        assert [c["state"] for c in job["sweep"]["cells"]] == ["done", "running"]
        assert client.get(job["sweep"]["cells"][0]["image"]).content[:8] == PNG
        assert client.get(f"/api/jobs/{job_id}/cells/1.png").status_code == 409
        assert client.get(f"/api/jobs/{job_id}/sheet.png").status_code == 409
        assert job["progress"]["total_steps"] == 2000 and job["urls"]["preview"]
        first_time = job["sweep"]["cells"][0]["time_s"]
        r = client.delete(f"/api/jobs/{job_id}")
        assert r.status_code == 202 and r.json()["state"] == "running"
        job = wait_for(client, job_id, "cancelled", "done", "failed")
        assert job["state"] == "cancelled" and job["resumable"] and job["sweep"]["cells_done"] == 1
        assert job["urls"]["sheet"] is None
        # resumed: the finished cell is not run again, the stopped one continues from its checkpoint
        assert client.post(f"/api/jobs/{job_id}/resume").status_code == 202
        job = until(client, job_id, lambda j: j["sweep"]["current"] == 1 and j["progress"]["resumed_from"] is not None)
        cell0 = job["sweep"]["cells"][0]
        assert cell0["state"] == "done" and cell0["resumed"] and cell0["time_s"] == first_time
        assert job["progress"]["resumed_from"] > 0
        cookies = dict(client.cookies)
    # the server stopped mid-sweep: interrupted, resumable, the finished cell kept
    assert JobStore(data / "jobs.sqlite3").get(job_id)["state"] == "interrupted"
    with make_client(data_dir=data, workers=0) as client:
        client.cookies.update(cookies)
        job = client.get(f"/api/jobs/{job_id}").json()
        assert job["state"] == "interrupted" and job["resumable"] and job["sweep"]["cells_done"] == 1
        assert client.get(job["sweep"]["cells"][0]["image"]).content[:8] == PNG
        assert [c["state"] for c in job["sweep"]["cells"]] == ["done", "pending"]


@pytest.mark.parametrize(
    ("axes", "status", "needle"),
    [
        (
            [{"field": "stlye_weight", "values": "1,10"}],
            422,
            "sweep: unknown setting 'stlye_weight' (did you mean: style_weight",
        ),
        (["style_weight=abc,10"], 422, "style_weight must be a number, got 'abc'"),
        (
            [{"field": "optimizer", "values": "adam,sgd"}],
            422,
            "sweep cell optimizer=sgd: optimizer must be one of lbfgs, adam",
        ),
        ([{"field": "style_layers", "values": "relu1_1;relu9_1"}], 422, "unknown layer 'relu9_1'"),
        ([{"field": "pooling", "values": ["max", "avx"]}], 422, "got 'avx' (did you mean: max"),
        ([{"field": "style_weight", "values": "1,1"}], 422, "sweep style_weight: value '1' is given twice"),
        ([{"field": "preset", "values": "ryanwu,cs20"}], 422, "preset cannot be swept"),
        ([{"field": "weights", "values": "/a,/b"}], 422, "weights is set by the server"),
        ([{"field": "mask", "values": "/a,/b"}], 422, "mask names files on the server"),
        ([{"field": "init", "values": "noise,/etc/hosts"}], 422, "sweep cell init=/etc/hosts: init from a file"),
        ([{"field": "size", "values": "32,4096"}], 422, "sweep cell size=4096: size 4096 is above this server's limit"),
        ([{"field": "iterations", "values": "2,5000"}], 422, "iterations 5000 is above this server's limit"),
        (["style_weight=1,2,3,4,5", "tv_weight=1,2,3,4"], 422, "20 cells is more than this server's limit of 16"),
        (["style_weight=1,2", "style_weight=3,4"], 422, "style_weight is varied twice"),
        (["style_weight=1", "tv_weight=1", "size=32"], 422, "at most two axes"),
        (["style_weight"], 422, "write FIELD=V1,V2"),
        ([{"field": "style_weight"}], 422, "give the values as text"),
        ({"field": "style_weight", "values": "1,2"}, 422, "a list of one or two axes"),
        ([], 422, "a list of one or two axes"),
        ("[not json", 400, "sweep is not valid JSON"),
    ],
)
def test_bad_axes_are_refused_with_the_clis_message(make_client, axes: Any, status: int, needle: str) -> None:
    with make_client(workers=0) as client:
        r = start_sweep(client, axes)
        assert r.status_code == status, r.text
        assert needle in r.json()["detail"], r.json()
        assert client.get("/api/jobs").json() == []


def test_a_swept_value_replaces_the_base_and_the_schema_marks_sweepable_fields(make_client, limits) -> None:
    with make_client(workers=0, limits=limits(max_output_side=64)) as client:
        # the base's size (512 by default) is above the limit, but every cell's swept size is within it
        r = start_sweep(client, ["size=32,64"], {k: v for k, v in FAST.items() if k != "size"})
        assert r.status_code == 202, r.text
        job = client.get(f"/api/jobs/{r.json()['id']}").json()
        assert job["state"] == "queued" and job["urls"]["sheet"] is None
        assert [c["labels"] for c in job["sweep"]["cells"]] == [{"size": "32"}, {"size": "64"}]
        assert start_sweep(client, ["size=32,128"]).status_code == 422
        schema = client.get("/api/config-schema").json()
        by_name = {f["name"]: f for f in schema["fields"]}
        assert by_name["style_weight"]["sweepable"] and by_name["content_layers"]["sweepable"]
        assert not by_name["preset"]["sweepable"]
        assert all(not f["sweepable"] for f in schema["fields"] if not f["affects_image"])
        assert "weights" not in by_name and "mask" not in by_name  # never offered, never accepted
        assert schema["limits"]["max_sweep_cells"] == 16


def test_a_data_dir_from_before_sweeps_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    with sqlite3.connect(path) as db:  # the table as the first release made it: no sweep columns
        db.executescript(_SCHEMA)
        db.execute(
            "INSERT INTO jobs (id, owner, share, state, overrides, config, content_name, style_name, content_file, "
            "style_file, created) VALUES ('a', 'o', 's', 'done', '{}', '{}', 'c', 's', 'c.png', 's.png', 1)"
        )
    assert "kind" not in {r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(jobs)")}
    row = JobStore(path).get("a")
    assert row["kind"] == "run" and row["sweep"] is None and row["cells"] == {} and row["cells_done"] == 0
    assert JobStore(path).get("a")["state"] == "done"  # opening it again changes nothing


def test_sweep_eta_adds_the_cells_still_to_run() -> None:
    from restyle.web.app import _sweep_eta

    row = {"state": "running", "step": 50, "total_steps": 100, "scales": 1, "scale": 0, "elapsed": 5.0, "eta_s": 5.0}
    row |= {"cells": {"0": {"time_s": 8.0}}, "cells_done": 1, "sweep": {"cells": [{}, {}, {}, {}]}}
    assert _sweep_eta(row) == pytest.approx(5.0 + 2 * 8.0)  # the running cell's 5 s, then two cells like the first
    before = {**row, "cells": {}, "cells_done": 0}
    assert _sweep_eta(before) == pytest.approx(5.0 + 3 * 10.0)  # no cell finished: each as long as this one
    assert _sweep_eta({**row, "state": "done"}) is None
