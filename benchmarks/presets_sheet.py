"""docs/presets.png: every preset on two content/style pairs, each with its own iteration count.

    PYTHONPATH=src python benchmarks/presets_sheet.py                    # 256 px, the presets' iterations
    PYTHONPATH=src python benchmarks/presets_sheet.py --size 64 --iterations 5 --out /tmp/sheet.png  # a smoke test

One contact sheet per pair (:func:`restyle.jobs.sheet.render_sheet`), stacked into one PNG:
a column per preset, headed by its name, optimiser and iterations; under each result its final
loss terms and wall-clock seconds. Runs on the weights :func:`restyle.config.configure` picks
(the presets' own ``vgg19`` since issue 26) unless ``--model`` is given. Prints one JSON
object: per cell the preset, pair, iterations, seconds, final loss, pixel std and spread, notes.

The full sheet is 2 x 6 runs of 200-2211 steps at 256 px: about an hour on a few CPU cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from PIL import Image

from restyle.config import configure
from restyle.engine.health import pixel_spread
from restyle.engine.inputs import load_input
from restyle.engine.stylize import Stylizer
from restyle.features import weights as registry
from restyle.io.image import tensor_to_pil
from restyle.jobs.sheet import SheetCell, SheetSpec, caption_text, render_sheet
from restyle.presets import PRESETS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SHARED = Path("/work/shared/images")  # CREDITS.md there; chelsea.png is CC0 (scikit-image's data)


def default_pairs() -> list[tuple[Path, Path]]:
    second = SHARED / "chelsea.png"
    if not second.is_file():
        second = EXAMPLES / "tubingen.jpg"
    return [(EXAMPLES / "tubingen.jpg", EXAMPLES / "starry_night.jpg"), (second, EXAMPLES / "the_scream.jpg")]


def thumbnail(path: Path, side: int = 512) -> Image.Image:
    """The input as the sheet's thumbnails show it (EXIF orientation applied)."""
    return tensor_to_pil(load_input(path, max_side=side).pixels)


def caption(losses: dict[str, float], seconds: float) -> str:
    """Wall-clock first (it must show), then the total loss, then the terms as far as they fit."""
    clock = f"{seconds:.0f}\u00a0s" if seconds < 120 else f"{seconds / 60:.1f}\u00a0min"
    terms = caption_text({"total": losses["total"], **losses}, seconds, order=("total", "content", "style", "tv"))
    return f"{clock}\u00a0· " + terms.rsplit("\u00a0· ", 1)[0]  # caption_text ends with the seconds: drop them


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--pair",
        nargs=2,
        action="append",
        metavar=("CONTENT", "STYLE"),
        help="a content/style pair (repeat for more; default: tubingen/starry_night, chelsea/the_scream)",
    )
    ap.add_argument("--presets", default=",".join(PRESETS), help="comma-separated preset names (default: all)")
    ap.add_argument("--size", type=int, default=256, help="longest side of every result (default 256)")
    ap.add_argument(
        "--iterations", type=int, default=None, help="override every preset's own iteration count (for a quick check)"
    )
    ap.add_argument("--model", default=None, help="weights for every run (default: what configure picks)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--cell", type=int, default=256, help="cell size on the sheet in px (default 256)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "presets.png"), help="the sheet (default docs/presets.png)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    pairs = [(Path(c), Path(s)) for c, s in args.pair] if args.pair else default_pairs()
    names = [n.strip() for n in args.presets.split(",") if n.strip()]

    weights_by_model: dict[str, object] = {}
    said: set[str] = set()
    cells_json = []
    sheets = []
    for content, style in pairs:
        pair = f"{content.stem} x {style.stem}"
        row: list[SheetCell] = []
        headers: list[str] = []
        models = set()
        for name in names:
            overrides: dict[str, object] = {"preset": name, "size": args.size}
            if args.iterations is not None:
                overrides["iterations"] = args.iterations
            if args.model is not None:
                overrides["model"] = args.model
            config, notes = configure(overrides)
            for note in notes:
                if note not in said:
                    said.add(note)
                    print(f"note: {note}", file=sys.stderr)
            if config.model not in weights_by_model:
                weights_by_model[config.model] = registry.load(config.model)[0]
            models.add(config.model)
            t0 = time.perf_counter()
            result = Stylizer(config, weights=weights_by_model[config.model]).run(content, style)
            seconds = time.perf_counter() - t0
            headers.append(f"{name}: {config.optimizer} {config.iterations} it")
            row.append(SheetCell(result.image(), caption(result.losses, seconds)))
            cell = {
                "preset": name,
                "pair": pair,
                "iterations": config.iterations,
                "seconds": round(seconds, 2),
                "final_loss": result.losses["total"],
                "pixel_std": round(float(result.pixels.std()), 4),
                "pixel_spread": round(pixel_spread(result.pixels), 4),
                "model": config.model,
                "size": list(result.pixels.shape[-1:-3:-1]),
                "notes": result.notes,
            }
            cells_json.append(cell)
            print(json.dumps(cell), flush=True, file=sys.stderr)  # progress
        iters = "each preset's own iterations" if args.iterations is None else f"{args.iterations} iterations"
        title = f"{pair}: every preset at {args.size} px, {iters}, on {', '.join(sorted(models))}"
        spec = SheetSpec(title, thumbnail(content), thumbnail(style), headers, cells=[row])
        sheets.append(render_sheet(spec, cell_size=args.cell))

    width = max(s.width for s in sheets)
    out = Image.new("RGB", (width, sum(s.height for s in sheets)), "white")
    y = 0
    for s in sheets:
        out.paste(s, (0, y))
        y += s.height
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    out.save(args.out)
    print(json.dumps({"sheet": args.out, "size": args.size, "cells": cells_json}, indent=1))


if __name__ == "__main__":
    main()
