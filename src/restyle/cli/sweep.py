"""``restyle sweep``, ``restyle presets`` and ``restyle figures``: thin commands over the library.

:mod:`restyle.cli.app` registers them on the ``restyle`` app.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from restyle.cli.cluster import EXECUTOR_OPTION, GPUS_OPTION, RAY_ADDRESS_OPTION, WORKERS_OPTION, ExecutorChoice
from restyle.cli.common import QUIET_OPTION, build_config, err, handle_errors, prepare_for, prepare_weights, say
from restyle.cli.options import with_config_options
from restyle.cli.presets_view import describe, markdown
from restyle.cli.progress import ClusterDisplay, SweepProgress
from restyle.config import RunConfig, format_value
from restyle.engine.quality import JUDGE_MODEL, JUDGE_SIZE, Judge
from restyle.errors import ConfigError, suggest
from restyle.jobs.signals import Aborted, GracefulStop
from restyle.jobs.sweep import (
    FIGURES,
    Axis,
    SweepResult,
    figure_settings,
    make_axis,
    parse_vary,
    seed_balance,
    sweep,
)
from restyle.presets import PRESETS, get_preset

MEASURE_HELP = (
    f"Measure every cell: content and style distance (0 = the photo / the painting's style, 1 = as far as the "
    f"painting / the photo; {JUDGE_MODEL} Caffe at {JUDGE_SIZE} px), shown under each image and in the JSON/CSV."
)


def make_judge() -> Judge:
    """The judge of ``--measure``, its weights extracted first (with a bar) when missing."""
    prepare_weights(JUDGE_MODEL, only_if_missing=True)
    return Judge()


def run_sweep(
    content: str,
    style: str,
    base: RunConfig,
    vary: list[Any],
    output: str,
    *,
    quiet: bool,
    cell_size: int = 256,
    title: str | None = None,
    executor: ExecutorChoice | None = None,
    measure: Judge | None = None,
) -> SweepResult:
    """Run one sweep with a progress display; on Ctrl-C/SIGTERM say how to resume. Returns the SweepResult.

    The first signal saves the running cell's partial image and checkpoint (exit 130/143); a second aborts.
    ``executor``: where the cells run (default: in this process); ``measure``: judge every cell with it.
    """
    console = Console(stderr=True, quiet=quiet)
    choice = executor or ExecutorChoice()
    progress = choice.display(console, True, enabled=not quiet) if choice.remote else SweepProgress(console, not quiet)
    try:
        with GracefulStop() as stop, choice.open(base, stop=stop) as remote, progress:
            listen = progress.on_event if isinstance(progress, ClusterDisplay) else progress.callback
            result = sweep(
                content,
                style,
                base,
                vary,
                output,
                listen,
                cell_size=cell_size,
                title=title,
                stop=stop,
                executor=remote,
                measure=measure,
            )
    except Aborted as e:
        say(err, f"{e} (second signal): finished cells are kept in {output}; run the same command again to resume")
        raise typer.Exit(e.exit_code) from None
    if stop.requested:
        say(
            err,
            f"interrupted by {stop.signal_name}: finished cells are kept in {output} (the running one as a "
            "checkpoint); run the same command again to resume",
        )
        raise typer.Exit(stop.exit_code)
    t = result.timings
    console.print(
        f"wrote {result.sheet}, results.json, results.csv and {len(result.records)} images to {output} "
        f"({t['cells_run']:.0f} run, {t['cells_resumed']:.0f} resumed) in {t['total_s']:.1f} s; targets "
        f"computed {t['targets_computed']:.0f}x, reused {t['targets_reused']:.0f}x "
        f"(~{t['targets_saved_s']:.1f} s saved)",
        highlight=False,
        soft_wrap=True,
    )
    for rec in result.records if measure is not None else []:
        d = rec.distances
        console.print(
            f"  {rec.cell.name}: content distance {d['content_distance']:.3f}, style distance "
            f"{d['style_distance']:.3f}, edge structure {d['edge_structure']:.2f}",
            highlight=False,
            soft_wrap=True,
        )
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    return result


@with_config_options
@handle_errors
def sweep_command(
    content: str = typer.Argument(..., help="Content image (the photo)."),
    style: str = typer.Argument(..., help="Style image (the artwork)."),
    vary: list[str] = typer.Option(  # noqa: B008 - typer's idiom
        ...,
        "--vary",
        "-V",
        help="FIELD=V1,V2,... : a setting and its values; give --vary twice for a 2-D grid (first: columns, "
        "second: rows). Values that contain commas (layer lists) are separated by ; or | instead, e.g. "
        "--vary 'style_layers=relu1_1,relu2_1;relu3_1,relu4_1'.",
    ),
    output: str = typer.Option(..., "--output", "-o", help="Output folder (created; finished cells are reused)."),
    cell_size: int = typer.Option(256, "--cell-size", min=32, max=1024, help="Width of each image on the sheet."),
    measure: bool = typer.Option(False, "--measure", help=MEASURE_HELP),
    quiet: bool = QUIET_OPTION,
    executor: str = EXECUTOR_OPTION,
    ray_address: Optional[str] = RAY_ADDRESS_OPTION,  # noqa: UP045
    workers: Optional[int] = WORKERS_OPTION,  # noqa: UP045
    gpus_per_worker: float = GPUS_OPTION,
    overrides: dict[str, Any] | None = None,
) -> None:
    """Run CONTENT x STYLE once per value of --vary and write a labelled contact sheet, JSON and CSV.

    --executor ray runs the cells on Ray worker actors (this machine, or a cluster with --ray-address).
    """
    choice = ExecutorChoice(executor, ray_address, workers, gpus_per_worker).check()
    axes = [parse_vary(v) for v in vary]
    base = build_config(overrides or {})
    prepare_for(base)  # extract/download once, with a progress bar, before the first cell
    judge = make_judge() if measure else None
    run_sweep(content, style, base, axes, output, quiet=quiet, cell_size=cell_size, executor=choice, measure=judge)


@handle_errors
def presets_command(
    name: Optional[str] = typer.Argument(None, help="Show every value of this preset with its source."),  # noqa: UP045
    as_markdown: bool = typer.Option(False, "--markdown", help="Print docs/presets.md (all presets, all sources)."),
) -> None:
    """List the presets (seed recipes), or show one in full: each value and where it comes from."""
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
            table.add_row(
                p.name,
                str(v.get("optimizer", "default")),
                str(v.get("iterations", "default")),
                str(size),
                str(v.get("normalize", "relative")),
                p.title,
            )
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
    console.print(
        f"use: restyle run CONTENT STYLE --preset {preset.name} [--style-weight {example} ...]",
        highlight=False,
        soft_wrap=True,
    )


@with_config_options
@handle_errors
def figures_command(
    output: str = typer.Option("docs", "--output", "-o", help="Folder; each figure goes to OUTPUT/figures/NAME/."),
    content: str = typer.Option("examples/tubingen.jpg", "--content", help="Content image."),
    style: str = typer.Option("examples/starry_night.jpg", "--style", help="Style image."),
    only: Optional[list[str]] = typer.Option(  # noqa: UP045, B008
        None, "--only", help="Make only these figures: content_layer, style_weight, tv_weight."
    ),
    cell_size: int = typer.Option(256, "--cell-size", min=32, max=1024, help="Width of each image on the sheet."),
    balance: bool = typer.Option(
        True,
        "--seed-balance/--raw-weights",
        help="Scale the style weight by (pixels / pixels of the seed's 720-px-high images) so that the terms weigh "
        "as in the seed's figures (its content and TV sums grow with the image size, its style term does not).",
    ),
    measure: bool = typer.Option(True, "--measure/--no-measure", help=MEASURE_HELP),
    quiet: bool = QUIET_OPTION,
    overrides: dict[str, Any] | None = None,
) -> None:
    """Reproduce seed 004's (ryanwu's) three comparison figures -- content layer, style weight, TV weight.

    Each is a sweep over the ryanwu preset, solved with L-BFGS (any run flag overrides it; defaults
    --size 144 --optimizer lbfgs --lr 1 --iterations 100), written to OUTPUT/figures/NAME/ with its
    contact sheet as sheet.png and each cell's measured content and style distance under it.
    Weights are in the seed's units; see --seed-balance.
    """
    names = [f.name for f in FIGURES]
    for n in only or []:
        if n not in names:
            raise ConfigError(f"unknown figure {n!r}{suggest(n, names)}; known: {', '.join(names)}")
    base = build_config(figure_settings(overrides))
    prepare_for(base)
    judge = make_judge() if measure else None
    factor = seed_balance(base, content) if balance else 1.0
    scaled = dataclasses.replace(base, style_weight=base.style_weight * factor)
    for fig in FIGURES:
        if only and fig.name not in only:
            continue
        out = Path(output) / "figures" / fig.name
        say(err, f"[bold]{fig.name}[/]: {fig.caption} -> {out}")
        title = (
            f"{fig.caption} · preset {base.preset} · {base.weights or base.model} · {base.size} px · "
            f"{base.optimizer} {base.iterations} it"
        )
        axis = make_axis(fig.field, list(fig.values))
        if balance:
            title += f" · style x{factor:.3g} (seed's 720-px balance)"
            if fig.field == "style_weight":  # labels in the seed's units, values scaled
                axis = Axis(axis.field, tuple(v * factor for v in axis.values), axis.labels)
        run_sweep(
            content, style, scaled, [axis], str(out), quiet=quiet, cell_size=cell_size, title=title, measure=judge
        )
