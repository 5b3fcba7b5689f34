"""Sweeps in the web app: a client's axes checked as ``restyle sweep --vary`` checks them, and what is stored.

A web sweep is planned with the library's own :func:`~restyle.jobs.sweep.parse_vary`,
:func:`~restyle.jobs.sweep.make_axis` and :func:`~restyle.jobs.sweep.plan` (the CLI's parsing,
validation and messages), and every cell is then checked against the server's limits like the
settings of a single job. The store keeps the axes as the labels the user typed and the cells as
planned (index, row, column, file name, labels); the worker makes the same axes again from those
labels and runs :func:`~restyle.jobs.sweep.sweep` with them, so the cells it writes are the
cells the server planned.

Files of a sweep job ``ID`` (written by the library under ``jobs/ID/sweep/``): ``cells/NAME.png``
and ``cells/NAME.json`` per cell, ``sheet.png``, ``results.json`` and ``results.csv``.
"""

from __future__ import annotations

import math
from typing import Any

from restyle.config import RunConfig
from restyle.errors import ConfigError
from restyle.jobs.sweep import Axis, Cell, make_axis, parse_vary, plan
from restyle.web.schema import Limits, check_key, check_limits

#: Folder of a sweep job's outputs, under its job folder.
SWEEP_DIR = "sweep"
#: File names :func:`restyle.jobs.sweep.sweep` writes into that folder.
SHEET_NAME = "sheet.png"
RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"
CELLS_DIR = "cells"
#: Width of a cell on the contact sheet, in pixels.
SHEET_CELL_SIZE = 256

_EXAMPLE = '[{"field": "style_weight", "values": "1e4,1e5"}]'


def _web_words(message: str) -> str:
    """The library's messages name the CLI option (``--vary``); the web app says ``sweep``."""
    return "sweep" + message[len("--vary") :] if message.startswith("--vary") else message


def _text(value: Any, name: str) -> str:
    if value is None:
        return "none"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(value)  # repr round-trips floats exactly
    raise ConfigError(f"sweep {name}: values must be numbers or text, got {value!r}")


def parse_axis(item: Any) -> Axis:
    """One axis: ``"FIELD=V1,V2,..."`` (exactly ``--vary``) or ``{"field": F, "values": "V1,V2" | [V1, V2]}``."""
    if isinstance(item, str):
        name, spec = item.partition("=")[0], item
    elif isinstance(item, dict) and isinstance(item.get("field"), str):
        name, values = item["field"], item.get("values")
        if isinstance(values, list):
            spec = None
        elif isinstance(values, str):
            spec = f"{name}={values}"
        else:
            raise ConfigError(f"sweep {name}: give the values as text (V1,V2,...) or as a list")
    else:
        raise ConfigError(f"each sweep axis is FIELD=V1,V2,... or an object with field and values, e.g. {_EXAMPLE}")
    try:
        check_key(name.strip().replace("-", "_"))
        if spec is not None:
            return parse_vary(spec)
        return make_axis(name, [_text(v, name) for v in values])
    except ConfigError as e:
        raise ConfigError(_web_words(str(e))) from None


def parse_axes(spec: Any) -> list[Axis]:
    """The one or two axes of a client's sweep (first: columns, second: rows); ConfigError naming what is wrong."""
    if not isinstance(spec, list) or not spec:
        raise ConfigError(f"sweep must be a list of one or two axes, e.g. {_EXAMPLE}")
    if len(spec) > 2:
        raise ConfigError(f"sweep: at most two axes (a 2-D grid), got {len(spec)}")
    return [parse_axis(item) for item in spec]


def plan_sweep(base: RunConfig, axes: list[Axis], limits: Limits) -> list[Cell]:
    """The cells of the grid, each validated as the CLI does and within this server's limits."""
    n = math.prod(len(a.values) for a in axes)
    if n > limits.max_sweep_cells:
        raise ConfigError(f"sweep: {n} cells is more than this server's limit of {limits.max_sweep_cells}")
    cells = plan(base, axes)
    for cell in cells:
        try:
            check_limits(cell.config, limits)
        except ConfigError as e:
            raise ConfigError(f"sweep cell {', '.join(f'{k}={v}' for k, v in cell.labels.items())}: {e}") from None
    return cells


def sweep_doc(axes: list[Axis], cells: list[Cell]) -> dict[str, Any]:
    """What the store keeps of a planned sweep (JSON): the axes' labels and the cells' positions and names."""
    return {
        "axes": [{"field": a.field, "labels": list(a.labels)} for a in axes],
        "cols": len(axes[0].values),
        "rows": len(axes[1].values) if len(axes) == 2 else 1,
        "cells": [{"index": c.index, "row": c.row, "col": c.col, "name": c.name, "labels": c.labels} for c in cells],
    }


def axes_of(doc: dict[str, Any]) -> list[Axis]:
    """The axes of a stored sweep, parsed again from the labels the user typed."""
    return [make_axis(a["field"], a["labels"]) for a in doc["axes"]]
