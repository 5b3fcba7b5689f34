"""The settings form's schema, generated from :class:`~restyle.config.RunConfig`'s field metadata.

The page builds its form from :func:`config_schema` (``GET /api/config-schema``), so a new setting,
a changed default, bound, choice or help text shows up in the web app as it does on the command
line. :func:`web_config` is the other direction: a client's settings checked the way the CLI checks
flags (:func:`~restyle.config.configure`), plus what a shared server must refuse.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Union, get_args, get_origin, get_type_hints

from restyle.config import (
    RunConfig,
    configure,
    field_type,
    format_value,
    parse_image_size,
    parse_init,
    sweepable_fields,
)
from restyle.errors import ConfigError
from restyle.presets import PRESETS

#: Settings the server decides (a weights file; where and how often files are written), never a client.
SERVER_ONLY = frozenset({"weights", "save_every", "checkpoint_every"})
#: Settings that name image files on the server (region masks and their paintings, where RunConfig has
#: them): refused, as is ``init`` from a file -- no server-side path ever comes from a client.
FILE_SETTINGS = frozenset({"mask", "mask_style"})
#: Neither in the form nor accepted from a client.
HIDDEN = SERVER_ONLY | FILE_SETTINGS
#: Shown in front, in this order (those that exist); everything else is folded under "Advanced".
#: ``strength`` is the quality issue's one-knob control and appears here as soon as RunConfig has it;
#: ``method`` is the "fast only" choice (one pass of the feed-forward network, for trying many paintings).
BASIC = (
    "preset",
    "method",
    "strength",
    "size",
    "style_weight",
    "content_weight",
    "tv_weight",
    "iterations",
    "optimizer",
)
_TYPE_NAMES = {int: "integer", float: "number", str: "string", dict: "layers"}
_BOUND_KEYS = ("ge", "gt", "le", "lt")


@dataclass(frozen=True)
class Limits:
    """What a server accepts (each refusal has its own HTTP status and a one-line message).

    Attributes:
        max_upload_bytes: largest uploaded file (413).
        max_input_pixels: most pixels an uploaded image may have (413).
        max_output_side: largest ``size`` / ``image_size`` side of a run (422).
        max_iterations: most ``iterations`` per scale (422).
        max_queued: most jobs waiting at once, all browsers together (429).
        max_sweep_cells: most cells of one sweep (422); a sweep waits in the queue as one job.
    """

    max_upload_bytes: int = 20_000_000
    max_input_pixels: int = 40_000_000
    max_output_side: int = 1024
    max_iterations: int = 2000
    max_queued: int = 16
    max_sweep_cells: int = 16


def _optional(name: str) -> bool:
    hint = get_type_hints(RunConfig)[name]
    return get_origin(hint) in (Union, types.UnionType) and type(None) in get_args(hint)


def _json_value(value: Any) -> Any:
    """A setting's value as the form holds it: numbers stay numbers, layers and None become text."""
    if value is None or isinstance(value, Mapping):
        return "" if value is None else format_value(value)
    return value


def config_schema(limits: Limits | None = None) -> dict[str, Any]:
    """Every client-settable RunConfig field with its type, default, help, choices and bounds; and the presets."""
    limits = limits or Limits()
    defaults = RunConfig()
    sweepable = set(sweepable_fields()) - HIDDEN
    out = []
    for f in fields(RunConfig):
        if f.name in HIDDEN:
            continue
        meta = f.metadata
        entry: dict[str, Any] = {
            "name": f.name,
            "label": f.name.replace("_", " "),
            "type": _TYPE_NAMES[field_type(f.name)],
            "optional": _optional(f.name),
            "default": _json_value(getattr(defaults, f.name)),
            "help": meta.get("help", ""),
            "group": "basic" if f.name in BASIC else "advanced",
            "affects_image": meta.get("affects_image", True),
            "sweepable": f.name in sweepable,
        }
        if "choices" in meta:
            entry["choices"] = list(meta["choices"])
        if f.name == "preset":
            entry["choices"] = list(PRESETS)
        for key in _BOUND_KEYS:
            if key in meta:
                entry[key] = meta[key]
        if "unit" in meta:
            entry["unit"] = meta["unit"]
        if f.name == "size":
            entry["le"] = min(entry.get("le", limits.max_output_side), limits.max_output_side)
        if f.name == "iterations":
            entry["le"] = limits.max_iterations
        out.append(entry)
    order = {name: i for i, name in enumerate(BASIC)}
    out.sort(key=lambda e: (e["group"] != "basic", order.get(e["name"], 0)))
    presets = [
        {
            "name": p.name,
            "title": p.title,
            "url": p.url,
            "values": {k: _json_value(v) for k, v in p.settings.items() if k not in HIDDEN},
        }
        for p in PRESETS.values()
    ]
    return {
        "fields": out,
        "presets": presets,
        "limits": {
            "max_upload_bytes": limits.max_upload_bytes,
            "max_input_pixels": limits.max_input_pixels,
            "max_output_side": limits.max_output_side,
            "max_iterations": limits.max_iterations,
            "max_queued": limits.max_queued,
            "max_sweep_cells": limits.max_sweep_cells,
        },
    }


def check_key(key: str) -> None:
    """ConfigError if a client may not set the setting ``key`` (server-only, or naming server files)."""
    if key in SERVER_ONLY:
        raise ConfigError(f"{key} is set by the server, not by the client")
    if key in FILE_SETTINGS:
        raise ConfigError(f"{key} names files on the server: not available in the web app")


def check_limits(config: RunConfig, limits: Limits) -> None:
    """ConfigError if a validated ``config`` asks more than this server gives, or names a server file."""
    if parse_init(config.init)[0] == "file":
        raise ConfigError("init from a file is not available in the web app: use content, noise or mix:R")
    top = limits.max_output_side
    if config.image_size is not None:
        sides = [s for s in parse_image_size(config.image_size) if s is not None]
        if max(sides) > top:
            raise ConfigError(f"image_size {config.image_size} is above this server's limit of {top} pixels a side")
    elif config.size > top:
        raise ConfigError(f"size {config.size} is above this server's limit of {top} pixels")
    if config.iterations > limits.max_iterations:
        raise ConfigError(f"iterations {config.iterations} is above this server's limit of {limits.max_iterations}")


def web_config(overrides: Any, limits: Limits | None) -> tuple[RunConfig, dict[str, Any], list[str]]:
    """A client's settings → (validated RunConfig, the overrides as given, notes); ConfigError on refusal.

    ``overrides`` is a JSON object of field values (strings as typed, or typed values); ``preset``
    applies first, as on the command line. Refused besides what RunConfig refuses: server-only
    settings, settings naming files (:data:`FILE_SETTINGS`, ``init`` from a file), and sizes or
    iteration counts above the server's limits (``limits`` None: the caller checks those, e.g. a sweep
    checks each of its cells, whose swept values replace the base's).
    """
    if not isinstance(overrides, dict):
        raise ConfigError('config must be a JSON object of settings, e.g. {"size": 256}')
    cleaned = {str(k).replace("-", "_"): v for k, v in overrides.items()}
    for key in cleaned:
        check_key(key)
    config, notes = configure(cleaned)
    if limits is not None:
        check_limits(config, limits)
    return config, cleaned, notes
