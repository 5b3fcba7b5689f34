"""Trace torch's L-BFGS step by step on a preset's objective: the numbers behind issue 14.

    PYTHONPATH=src python benchmarks/lbfgs_trace.py --preset neural-style --size 256 --steps 8
    PYTHONPATH=src python benchmarks/lbfgs_trace.py --preset neural-style --units 255   # optimise 0-255 pixels

Per step it prints the loss, the gradient's L2/L1/max norms, the direction's norm, the step
length t, the step's L2 and max norm (in [0, 1] pixel units), the pixel range after the step,
the curvature pair's ``yᵀs`` (and whether L-BFGS kept it: ``ys > 1e-10``), ``H_diag`` and the
number of pairs in memory. ``--units U`` optimises ``u = U·x`` instead of the [0, 1] image x
(``--units 255``: the 0-255 pixels the seeds optimise). ``--max-step S`` uses restyle's
:class:`~restyle.engine.optim.BoundedLBFGS` with steps bounded to S pixel units (runs use ``MAX_STEP``).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch

from restyle.config import RunConfig
from restyle.engine.inputs import load_run_inputs
from restyle.engine.optim import BoundedLBFGS
from restyle.engine.pyramid import fit_size, resize
from restyle.engine.stylize import Stylizer

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="neural-style", help="a preset name, or default (restyle's own recipe)")
    ap.add_argument("--content", default=str(ROOT / "examples" / "tubingen.jpg"))
    ap.add_argument("--style", default=str(ROOT / "examples" / "starry_night.jpg"))
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--units", type=float, default=1.0, help="optimise u = UNITS * x (255: 0-255 pixels)")
    ap.add_argument("--lr", type=float, default=1.0)
    ap.add_argument(
        "--max-step",
        type=float,
        default=0.0,
        help="bound steps to this many [0, 1] pixel units (restyle's BoundedLBFGS; 0: torch's L-BFGS)",
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="one JSON object per step instead of a table")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    preset = None if args.preset == "default" else args.preset
    config = RunConfig().replace(preset=preset, size=args.size, model="vgg16", scales=1, image_size=None)
    st = Stylizer(config)
    inputs = load_run_inputs(st.config, args.content, args.style)
    content, styles = inputs.content, inputs.styles
    cw, ch = content.pixels.shape[2], content.pixels.shape[1]
    size = fit_size(cw, ch, args.size)
    cpx = resize(content.pixels[None], size)
    st.loss.targets = st.loss.compute_targets(
        cpx, [resize(s.pixels[None], fit_size(s.pixels.shape[2], s.pixels.shape[1], args.size)) for s in styles]
    )
    x0 = st._init(cpx, torch.Generator().manual_seed(config.seed))
    u = (x0 * args.units).detach().clone().requires_grad_(True)
    if args.max_step:  # restyle's optimiser: steps bounded in [0, 1] pixel units
        opt = BoundedLBFGS(
            [u],
            lr=args.lr,
            history_size=config.lbfgs_history,
            tolerance_grad=-1,
            tolerance_change=-1,
            max_step=args.max_step * args.units,
        )
    else:  # torch's L-BFGS as restyle used it before issue 14
        opt = torch.optim.LBFGS(
            [u], lr=args.lr, max_iter=1, history_size=config.lbfgs_history, tolerance_grad=-1, tolerance_change=-1
        )
    print(
        f"# {args.preset} {size[0]}x{size[1]} units={args.units:g} n={u.numel()} "
        f"start pixel range [{float(x0.min()):.4f}, {float(x0.max()):.4f}]"
    )
    if not args.json:
        print(
            f"{'step':>4} {'loss':>10} {'|g|2':>9} {'|g|1':>9} {'t':>9} {'|d|2':>9} {'|dx|2':>9} "
            f"{'max|dx|':>9} {'x min':>9} {'x max':>9} {'ys':>10} {'kept':>4} {'H_diag':>9} {'mem':>3}"
        )
    losses: list[float] = []

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = st.loss(u / args.units)["total"]
        loss.backward()
        losses.append(float(loss.detach()))
        return loss

    prev_g: torch.Tensor | None = None
    prev_s: torch.Tensor | None = None
    for step in range(1, args.steps + 1):
        before = u.detach().clone()
        losses.clear()
        opt.step(closure)
        g = u.grad.detach().flatten().clone()  # the gradient at the point the step started from
        state = opt.state[u]
        d, t = state["d"], float(state["t"])
        du = (u.detach() - before).flatten()
        x = u.detach() / args.units
        ys = float("nan")
        if prev_g is not None and prev_s is not None:
            ys = float((g - prev_g).dot(prev_s))  # what torch tests against 1e-10 before keeping the pair
        prev_g, prev_s = g, du
        row = {
            "step": step,
            "loss": losses[-1],
            "g2": float(g.norm()),
            "g1": float(g.abs().sum()),
            "t": t,
            "d2": float(d.norm()),
            "dx2": float(du.norm()) / args.units,
            "dxmax": float(du.abs().max()) / args.units,
            "xmin": float(x.min()),
            "xmax": float(x.max()),
            "ys": ys,
            "H_diag": float(state["H_diag"]),
            "mem": len(state["old_dirs"]),
        }
        if args.json:
            print(json.dumps(row))
        else:
            ys_s = "-" if math.isnan(ys) else f"{ys:10.3g}"
            kept_s = "-" if math.isnan(ys) else ("yes" if ys > 1e-10 else "no")
            print(
                f"{step:4d} {row['loss']:10.3g} {row['g2']:9.3g} {row['g1']:9.3g} {t:9.3g} {row['d2']:9.3g} "
                f"{row['dx2']:9.3g} {row['dxmax']:9.3g} {row['xmin']:9.3g} {row['xmax']:9.3g} {ys_s:>10} "
                f"{kept_s:>4} {row['H_diag']:9.3g} {row['mem']:3d}"
            )


if __name__ == "__main__":
    main()
