"""Memory estimate vs measured peak RSS: one fresh process per size, a few single-scale steps.

    python benchmarks/memory.py --sizes 256 512 1024 [--optimizer lbfgs] [--steps 3] [--precision auto]

For each size a child process loads the model and the inputs (examples/tubingen.jpg and
examples/starry_night.jpg, as ``restyle run`` would: decoded at their own size, resized by the
run), notes its RSS, runs the steps and reports the peak RSS above that baseline next to
:func:`restyle.engine.memory.estimate` (the estimate is of exactly that: the extra memory of the
run), and the process's whole peak RSS (``peak_rss_mb``: what the machine must have), with the C
allocator's mode the run chose (``restyle.engine.allocator``: ``kept`` needs up to ``kept_slack``
more than the estimate; ``RESTYLE_KEEP_FREED_MEMORY=0`` leaves the allocator alone). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

from restyle.config import RunConfig
from restyle.engine import allocator
from restyle.engine.inputs import load_run_inputs
from restyle.engine.stylize import Stylizer
from restyle.features.precision import machine_info

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def rss_bytes() -> int:
    """Current resident set size of this process."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize()


def child(size: int, optimizer: str, steps: int, model: str, tile: int, precision: str = "auto") -> dict:
    """Run one measurement in this process (called in a fresh interpreter)."""
    config = RunConfig(
        model=model, size=size, scales=1, iterations=steps, optimizer=optimizer, device="cpu", tile=tile
    ).replace(precision=precision, style_weight=10.0)  # a fixed weight: the steps' memory, not the calibration's
    stylizer = Stylizer(config)
    content, style = (str(EXAMPLES / n) for n in ("tubingen.jpg", "starry_night.jpg"))
    inputs = load_run_inputs(config, content, style)
    estimate = stylizer.estimate_memory(inputs)
    before = rss_bytes()
    modes: set[str] = set()
    result = stylizer.run(inputs, callback=lambda it: modes.add(allocator.mode()))  # back to lean once it ends
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "size": list(estimate.size),
        "optimizer": optimizer,
        "steps": steps,
        "tile": tile,
        "precision": stylizer.precision,
        "rss_before_mb": before / 1e6,
        "peak_rss_mb": peak / 1e6,
        "measured_extra_mb": (peak - before) / 1e6,
        "estimate_mb": estimate.total / 1e6,
        "ratio_measured_to_estimate": (peak - before) / estimate.total,
        # kept: freed blocks stayed in the heap for the next step (faster; KEPT_SLACK more memory), lean: returned
        "allocator": ",".join(sorted(modes)),
        "kept_slack": allocator.KEPT_SLACK,
        "estimate_parts_mb": {
            k: getattr(estimate, k) / 1e6
            for k in ("activations", "backward", "losses", "targets", "buffers", "network")
        },
        "s_per_step": result.timings["s_per_step"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    ap.add_argument("--optimizer", default="lbfgs")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--model", default="vgg16")
    ap.add_argument("--tile", type=int, default=0, help="--tile of the runs (0: tile only what does not fit)")
    ap.add_argument("--precision", default="auto", help="--precision of the runs: auto, fp32 or bf16")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.optimizer, args.steps, args.model, args.tile, args.precision)))
        return
    results = []
    for size in args.sizes:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                str(size),
                "--optimizer",
                args.optimizer,
                "--steps",
                str(args.steps),
                "--tile",
                str(args.tile),
                "--model",
                args.model,
                "--precision",
                args.precision,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    print(
        json.dumps(
            {
                "benchmark": "memory",
                **machine_info(),
                "results": results,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
