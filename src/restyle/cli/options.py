"""Build typer options from :class:`~restyle.config.RunConfig` fields (one source for flags and API)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import fields
from typing import Any, Optional

import typer

from restyle.config import RunConfig, field_names, field_type, format_layers


def config_parameters(panel: str = "Run settings") -> list[inspect.Parameter]:
    """One keyword-only ``--flag`` parameter per RunConfig field, defaulting to None (= not given).

    Numbers get typer's int/float parsing (its usage error for ``--size abc``); everything else,
    layer lists included, arrives as text and is parsed by :func:`restyle.config.coerce`.
    """
    params = []
    defaults = RunConfig()
    for f in fields(RunConfig):
        typ = field_type(f.name)
        if typ not in (int, float):
            typ = str
        default = getattr(defaults, f.name)
        shown = format_layers(default) if isinstance(default, dict) else default
        help_text = f"{f.metadata['help']} [default: {shown}]"
        option = typer.Option(
            None, f"--{f.name.replace('_', '-')}", help=help_text, show_default=False, rich_help_panel=panel
        )
        annotation = Optional[typ]  # noqa: UP045 - typer needs Optional
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation))
    return params


def with_config_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a command so that it also takes every RunConfig flag; they arrive as ``overrides``.

    The wrapped function receives ``overrides: dict`` holding only the flags the user gave.
    """
    names = set(field_names())
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
