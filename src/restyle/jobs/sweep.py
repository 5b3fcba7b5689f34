"""Parameter sweeps: one stylisation per cell of a 1-D or 2-D grid of settings.

``sweep(content, style, base, [("style_weight", [1000, 100, 10, 1])], "out/")`` runs every cell
and writes into ``out/``:

* ``cells/<name>.png`` -- each result (the name spells the swept values), with its settings in
  the PNG metadata, and ``cells/<name>.json`` -- its record (values, config, losses, time),
  written after the image: a cell with a record is finished;
* ``sheet.png`` -- a labelled contact sheet (:mod:`restyle.jobs.sheet`);
* ``results.json`` (base config, axes, every cell) and ``results.csv`` (one row per cell).

With ``measure=Judge()`` every finished cell is also measured (:mod:`restyle.engine.quality`:
content and style distance, independent of the loss it was made with); the distances go into
its record, the JSON and CSV and under its image on the sheet.

A sweep is a list of cell :class:`~restyle.jobs.job.Job` s handed to an executor (default
:class:`~restyle.jobs.executor.LocalExecutor`), plus the sheet and tables made from the cells'
records. So everything a batch does, a sweep does: a killed sweep run again skips every cell
whose image and record are finished with the same settings and inputs, continues a cell from its
checkpoint, and a signal saves the running cell's partial image. Weights are loaded once per
model, and content features and style Grams are shared between cells whose targets do not
change (:class:`~restyle.engine.targets.TargetCache`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from restyle.config import RunConfig, coerce, field_names, format_value, image_settings, sweepable_fields
from restyle.engine.inputs import load_input, load_run_inputs
from restyle.engine.pyramid import fit_size
from restyle.engine.quality import Judge
from restyle.errors import ConfigError, ImageError, suggest
from restyle.features.convert import VGGWeights
from restyle.features.layers import resolve_layer
from restyle.io.files import atomic_write_text
from restyle.io.image import pil_to_tensor, read_image, read_metadata, write_image
from restyle.jobs.events import JobEvent, JobFinished, JobSkipped, Listener
from restyle.jobs.executor import Executor, LocalExecutor
from restyle.jobs.job import Job, JobResult
from restyle.jobs.sheet import SheetCell, SheetSpec, caption_text, header_text, render_sheet
from restyle.jobs.signals import GracefulStop

__all__ = [
    "Axis",
    "Cell",
    "CellDone",
    "CellRecord",
    "FIGURES",
    "FIGURE_SETTINGS",
    "Figure",
    "figure_settings",
    "SweepResult",
    "make_axis",
    "measure_records",
    "parse_vary",
    "plan",
    "sweep",
]

#: Bumped when the meaning of a cell record changes; older records are then recomputed.
RECORD_VERSION = 2
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
    if key not in sweepable_fields():
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
    #: ``{"content_distance": …, "style_distance": …}`` when measured (see :func:`measure_records`)
    distances: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the per-cell file and a results.json entry)."""
        extra = {"distances": self.distances} if self.distances else {}
        return {
            "version": RECORD_VERSION,
            "index": self.cell.index,
            "row": self.cell.row,
            "col": self.cell.col,
            "name": self.cell.name,
            "values": self.cell.values,
            "labels": self.cell.labels,
            "image": self.image,
            "losses": self.losses,
            "time_s": self.time_s,
            "model": self.model,
            "size": list(self.size),
            "config": self.cell.config.to_dict(),
            **extra,
        }


@dataclass
class CellDone(JobEvent):
    """A sweep cell is finished: run now, or found finished (``record.resumed``)."""

    record: CellRecord | None = None
    done: int = 0  #: cells finished so far


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
    interrupted: JobResult | None = None  #: the cell stopped by a signal (then no sheet is written)

    @property
    def ran(self) -> list[CellRecord]:
        """Cells computed by this call (not resumed)."""
        return [r for r in self.records if not r.resumed]


def _load_record(path: Path, image: Path, cell: Cell) -> CellRecord | None:
    """The finished record of ``cell`` if ``path`` holds one for its settings and for the image there now.

    The record is written after the image; the image's own metadata says which inputs made it.
    """
    try:
        data = json.loads(path.read_text())
        meta = read_metadata(image) if image.is_file() else None
        if (
            data.get("version") != RECORD_VERSION
            or meta is None
            or data.get("inputs_sha256") != meta.get("inputs_sha256")
            or image_settings(data["config"]) != image_settings(cell.config)
        ):
            return None
        return CellRecord(
            cell,
            data["image"],
            {k: float(v) for k, v in data["losses"].items()},
            float(data["time_s"]),
            str(data["model"]),
            tuple(data["size"]),
            resumed=True,
            distances={k: float(v) for k, v in data.get("distances", {}).items()},
        )
    except (OSError, ValueError, KeyError, TypeError, ImageError):
        return None


def _record(cell: Cell, image: str, result: JobResult) -> CellRecord:
    r = result.result
    assert r is not None
    size = (int(r.pixels.shape[2]), int(r.pixels.shape[1]))
    return CellRecord(cell, image, r.losses, r.timings["total_s"], r.model, size)


# ------------------------------------------------------------------------------------------ the runner
def sweep(
    content: Any,
    style: Any,
    base: RunConfig,
    vary: Sequence[tuple[str, Sequence[Any]] | Axis],
    out_dir: str | os.PathLike,
    callback: Listener | None = None,
    *,
    weights: VGGWeights | None = None,
    cell_size: int = 256,
    title: str | None = None,
    stop: GracefulStop | None = None,
    executor: Executor | None = None,
    measure: Judge | None = None,
) -> SweepResult:
    """Run every cell of the grid ``vary`` over ``base`` and write images, sheet, JSON and CSV to ``out_dir``.

    Args:
        content, style: image paths (or anything :meth:`Stylizer.run` takes); a list of styles is blended.
        base: the settings shared by all cells.
        vary: one or two ``(field, values)`` (or :class:`Axis`); values are typed or strings as on
            the command line. The first runs along the sheet's columns, the second down its rows.
        out_dir: created if missing; finished cells found there are not run again.
        callback: receives the executor's job events (``event.job.tag`` is the :class:`Cell`) and a
            :class:`CellDone` for every finished cell.
        weights: use these weights for every cell instead of loading ``model``/``weights``.
        cell_size: width of each result on the contact sheet, in pixels.
        title: first line of the sheet (default: a summary of the base settings).
        stop: a :class:`GracefulStop` in effect around the call (its signal stops the running cell).
        executor: where the cells run (default: a :class:`LocalExecutor` with ``weights`` and ``stop``).
        measure: measure every cell with this judge once all are finished (:func:`measure_records`).

    Stopped, the sweep returns with ``interrupted`` set and writes no sheet; run it again to go on.
    A preset's model (``vgg19-caffe``) is loaded as given; build ``base`` with
    :func:`restyle.config.configure` to get the CLI's fallback to VGG16 when it is not cached.

    Raises:
        ConfigError: a bad axis or a cell whose settings do not validate, or ``measure`` with a
            blend of styles (before anything runs);
        RestyleError: the first cell that failed (the other cells are run and kept first).
    """
    t0 = time.perf_counter()
    base = base.validate()
    if measure is not None and isinstance(style, list) and len(style) != 1:
        raise ConfigError("sweep: measuring needs one style image (the distances compare with one painting)")
    axes = [a if isinstance(a, Axis) else make_axis(a[0], a[1]) for a in vary]
    cells = plan(base, axes)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ImageError(f"sweep output {str(out)!r} is a file; give a folder")
    try:
        (out / "cells").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ImageError(f"cannot create the sweep folder {str(out)!r}: {e.strerror or e}") from None

    records: dict[int, CellRecord] = {}
    found: dict[int, CellRecord] = {}  # finished records on disk: the executor skips exactly these cells
    jobs = []
    for cell in cells:
        image = out / "cells" / f"{cell.name}.png"
        record = _load_record(out / "cells" / f"{cell.name}.json", image, cell)
        if record is not None:
            found[cell.index] = record
        jobs.append(Job(image, content, style, cell.config, force=record is None, tag=cell))
    emit = callback or (lambda event: None)

    def listen(event: Any) -> None:
        emit(event)
        if not isinstance(event, JobFinished | JobSkipped):  # an executor's other events (e.g. its workers')
            return
        cell: Cell = event.job.tag
        if isinstance(event, JobFinished) and event.result is not None:
            record = _record(cell, f"cells/{cell.name}.png", event.result)
            doc = {**record.to_dict(), "inputs_sha256": event.result.fingerprint}
            atomic_write_text(out / "cells" / f"{cell.name}.json", json.dumps(doc, indent=1, default=_json_default))
        elif isinstance(event, JobSkipped):
            record = found[cell.index]  # skipped only when its record was found (force otherwise)
        else:
            return
        records[cell.index] = record
        emit(CellDone(event.job, event.index, event.total, record, len(records)))

    executor = executor or LocalExecutor(base, weights=weights, stop=stop)
    report = executor.run(jobs, listen)
    ordered = [records[c.index] for c in cells if c.index in records]
    notes: list[str] = []
    for r in report.results:
        notes += [n for n in (r.result.notes if r.result else []) if n not in notes]
    timings = {
        "total_s": time.perf_counter() - t0,
        "cells": len(cells),
        "cells_run": sum(not r.resumed for r in ordered),
        "cells_resumed": sum(r.resumed for r in ordered),
        **report.targets,
    }
    result = SweepResult(base, axes, ordered, out, None, timings, notes, report.interrupted)
    if report.failed:
        failed = report.failed[0]
        raise failed.exception or ConfigError(failed.error)
    if len(ordered) < len(cells):  # stopped: the finished cells are kept, the rest run next time
        return result
    if measure is not None:
        t1 = time.perf_counter()
        measure_records(result, content, style, measure)
        result.timings["measure_s"] = time.perf_counter() - t1
    result.sheet = write_sheet(result, content, style, cell_size=cell_size, title=title)
    write_results(result, content, style)
    return result


# ------------------------------------------------------------------------------------------ measures
def measure_records(result: SweepResult, content: Any, style: Any, judge: Judge) -> None:
    """Measure every record's image against the photo ``content`` and the painting ``style``.

    Sets each record's ``distances`` and adds them to its ``cells/<name>.json``. Cheap (one
    forward at the judge's size per cell), so resumed cells are measured again rather than trusted.
    """
    side = 4 * judge.size  # the judge resizes to its size anyway: skip decoding huge photos at full size
    photo = load_input(content, max_side=side).pixels.unsqueeze(0)
    painting = load_input(style[0] if isinstance(style, list) else style, max_side=side).pixels.unsqueeze(0)
    reference = judge.reference(photo, painting)
    for rec in result.records:
        image = read_image(result.out_dir / rec.image).pixels.unsqueeze(0)
        rec.distances = judge.measure(image, photo, painting, reference).to_dict()
        path = result.out_dir / "cells" / f"{rec.cell.name}.json"
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # no record file to annotate (e.g. written by a foreign executor): results.json has them
        doc["distances"] = rec.distances
        atomic_write_text(path, json.dumps(doc, indent=1, default=_json_default))


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
            line.append(SheetCell(img, caption_text(rec.losses, rec.time_s, distances=rec.distances)))
        grid.append(line)
    return SheetSpec(
        title=title or default_title(result.base, axes),
        content=_thumbnail(content),
        style=_thumbnail(style),
        col_headers=[header_text(cols.field, v) for v in cols.labels],
        row_headers=[header_text(rows.field, v) for v in rows.labels] if rows else [],
        cells=grid,
    )


def write_sheet(result: SweepResult, content: Any, style: Any, cell_size: int = 256, title: str | None = None) -> Path:
    """Render and atomically write ``sheet.png`` into the sweep folder; returns its path."""
    sheet = render_sheet(sheet_spec(result, content, style, title), cell_size=cell_size)
    path = result.out_dir / "sheet.png"
    write_image(path, pil_to_tensor(sheet))
    return path


CSV_LOSS_COLUMNS = ("content", "style", "tv", "total")
CSV_DISTANCE_COLUMNS = ("content_distance", "style_distance", "edge_structure")


def write_results(result: SweepResult, content: Any, style: Any) -> None:
    """Write ``results.json`` and ``results.csv`` into the sweep folder (atomically)."""
    out = result.out_dir
    doc = {
        "content": _input_name(content),
        "style": _input_name(style),
        "base": result.base.to_dict(),
        "axes": [{"field": a.field, "values": list(a.values), "labels": list(a.labels)} for a in result.axes],
        "sheet": result.sheet.name if result.sheet else None,
        "timings": result.timings,
        "notes": result.notes,
        "cells": [r.to_dict() | {"resumed": r.resumed} for r in result.records],
    }
    atomic_write_text(out / "results.json", json.dumps(doc, indent=1, default=_json_default))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    fields = [a.field for a in result.axes]
    writer.writerow(
        [
            "row",
            "col",
            *fields,
            "image",
            *CSV_LOSS_COLUMNS,
            *CSV_DISTANCE_COLUMNS,
            "time_s",
            "width",
            "height",
            "resumed",
        ]
    )
    for r in result.records:
        writer.writerow(
            [
                r.cell.row,
                r.cell.col,
                *(r.cell.labels[f] for f in fields),
                r.image,
                *(f"{r.losses[k]:.6g}" if k in r.losses else "" for k in CSV_LOSS_COLUMNS),
                *(f"{r.distances[k]:.4g}" if k in r.distances else "" for k in CSV_DISTANCE_COLUMNS),
                f"{r.time_s:.3f}",
                r.size[0],
                r.size[1],
                int(r.resumed),
            ]
        )
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
    Figure(
        "content_layer",
        "content_layers",
        ("relu5_2", "relu4_2", "relu3_2", "relu2_2"),
        "Comparison between different content layer",
    ),
    Figure("style_weight", "style_weight", ("1000", "100", "10", "1"), "Comparison between different style weighting"),
    Figure(
        "tv_weight", "tv_weight", ("1e-4", "1e-2", "1", "100"), "Comparison between different total variation weighting"
    ),
)


#: The settings ``restyle figures`` runs every figure with (any run flag overrides them). The seed
#: (ryanwu preset) runs 2211 Adam steps of lr 1/255 at 720 px high -- hours per figure on two CPU
#: cores. 300 such steps at 192 px (the earlier figures) leave every cell about where 300 fixed-size
#: steps from the photo get to, and all four content layers gave nearly the same picture. L-BFGS on
#: the same objective (layers, weights, seed balance) follows the balance of the terms, so each cell
#: settles where its setting puts it; 100 steps at 144 px keep a sheet within minutes of two loaded
#: cores. docs/figures/README.md has the measured trend.
FIGURE_SETTINGS: dict[str, Any] = {"preset": "ryanwu", "size": 144, "optimizer": "lbfgs", "lr": 1.0, "iterations": 100}


def figure_settings(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """:data:`FIGURE_SETTINGS` under the run flags given; ``--optimizer adam`` alone gets back the seed's Adam lr."""
    settings = {**FIGURE_SETTINGS, **(overrides or {})}
    if settings.get("optimizer") != FIGURE_SETTINGS["optimizer"] and "lr" not in (overrides or {}):
        del settings["lr"]  # L-BFGS's step scale means nothing to Adam: the preset's lr applies
    return settings


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
    inputs = load_run_inputs(config, content, content)
    data = inputs.content
    w, h = fit_size(data.pixels.shape[2], data.pixels.shape[1], inputs.config.size)
    ow, oh = data.original_size
    seed_pixels = reference_height * int(reference_height / oh * ow)  # ncols = int(nrows / H * W)
    return w * h / seed_pixels
