"""Time to a finished image: a config's whole run, in seconds and in full-resolution step equivalents.

    PYTHONPATH=src python benchmarks/default_run.py --out /tmp/new.png                 # the default, 512 px
    PYTHONPATH=src python benchmarks/default_run.py --out /tmp/old.png \\
        --set strength=none iterations=200 coarse_factor=1 tol=0                      # the old default

The unit is one plain fp32 VGG16 forward + input-gradient step to relu5_1 at 512x384
(``benchmarks/plain.py``: channels-last, no loss, no optimiser), measured before and after the run
(median of ``--plain`` timings after a warm-up) both in this process, whose C allocator restyle
tunes (``plain_step_s``, ``step_equivalents``), and in a plain child process that restyle never
tunes (``plain_untuned_step_s``, ``step_equivalents_untuned``: plain PyTorch): machines and their
load differ, the ratio travels. Prints JSON: wall-clock, steps per scale, the calibrated style
weight, the plain steps (median and spread), the ratios, the load average and machine info.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw
from plain import ChildPlainStep, PlainStep, spread  # benchmarks/plain.py: the unit of every timing

from restyle.config import configure
from restyle.engine.allocator import keep_freed_memory
from restyle.engine.stylize import Stylizer
from restyle.features.precision import machine_info
from restyle.io.image import read_metadata
from restyle.jobs.job import write_result_image
from restyle.jobs.sheet import font

ROOT = Path(__file__).resolve().parents[1]


def plain_steps(n: int, child: ChildPlainStep, width: int = 512, height: int = 384) -> tuple[list[float], list[float]]:
    """Seconds of ``n`` plain steps in this process and ``n`` in ``child``, in turn (after one warm-up each)."""
    step = PlainStep()
    x = torch.rand(1, 3, height, width)
    step(x), child(x)
    here: list[float] = []
    there: list[float] = []
    for _ in range(n):
        here.append(step(x))
        there.append(child(x))
    return here, there


def side_by_side(old: Path, new: Path, out: Path) -> None:
    """``old`` and ``new`` next to each other, each captioned with its settings and wall-clock."""
    images = [Image.open(p).convert("RGB") for p in (old, new)]
    captions = []
    for p in (old, new):
        meta = read_metadata(p) or {}
        t = meta.get("timings", {})
        w = meta.get("style_weight") or meta.get("config", {}).get("style_weight")
        captions.append(f"{p.stem}: {t.get('steps', '?')} steps, {t.get('total_s', 0):.0f} s, style weight {w:.3g}")
    w, h = sum(i.width for i in images) + 10, max(i.height for i in images) + 28
    sheet = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(sheet)
    x = 0
    for img, text in zip(images, captions, strict=True):
        sheet.paste(img, (x, 28))
        draw.text((x + 4, 6), text, font=font(16), fill="#000000")
        x += img.width + 10
    sheet.save(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--content", type=Path, default=ROOT / "examples" / "tubingen.jpg")
    ap.add_argument("--style", type=Path, default=ROOT / "examples" / "starry_night.jpg")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    ap.add_argument("--plain", type=int, default=5, help="plain steps timed before and after the run")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--compare", type=Path, help="an earlier result (e.g. the old default's) to show beside this one")
    ap.add_argument("--compare-out", type=Path, help="where the side-by-side PNG goes")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = dict(kv.split("=", 1) for kv in args.set)
    config, _ = configure({"device": "cpu", **overrides})
    load_before = os.getloadavg()
    keep_freed_memory()  # what the Stylizer does: the plain steps before the run see the same allocator
    child = ChildPlainStep(args.threads)
    here_before, there_before = plain_steps(args.plain, child)
    t0 = time.perf_counter()
    result = Stylizer(config).run(str(args.content), str(args.style))
    wall = time.perf_counter() - t0
    keep_freed_memory()  # the run went back to lean mode when it ended
    here_after, there_after = plain_steps(args.plain, child)
    child.close()
    here, there = here_before + here_after, there_before + there_after
    write_result_image(args.out, result, "")
    if args.compare and args.compare_out:
        side_by_side(args.compare, args.out, args.compare_out)
    plain, untuned = statistics.median(here), statistics.median(there)
    per_scale: dict[int, int] = {}
    for h in result.history:
        per_scale[h["scale"]] = per_scale.get(h["scale"], 0) + 1
    print(
        json.dumps(
            {
                "settings": overrides or "default",
                "size": list(result.pixels.shape[-1:-3:-1]),
                "wall_s": round(wall, 1),
                "steps": result.timings["steps"],
                "steps_per_scale": list(per_scale.values()),
                "calibrate_s": round(result.timings.get("calibrate_s", 0.0), 1),
                "style_weight": result.style_weight,
                "plain_step_s": spread(here, 3),
                "plain_untuned_step_s": spread(there, 3),
                "step_equivalents": round(wall / plain, 1),
                "step_equivalents_untuned": round(wall / untuned, 1),
                "load_average": {"before": load_before, "after": os.getloadavg()},
                "machine": machine_info(),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
