"""Load on the web app while a job runs: concurrent clients polling and streaming; /healthz latency, errors, RSS.

    python benchmarks/web_load.py [--clients 20] [--seconds 30] [--size 256] [--weights FILE]

Starts ``restyle serve`` (one worker) on a free port and a temporary data dir, measures /healthz
while idle, starts one job (the bundled Tübingen photo × The Starry Night), then for ``--seconds``
runs ``--clients`` clients at once -- half poll ``GET /api/jobs/{id}`` every 0.5 s and download the
preview whenever it changes, half hold the server-sent event stream open -- while a prober times
``/healthz`` every 0.1 s. The server's and the worker's RSS are sampled every second. Prints JSON:
errors (any non-2xx or transport error), latencies (ms), SSE events received, RSS (MB).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (the workers of a server)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    return {
        "n": len(values),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


class Load:
    """Counters shared by the clients."""

    def __init__(self) -> None:
        self.requests = 0
        self.errors: list[str] = []
        self.poll_latency: list[float] = []
        self.health: list[float] = []
        self.sse_events = 0
        self.previews = 0


async def timed(load: Load, client: httpx.AsyncClient, url: str) -> tuple[httpx.Response | None, float]:
    start = time.perf_counter()
    try:
        r = await client.get(url)
    except httpx.HTTPError as e:
        load.errors.append(f"{url}: {type(e).__name__}")
        return None, time.perf_counter() - start
    load.requests += 1
    if r.status_code >= 300:
        load.errors.append(f"{url}: HTTP {r.status_code}")
    return r, time.perf_counter() - start


async def poller(load: Load, client: httpx.AsyncClient, job_id: str, until: float) -> None:
    version = -1
    while time.monotonic() < until:
        r, seconds = await timed(load, client, f"/api/jobs/{job_id}")
        load.poll_latency.append(seconds)
        if r is not None and r.status_code == 200:
            job = r.json()
            if job["urls"]["preview"] and job["preview_version"] != version:
                version = job["preview_version"]
                if (await timed(load, client, job["urls"]["preview"]))[0] is not None:
                    load.previews += 1
        await asyncio.sleep(0.5)


async def streamer(load: Load, client: httpx.AsyncClient, job_id: str, until: float) -> None:
    while time.monotonic() < until:
        try:
            async with client.stream("GET", f"/api/jobs/{job_id}/events", timeout=None) as r:
                load.requests += 1
                if r.status_code != 200:
                    load.errors.append(f"events: HTTP {r.status_code}")
                    return
                async for line in r.aiter_lines():
                    if line.startswith("event:"):
                        load.sse_events += 1
                    if time.monotonic() >= until:
                        return
        except httpx.HTTPError as e:
            load.errors.append(f"events: {type(e).__name__}")
            await asyncio.sleep(0.5)


async def prober(load: Load, client: httpx.AsyncClient, until: float, into: list[float]) -> None:
    while time.monotonic() < until:
        _, seconds = await timed(load, client, "/healthz")
        into.append(seconds)
        await asyncio.sleep(0.1)


async def run(args: argparse.Namespace, base: str, server: subprocess.Popen[bytes]) -> dict[str, Any]:
    load = Load()
    limits = httpx.Limits(max_connections=args.clients + 8, max_keepalive_connections=args.clients + 8)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        idle: list[float] = []
        await prober(load, client, time.monotonic() + 3, idle)
        files = {
            "content": ("tubingen.jpg", (EXAMPLES / "tubingen.jpg").read_bytes(), "image/jpeg"),
            "style": ("starry_night.jpg", (EXAMPLES / "starry_night.jpg").read_bytes(), "image/jpeg"),
        }
        config = {"size": args.size, "optimizer": "adam", "iterations": 2000, "scales": 1}
        r = await client.post("/api/jobs", files=files, data={"config": json.dumps(config)})
        r.raise_for_status()
        job_id = r.json()["id"]
        while (await client.get(f"/api/jobs/{job_id}")).json()["progress"]["step"] < 1:
            await asyncio.sleep(0.2)
        step0 = (await client.get(f"/api/jobs/{job_id}")).json()["progress"]["step"]
        until = time.monotonic() + args.seconds
        rss: dict[str, list[float]] = {"server": [], "worker": []}

        async def sample() -> None:
            while time.monotonic() < until:
                rss["server"].append(rss_mb(server.pid))
                rss["worker"].append(sum(rss_mb(p) for p in children(server.pid)))
                await asyncio.sleep(1)

        during: list[float] = []
        tasks = [prober(load, client, until, during), sample()]
        for i in range(args.clients):
            tasks.append((poller if i % 2 == 0 else streamer)(load, client, job_id, until))
        await asyncio.gather(*tasks)
        job = (await client.get(f"/api/jobs/{job_id}")).json()
        await client.delete(f"/api/jobs/{job_id}")
    return {
        "clients": args.clients,
        "seconds": args.seconds,
        "job": {
            "size": job["progress"]["size"],
            "state": job["state"],
            "steps_during_load": job["progress"]["step"] - step0,
        },
        "requests": load.requests,
        "errors": len(load.errors),
        "error_samples": load.errors[:5],
        "healthz_idle": summary(idle),
        "healthz_during_run": summary(during),
        "job_poll": summary(load.poll_latency),
        "sse_events": load.sse_events,
        "previews_downloaded": load.previews,
        "server_rss_mb": {"first": round(rss["server"][0], 1), "max": round(max(rss["server"]), 1)},
        "worker_rss_mb": {"first": round(rss["worker"][0], 1), "max": round(max(rss["worker"]), 1)},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--weights", help="weights file for the server (default: the registry's model)")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        cmd = [sys.executable, "-c", "from restyle.cli.app import main; main()", "serve", "--port", str(port)]
        cmd += ["--data-dir", data] + (["--weights", args.weights] if args.weights else [])
        server = subprocess.Popen(cmd)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(base + "/healthz").json()["workers"] >= 1:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("restyle serve did not start")
                time.sleep(0.2)
            result = asyncio.run(run(args, base, server))
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=60)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
