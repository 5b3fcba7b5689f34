"""Seconds per optimisation iteration and peak memory, printed as JSON.

Usage: python benchmarks/bench_iteration.py [--sizes 256 512] [--model vgg16] [--repeats 5]
        [--optimizer lbfgs] [--device cpu]

Each size: one warm-up run, then ``repeats`` timed runs of ``steps`` iterations at a single
scale; reports the median seconds per iteration. Real weights, default layers.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys

import torch

from restyle.config import RunConfig
from restyle.engine.stylize import Stylizer


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--model", default="vgg16")
    ap.add_argument("--optimizer", default="lbfgs")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()

    gen = torch.Generator().manual_seed(0)
    results = []
    for size in args.sizes:
        content = torch.rand(3, size * 3 // 4, size, generator=gen)
        style = torch.rand(3, size, size, generator=gen)
        config = RunConfig(
            model=args.model, size=size, scales=1, iterations=args.steps, optimizer=args.optimizer, device=args.device
        )
        stylizer = Stylizer(config)
        stylizer.run(content, style)  # warm-up (allocator, kernels)
        per_iter = []
        for _ in range(args.repeats):
            if stylizer.device.type == "cuda":
                torch.cuda.synchronize()
            result = stylizer.run(content, style)
            per_iter.append(result.timings["optimize_s"] / result.timings["steps"])
        results.append(
            {
                "size": [size, size * 3 // 4],
                "s_per_iter_median": statistics.median(per_iter),
                "s_per_iter_all": per_iter,
                "peak_rss_mb": peak_rss_mb(),
                "cuda_peak_mb": torch.cuda.max_memory_allocated() / 2**20 if stylizer.device.type == "cuda" else None,
            }
        )
    print(
        json.dumps(
            {
                "benchmark": "iteration",
                "model": args.model,
                "optimizer": args.optimizer,
                "device": args.device,
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
                "cpu": platform.processor() or platform.machine(),
                "python": sys.version.split()[0],
                "results": results,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
