"""The ``restyle`` command line: a thin typer layer over the library."""

from __future__ import annotations

import json
import sys
from typing import Any, Optional

import torch
import typer
from rich.console import Console
from rich.table import Table

from restyle.cli.cluster import EXECUTOR_OPTION, GPUS_OPTION, RAY_ADDRESS_OPTION, WORKERS_OPTION, ExecutorChoice
from restyle.cli.common import (
    JSON_OPTION,
    QUIET_OPTION,
    build_config,
    err,
    fail,
    handle_errors,
    prepare_for,
    prepare_weights,
    say,
)
from restyle.cli.options import with_config_options
from restyle.cli.serve import serve_command
from restyle.cli.sweep import figures_command, presets_command, sweep_command
from restyle.cli.video import video_command
from restyle.config import RunConfig
from restyle.engine.allocator import KEPT_SLACK
from restyle.engine.inputs import load_run_inputs
from restyle.errors import ConfigError
from restyle.features import weights as registry
from restyle.io.files import atomic_write_text, check_output_path
from restyle.jobs.batch import is_batch, plan_jobs, plan_resume, run_batch
from restyle.jobs.executor import BatchReport, StylizerPool
from restyle.jobs.job import Job
from restyle.jobs.plan import PROBE_SIDES, plan_run
from restyle.jobs.signals import Aborted, GracefulStop

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Neural style transfer (Gatys et al.) with real VGG weights, offline.",
)
weights_app = typer.Typer(no_args_is_help=True, help="List and prepare pretrained VGG weights.")
app.add_typer(weights_app, name="weights")


@app.command("run")
@with_config_options
@handle_errors
def run_command(
    inputs: list[str] = typer.Argument(  # noqa: B008
        ...,
        metavar="IMAGES",
        help="Content images or folders, then the style image (the last one) unless --style is given.",
    ),
    style: Optional[list[str]] = typer.Option(  # noqa: UP045, B008
        None, "--style", help="Style image or folder (repeatable); every positional argument is then content."
    ),
    output: Optional[str] = typer.Option(  # noqa: UP045
        None,
        "--output",
        "-o",
        show_default=False,
        help="Output image (.png keeps the settings) \\[default: out.png]; a folder for several pairs.",
    ),
    json_path: Optional[str] = JSON_OPTION,  # noqa: UP045
    quiet: bool = QUIET_OPTION,
    overwrite: bool = typer.Option(False, "--overwrite", help="Recompute pairs whose output is already finished."),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        "--estimate",
        help="Print the plan -- sizes per scale, steps, estimated peak memory, time per step on this machine -- "
        "and exit without writing anything.",
    ),
    executor: str = EXECUTOR_OPTION,
    ray_address: Optional[str] = RAY_ADDRESS_OPTION,  # noqa: UP045
    workers: Optional[int] = WORKERS_OPTION,  # noqa: UP045
    gpus_per_worker: float = GPUS_OPTION,
    overrides: dict[str, Any] | None = None,
) -> None:
    """Stylise CONTENT in the style of STYLE and write the result to --output.

    Batch: several content images or folders (and several --style) run every pair into the folder -o.

    Batch outputs are named CONTENT__STYLE.png; finished ones are skipped, bad files listed at the end.

    Ctrl-C saves OUT.partial.png and OUT.ckpt: continue with `restyle resume OUT.ckpt` or the same command.

    --executor ray runs the pairs on Ray worker actors (this machine, or a cluster with --ray-address).
    """
    choice = ExecutorChoice(executor, ray_address, workers, gpus_per_worker).check()
    config = build_config(overrides or {})
    if style:
        contents, styles = list(inputs), list(style)
    elif len(inputs) < 2:
        raise ConfigError("give a content image and a style image: restyle run CONTENT STYLE (or --style STYLE)")
    else:
        contents, styles = list(inputs[:-1]), [inputs[-1]]
    jobs = plan_jobs(contents, styles, output, config)
    prepare_for(config)
    if dry_run:
        print_plans(jobs, config)
        return
    batch = len(jobs) > 1 or is_batch([*contents, *styles], output)
    skip = batch and not overwrite
    execute_jobs(jobs, config, batch=batch, quiet=quiet, json_path=json_path, skip_finished=skip, executor=choice)


@app.command("resume")
@handle_errors
def resume_command(
    checkpoint: str = typer.Argument(..., help="Checkpoint written by `restyle run` (OUT.ckpt)."),
    output: Optional[str] = typer.Option(  # noqa: UP045
        None,
        "--output",
        "-o",
        show_default=False,
        help="Output image \\[default: the run's own output, next to the checkpoint].",
    ),
    json_path: Optional[str] = JSON_OPTION,  # noqa: UP045
    quiet: bool = QUIET_OPTION,
    keep_checkpoint: bool = typer.Option(False, "--keep-checkpoint", help="Keep the checkpoint when done."),
) -> None:
    """Continue an interrupted run from its checkpoint, to the same image an uninterrupted run gives.

    Uses the run's own settings and the images stored in the checkpoint.

    When the image is written, the checkpoint and the .partial image are deleted (unless --keep-checkpoint).
    """
    job = plan_resume(checkpoint, output)
    execute_jobs([job], None, batch=False, quiet=quiet, json_path=json_path, keep_checkpoint=keep_checkpoint)


def execute_jobs(
    jobs: list[Job],
    config: RunConfig | None,
    *,
    batch: bool,
    quiet: bool,
    json_path: str | None,
    skip_finished: bool = False,
    keep_checkpoint: bool = False,
    executor: ExecutorChoice | None = None,
) -> None:
    """Run planned jobs (:func:`restyle.jobs.batch.run_batch`) with progress, signals and an exit code.

    ``executor``: where the jobs run (default: in this process).

    Exit codes: 0 all done; 2 a bad input (single run) or any failed pair (batch); 130/143 stopped by
    SIGINT/SIGTERM (partial image and checkpoint saved; a second signal aborts without saving).
    """
    if json_path:
        check_output_path(json_path)
    console = Console(stderr=True, quiet=quiet)
    choice = executor or ExecutorChoice()
    try:
        with (
            GracefulStop() as stop,
            choice.open(config, stop=stop, skip_finished=skip_finished, keep_checkpoint=keep_checkpoint) as remote,
            choice.display(console, batch, enabled=not quiet) as display,
        ):
            report = run_batch(
                jobs,
                config,
                on_event=display.on_event,
                stop=stop,
                skip_finished=skip_finished,
                keep_checkpoint=keep_checkpoint,
                executor=remote,
            )
    except Aborted as e:
        say(err, f"{e} (second signal): nothing more saved; a checkpoint written before is kept")
        raise typer.Exit(e.exit_code) from None
    stopped = report.interrupted
    if not batch and report.failed:
        raise fail(report.failed[0].error)
    if json_path and (batch or report.results[0].result is not None):
        if batch:
            record = report.to_dict()
        else:
            result = report.results[0].result
            assert result is not None
            record = {**result.summary(), "history": result.history}
        atomic_write_text(json_path, json.dumps(record, indent=1))
    if batch:
        print_batch_summary(console, report)
    if stopped is not None:
        o = stopped
        again = "restyle resume " + str(o.checkpoint) if not batch else "the same command (finished pairs are skipped)"
        say(
            err,
            f"interrupted by {stop.signal_name} at step {o.step}/{o.total_steps}: saved {o.partial} and "
            f"{o.checkpoint}; continue with: {again}",
        )
        raise typer.Exit(stop.exit_code)
    if report.with_status("not run"):  # the signal came between two pairs
        say(err, f"stopped by {stop.signal_name}; rerun the same command to do the rest")
        raise typer.Exit(stop.exit_code)
    if report.failed:
        raise typer.Exit(2)


def print_plans(jobs: list[Job], config: RunConfig) -> None:
    """``--dry-run``: the first job's plan as a table (step time measured on a small probe), one line per other."""
    if any((job.config or config).method == "fast" for job in jobs):
        raise ConfigError("--dry-run plans the optimisation; --method fast is one pass of the network: run it")
    pool = StylizerPool()
    console = Console()
    for i, job in enumerate(jobs):
        inputs = load_run_inputs(job.config or config, job.content, job.style)
        plan = plan_run(pool.get(inputs.config), inputs, time_steps=i == 0)
        peak = plan.peak
        if i == 0:
            table = Table(title=f"plan: {job.label} → {job.output}", title_justify="left")
            for col in ("scale", "size", "steps", "tiles", "peak memory", "s/step (est.)"):
                table.add_column(col, justify="right")
            for k, s in enumerate(plan.scales, 1):
                per_step = f"{s.seconds_per_step:.2f}" if s.seconds_per_step is not None else "-"
                table.add_row(
                    str(k),
                    f"{s.size[0]}x{s.size[1]}",
                    str(s.steps),
                    str(s.tiles or "-"),
                    f"{s.memory.total / 1e9:.2f} GB",
                    per_step,
                )
            console.print(table)
            if plan.seconds is not None:
                say(
                    console,
                    f"about {plan.seconds:.0f} s of optimisation on this machine "
                    f"({torch.get_num_threads()} threads); step time measured at "
                    f"{' and '.join(map(str, PROBE_SIDES))} px and priced per size",
                )
        else:
            say(console, f"{job.label}: {peak.size[0]}x{peak.size[1]}, peak {peak.total / 1e9:.2f} GB")
        verdict = "fits" if plan.fits else "does NOT fit"
        kept = (
            f"; freed buffers kept for the next step (faster, up to {peak.total * (1 + KEPT_SLACK) / 1e9:.2f} GB)"
            if plan.keeps_freed_memory
            else ""
        )
        say(
            console,
            f"peak {peak.total / 1e9:.2f} GB {verdict} in {plan.available / 1e9:.1f} GB free ({plan.limited_by}){kept}",
        )


def print_batch_summary(console: Console, report: BatchReport) -> None:
    """One line of counts, then a table of the failed pairs (on stderr even with --quiet)."""
    say(console, ", ".join(f"{n} {status}" for status, n in report.counts().items()))
    if report.failed:
        table = Table(title=f"{len(report.failed)} failed", title_justify="left")
        for col in ("content", "style", "error"):
            table.add_column(col, overflow="fold")
        for r in report.failed:
            table.add_row(str(r.job.content), str(r.job.style), r.error)
        err.print(table)


@weights_app.command("list")
@handle_errors
def weights_list() -> None:
    """Show the known weights, whether they are cached, their size and verification state."""
    table = Table(title=f"weights (cache: {registry.cache_dir()})")
    for col in ("name", "arch", "input", "cached", "size", "verified", "source"):
        table.add_column(col)
    auto = registry.resolve_model("auto")
    for name, e in registry.REGISTRY.items():
        path = registry.cached_path(name)
        cached = path.is_file()
        size = f"{path.stat().st_size / 1e6:.0f} MB" if cached else "-"
        verified = registry.verify_cached(name) if cached else "-"
        source = f"{e.requirement} (installed package)" if e.kind == "package" else str(e.url)
        if e.quantized:
            source += ", quantised"
        table.add_row(
            name + (" (auto)" if name == auto else ""),
            e.arch,
            e.preprocessing.name,
            "yes" if cached else "no",
            size,
            verified,
            source,
        )
    Console().print(table)


@weights_app.command("prepare")
@handle_errors
def weights_prepare(name: str = typer.Argument("vgg16", help="Registry name (see `restyle weights list`).")) -> None:
    """Extract, download and/or convert weights now, so later runs start at once and offline."""
    prepare_weights(name)


# After run and resume in the help's list of commands.
app.command("sweep")(sweep_command)
app.command("presets")(presets_command)
app.command("figures")(figures_command)
app.command("serve")(serve_command)
app.command("video")(video_command)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
