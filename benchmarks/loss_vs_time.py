"""Loss versus wall-clock: the default schedule against the old one and a long single-scale L-BFGS run.

    PYTHONPATH=src python benchmarks/loss_vs_time.py --size 256 --plot docs/loss_vs_time.png > result.json

Three runs of one pair on the same objective (the new default's calibrated style weight, given to
the others explicitly, so every curve measures the same thing):

* ``default``: the default config (--strength calibration, 94/75/60 steps over three scales, --tol);
* ``old schedule``: 200 steps at every scale, no --tol (restyle's default before issue 9);
* ``single scale``: 1000 L-BFGS steps at the final size from the photo, no --tol.

A coarse scale's own loss is of another image size, so each curve is the *final-size* objective of
the iterate at that moment (upsampled to the final size, as the next scale starts from it),
evaluated after the run on snapshots taken every few steps (the evaluation is not timed; taking a
snapshot is, and costs a copy of a small image). Prints JSON (machine info, per run: wall-clock,
steps, the curve, final objective, seconds to come within 2 % / 5 % of the best value any run
reached); ``--plot`` writes the PNG (matplotlib: the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from restyle.config import configure
from restyle.engine.inputs import load_run_inputs
from restyle.engine.pyramid import fit_size, resize
from restyle.engine.stylize import Stylizer
from restyle.features.precision import machine_info

ROOT = Path(__file__).resolve().parents[1]
#: Snapshots per run (about; every ``steps // SNAPSHOTS``-th step, and every scale's last).
SNAPSHOTS = 60


def run_curve(config_overrides: dict, content: Path, style: Path) -> dict:
    """Run one config; returns its result, wall-clock and the (elapsed, image) snapshots."""
    config, _ = configure({"device": "cpu", **config_overrides})
    stylizer = Stylizer(config)
    snaps: list[tuple[float, int, torch.Tensor]] = []
    every = max(1, sum(stylizer.config.scale_iterations(config.scales)) // SNAPSHOTS)

    def callback(event) -> None:
        last_of_scale = event.scale_step == (event.schedule[event.scale].steps if event.schedule else -1)
        if event.step % every == 0 or last_of_scale or event.step == event.total_steps:
            snaps.append((event.elapsed, event.step, event._pixels.detach().clone()))

    t0 = time.perf_counter()
    result = stylizer.run(str(content), str(style), callback)
    wall = time.perf_counter() - t0
    return {"stylizer": stylizer, "result": result, "wall": wall, "snaps": snaps}


def final_objective(stylizer: Stylizer, result, snaps) -> list[tuple[float, int, float]]:
    """Each snapshot's loss at the final size, on the final scale's targets."""
    h, w = result.pixels.shape[-2:]
    out = []
    for elapsed, step, x in snaps:
        with torch.no_grad():
            x = resize(x, (w, h)) if x.shape[-2:] != (h, w) else x
            out.append((elapsed, step, float(stylizer.loss(x)["total"])))
    return out


def within(curve: list[tuple[float, int, float]], level: float) -> float | None:
    """Seconds until the curve first reaches ``level`` (None: never)."""
    return next((t for t, _, v in curve if v <= level), None)


def plot(curves: dict[str, list[tuple[float, int, float]]], title: str, path: Path) -> None:
    """The curves on a log-loss axis (matplotlib, imported only here: the ``bench`` extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.8), dpi=120)
    for name, curve in curves.items():
        ax.plot([t for t, _, _ in curve], [v for _, _, v in curve], label=name, linewidth=1.6)
    ax.set_yscale("log")
    ax.set_xlabel("wall-clock (s)")
    ax.set_ylabel("objective at the final size")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--content", type=Path, default=ROOT / "examples" / "tubingen.jpg")
    ap.add_argument("--style", type=Path, default=ROOT / "examples" / "starry_night.jpg")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--single-steps", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--plot", type=Path, help="where the PNG goes")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load = [os.getloadavg()]
    new = run_curve({"size": args.size}, args.content, args.style)
    weight = new["result"].style_weight
    fixed = {"size": args.size, "style_weight": weight, "tol": 0}
    runs = {
        "default": new,
        "old schedule (200 per scale)": run_curve(
            {**fixed, "iterations": 200, "coarse_factor": 1}, args.content, args.style
        ),
        f"single scale ({args.single_steps} steps)": run_curve(
            {**fixed, "scales": 1, "iterations": args.single_steps}, args.content, args.style
        ),
    }
    load.append(os.getloadavg())
    judge = runs["default"]["stylizer"]  # every run's final-size objective on one loss (same weight, same targets)
    final_pixels = runs["default"]["result"].pixels
    h, w = final_pixels.shape[-2:]
    inputs = load_run_inputs(judge.config, str(args.content), str(args.style))
    images, style_side = judge._images(inputs), judge._scale_sizes(inputs)[-1]
    styles = [resize(s, fit_size(s.shape[-1], s.shape[-2], style_side)) for s in images.styles]
    judge.loss.targets = judge.loss.compute_targets(resize(images.content, (w, h)), styles)
    judge.loss.weights["style"] = weight
    curves = {name: final_objective(judge, r["result"], r["snaps"]) for name, r in runs.items()}
    best = min(v for c in curves.values() for _, _, v in c)
    report = {
        "pair": f"{args.content.stem} x {args.style.stem}",
        "size": [int(w), int(h)],
        "style_weight": weight,
        "machine": machine_info(),
        "load_average": load,
        "best_objective": best,
        "runs": {
            name: {
                "wall_s": round(r["wall"], 1),
                "steps": r["result"].timings["steps"],
                "calibrate_s": round(r["result"].timings.get("calibrate_s", 0.0), 1),
                "final_objective": curves[name][-1][2],
                "s_to_within_5pct_of_best": within(curves[name], best * 1.05),
                "s_to_within_2pct_of_best": within(curves[name], best * 1.02),
                "curve": [[round(t, 2), s, v] for t, s, v in curves[name]],
            }
            for name, r in runs.items()
        },
    }
    print(json.dumps(report, indent=1))
    if args.plot:
        title = (
            f"{report['pair']}, {w}x{h}, style weight {weight:.3g} (the default's calibration); "
            f"{machine_info().get('cpu', '')}, {torch.get_num_threads()} threads"
        )
        plot(curves, title, args.plot)


if __name__ == "__main__":
    main()
