"""Parameter sweeps: one stylisation per cell of a 1-D or 2-D grid of settings.

``sweep(content, style, base, [("style_weight", [1000, 100, 10, 1])], "out/")`` runs every cell
and writes into ``out/``:

* ``cells/<name>.png`` -- each result (the name spells the swept values), with its settings in
  the PNG metadata, and ``cells/<name>.json`` -- its record (values, config, losses, time),
  written after the image: a cell with a record is finished;
* ``sheet.png`` -- a labelled contact sheet (:mod:`restyle.engine.sheet`);
* ``results.json`` (base config, axes, every cell) and ``results.csv`` (one row per cell).

Resuming: a killed sweep run again with the same arguments skips every cell whose record exists
and matches (same settings, same input images); nothing finished is redone.

Sharing: weights are loaded once per model, and content features and style Gram matrices are
memoised by the exact input tensor, the network (weights, pooling, layers) and the loss mode, so
cells that differ only in weights of the terms, optimiser, learning rate, iterations, init or seed
reuse the targets computed by the first cell (see :class:`TargetCache`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from restyle.config import RunConfig, coerce, field_names
from restyle.engine.events import Iterate
from restyle.engine.inputs import load_run_inputs
from restyle.engine.sheet import SheetCell, SheetSpec, caption_text, header_text, render_sheet
from restyle.errors import ConfigError, ImageError, suggest
from restyle.features.convert import VGGWeights
from restyle.features.layers import resolve_layer
from restyle.io.files import atomic_write_text
from restyle.io.image import ImageData, pil_to_tensor, read_image, write_image

__all__ = [
    "Axis", "Cell", "CellRecord", "SweepEvent", "SweepResult", "TargetCache", "make_axis", "parse_vary",
    "plan", "sweep",
]

#: Settings that cannot be swept (they do not change the result, or change the base itself).
NOT_SWEEPABLE = ("preset", "device", "save_every", "checkpoint_every")
#: Settings ignored when deciding whether a finished cell matches (they do not change its image).
IGNORED_FOR_RESUME = ("device", "save_every", "checkpoint_every")
#: Bumped when the meaning of a cell record changes; older records are then recomputed.
RECORD_VERSION = 1
MAX_CELLS = 64


@dataclass(frozen=True)
class Axis:
    """One swept setting: the field, its typed values and the labels shown for them."""

    field: str
    values: tuple[Any, ...]
    labels: tuple[str, ...]


def _check_field(name: str) -> str:
    key = name.strip().replace("-", "_")
    names = field_names()
    if key not in names:
        raise ConfigError(f"--vary: unknown setting {name!r}{suggest(key, names)}")
    if key in NOT_SWEEPABLE:
        raise ConfigError(f"--vary: {key} cannot be swept (run one sweep per {key})")
    return key


def make_axis(name: str, values: Sequence[Any]) -> Axis:
    """An :class:`Axis` from a field name and its values (strings as typed, or typed values)."""
    key = _check_field(name)
    if not values:
        raise ConfigError(f"--vary {key}: give at least one value")
    typed = tuple(coerce(key, v) for v in values)
    labels = tuple(v.strip() if isinstance(v, str) else _label(v) for v in values)
    seen: list[Any] = []
    for v, label in zip(typed, labels, strict=True):
        if v in seen:
            raise ConfigError(f"--vary {key}: value {label!r} is given twice")
        seen.append(v)
    return Axis(key, typed, labels)


def parse_vary(spec: str) -> Axis:
    """Parse ``FIELD=V1,V2,...`` (the ``--vary`` option).

    Values are separated by commas, or by ``;`` or ``|`` when a value itself holds commas (a
    list of layers): ``style_layers=relu1_1,relu2_1;relu3_1,relu4_1`` sweeps two layer sets,
    while ``content_layers=relu5_2,relu4_2`` sweeps two single layers.
    """
    name, sep, rest = spec.partition("=")
    if not sep or not name.strip():
        raise ConfigError(f"--vary {spec!r}: write FIELD=V1,V2,..., e.g. style_weight=1000,100,10")
    splitter = ";" if ";" in rest else "|" if "|" in rest else ","
    items = [v.strip() for v in rest.split(splitter)]
    if not rest.strip() or any(not v for v in items):
        raise ConfigError(f"--vary {spec!r}: empty value (separate values with , or, for lists, ; or |)")
    return make_axis(name, items)


def _label(value: Any) -> str:
    from restyle.presets import format_value

    return format_value(value)


def _slug(text: str, limit: int = 40) -> str:
    s = re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_")
    return s[:limit] or "x"


@dataclass(frozen=True)
class Cell:
    """One point of the grid."""

    index: int  #: position in run order (row-major)
    row: int
    col: int
    values: dict[str, Any]  #: the swept settings of this cell (typed)
    labels: dict[str, str]  #: the same as shown to the user
    config: RunConfig
    name: str  #: file stem, e.g. ``"r0c1_style_weight-100"``


def plan(base: RunConfig, axes: Sequence[Axis]) -> list[Cell]:
    """The cells of the grid (first axis along the columns, second down the rows), validated."""
    if not axes:
        raise ConfigError("sweep: give at least one --vary FIELD=V1,V2,...")
    if len(axes) > 2:
        raise ConfigError(f"sweep: at most two --vary (a 2-D grid), got {len(axes)}")
    if len(axes) == 2 and axes[0].field == axes[1].field:
        raise ConfigError(f"sweep: {axes[0].field} is varied twice")
    cols = axes[0]
    rows = axes[1] if len(axes) == 2 else None
    n_rows = len(rows.values) if rows else 1
    if n_rows * len(cols.values) > MAX_CELLS:
        raise ConfigError(f"sweep: {n_rows * len(cols.values)} cells is too many (at most {MAX_CELLS})")
    cells = []
    for r in range(n_rows):
        for c in range(len(cols.values)):
            picked = [(cols, c)] + ([(rows, r)] if rows else [])
            values = {a.field: a.values[i] for a, i in picked}
            labels = {a.field: a.labels[i] for a, i in picked}
            try:
                config = base.replace(**values).validate()
                for name in (*config.content_layers, *config.style_layers):
                    resolve_layer(name, "vgg19")  # early check (vgg19 has every vgg16 name)
            except ConfigError as e:
                raise ConfigError(f"sweep cell {', '.join(f'{k}={v}' for k, v in labels.items())}: {e}") from None
            prefix = f"r{r}c{c}" if rows else f"c{c}"
            name = prefix + "".join(f"_{k}-{_slug(v)}" for k, v in labels.items())
            cells.append(Cell(len(cells), r, c, values, labels, config, name))
    return cells


# ------------------------------------------------------------------------------------------ targets
def _fingerprint(t: torch.Tensor) -> tuple[Any, ...]:
    data = t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()
    return tuple(t.shape), str(t.device), hashlib.blake2b(data, digest_size=16).hexdigest()


class TargetCache:
    """Memo of content targets and style Grams, shared by the Stylizers of a sweep.

    :meth:`attach` wraps a Stylizer's ``loss.set_content``/``loss.set_style``: the first call
    for an input computes the targets as usual; later calls with an equal input tensor (by
    value), on the same network and loss mode, install the stored targets with
    ``PerceptualLoss.set_targets`` instead of running the network again.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[Any, ...], tuple[dict[str, torch.Tensor], dict[str, float], float]] = {}
        self.computed = 0  #: target sets computed
        self.reused = 0  #: target sets taken from the memo
        self.compute_s = 0.0  #: seconds spent computing
        self.saved_s = 0.0  #: seconds the reused sets took to compute the first time

    def attach(self, stylizer: Any, network_key: Any) -> None:
        """Route ``stylizer``'s target computations through the memo; ``network_key`` names its weights."""
        loss = stylizer.loss
        net = (network_key, stylizer.config.pooling, loss.normalize, loss.tv_exponent, str(stylizer.device))
        content_key = (*net, "content", tuple(sorted(loss.content_layers)))
        style_key = (*net, "style", tuple(sorted(loss.style_layers)))
        compute_content, compute_style = loss.set_content, loss.set_style

        def set_content(content: torch.Tensor) -> None:
            key = (*content_key, _fingerprint(content))
            entry = self._entries.get(key)
            if entry is None:
                t0 = time.perf_counter()
                compute_content(content)
                scale = {k: v for k, v in loss.scale.items() if k.startswith("content:") or k == "tv"}
                entry = (dict(loss.content_targets), scale, self._took(t0))
                self._entries[key] = entry
                return
            self._reuse(entry)
            loss.set_targets(dict(entry[0]), loss.style_targets, {**loss.scale, **entry[1]})

        def set_style(style: torch.Tensor | list[torch.Tensor], blend: list[float] | None = None) -> None:
            styles = style if isinstance(style, list) else [style]
            key = (*style_key, tuple(_fingerprint(s) for s in styles), tuple(blend or ()))
            entry = self._entries.get(key)
            if entry is None:
                t0 = time.perf_counter()
                compute_style(style, blend)
                scale = {k: v for k, v in loss.scale.items() if k.startswith("style:")}
                entry = (dict(loss.style_targets), scale, self._took(t0))
                self._entries[key] = entry
                return
            self._reuse(entry)
            loss.set_targets(loss.content_targets, dict(entry[0]), {**loss.scale, **entry[1]})

        loss.set_content = set_content
        loss.set_style = set_style

    def _took(self, t0: float) -> float:
        dt = time.perf_counter() - t0
        self.computed += 1
        self.compute_s += dt
        return dt

    def _reuse(self, entry: tuple[Any, Any, float]) -> None:
        self.reused += 1
        self.saved_s += entry[2]


# ------------------------------------------------------------------------------------------ records
@dataclass
class CellRecord:
    """A finished cell: where its image is and what the run reported."""

    cell: Cell
    image: str  #: path relative to the sweep folder
    losses: dict[str, float]
    time_s: float
    model: str
    size: tuple[int, int]  #: (width, height) of the result
    resumed: bool = False  #: True when found finished on disk instead of run now

    def to_dict(self, key: str = "") -> dict[str, Any]:
        """JSON form (the per-cell file and a results.json entry)."""
        return {
            "version": RECORD_VERSION, "key": key, "index": self.cell.index, "row": self.cell.row,
            "col": self.cell.col, "name": self.cell.name, "values": self.cell.values, "labels": self.cell.labels,
            "image": self.image, "losses": self.losses, "time_s": self.time_s, "model": self.model,
            "size": list(self.size), "config": self.cell.config.to_dict(),
        }


@dataclass
class SweepEvent:
    """Progress of a sweep. ``kind``: ``start`` (a cell begins), ``step`` (one optimiser step of
    it, with ``iterate``), ``done`` (finished, with ``record``) or ``skip`` (found finished)."""

    kind: str
    cell: Cell
    done: int  #: cells finished so far (run or skipped)
    total: int
    iterate: Iterate | None = None
    record: CellRecord | None = None


SweepCallback = Callable[[SweepEvent], None]


@dataclass
class SweepResult:
    """What :func:`sweep` wrote and measured."""

    base: RunConfig
    axes: list[Axis]
    records: list[CellRecord]
    out_dir: Path
    sheet: Path | None
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ran(self) -> list[CellRecord]:
        """Cells computed by this call (not resumed)."""
        return [r for r in self.records if not r.resumed]


def _digest_input(image: Any) -> str:
    """A short hash of an input image (file bytes, or pixel values)."""
    h = hashlib.sha256()
    items = image if isinstance(image, list) else [image]
    for item in items:
        if isinstance(item, str | os.PathLike):
            try:
                h.update(Path(item).read_bytes())
            except OSError as e:
                raise ImageError(f"cannot read {os.fspath(item)!r}: {e.strerror or e}") from None
        elif isinstance(item, ImageData):
            h.update(item.pixels.numpy().tobytes())
        elif isinstance(item, torch.Tensor):
            h.update(item.detach().cpu().float().contiguous().numpy().tobytes())
        elif isinstance(item, Image.Image):
            h.update(item.tobytes())
        else:
            raise ConfigError(f"unsupported image input {type(item).__name__}")
    return h.hexdigest()[:16]


def _cell_key(config: RunConfig, inputs: str, weights_id: str) -> str:
    settings = {k: v for k, v in config.to_dict().items() if k not in IGNORED_FOR_RESUME}
    blob = json.dumps({"v": RECORD_VERSION, "config": settings, "inputs": inputs, "weights": weights_id},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _load_record(path: Path, key: str, out_dir: Path, cell: Cell) -> CellRecord | None:
    """The finished record of ``cell`` if ``path`` holds one for the same key and its image exists."""
    try:
        data = json.loads(path.read_text())
        if data.get("version") != RECORD_VERSION or data.get("key") != key:
            return None
        if not (out_dir / data["image"]).is_file():
            return None
        return CellRecord(cell, data["image"], {k: float(v) for k, v in data["losses"].items()},
                          float(data["time_s"]), str(data["model"]), tuple(data["size"]), resumed=True)
    except (OSError, ValueError, KeyError, TypeError):
        return None


# ------------------------------------------------------------------------------------------ the runner
def sweep(
    content: Any,
    style: Any,
    base: RunConfig,
    vary: Sequence[tuple[str, Sequence[Any]] | Axis],
    out_dir: str | os.PathLike,
    callback: SweepCallback | None = None,
    *,
    weights: VGGWeights | None = None,
    cell_size: int = 256,
    title: str | None = None,
) -> SweepResult:
    """Run every cell of the grid ``vary`` over ``base`` and write images, sheet, JSON and CSV to ``out_dir``.

    Args:
        content, style: image paths (or anything :meth:`Stylizer.run` takes); a list of styles is blended.
        base: the settings shared by all cells.
        vary: one or two ``(field, values)`` (or :class:`Axis`); values are typed or strings as on
            the command line. The first runs along the sheet's columns, the second down its rows.
        out_dir: created if missing; finished cells found there are not run again.
        callback: receives a :class:`SweepEvent` when a cell starts, after each step, and when done.
        weights: use these weights for every cell instead of loading ``model``/``weights``.
        cell_size: width of each result on the contact sheet, in pixels.
        title: first line of the sheet (default: a summary of the base settings).

    A preset's model (``vgg19-caffe``) is loaded as given; build ``base`` with
    :func:`restyle.presets.configure` to get the CLI's fallback to VGG16 when it is not cached.

    Raises:
        ConfigError: a bad axis or a cell whose settings do not validate (before anything runs).
    """
    from restyle.engine.stylize import Stylizer
    from restyle.features import weights as registry

    t0 = time.perf_counter()
    base = base.validate()
    axes = [a if isinstance(a, Axis) else make_axis(a[0], a[1]) for a in vary]
    cells = plan(base, axes)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ImageError(f"sweep output {str(out)!r} is a file; give a folder")
    try:
        (out / "cells").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ImageError(f"cannot create the sweep folder {str(out)!r}: {e.strerror or e}") from None
    inputs = _digest_input(content) + _digest_input(style)

    loaded: dict[str, tuple[VGGWeights, str]] = {}
    targets = TargetCache()
    records: list[CellRecord] = []
    notes: list[str] = []

    def network_id(config: RunConfig) -> str:
        """Which weights a cell uses: the file, the registry entry, or the weights given."""
        if weights is not None:
            return f"given:{weights.source}"
        return f"file:{config.weights}" if config.weights else registry.resolve_model(config.model)

    def weights_for(config: RunConfig) -> tuple[VGGWeights, str]:
        if weights is not None:
            return weights, f"{weights.arch} weights from {weights.source}"
        nid = network_id(config)
        if nid not in loaded:  # once per model for the whole sweep
            loaded[nid] = registry.load(config.model, config.weights)
        return loaded[nid]

    for cell in cells:
        key = _cell_key(cell.config, inputs, network_id(cell.config))
        record_path = out / "cells" / f"{cell.name}.json"
        record = _load_record(record_path, key, out, cell)
        if record is not None:
            records.append(record)
            if callback:
                callback(SweepEvent("skip", cell, len(records), len(cells), record=record))
            continue
        if callback:
            callback(SweepEvent("start", cell, len(records), len(cells)))
        run_config, content_data, style_data = load_run_inputs(cell.config, content, style)
        w, desc = weights_for(cell.config)
        stylizer = Stylizer(run_config, weights=w)
        stylizer.model = desc
        targets.attach(stylizer, network_id(cell.config))

        def on_step(event: Iterate, cell: Cell = cell) -> None:
            if callback:
                callback(SweepEvent("step", cell, len(records), len(cells), iterate=event))

        result = stylizer.run(content_data, style_data, on_step)
        if result.interrupted:  # stopped early (request_stop, e.g. on a signal): never record a partial cell
            raise KeyboardInterrupt
        image_name = f"cells/{cell.name}.png"
        summary = {**result.summary(), "sweep": {"values": cell.values, "config": cell.config.to_dict()}}
        write_image(out / image_name, result.pixels, alpha=result.alpha, metadata=summary)
        size = (int(result.pixels.shape[2]), int(result.pixels.shape[1]))
        record = CellRecord(cell, image_name, result.losses, result.timings["total_s"], result.model, size)
        atomic_write_text(record_path, json.dumps(record.to_dict(key), indent=1, default=_json_default))
        notes += [n for n in result.notes if n not in notes]
        records.append(record)
        if callback:
            callback(SweepEvent("done", cell, len(records), len(cells), record=record))

    timings = {
        "total_s": time.perf_counter() - t0, "cells": len(cells), "cells_run": sum(not r.resumed for r in records),
        "cells_resumed": sum(r.resumed for r in records), "targets_computed": targets.computed,
        "targets_reused": targets.reused, "targets_s": targets.compute_s, "targets_saved_s": targets.saved_s,
    }
    result = SweepResult(base, axes, records, out, None, timings, notes)
    result.sheet = write_sheet(result, content, style, cell_size=cell_size, title=title)
    write_results(result, content, style)
    return result


# ------------------------------------------------------------------------------------------ outputs
def _json_default(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def _input_name(image: Any) -> str:
    items = image if isinstance(image, list) else [image]
    return ", ".join(os.fspath(i) if isinstance(i, str | os.PathLike) else f"<{type(i).__name__}>" for i in items)


def _thumbnail(image: Any) -> Image.Image:
    from restyle.engine.stylize import load_input

    first = image[0] if isinstance(image, list) else image
    return load_input(first, max_side=512).to_pil()


def default_title(base: RunConfig, axes: Sequence[Axis]) -> str:
    """``"sweep style_weight x tv_weight · preset ryanwu · 256 px · adam 300 it"``."""
    parts = ["sweep " + " x ".join(a.field for a in axes)]
    if base.preset:
        parts.append(f"preset {base.preset}")
    parts.append(f"model {Path(base.weights).name if base.weights else base.model}")
    parts.append(f"{base.image_size or base.size} px")
    parts.append(f"{base.optimizer} {base.iterations} it")
    parts.append(f"normalize {base.normalize}")
    return " · ".join(parts)


def sheet_spec(result: SweepResult, content: Any, style: Any, title: str | None = None) -> SheetSpec:
    """What the contact sheet of ``result`` shows (headers, captions, images)."""
    axes = result.axes
    cols = axes[0]
    rows = axes[1] if len(axes) == 2 else None
    by_pos = {(r.cell.row, r.cell.col): r for r in result.records}
    n_rows = len(rows.values) if rows else 1
    grid = []
    for r in range(n_rows):
        line = []
        for c in range(len(cols.values)):
            rec = by_pos[(r, c)]
            img = read_image(result.out_dir / rec.image).to_pil()
            line.append(SheetCell(img, caption_text(rec.losses, rec.time_s)))
        grid.append(line)
    return SheetSpec(
        title=title or default_title(result.base, axes),
        content=_thumbnail(content), style=_thumbnail(style),
        col_headers=[header_text(cols.field, v) for v in cols.labels],
        row_headers=[header_text(rows.field, v) for v in rows.labels] if rows else [],
        cells=grid,
    )


def write_sheet(result: SweepResult, content: Any, style: Any, cell_size: int = 256,
                title: str | None = None) -> Path:
    """Render and atomically write ``sheet.png`` into the sweep folder; returns its path."""
    sheet = render_sheet(sheet_spec(result, content, style, title), cell_size=cell_size)
    path = result.out_dir / "sheet.png"
    write_image(path, pil_to_tensor(sheet))
    return path


CSV_LOSS_COLUMNS = ("content", "style", "tv", "total")


def write_results(result: SweepResult, content: Any, style: Any) -> None:
    """Write ``results.json`` and ``results.csv`` into the sweep folder (atomically)."""
    out = result.out_dir
    doc = {
        "content": _input_name(content), "style": _input_name(style),
        "base": result.base.to_dict(),
        "axes": [{"field": a.field, "values": list(a.values), "labels": list(a.labels)} for a in result.axes],
        "sheet": result.sheet.name if result.sheet else None,
        "timings": result.timings, "notes": result.notes,
        "cells": [r.to_dict() | {"resumed": r.resumed} for r in result.records],
    }
    atomic_write_text(out / "results.json", json.dumps(doc, indent=1, default=_json_default))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    fields = [a.field for a in result.axes]
    writer.writerow(["row", "col", *fields, "image", *CSV_LOSS_COLUMNS, "time_s", "width", "height", "resumed"])
    for r in result.records:
        writer.writerow([
            r.cell.row, r.cell.col, *(r.cell.labels[f] for f in fields), r.image,
            *(f"{r.losses[k]:.6g}" if k in r.losses else "" for k in CSV_LOSS_COLUMNS),
            f"{r.time_s:.3f}", r.size[0], r.size[1], int(r.resumed),
        ])
    atomic_write_text(out / "results.csv", buf.getvalue())


# ------------------------------------------------------------------------------------------ figures
@dataclass(frozen=True)
class Figure:
    """One comparison figure of seed 004 (ryanwu's README), reproduced as a sweep."""

    name: str
    field: str
    values: tuple[str, ...]
    caption: str


#: ryanwu's README "Hyper Parameters": Images/STF_Cont_Layer.jpg, STF_W_Style.jpg, STF_W_TV.jpg.
FIGURES: tuple[Figure, ...] = (
    Figure("content_layer", "content_layers", ("relu5_2", "relu4_2", "relu3_2", "relu2_2"),
           "Comparison between different content layer"),
    Figure("style_weight", "style_weight", ("1000", "100", "10", "1"),
           "Comparison between different style weighting"),
    Figure("tv_weight", "tv_weight", ("1e-4", "1e-2", "1", "100"),
           "Comparison between different total variation weighting"),
)



#: Height of ryanwu's results (``nrows = 720``), at which its figures were made.
SEED_HEIGHT = 720


def seed_balance(config: RunConfig, content: Any, reference_height: int = SEED_HEIGHT) -> float:
    """Factor for the style weight that gives a ``config`` run the balance of terms of a run at the seed's size.

    ryanwu's (Keras-example) content and TV terms are sums over the image, so they grow with its
    pixel count, while its style term (divided by the squared pixel count) does not. At 192 px
    instead of 720 px high the content and TV terms are ~25 times weaker against the style term,
    and since Adam is invariant to the scale of the whole objective, every style weight then
    gives the same picture. Multiplying the style weight by ``pixels / seed pixels`` restores
    the seed's balance exactly.
    """
    from restyle.engine.pyramid import fit_size

    run_config, data, _ = load_run_inputs(config, content, content)
    w, h = fit_size(data.pixels.shape[2], data.pixels.shape[1], run_config.size)
    ow, oh = data.original_size
    seed_pixels = reference_height * int(reference_height / oh * ow)  # ncols = int(nrows / H * W)
    return w * h / seed_pixels
