"""Does ``--ema`` (moving average of the Adam iterate) lower the final loss or the noise? Prints JSON.

    PYTHONPATH=src python benchmarks/ema.py [--size 128] [--iterations 300] [--out benchmarks/results/ema.json]

One Adam run per pair (single scale, restyle's default recipe otherwise); its raw iterates are
averaged with each decay in the callback (the average never feeds back into the optimisation, so
one run serves every decay). Per pair and decay: the final loss of the run's own objective, the
noise (mean squared TV of the image) and the two independent distances of engine/quality.py.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from restyle.config import RunConfig
from restyle.engine.ema import IterateAverage
from restyle.engine.events import Iterate
from restyle.engine.inputs import load_run_inputs
from restyle.engine.quality import Judge
from restyle.engine.stylize import Stylizer
from restyle.features.precision import cpu_model
from restyle.losses.functional import tv_loss

SHARED = Path("/work/shared/images")
PAIRS = [
    ("tubingen.jpg", "starry_night.jpg"),
    ("rocket.jpg", "wave.jpg"),
    ("chelsea.png", "the_scream.jpg"),
    ("coffee.png", "udnie.jpg"),
    ("golden_gate.jpg", "composition_vii.jpg"),
]
DECAYS = (0.0, 0.9, 0.95, 0.99)


def averaging(averages: dict[float, IterateAverage]) -> Callable[[Iterate], None]:
    """A callback folding each raw iterate into one average per decay."""

    def average(event: Iterate) -> None:
        x = event._pixels.detach()
        for d in DECAYS[1:]:
            if d not in averages:
                averages[d] = IterateAverage(x, d)
            averages[d].update(x)

    return average


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--pairs", type=int, default=len(PAIRS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    config = RunConfig(optimizer="adam", size=args.size, iterations=args.iterations, scales=1, ema=0.0)
    stylizer, judge = Stylizer(config), Judge()
    rows = []
    for content, style in PAIRS[: args.pairs]:
        inputs = load_run_inputs(config, SHARED / content, SHARED / style)
        averages: dict[float, IterateAverage] = {}
        t0 = time.perf_counter()
        result = stylizer.run(inputs, callback=averaging(averages))
        seconds = time.perf_counter() - t0
        photo, painting = inputs.content.pixels[None], inputs.style_pixels[0][None]
        reference = judge.reference(photo, painting)
        row: dict = {"pair": f"{content} x {style}", "seconds": round(seconds, 1)}
        for d in DECAYS:
            image = result.pixels[None] if d == 0 else averages[d].value().clamp(0, 1)
            with torch.no_grad():
                loss = float(stylizer.loss(image)["total"])  # the last scale's targets are still set
            dist = judge.measure(image, photo, painting, reference=reference)
            row[str(d)] = {"loss": loss, "tv": float(tv_loss(image)), **dist.to_dict()}
        rows.append(row)
    summary = {}
    for d in DECAYS[1:]:
        summary[str(d)] = {
            f"median_{k}_ratio": round(statistics.median(r[str(d)][k] / r["0.0"][k] for r in rows), 4)
            for k in ("loss", "tv", "content_distance", "style_distance")
        }
    report = {
        "benchmark": "ema",
        "cpu": cpu_model(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "size": args.size,
        "iterations": args.iterations,
        "load_average": [round(v, 1) for v in os.getloadavg()],
        "pairs": rows,
        "summary_vs_last_iterate": summary,
    }
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
