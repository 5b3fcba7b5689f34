"""The benchmarks' reusable parts that need no model: the loss-vs-time plot and its reading of a curve."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_loss_vs_time_plots_every_curve_and_reads_when_a_level_is_reached(tmp_path: Path) -> None:
    bench = _load("loss_vs_time")
    curves = {
        "default": [(1.0, 1, 10.0), (2.0, 2, 3.0), (3.0, 3, 2.0)],
        "single scale": [(1.0, 1, 20.0), (5.0, 2, 2.1), (9.0, 3, 1.9)],
    }
    assert bench.within(curves["default"], 3.0) == 2.0 and bench.within(curves["default"], 1.0) is None
    out = tmp_path / "plot.png"
    bench.plot(curves, "a title", out)
    with Image.open(out) as im:
        assert im.format == "PNG" and im.width > 400 and im.height > 300
        colours = im.convert("RGB").getcolors(1 << 20) or []
    assert len(colours) > 20  # axes, text and two coloured lines, not a blank canvas
