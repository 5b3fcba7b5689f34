"""An 8-pair batch with the local and the Ray executor, and on a simulated 2-node Ray cluster; prints JSON.

Usage: python benchmarks/ray_batch.py [--size 128] [--iterations 20] [--modes local ray cluster]

* ``local``: :class:`~restyle.jobs.executor.LocalExecutor` in this process, torch on all cores
  (``--local-threads 1``: one thread, as each Ray worker);
* ``ray``: :class:`~restyle.jobs.ray_executor.RayExecutor` on a local Ray instance with one
  1-CPU worker per core (its overhead: starting Ray and the actors, one model load per actor,
  inputs and results through the object store, polling);
* ``cluster``: the same on a Ray cluster of two nodes with 1 CPU each, both on this machine
  (``ray.cluster_utils.Cluster`` starts the same head and worker processes as ``ray start --head``
  and ``ray start --address``, and ends only its own -- ``ray stop`` would end every Ray process
  of the user on a shared machine); reports which node ran which job.

Real VGG16 weights (prepared once), default layers, Adam, one scale; synthetic 4:3 photos and
square styles (4 x 2 pairs). Each mode writes into a fresh folder, so nothing is skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from restyle.config import RunConfig
from restyle.features import weights as registry
from restyle.io.image import write_image
from restyle.jobs.batch import plan_jobs, run_batch
from restyle.jobs.executor import LocalExecutor


def synthetic(width: int, height: int, seed: int) -> torch.Tensor:
    """A smooth (3, H, W) image in [0, 1]: gradients plus coloured discs."""
    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    img = torch.stack([xx, yy, (xx + yy) / 2])
    for _ in range(6):
        cx, cy, r = torch.rand(3, generator=gen)
        mask = (((xx - cx) ** 2 + (yy - cy) ** 2) < (0.05 + 0.2 * r) ** 2).float()
        img = img * (1 - mask) + torch.rand(3, 1, 1, generator=gen) * mask
    return img.clamp(0, 1)


def make_inputs(root: Path, size: int) -> tuple[Path, Path]:
    """photos/ (4 images) and styles/ (2 images) under ``root``."""
    photos, styles = root / "photos", root / "styles"
    photos.mkdir()
    styles.mkdir()
    for i in range(4):
        write_image(photos / f"p{i}.png", synthetic(size, size * 3 // 4, i))
    for i in range(2):
        write_image(styles / f"s{i}.png", synthetic(size, size, 100 + i))
    return photos, styles


def run_mode(mode: str, root: Path, photos: Path, styles: Path, config: RunConfig) -> dict[str, Any]:
    """Run the batch once with ``mode``'s executor; wall time, counts, and (Ray) where each job ran."""
    jobs = plan_jobs([photos], [styles], root / f"out-{mode}", config)
    record: dict[str, Any] = {"mode": mode, "jobs": len(jobs)}
    if mode == "local":
        t0 = time.perf_counter()
        report = run_batch(jobs, executor=LocalExecutor(config))
        record["wall_s"] = time.perf_counter() - t0
        record["counts"] = report.counts()
        record["s_per_job"] = [r.result.timings["total_s"] for r in report.results if r.result]
        return record

    import ray
    from ray.cluster_utils import Cluster

    from restyle.jobs.ray_executor import JobAssigned, RayExecutor, WorkerReady

    cluster = None
    t0 = time.perf_counter()
    if mode == "cluster":
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        cluster.add_node(num_cpus=1)
        executor = RayExecutor(config, address=cluster.address, cpus_per_worker=1)
    else:
        executor = RayExecutor(config, cpus_per_worker=1, init_options={"num_cpus": os.cpu_count() or 1})
    assigned: dict[int, str] = {}
    workers: dict[str, Any] = {}
    first_step: list[float] = []

    def listen(event: object) -> None:
        if isinstance(event, JobAssigned):
            assigned[event.index] = event.worker
        elif isinstance(event, WorkerReady):
            workers[event.worker.name] = event.worker
        elif not first_step and type(event).__name__ == "JobStep":
            first_step.append(time.perf_counter() - t0)

    try:
        executor.connect()
        record["start_s"] = time.perf_counter() - t0
        record["nodes"] = len([n for n in ray.nodes() if n["Alive"]])
        t1 = time.perf_counter()
        report = executor.run(jobs, listen)
        record["run_s"] = time.perf_counter() - t1
        record["wall_s"] = time.perf_counter() - t0
        record["first_step_s"] = first_step[0] if first_step else None
        record["counts"] = report.counts()
        record["s_per_job"] = [r.result.timings["total_s"] for r in report.results if r.result]
        for name in set(assigned.values()):
            if name not in workers:
                info = executor.worker_info(name)
                if info is not None:
                    workers[name] = info
        node_of = {name: w.node_id[:8] for name, w in workers.items()}
        record["workers"] = {name: {"node": node_of[name], "pid": w.pid} for name, w in sorted(workers.items())}
        record["jobs_per_node"] = dict(Counter(node_of.get(assigned[i], "?") for i in sorted(assigned)))
        record["jobs_per_worker"] = dict(Counter(assigned[i] for i in sorted(assigned)))
    finally:
        executor.close()
        if cluster is not None:
            if ray.is_initialized():
                ray.shutdown()
            cluster.shutdown()
    return record


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--model", default="vgg16")
    ap.add_argument("--modes", nargs="+", default=["local", "ray", "cluster"], choices=["local", "ray", "cluster"])
    ap.add_argument(
        "--local-threads", type=int, default=None, help="torch threads of the local mode [default: torch's]"
    )
    args = ap.parse_args()
    if args.local_threads:
        torch.set_num_threads(args.local_threads)
    registry.prepare(args.model)  # once, before any timing
    config = RunConfig(
        model=args.model, size=args.size, scales=1, iterations=args.iterations, optimizer="adam", device="cpu"
    )
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        photos, styles = make_inputs(root, args.size)
        for mode in args.modes:
            results.append(run_mode(mode, root, photos, styles, config))
            print(json.dumps(results[-1]), file=sys.stderr)
    import ray

    doc = {
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "ray": ray.__version__,
            "torch_threads_local": torch.get_num_threads(),
            "load_avg_1m": os.getloadavg()[0],
        },
        "config": {"size": args.size, "iterations": args.iterations, "model": args.model, "optimizer": "adam"},
        "results": results,
    }
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
