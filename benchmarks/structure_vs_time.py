"""Edge structure, content and style distance against wall-clock: the old default against the new one.

    PYTHONPATH=src python benchmarks/structure_vs_time.py --pair astronaut:starry_night --threads 2 \\
        --plot docs/structure_vs_time.png > benchmarks/results/structure_vs_time.json

Each run of the pair (``--set``-style overrides per run, see RUNS) snapshots its iterate every few steps
(taking a snapshot is timed and costs a copy of a small image); after the run every snapshot is enlarged
to the final size and measured by the quality Judge (content and style distance, edge structure over the
whole image and inside the marked face, see benchmarks/quality.py's FACES). Prints JSON (machine, per run:
wall-clock, steps, the curve); ``--plot`` writes the three panels (matplotlib: the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch
from loss_vs_time import run_curve
from quality import FACES, find

from restyle.engine.pyramid import resize
from restyle.engine.quality import Judge
from restyle.features.precision import machine_info
from restyle.io.image import read_image

#: The runs compared: name → settings on top of the defaults.
RUNS: dict[str, dict[str, object]] = {
    "old default (relu4_2, no photo detail)": {"content_layers": "relu4_2:1", "photo_detail": 0},
    "new default": {},
}


def measure_curve(judge: Judge, snaps: list, photo: torch.Tensor, painting: torch.Tensor, face) -> list[dict]:
    """Every snapshot's measures at the final size."""
    ref = judge.reference(photo, painting)
    size = (snaps[-1][2].shape[-1], snaps[-1][2].shape[-2])
    rows = []
    for elapsed, step, x in snaps:
        d = judge.measure(resize(x.detach().float(), size), photo, painting, reference=ref, face=face)
        rows.append({"s": round(elapsed, 2), "step": step, **d.to_dict()})
    return rows


def plot(curves: dict[str, list[dict]], title: str, path: Path) -> None:
    """Three panels against wall-clock: edge structure (face dashed), content distance, style distance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4), dpi=110)
    for (name, rows), colour in zip(curves.items(), ("tab:red", "tab:blue", "tab:green", "tab:orange"), strict=False):
        t = [r["s"] for r in rows]
        axes[0].plot(t, [r["edge_structure"] for r in rows], color=colour, label=f"{name}: whole image")
        if "face_structure" in rows[0]:
            axes[0].plot(t, [r["face_structure"] for r in rows], color=colour, linestyle="--", label=f"{name}: face")
        axes[1].plot(t, [r["content_distance"] for r in rows], color=colour, label=name)
        axes[2].plot(t, [r["style_distance"] for r in rows], color=colour, label=name)
    for ax, label in zip(axes, ("edge structure (1: the photo's)", "content distance", "style distance"), strict=True):
        ax.set_xlabel("wall-clock (s)")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    axes[2].set_yscale("log")
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pair", default="astronaut:starry_night", metavar="PHOTO:PAINTING")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--plot", type=Path)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    photo_stem, painting_stem = args.pair.split(":")
    content, style = find(photo_stem), find(painting_stem)
    photo, painting = read_image(content).pixels[None], read_image(style).pixels[None]
    judge = Judge()
    load = [os.getloadavg()]
    runs, curves = {}, {}
    for name, overrides in RUNS.items():
        r = run_curve({"size": args.size, **overrides}, content, style)
        curves[name] = measure_curve(judge, r["snaps"], photo, painting, FACES.get(photo_stem))
        runs[name] = {
            "settings": overrides,
            "wall_s": round(r["wall"], 1),
            "steps": r["result"].timings["steps"],
            "style_weight": r["result"].style_weight,
            "final": curves[name][-1],
            "curve": curves[name],
        }
    load.append(os.getloadavg())
    report = {"pair": args.pair, "size": args.size, "machine": machine_info(), "load_average": load, "runs": runs}
    print(json.dumps(report, indent=1))
    if args.plot:
        cpu = machine_info().get("cpu", "")
        plot(curves, f"{args.pair} at {args.size} px; {cpu}, {torch.get_num_threads()} threads", args.plot)


if __name__ == "__main__":
    main()
