"""``restyle sweep``, ``restyle presets`` and ``restyle figures``: thin commands over the library.

Importing this module registers the commands on :data:`restyle.cli.app.app`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from restyle.cli.app import app, build_config, err, handle_errors, prepare_weights
from restyle.cli.options import with_config_options
from restyle.cli.progress import format_losses
from restyle.config import RunConfig

#: Default settings of ``restyle figures`` (each sheet takes a few minutes on two CPU cores).
FIGURE_SIZE = 192
FIGURE_ITERATIONS = 300


def _fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "eta -:--"
    m, s = divmod(int(seconds + 0.5), 60)
    h, m = divmod(m, 60)
    return f"eta {h}:{m:02d}:{s:02d}" if h else f"eta {m}:{s:02d}"


class SweepProgress:
    """Rich display of a sweep: cells done/total with ETA, and the running cell's steps and losses."""

    def __init__(self, console: Console, enabled: bool = True) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"), console=console, disable=not enabled,
        )
        self.cells = self.progress.add_task("cells", total=None, info="")
        self.steps = self.progress.add_task("cell", total=None, info="")
        self.run_start: float | None = None
        self.run_done = 0.0  # cells computed in this call, fractional while one runs
        self.to_run = 0

    def __enter__(self) -> SweepProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def _eta(self, remaining: float) -> float | None:
        if self.run_start is None or self.run_done <= 0:
            return None
        return (time.perf_counter() - self.run_start) / self.run_done * remaining

    def callback(self, event: Any) -> None:
        """Update the display from one :class:`~restyle.engine.sweep.SweepEvent`."""
        label = ", ".join(f"{k}={v}" for k, v in event.cell.labels.items())
        if event.kind == "skip":
            self.progress.update(self.cells, total=event.total, completed=event.done, info="")
            self.console.print(f"[dim]already done: {label}[/]", highlight=False, soft_wrap=True)
        elif event.kind == "start":
            if self.run_start is None:
                self.run_start = time.perf_counter()
                self.to_run = event.total - event.done
            self.progress.update(self.steps, description=label, total=None, completed=0, info="loading")
        elif event.kind == "step":
            it = event.iterate
            frac = it.step / it.total_steps
            ran = self.to_run - (event.total - event.done)
            self.run_done = ran + frac
            eta = self._eta(self.to_run - self.run_done)
            self.progress.update(self.cells, total=event.total, completed=event.done + frac, info=_fmt_eta(eta))
            self.progress.update(self.steps, total=it.total_steps, completed=it.step, info=format_losses(it.losses))
        elif event.kind == "done":
            rec = event.record
            self.run_done = self.to_run - (event.total - event.done)
            eta = self._eta(event.total - event.done)
            self.progress.update(self.cells, total=event.total, completed=event.done, info=_fmt_eta(eta))
            self.console.print(f"done {label}: {format_losses(rec.losses)} ({rec.time_s:.1f} s)", highlight=False,
                               soft_wrap=True)


def run_sweep(content: str, style: str, base: RunConfig, vary: list[Any], output: str, *, quiet: bool,
              cell_size: int = 256, title: str | None = None) -> Any:
    """Run one sweep with a progress display; on Ctrl-C say how to resume. Returns the SweepResult."""
    from restyle.engine.sweep import sweep

    console = Console(stderr=True, quiet=quiet)
    progress = SweepProgress(console, enabled=not quiet)
    try:
        with progress:
            result = sweep(content, style, base, vary, output, progress.callback, cell_size=cell_size, title=title)
    except KeyboardInterrupt:
        err.print(f"interrupted: finished cells are kept in {output}; run the same command again to resume",
                  soft_wrap=True)
        raise typer.Exit(130) from None
    t = result.timings
    console.print(
        f"wrote {result.sheet}, results.json, results.csv and {len(result.records)} images to {output} "
        f"({t['cells_run']:.0f} run, {t['cells_resumed']:.0f} resumed) in {t['total_s']:.1f} s; targets "
        f"computed {t['targets_computed']:.0f}x, reused {t['targets_reused']:.0f}x "
        f"(~{t['targets_saved_s']:.1f} s saved)",
        highlight=False, soft_wrap=True,
    )
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    return result


@app.command("sweep")
@with_config_options
@handle_errors
def sweep_command(
    content: str = typer.Argument(..., help="Content image (the photo)."),
    style: str = typer.Argument(..., help="Style image (the artwork)."),
    vary: list[str] = typer.Option(  # noqa: B008 - typer's idiom
        ..., "--vary", "-V",
        help="FIELD=V1,V2,... : a setting and its values; give --vary twice for a 2-D grid (first: columns, "
             "second: rows). Values that contain commas (layer lists) are separated by ; or | instead, e.g. "
             "--vary 'style_layers=relu1_1,relu2_1;relu3_1,relu4_1'.",
    ),
    output: str = typer.Option(..., "--output", "-o", help="Output folder (created; finished cells are reused)."),
    cell_size: int = typer.Option(256, "--cell-size", min=32, max=1024, help="Width of each image on the sheet."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
    overrides: dict[str, Any] | None = None,
) -> None:
    """Run CONTENT x STYLE once per value of --vary and write a labelled contact sheet, JSON and CSV."""
    from restyle.engine.sweep import parse_vary

    axes = [parse_vary(v) for v in vary]
    base = build_config(overrides or {})
    if base.weights is None:  # extract/download once, with a progress bar, before the first cell
        prepare_weights(base.model, only_if_missing=True)
    run_sweep(content, style, base, axes, output, quiet=quiet, cell_size=cell_size)


@app.command("presets")
@handle_errors
def presets_command(
    name: Optional[str] = typer.Argument(None, help="Show every value of this preset with its source."),  # noqa: UP045
    as_markdown: bool = typer.Option(False, "--markdown", help="Print docs/presets.md (all presets, all sources)."),
) -> None:
    """List the presets (seed recipes), or show one in full: each value and where it comes from."""
    from restyle.presets import PRESETS, describe, format_value, get_preset, markdown

    console = Console()
    if as_markdown:
        typer.echo(markdown(), nl=False)
        return
    if name is None:
        table = Table(title="presets (restyle run ... --preset NAME; flags override)")
        for col in ("name", "optimiser", "iterations", "size", "formulas", "recipe"):
            table.add_column(col, overflow="fold", no_wrap=col != "recipe")
        for p in PRESETS.values():
            v = p.values
            size = v.get("image_size") or v.get("size") or "default"
            table.add_row(p.name, str(v.get("optimizer", "default")), str(v.get("iterations", "default")),
                          str(size), str(v.get("normalize", "relative")), p.title)
        console.print(table)
        return
    preset = get_preset(name)
    table = Table(title=f"preset {preset.name}: {preset.title}", caption=f"source: {preset.url}")
    for col in ("setting", "value", "restyle default", "source"):
        table.add_column(col, overflow="fold")
    for key, value, default, source in describe(preset.name):
        table.add_row(key, value, default, source)
    console.print(table)
    others = [f for f in RunConfig().to_dict() if f not in preset.values and f != "preset"]
    console.print(f"other settings keep restyle's defaults ({', '.join(others)})", highlight=False, soft_wrap=True)
    for note in preset.notes:
        console.print(f"note: {note}", highlight=False, soft_wrap=True)
    example = format_value(preset.values.get("style_weight", 1.0))
    console.print(f"use: restyle run CONTENT STYLE --preset {preset.name} [--style-weight {example} ...]",
                  highlight=False, soft_wrap=True)


@app.command("figures")
@with_config_options
@handle_errors
def figures_command(
    output: str = typer.Option("docs", "--output", "-o", help="Folder; each figure goes to OUTPUT/figures/NAME/."),
    content: str = typer.Option("examples/tubingen.jpg", "--content", help="Content image."),
    style: str = typer.Option("examples/starry_night.jpg", "--style", help="Style image."),
    only: Optional[list[str]] = typer.Option(  # noqa: UP045, B008
        None, "--only", help="Make only these figures: content_layer, style_weight, tv_weight."),
    cell_size: int = typer.Option(256, "--cell-size", min=32, max=1024, help="Width of each image on the sheet."),
    balance: bool = typer.Option(
        True, "--seed-balance/--raw-weights",
        help="Scale the style weight by (pixels / pixels of the seed's 720-px-high images) so that the terms weigh "
             "as in the seed's figures (its content and TV sums grow with the image size, its style term does not)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
    overrides: dict[str, Any] | None = None,
) -> None:
    """Reproduce seed 004's (ryanwu's) three comparison figures -- content layer, style weight, TV weight.

    Each is a sweep over the ryanwu preset (any run flag overrides it; defaults --size 192
    --iterations 300) written to OUTPUT/figures/NAME/ with its contact sheet as sheet.png.
    Weights are in the seed's units; see --seed-balance.
    """
    import dataclasses

    from restyle.engine.sweep import FIGURES, Axis, make_axis, seed_balance
    from restyle.errors import ConfigError, suggest

    names = [f.name for f in FIGURES]
    for n in only or []:
        if n not in names:
            raise ConfigError(f"unknown figure {n!r}{suggest(n, names)}; known: {', '.join(names)}")
    settings = {"preset": "ryanwu", "size": FIGURE_SIZE, "iterations": FIGURE_ITERATIONS, **(overrides or {})}
    base = build_config(settings)
    if base.weights is None:
        prepare_weights(base.model, only_if_missing=True)
    factor = seed_balance(base, content) if balance else 1.0
    scaled = dataclasses.replace(base, style_weight=base.style_weight * factor)
    for fig in FIGURES:
        if only and fig.name not in only:
            continue
        out = Path(output) / "figures" / fig.name
        err.print(f"[bold]{fig.name}[/]: {fig.caption} -> {out}", highlight=False, soft_wrap=True)
        title = (f"{fig.caption} · preset {base.preset} · {base.weights or base.model} · {base.size} px · "
                 f"{base.optimizer} {base.iterations} it")
        axis = make_axis(fig.field, list(fig.values))
        if balance:
            title += f" · style x{factor:.3g} (seed's 720-px balance)"
            if fig.field == "style_weight":  # labels in the seed's units, values scaled
                axis = Axis(axis.field, tuple(v * factor for v in axis.values), axis.labels)
        run_sweep(content, style, scaled, [axis], str(out), quiet=quiet, cell_size=cell_size, title=title)
