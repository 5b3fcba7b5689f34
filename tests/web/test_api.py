"""The web API end to end with real worker processes: upload → job → events → result, cancel, bad uploads,
every limit, ownership and share links, restart persistence, a worker killed with SIGKILL."""

from __future__ import annotations

import io
import json
import os
import signal
import time
from pathlib import Path

import pytest
from PIL import Image

from restyle.io.image import read_metadata
from restyle.web.store import JobStore
from web.conftest import FAST, NO_WEB_EXTRA, png_bytes, upload, wait_for

pytest.importorskip("fastapi", reason=NO_WEB_EXTRA)

#: A job long enough to be caught running (a few seconds on one thread), short enough to cancel at once.
SLOW = {**FAST, "size": 64, "iterations": 2000}


def sse(text: str) -> list[tuple[str, dict]]:
    """Parse a server-sent event stream into (event, data) pairs."""
    events = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


def test_upload_job_events_result_settings_and_delete(make_client) -> None:
    with make_client() as client:
        r = upload(client)
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        assert len(job_id) == 32 and int(job_id, 16) >= 0  # server-generated
        with client.stream("GET", f"/api/jobs/{job_id}/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            events = sse("".join(stream.iter_text()))
        assert events[-1][0] == "end" and events[-1][1]["state"] == "done"
        job = client.get(f"/api/jobs/{job_id}").json()
        assert job["state"] == "done" and job["progress"]["step"] == job["progress"]["total_steps"] == 2
        assert set(job["losses"]) >= {"content", "style", "tv", "total"}
        assert job["urls"]["preview"] and job["urls"]["share"].startswith(f"/?job={job_id}&token=")
        result = client.get(f"/api/jobs/{job_id}/result.png")
        assert result.status_code == 200 and result.headers["content-type"] == "image/png"
        assert result.content[:8] == b"\x89PNG\r\n\x1a\n"
        assert "attachment" in result.headers["content-disposition"]
        assert Image.open(io.BytesIO(result.content)).size == (32, 27)
        meta_file = Path(client.app.state.data_dir) / "jobs" / job_id / "out.png"
        meta = read_metadata(meta_file)
        assert meta["config"]["iterations"] == 2 and meta["interrupted"] is False
        assert client.get(job["urls"]["preview"]).headers["content-type"] == "image/jpeg"
        settings = client.get(f"/api/jobs/{job_id}/settings.json")
        assert settings.json()["overrides"] == FAST and settings.json()["config"]["size"] == 32
        assert client.get(f"/api/jobs/{job_id}/content").content == png_bytes(seed=1)
        assert [j["id"] for j in client.get("/api/jobs").json()] == [job_id]
        assert client.delete(f"/api/jobs/{job_id}").status_code == 204
        assert client.get(f"/api/jobs/{job_id}").status_code == 404
        assert not meta_file.parent.exists()


def test_cancel_a_running_job_then_resume_it(make_client) -> None:
    with make_client() as client:
        job_id = upload(client, SLOW).json()["id"]
        wait_for(client, job_id, "running")
        latencies = []  # the server stays responsive while a worker process computes
        for _ in range(10):
            start = time.perf_counter()
            assert client.get("/healthz").json()["workers"] == 1
            latencies.append(time.perf_counter() - start)
        assert max(latencies) < 2.0, latencies  # a blocked server would wait for the whole job
        r = client.delete(f"/api/jobs/{job_id}")
        assert r.status_code == 202 and r.json()["state"] == "running"
        job = wait_for(client, job_id, "cancelled", "done", "failed")
        assert job["state"] == "cancelled" and job["resumable"] and job["urls"]["result"] is None
        assert client.get(f"/api/jobs/{job_id}/result.png").status_code == 409
        # a queued job is cancelled at once; the next job runs normally
        assert client.post(f"/api/jobs/{job_id}/resume").status_code == 202
        assert wait_for(client, job_id, "running")["state"] == "running"
        assert client.delete(f"/api/jobs/{job_id}").status_code == 202
        assert wait_for(client, job_id, "cancelled")["progress"]["resumed_from"] is not None
        quick = upload(client).json()["id"]
        assert wait_for(client, quick, "done", "failed")["state"] == "done"


def test_queued_job_is_cancelled_at_once_and_queue_full_is_429(make_client, limits) -> None:
    with make_client(workers=0, limits=limits(max_queued=2)) as client:
        first, second = (upload(client).json()["id"] for _ in range(2))
        r = upload(client)
        assert r.status_code == 429 and "queue is full" in r.json()["detail"]
        job = client.get(f"/api/jobs/{second}").json()
        assert job["state"] == "queued" and job["queue_position"] == 1
        r = client.delete(f"/api/jobs/{first}")
        assert r.status_code == 202 and r.json()["state"] == "cancelled"
        assert upload(client).status_code == 202
        assert client.get("/healthz").json() == {"ok": True, "workers": 0, "queued": 2}


@pytest.mark.parametrize(
    ("content", "status", "needle"),
    [
        (b"this is not an image at all", 415, "not an image"),
        (b"%PDF-1.4\n" + b"0" * 100, 415, "not an image"),
        (png_bytes()[:60], 400, "corrupt or truncated"),
        (b"", 400, "empty"),
        (png_bytes(fmt="ICO"), 415, "ICO images are not accepted"),
    ],
    ids=["text", "pdf", "truncated-png", "empty", "ico"],
)
def test_bad_uploads_are_refused_by_content(make_client, content: bytes, status: int, needle: str) -> None:
    with make_client(workers=0) as client:
        # named .png and sent as image/png: only the bytes count
        r = upload(client, content=content)
        assert r.status_code == status, r.text
        assert r.json()["detail"].startswith("content: ") and needle in r.json()["detail"]
        assert client.get("/api/jobs").json() == []


def test_missing_file_and_bad_config(make_client) -> None:
    with make_client(workers=0) as client:
        r = client.post("/api/jobs", files={"content": ("a.png", png_bytes(), "image/png")})
        assert r.status_code == 400 and "style" in r.json()["detail"]
        files = {"content": ("a.png", png_bytes(), "image/png"), "style": ("b.png", png_bytes(), "image/png")}
        r = client.post("/api/jobs", files=files, data={"config": "{not json"})
        assert r.status_code == 400 and "JSON" in r.json()["detail"]
        for config, needle in [
            ({"style_weight": -1}, "style_weight"),
            ({"optimizer": "sgd"}, "optimizer"),
            ({"nonsense": 1}, "unknown setting"),
            ({"weights": "/etc/passwd"}, "set by the server"),
            ({"checkpoint_every": 1}, "set by the server"),
            ({"init": "/etc/hosts"}, "init from a file"),
            ({"mask": "/etc/hosts"}, "names files on the server"),
            ([1, 2], "JSON object"),
        ]:
            r = upload(client, config)
            assert r.status_code == 422, (config, r.text)
            assert needle in r.json()["detail"], (config, r.json())


def test_limits_upload_size_pixels_output_size_iterations(make_client, limits) -> None:
    small = limits(max_upload_bytes=5000, max_input_pixels=64 * 64, max_output_side=128, max_iterations=50)
    with make_client(workers=0, limits=small) as client:
        buffer = io.BytesIO()
        Image.frombytes("RGB", (60, 60), os.urandom(60 * 60 * 3)).save(buffer, "PNG")  # noise: > 5000 bytes
        big = buffer.getvalue()
        assert len(big) > 5000
        r = upload(client, content=big)
        assert r.status_code == 413 and "limit of 0.005 MB" in r.json()["detail"]
        multipart = {"content-type": "multipart/form-data; boundary=b"}
        r = client.post("/api/jobs", content=b"x" * 100_000, headers=multipart)  # by Content-Length
        assert r.status_code == 413
        r = client.post("/api/jobs", content=iter([b"x" * 50_000] * 3), headers=multipart)  # chunked, no length
        assert r.status_code == 413 and "limit" in r.json()["detail"]
        r = upload(client, style=png_bytes(80, 70, seed=3))  # 5600 px > 4096, yet a small file
        assert r.status_code == 413 and "megapixels" in r.json()["detail"] and r.json()["detail"].startswith("style")
        r = upload(client, {**FAST, "size": 256})
        assert r.status_code == 422 and "limit of 128 pixels" in r.json()["detail"]
        r = upload(client, {**FAST, "size": 32, "image_size": "300x20"})
        assert r.status_code == 422 and "image_size" in r.json()["detail"]
        r = upload(client, {**FAST, "iterations": 51})
        assert r.status_code == 422 and "limit of 50" in r.json()["detail"]
        assert upload(client).status_code == 202
        schema = client.get("/api/config-schema").json()
        size = next(f for f in schema["fields"] if f["name"] == "size")
        assert size["le"] == 128 and schema["limits"]["max_upload_bytes"] == 5000


def test_jobs_are_private_unless_shared_by_token(make_client) -> None:
    with make_client(workers=0) as client:
        job_id = upload(client).json()["id"]
        share = client.get(f"/api/jobs/{job_id}").json()["urls"]["share"]
        token = share.split("token=")[1]
        owner_cookie = dict(client.cookies)
        client.cookies.clear()  # another browser
        assert client.get(f"/api/jobs/{job_id}").status_code == 404
        assert client.get(f"/api/jobs/{job_id}/content").status_code == 404
        assert client.get(f"/api/jobs/{job_id}?token=wrong{token[5:]}").status_code == 404
        assert client.get("/api/jobs").json() == []
        shared = client.get(f"/api/jobs/{job_id}?token={token}")
        assert shared.status_code == 200 and shared.json()["owner"] is False and "share" not in shared.json()["urls"]
        assert shared.json()["urls"]["content"].endswith(f"?token={token}")
        assert client.get(shared.json()["urls"]["content"]).status_code == 200
        assert client.delete(f"/api/jobs/{job_id}?token={token}").status_code == 403
        assert client.post(f"/api/jobs/{job_id}/resume?token={token}").status_code == 403
        for bad in ("..%2F..%2Fetc%2Fpasswd", "../jobs.sqlite3", "0" * 31, "g" * 32):
            assert client.get(f"/api/jobs/{bad}").status_code == 404
        assert client.get("/api/examples/..%2F..%2Fpyproject.toml").status_code == 404
        client.cookies.update(owner_cookie)
        assert client.get(f"/api/jobs/{job_id}").json()["owner"] is True


def test_restart_keeps_results_and_resumes_interrupted_jobs(make_client, tmp_path: Path) -> None:
    data = tmp_path / "data"
    with make_client(data_dir=data) as client:
        done = upload(client).json()["id"]
        wait_for(client, done, "done")
        running = upload(client, SLOW).json()["id"]
        job = wait_for(client, running, "running")
        deadline = time.monotonic() + 30
        while job["progress"]["checkpoint_step"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
            job = client.get(f"/api/jobs/{running}").json()
        cookies = dict(client.cookies)
    # the server stopped (lifespan end: the workers save the running job's checkpoint)
    assert JobStore(data / "jobs.sqlite3").get(running)["state"] == "interrupted"
    # a server that died without stopping leaves 'running' rows: the next start marks them interrupted
    JobStore(data / "jobs.sqlite3").update(running, state="running")
    with make_client(data_dir=data, workers=1) as client:
        client.cookies.update(cookies)
        job = client.get(f"/api/jobs/{running}").json()
        assert job["state"] == "interrupted" and job["resumable"]
        assert (data / "jobs" / running / "out.ckpt").is_file()
        assert client.get(f"/api/jobs/{done}/result.png").content[:8] == b"\x89PNG\r\n\x1a\n"
        stopped_at = job["progress"]["checkpoint_step"]
        assert client.post(f"/api/jobs/{running}/resume").status_code == 202
        job = wait_for(client, running, "running")
        while job["progress"]["resumed_from"] is None and job["state"] == "running":
            time.sleep(0.05)
            job = client.get(f"/api/jobs/{running}").json()
        assert job["progress"]["resumed_from"] >= stopped_at > 0
        client.delete(f"/api/jobs/{running}")
        wait_for(client, running, "cancelled")


def test_a_killed_worker_fails_its_job_and_the_next_job_runs(make_client) -> None:
    with make_client() as client:
        pool = client.app.state.pool
        victim = upload(client, SLOW).json()["id"]
        wait_for(client, victim, "running")
        pid = JobStore(Path(client.app.state.data_dir) / "jobs.sqlite3").get(victim)["worker_pid"]
        assert pid in pool.pids()
        os.kill(pid, signal.SIGKILL)
        job = wait_for(client, victim, "failed", "done", "cancelled")
        assert job["state"] == "failed" and "killed by signal 9" in job["error"], job
        nxt = upload(client).json()["id"]
        assert wait_for(client, nxt, "done", "failed")["state"] == "done"
        assert pool.crashes == 1 and pid not in pool.pids() and client.get("/healthz").json()["workers"] == 1


def test_config_schema_follows_runconfig(make_client) -> None:
    from dataclasses import fields

    from restyle.config import RunConfig
    from restyle.presets import PRESETS
    from restyle.web.schema import HIDDEN

    with make_client(workers=0) as client:
        schema = client.get("/api/config-schema").json()
        by_name = {f["name"]: f for f in schema["fields"]}
        expected = {f.name for f in fields(RunConfig)} - HIDDEN
        assert {"weights", "save_every", "checkpoint_every"} <= HIDDEN
        assert set(by_name) == expected
        for f in fields(RunConfig):
            if f.name in by_name:
                assert by_name[f.name]["help"] == f.metadata["help"]
        assert by_name["optimizer"]["choices"] == ["lbfgs", "adam"] and by_name["optimizer"]["default"] == "lbfgs"
        assert by_name["style_layers"]["type"] == "layers" and by_name["lr"]["optional"] is True
        assert by_name["scales"]["ge"] == 1 and by_name["scales"]["le"] == 8
        assert by_name["size"]["group"] == "basic" and by_name["pooling"]["group"] == "advanced"
        assert by_name["method"]["group"] == "basic" and by_name["method"]["choices"] == ["optimize", "fast"]
        assert [p["name"] for p in schema["presets"]] == list(PRESETS)
        page = client.get("/")
        assert page.status_code == 200 and "<script" in page.text
        assert client.get("/openapi.json").json()["paths"]["/api/jobs"]["post"]["requestBody"]


def test_eta_is_the_workers_per_scale_estimate_counted_down(tmp_path) -> None:
    """The worker prices the steps left with RunETA (a coarse step is cheap, a fine one dear); the API
    counts that estimate down between updates."""
    import time
    from types import SimpleNamespace

    from PIL import Image

    from restyle.engine.pyramid import ScaleSteps
    from restyle.jobs.eta import RunETA
    from restyle.jobs.events import JobStep
    from restyle.web.app import _eta
    from restyle.web.worker import WorkerSettings, _Forwarder

    schedule = (ScaleSteps(64, 48, 20), ScaleSteps(128, 96, 8))
    updates: list[dict] = []
    store = SimpleNamespace(update=lambda job_id, **v: updates.append(v), bump_preview=lambda job_id: None)
    forward = _Forwarder(store, "j", tmp_path, WorkerSettings(progress_seconds=0.0, checkpoint_seconds=1e9))
    reference = RunETA(schedule)
    for step, (scale, scale_step, elapsed) in enumerate([(0, 1, 1.0), (0, 2, 1.5), (0, 3, 2.0)], 1):
        it = SimpleNamespace(
            step=step,
            total_steps=28,
            scale=scale,
            scales=2,
            scale_step=scale_step,
            size=(64, 48),
            losses={"total": 1.0},
            elapsed=elapsed,
            schedule=schedule,
            image=lambda: Image.new("RGB", (8, 8)),
        )
        forward(JobStep(job=SimpleNamespace(output=tmp_path / "out.png"), index=0, total=1, iterate=it))
        reference.observe(scale, scale_step, elapsed)
    # 17 coarse steps at 0.5 s, then 8 fine ones priced at 4x the pixels: 8.5 + 16 s
    assert updates[-1]["eta_s"] == pytest.approx(reference.remaining()) == pytest.approx(24.5)
    row = {"state": "running", "eta_s": 24.5, "eta_at": time.time() - 4.0}
    assert _eta(row) == pytest.approx(20.5, abs=0.5)
    assert _eta({**row, "eta_at": time.time() - 60}) == 0.0
    assert _eta({**row, "state": "done"}) is None and _eta({**row, "eta_s": None}) is None
