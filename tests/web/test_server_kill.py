"""``restyle serve`` as a real process, killed with SIGKILL mid-job: nothing finished is lost, and the job that
was running comes back ``interrupted`` and resumes from its checkpoint on the next start."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from web.conftest import FAST, NO_WEB_EXTRA, png_bytes

pytest.importorskip("fastapi", reason=NO_WEB_EXTRA)

SLOW = {**FAST, "size": 64, "iterations": 2000}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(data: Path, weights: Path) -> Iterator[tuple[subprocess.Popen[bytes], httpx.Client]]:
    """``restyle serve`` in a subprocess on a free port, and an httpx client for it."""
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    code = "from restyle.cli.app import main; main()"
    args = ["serve", "--port", str(port), "--data-dir", str(data), "--weights", str(weights)]
    proc = subprocess.Popen([sys.executable, "-c", code, *args, "--checkpoint-seconds", "0.3"], env=env)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.get("/healthz").json()["workers"] == 1:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "restyle serve did not start"
            time.sleep(0.1)
        yield proc, client
    finally:
        client.close()
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)


def post(client: httpx.Client, config: dict) -> str:
    files = {"content": ("a.png", png_bytes(), "image/png"), "style": ("b.png", png_bytes(40, 40, 2), "image/png")}
    r = client.post("/api/jobs", files=files, data={"config": json.dumps(config)})
    assert r.status_code == 202, r.text
    return r.json()["id"]


def until(client: httpx.Client, job_id: str, check, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/jobs/{job_id}").json()
        if check(job):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_server_killed_mid_job_then_restarted(tmp_path: Path, tiny_weights_file: Path) -> None:
    data = tmp_path / "data"
    with serve(data, tiny_weights_file) as (proc, client):
        done = post(client, FAST)
        until(client, done, lambda j: j["state"] == "done")
        running = post(client, SLOW)
        job = until(client, running, lambda j: j["state"] == "running" and j["progress"]["checkpoint_step"] > 0)
        cookies = dict(client.cookies)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    # the orphaned worker notices that its server is gone and stops (the job's checkpoint stays)
    time.sleep(1.0)
    with serve(data, tiny_weights_file) as (proc, client):
        client.cookies.update(cookies)
        job = client.get(f"/api/jobs/{running}").json()
        assert job["state"] == "interrupted" and job["resumable"], job
        assert (data / "jobs" / running / "out.ckpt").is_file()
        result = client.get(f"/api/jobs/{done}/result.png")
        assert result.status_code == 200 and result.content[:8] == b"\x89PNG\r\n\x1a\n"
        saved = job["progress"]["checkpoint_step"]
        assert client.post(f"/api/jobs/{running}/resume").status_code == 202
        job = until(client, running, lambda j: j["progress"]["resumed_from"] is not None and j["state"] == "running")
        assert job["progress"]["resumed_from"] >= saved > 0
        assert client.delete(f"/api/jobs/{running}").status_code == 202
        until(client, running, lambda j: j["state"] == "cancelled")
