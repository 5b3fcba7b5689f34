"""``--executor local|ray`` and its options, shared by ``restyle run`` and ``restyle sweep``.

:class:`ExecutorChoice` holds what the user chose; it opens the executor (None for the local one,
which :func:`~restyle.jobs.batch.run_batch` and :func:`~restyle.jobs.sweep.sweep` build
themselves) and picks the progress display that fits it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import typer
from rich.console import Console

from restyle.cli.progress import ClusterDisplay, JobsDisplay
from restyle.config import RunConfig
from restyle.errors import ConfigError
from restyle.jobs.ray_executor import RayExecutor, import_ray
from restyle.jobs.signals import GracefulStop

EXECUTORS = ("local", "ray")
_PANEL = "Executor"

EXECUTOR_OPTION = typer.Option(
    "local",
    "--executor",
    help="Where the jobs run: local (this process) or ray (Ray worker actors on this machine or a cluster; "
    "needs the ray extra).",
    rich_help_panel=_PANEL,
)
RAY_ADDRESS_OPTION: Any = typer.Option(
    None,
    "--ray-address",
    help="Ray cluster to join: auto or HOST:PORT \\[default: start a local Ray instance].",
    show_default=False,
    rich_help_panel=_PANEL,
)
WORKERS_OPTION: Any = typer.Option(
    None,
    "--workers",
    min=1,
    help="Ray worker actors, each loading the model once \\[default: one per CPU, or per --gpus-per-worker GPUs].",
    show_default=False,
    rich_help_panel=_PANEL,
)
GPUS_OPTION = typer.Option(
    0.0,
    "--gpus-per-worker",
    min=0.0,
    help="GPUs each Ray worker asks for (fractions share one).",
    rich_help_panel=_PANEL,
)


@dataclass(frozen=True)
class ExecutorChoice:
    """The ``--executor`` options as given."""

    kind: str = "local"
    address: str | None = None
    workers: int | None = None
    gpus_per_worker: float = 0.0

    def check(self) -> ExecutorChoice:
        """Validate before any work: a known executor, Ray options only with ray, Ray installed (one-line errors)."""
        kind = self.kind.strip().lower()
        if kind not in EXECUTORS:
            raise ConfigError(f"--executor must be one of {', '.join(EXECUTORS)}, not {self.kind!r}")
        if kind == "local" and (self.address is not None or self.workers is not None or self.gpus_per_worker):
            raise ConfigError("--ray-address, --workers and --gpus-per-worker need --executor ray")
        if kind == "ray":
            import_ray()
        return ExecutorChoice(kind, self.address, self.workers, self.gpus_per_worker)

    @property
    def remote(self) -> bool:
        """True for an executor whose workers are elsewhere (so the display shows them)."""
        return self.kind == "ray"

    @contextlib.contextmanager
    def open(
        self,
        config: RunConfig | None,
        *,
        stop: GracefulStop | None = None,
        skip_finished: bool = True,
        keep_checkpoint: bool = False,
    ) -> Iterator[RayExecutor | None]:
        """The executor to hand to run_batch/sweep (None: the local default), closed afterwards."""
        if not self.remote:
            yield None
            return
        executor = RayExecutor(
            config,
            address=self.address,
            workers=self.workers,
            gpus_per_worker=self.gpus_per_worker,
            stop=stop,
            skip_finished=skip_finished,
            keep_checkpoint=keep_checkpoint,
        )
        try:
            yield executor
        finally:
            executor.close()

    def display(self, console: Console, batch: bool, enabled: bool = True) -> JobsDisplay | ClusterDisplay:
        """The progress display for this executor: one bar per job locally, jobs and workers on Ray."""
        return ClusterDisplay(console, batch, enabled) if self.remote else JobsDisplay(console, batch, enabled)
