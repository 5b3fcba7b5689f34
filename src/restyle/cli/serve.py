"""``restyle serve``: the web app (FastAPI + uvicorn, from the optional ``web`` extra).

The web dependencies are imported only when the command runs, so the CLI works without them and
says in one line how to install them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Optional

import typer
from platformdirs import user_data_path

from restyle.cli.common import err, fail, say

#: The modules of the ``web`` extra.
WEB_MODULES = ("fastapi", "uvicorn", "multipart")
INSTALL_HINT = "the web app needs the web extra: pip install -e '.[web]'"


def missing_web_modules() -> list[str]:
    """The modules of the ``web`` extra that are not installed."""
    return [m for m in WEB_MODULES if importlib.util.find_spec(m) is None]


def default_data_dir() -> Path:
    """Where ``restyle serve`` keeps jobs by default (the user's data folder)."""
    return user_data_path("restyle") / "web"


def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
    data_dir: Optional[str] = typer.Option(  # noqa: UP045
        None,
        "--data-dir",
        show_default=False,
        help="Folder of the job store and results \\[default: the user's data folder, restyle/web].",
    ),
    workers: int = typer.Option(1, "--workers", min=1, max=32, help="Worker processes (jobs run in parallel)."),
    weights: Optional[str] = typer.Option(  # noqa: UP045
        None, "--weights", help="A weights file every job uses (chosen here, never by a client); default: the model."
    ),
    checkpoint_seconds: float = typer.Option(
        15.0, "--checkpoint-seconds", min=0.1, help="How often a running job saves a resumable checkpoint."
    ),
) -> None:
    """Start the web app: upload a photo and a painting, tune, watch it paint, compare, download.

    Open http://HOST:PORT/ in a browser; the API is documented at /docs. Jobs and results are kept in
    --data-dir across restarts (jobs that were running are marked interrupted and can be resumed).
    """
    if missing := missing_web_modules():
        raise fail(f"{INSTALL_HINT} (missing: {', '.join(missing)})")  # fail() escapes the [web]
    import uvicorn

    from restyle.web.app import create_app

    folder = Path(data_dir) if data_dir else default_data_dir()
    app = create_app(folder, workers=workers, weights=weights, checkpoint_seconds=checkpoint_seconds)
    say(err, f"restyle web app on http://{host}:{port}/ (data: {folder}; {workers} worker(s)); Ctrl-C stops it")
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
