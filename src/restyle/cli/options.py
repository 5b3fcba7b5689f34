"""Build typer options from :class:`~restyle.config.RunConfig` fields (one source for flags and API)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import fields
from typing import Any, Optional

import typer

from restyle.config import RunConfig

_PY_TYPES = {"int": int, "float": float}


def config_parameters(panel: str = "Run settings") -> list[inspect.Parameter]:
    """One keyword-only ``--flag`` parameter per RunConfig field, defaulting to None (= not given)."""
    params = []
    defaults = RunConfig()
    for f in fields(RunConfig):
        base = str(f.type).split(" ")[0].split("[")[0]
        typ = _PY_TYPES.get(base, str)
        default = getattr(defaults, f.name)
        shown = ",".join(f"{k}:{v:g}" if v != 1 else k for k, v in default.items()) if isinstance(
            default, dict) else default
        help_text = f"{f.metadata['help']} [default: {shown}]"
        option = typer.Option(None, f"--{f.name.replace('_', '-')}", help=help_text, show_default=False,
                              rich_help_panel=panel)
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=option,
                                        annotation=Optional[typ]))  # noqa: UP045 - typer needs Optional
    return params


def with_config_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a command so that it also takes every RunConfig flag; they arrive as ``overrides``.

    The wrapped function receives ``overrides: dict`` holding only the flags the user gave.
    """
    names = {f.name for f in fields(RunConfig)}
    sig = inspect.signature(func, eval_str=True)
    own = [p for p in sig.parameters.values() if p.name != "overrides"]

    def wrapper(**kwargs: Any) -> Any:
        overrides = {k: kwargs.pop(k) for k in list(kwargs) if k in names and kwargs[k] is not None}
        for k in names:
            kwargs.pop(k, None)
        return func(overrides=overrides, **kwargs)

    wrapper.__signature__ = sig.replace(parameters=own + config_parameters())  # type: ignore[attr-defined]
    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper
