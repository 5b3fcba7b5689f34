"""Time to a finished image: a config's whole run, in seconds and in full-resolution step equivalents.

    PYTHONPATH=src python benchmarks/default_run.py --out /tmp/new.png                 # the default, 512 px
    PYTHONPATH=src python benchmarks/default_run.py --out /tmp/old.png \\
        --set strength=none iterations=200 coarse_factor=1 tol=0                      # the old default

The unit is one plain fp32 VGG16 forward + input-gradient step to relu5_1 at 512x384 (the
default layers, channels-last, no optimiser), measured in the same process before and after the
run (median of ``--plain`` timings after a warm-up): machines and their load differ, the ratio
travels. Prints JSON: wall-clock, steps per scale, the calibrated style weight, the plain step
(median and spread), the ratio, the load average and machine info.
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

from restyle.config import DEFAULT_STYLE_LAYERS, configure
from restyle.engine.job import write_result_image
from restyle.engine.sheet import font
from restyle.engine.stylize import Stylizer
from restyle.features import weights as registry
from restyle.features.vgg import VGGFeatures
from restyle.io.image import read_metadata

ROOT = Path(__file__).resolve().parents[1]


def plain_steps(n: int, width: int = 512, height: int = 384) -> list[float]:
    """Seconds of ``n`` plain forward + input-gradient steps (after one warm-up)."""
    weights, _ = registry.load("vgg16")
    net = VGGFeatures(weights, ["relu4_2", *DEFAULT_STYLE_LAYERS])
    x = torch.rand(1, 3, height, width, requires_grad=True)
    out = []
    for i in range(n + 1):
        t = time.perf_counter()
        feats = net(x)
        sum(f.square().mean() for f in feats.values()).backward()
        if i:
            out.append(time.perf_counter() - t)
    return out


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
    before = plain_steps(args.plain)
    t0 = time.perf_counter()
    result = Stylizer(config).run(str(args.content), str(args.style))
    wall = time.perf_counter() - t0
    after = plain_steps(args.plain)
    write_result_image(args.out, result, "")
    if args.compare and args.compare_out:
        side_by_side(args.compare, args.out, args.compare_out)
    plain = statistics.median(before + after)
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
                "plain_step_s": {
                    "median": round(plain, 3),
                    "min": round(min(before + after), 3),
                    "max": round(max(before + after), 3),
                    "n": len(before + after),
                },
                "step_equivalents": round(wall / plain, 1),
                "load_average": {"before": load_before, "after": os.getloadavg()},
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
