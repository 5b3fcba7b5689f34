"""Seconds per optimisation step by size and precision, against a plain VGG step in the same run; JSON.

Usage: python benchmarks/bench_step.py [--sizes 256 512] [--repeats 5] [--warmup 2] [--quality-steps 40]
        [--threads N] [--profile] [--out benchmarks/results/step.json]

For each size (longest side; 4:3 images) and precision (fp32, and bf16 where it is native, or
``--bf16`` to force it), one single-scale run of the real VGG16 with the default config: after
``warmup`` steps, ``repeats`` steps are timed. After every step of a run the callback also times one
**plain step**: a forward of the same VGG16 fp32 channels-last to relu5_1 and the gradient of its
sum with respect to the input, the floor a step is compared with (``benchmarks/plain.py``), once in
this process (``plain_s``: restyle has tuned its C allocator, so it shares the run's conditions)
and once in a plain child process that restyle never tunes (``plain_untuned_s``: plain PyTorch;
``--no-child`` skips it). They alternate, so all see the same machine load; the ratios (step /
plain step of the same run) are what to compare across machines. ``fp32-autograd-gram`` is the
same fp32 step with the Gram backward left to autograd (the code before the custom backward) for
comparison.

Quality of bf16 (``--quality-steps``, at 256 px on tubingen + starry_night when
``../shared/images`` exists, else synthetic images): the loss terms and the pixel gradient of the
same start image in both precisions (relative differences, gradient cosine), and the fp32 loss of
the images that ``--quality-steps`` L-BFGS steps reach in each precision.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from plain import ChildPlainStep, PlainStep, spread  # benchmarks/plain.py: the unit of every timing

from restyle.config import RunConfig
from restyle.engine.events import Iterate
from restyle.engine.pyramid import fit_size, resize
from restyle.engine.stylize import Stylizer
from restyle.features import precision
from restyle.features import weights as registry
from restyle.io.image import read_image
from restyle.losses import functional, perceptual

IMAGES = Path(__file__).resolve().parents[2] / "shared" / "images"


def machine() -> dict[str, Any]:
    """CPU model, bf16-related flags, torch and threads."""
    return precision.machine_info()


@contextmanager
def autograd_gram():
    """The Gram matrix as before this benchmark's change: ``bmm(f, fᵀ)`` with autograd's backward."""

    def gram(features: torch.Tensor) -> torch.Tensor:
        n, c, h, w = features.shape
        f = features.reshape(n, c, h * w)
        return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)

    saved = functional.gram_matrix, perceptual.gram_matrix
    functional.gram_matrix = perceptual.gram_matrix = gram
    try:
        yield
    finally:
        functional.gram_matrix, perceptual.gram_matrix = saved


def images(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Content and style: tubingen + starry_night when available, else smooth synthetic ones."""
    if (IMAGES / "tubingen.jpg").exists():
        return read_image(IMAGES / "tubingen.jpg").pixels, read_image(IMAGES / "starry_night.jpg").pixels
    gen = torch.Generator().manual_seed(0)
    smooth = torch.nn.functional.interpolate(torch.rand(1, 3, 12, 16, generator=gen), (size * 3 // 4, size))[0]
    return smooth, torch.rand(3, size, size, generator=gen)


def time_steps(
    stylizer: Stylizer,
    content: torch.Tensor,
    style: torch.Tensor,
    plain: PlainStep,
    child: ChildPlainStep | None,
    warmup: int,
    repeats: int,
) -> dict[str, Any]:
    """Per-step seconds of one run, each step followed by a plain step in this process and one in ``child``
    (each timed apart; ``plain_s`` shares the run's tuned allocator, ``plain_untuned_s`` is a plain process)."""
    steps: list[float] = []
    plains: list[float] = []
    untuned: list[float] = []
    mark = [0.0]

    def callback(it: Iterate) -> None:
        now = time.perf_counter()
        if it.step > 1:  # the first step also computed the targets
            steps.append(now - mark[0])
        plains.append(plain(it.pixels()[None]))
        if child is not None:
            untuned.append(child(it.pixels()[None]))
        mark[0] = time.perf_counter()

    mark[0] = time.perf_counter()
    stylizer.run(content, style, callback)
    steps, plains, untuned = steps[warmup:], plains[warmup + 1 :], untuned[warmup + 1 :]
    out = {
        "step_s": spread(steps),
        "plain_s": spread(plains),
        "ratio": statistics.median(steps) / statistics.median(plains),
    }
    if untuned:
        out["plain_untuned_s"] = spread(untuned)
        out["ratio_to_untuned"] = statistics.median(steps) / statistics.median(untuned)
    return out


def quality(weights: Any, steps: int) -> dict[str, Any]:
    """bf16 against fp32 at 256 px: loss terms and gradient at one start image, and after ``steps`` steps."""
    content, style = images(256)
    base = RunConfig(model="vgg16", size=256, scales=1, iterations=steps, device="cpu")
    runs = {p: Stylizer(base.replace(precision=p), weights=weights, model="vgg16") for p in ("fp32", "bf16")}
    w, h = fit_size(content.shape[2], content.shape[1], 256)
    x = resize(content[None], (w, h))  # the run's start image (init content)
    s = resize(style[None], fit_size(style.shape[2], style.shape[1], 256))
    start = {}
    for p, st in runs.items():
        st.loss.targets = st.loss.compute_targets(x, [s])
        y = x.clone().requires_grad_(True)
        terms = st.loss(y)
        terms["total"].backward()
        start[p] = ({k: float(v.detach()) for k, v in terms.items()}, y.grad.flatten())
    (v32, g32), (v16, g16) = start["fp32"], start["bf16"]
    at_start = {
        "loss_fp32": v32,
        "loss_bf16": v16,
        "rel_diff": {k: abs(v16[k] - v32[k]) / abs(v32[k]) for k in v32 if v32[k]},
        "grad_cosine": float(torch.nn.functional.cosine_similarity(g16, g32, dim=0)),
        "grad_rel_norm_diff": float((g16 - g32).norm() / g32.norm()),
    }
    finals: dict[str, Any] = {}
    judge = runs["fp32"].loss
    for p, st in runs.items():
        t = time.perf_counter()
        result = st.run(content, style)
        wall = time.perf_counter() - t
        judge.targets = judge.compute_targets(x, [s])
        with torch.no_grad():
            judged = {k: float(v) for k, v in judge(result.pixels[None]).items()}
        finals[p] = {"own_loss": result.losses, "fp32_loss": judged, "wall_s": wall}
    return {
        "size": [w, h],
        "images": "tubingen + starry_night" if (IMAGES / "tubingen.jpg").exists() else "synthetic",
        "at_start": at_start,
        "after_steps": steps,
        "final": finals,
        "final_fp32_loss_bf16_over_fp32": finals["bf16"]["fp32_loss"]["total"] / finals["fp32"]["fp32_loss"]["total"],
    }


def profile_step(weights: Any, size: int, precision_name: str) -> list[dict[str, Any]]:
    """The 15 costliest ops (self CPU time) of one default step at ``size`` (torch.profiler)."""
    content, style = images(size)
    st = Stylizer(
        RunConfig(model="vgg16", size=size, scales=1, iterations=3, precision=precision_name), weights=weights
    )
    st.run(content, style)  # warm-up
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        st.run(content, style)
    rows = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[:15]
    return [{"op": e.key, "calls": e.count, "self_ms_per_step": e.self_cpu_time_total / 1000 / 3} for e in rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--quality-steps", type=int, default=40)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--bf16", action="store_true", help="time bf16 even where it is not native")
    ap.add_argument("--no-before", action="store_true", help="skip the fp32-autograd-gram variant")
    ap.add_argument("--profile", action="store_true", help="add the op profile of one 512 px step")
    ap.add_argument(
        "--no-child", action="store_true", help="skip the plain step in a plain (untuned) process (plain_untuned_s)"
    )
    ap.add_argument("--out", type=Path, help="also write the JSON here")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    weights, _ = registry.load("vgg16", None)
    info = machine()
    load_before = os.getloadavg()
    variants: list[tuple[str, str, Callable[[], Any] | None]] = [("fp32", "fp32", None)]
    if not args.no_before:
        variants.append(("fp32-autograd-gram", "fp32", autograd_gram))
    if info["native_bf16"] or args.bf16:
        variants.append(("bf16", "bf16", None))
    plain = PlainStep(weights)
    child = None if args.no_child else ChildPlainStep(args.threads)
    results = []
    for size in args.sizes:
        content, style = images(size)
        for name, prec, patch in variants:
            config = RunConfig(
                model="vgg16", size=size, scales=1, iterations=args.warmup + args.repeats + 1, precision=prec
            )
            stylizer = Stylizer(config, weights=weights, model="vgg16")
            if patch is None:
                timed = time_steps(stylizer, content, style, plain, child, args.warmup, args.repeats)
            else:
                with patch():
                    timed = time_steps(stylizer, content, style, plain, child, args.warmup, args.repeats)
            w, h = stylizer.pyramid(stylizer._inputs(content, style, None))[-1]
            results.append({"size": [w, h], "variant": name, "precision": prec, **timed})
            vs_untuned = f", step/untuned plain {timed['ratio_to_untuned']:.3f}" if "ratio_to_untuned" in timed else ""
            print(f"{w}x{h} {name}: step/plain {timed['ratio']:.3f}{vs_untuned}", flush=True, file=sys.stderr)
    if child is not None:
        child.close()
    out: dict[str, Any] = {
        "benchmark": "step",
        "machine": info,
        "load_average_before": list(load_before),
        "config": "default RunConfig (VGG16 Caffe, relu4_2 content, relu1_1..relu5_1 style, TV 0.1, L-BFGS h=50)",
        "results": results,
    }
    if args.quality_steps:
        out["bf16_quality"] = quality(weights, args.quality_steps)
    if args.profile:
        out["profile_512"] = {
            p: profile_step(weights, 512, p) for p in ("fp32", "bf16") if p == "fp32" or info["native_bf16"]
        }
    out["load_average_after"] = list(os.getloadavg())
    text = json.dumps(out, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
