"""The quality report: one config over many photo × painting pairs, each output measured by the Judge.

:func:`run_quality` builds one :class:`~restyle.jobs.job.Job` per pair (content-major, like
``restyle run`` on several inputs) and hands them to the one job path
(:func:`~restyle.jobs.batch.run_batch`: a LocalExecutor unless another executor is given), so
finished outputs are skipped and an interrupted report resumes. Every output is then measured
with a :class:`~restyle.engine.quality.Judge` (content and style distance, edge structure, and the
edge structure inside a marked face where the photo has one); wall-clock, steps and the style weight come from
the output's own metadata, so skipped pairs report the numbers of the run that made them.
:func:`quality_sheet` draws the contact sheet (rows = photos, columns = paintings, the inputs as
a header row and column).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from restyle.config import RunConfig
from restyle.engine.quality import Box, Judge
from restyle.errors import RestyleError
from restyle.features.convert import VGGWeights
from restyle.io.image import read_image, read_metadata, tensor_to_pil
from restyle.jobs.batch import run_batch
from restyle.jobs.events import Listener
from restyle.jobs.executor import Executor
from restyle.jobs.job import Job
from restyle.jobs.sheet import font, wrap


@dataclass(frozen=True)
class PairResult:
    """One pair's row of the report."""

    photo: str  #: file stem, e.g. ``tubingen``
    painting: str
    output: Path
    seconds: float  #: the run's wall-clock (from the output's metadata)
    steps: int
    content_distance: float
    style_distance: float
    style_weight: float | None  #: the weight painted with (calibrated or as given)
    edge_structure: float = 0.0  #: whole image (see restyle.engine.quality.edge_structure)
    face_structure: float | None = None  #: inside the photo's marked face, where it has one

    def to_dict(self) -> dict[str, Any]:
        """JSON-able row."""
        face = {} if self.face_structure is None else {"face_structure": round(self.face_structure, 4)}
        return {
            "photo": self.photo,
            "painting": self.painting,
            "output": self.output.name,
            "seconds": round(self.seconds, 2),
            "steps": self.steps,
            "content_distance": round(self.content_distance, 4),
            "style_distance": round(self.style_distance, 4),
            "edge_structure": round(self.edge_structure, 4),
            **face,
            "style_weight": self.style_weight,
        }


@dataclass
class QualityReport:
    """Rows of every pair that finished, and the failures."""

    rows: list[PairResult] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  #: ``"photo × painting: why"``

    def summary(self) -> dict[str, Any]:
        """Max, min, mean (and max/min) of each measure over the pairs (face structure: over the marked faces)."""
        out: dict[str, Any] = {"pairs": len(self.rows), "failed": len(self.failed)}
        for key in ("content_distance", "style_distance", "edge_structure", "face_structure", "seconds", "steps"):
            values = [float(v) for r in self.rows if (v := getattr(r, key)) is not None]
            if not values:
                continue
            lo, hi = min(values), max(values)
            out[key] = {
                "max": round(hi, 4),
                "min": round(lo, 4),
                "mean": round(sum(values) / len(values), 4),
                "max_over_min": round(hi / lo, 3) if lo > 0 else None,
            }
        return out

    def to_dict(self) -> dict[str, Any]:
        """The JSON of the report: rows, failures and the summary."""
        return {"pairs": [r.to_dict() for r in self.rows], "failed": self.failed, "summary": self.summary()}

    def table(self) -> str:
        """A Markdown table of the rows plus a summary line."""
        lines = [
            "| photo | painting | content distance | style distance | edge structure | face structure "
            "| style weight | steps | seconds |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in self.rows:
            weight = f"{r.style_weight:.3g}" if r.style_weight is not None else "-"
            face = f"{r.face_structure:.3f}" if r.face_structure is not None else "-"
            lines.append(
                f"| {r.photo} | {r.painting} | {r.content_distance:.3f} | {r.style_distance:.3f} "
                f"| {r.edge_structure:.3f} | {face} | {weight} | {r.steps} | {r.seconds:.0f} |"
            )
        s = self.summary()
        if self.rows:
            c, st, e = s["content_distance"], s["style_distance"], s["edge_structure"]
            f = s.get("face_structure")
            faces = f"min {f['min']:.3f}, max {f['max']:.3f}" if f else "-"
            lines.append(
                f"| **all {s['pairs']}** | | max {c['max']:.3f}, min {c['min']:.3f}, max/min {c['max_over_min']} "
                f"| max {st['max']:.3f}, min {st['min']:.3f} | min {e['min']:.3f}, max {e['max']:.3f} | {faces} "
                f"| | mean {s['steps']['mean']:.0f} | mean {s['seconds']['mean']:.0f} |"
            )
        return "\n".join(lines)


Pair = tuple[str | os.PathLike, str | os.PathLike]


def all_pairs(photos: Sequence[str | os.PathLike], paintings: Sequence[str | os.PathLike]) -> list[Pair]:
    """Every photo with every painting, content-major."""
    return [(p, s) for p in photos for s in paintings]


def quality_jobs(pairs: Sequence[Pair], folder: str | os.PathLike) -> list[Job]:
    """One job per (photo, painting), output ``folder/PHOTO__PAINTING.png``, tagged ``(photo, painting)`` stems."""
    out = Path(folder)
    return [
        Job(out / f"{Path(p).stem}__{Path(s).stem}.png", Path(p), Path(s), tag=(Path(p).stem, Path(s).stem))
        for p, s in pairs
    ]


def run_quality(
    pairs: Sequence[Pair],
    config: RunConfig,
    folder: str | os.PathLike,
    *,
    judge: Judge | None = None,
    weights: VGGWeights | None = None,
    executor: Executor | None = None,
    on_event: Listener | None = None,
    faces: Mapping[str, Box] | None = None,
) -> QualityReport:
    """Run ``config`` on every (photo, painting) of ``pairs`` into ``folder`` and measure each output.

    ``weights`` (tests: tiny random ones) are used for the runs and, when no ``judge`` is given,
    for the judge too. ``faces``: photo stem → the face marked in it, measured on its own.
    """
    if not pairs:
        raise RestyleError("a quality report needs at least one photo and painting pair")
    Path(folder).mkdir(parents=True, exist_ok=True)
    jobs = quality_jobs(pairs, folder)
    batch = run_batch(jobs, config, on_event=on_event, weights=weights, executor=executor)
    judge = judge or Judge(weights)
    report = QualityReport()
    for result in batch.results:
        photo, painting = result.job.tag
        if result.status not in ("done", "skipped"):
            report.failed.append(f"{photo} × {painting}: {result.status} {result.error}".strip())
            continue
        report.rows.append(measure_output(judge, result.job, (faces or {}).get(photo)))
    return report


def measure_output(judge: Judge, job: Job, face: Box | None = None) -> PairResult:
    """The report row of a finished job's output (its metadata gives time, steps and weight)."""
    photo, painting = job.tag
    meta = read_metadata(job.output) or {}
    timings = meta.get("timings", {})
    out = read_image(job.output).pixels[None]
    c = read_image(job.content).pixels[None]  # type: ignore[arg-type]
    s = read_image(job.style).pixels[None]  # type: ignore[arg-type]
    d = judge.measure(out, c, s, face=face)
    weight = meta.get("style_weight")
    if weight is None and isinstance(meta.get("config"), dict):
        weight = meta["config"].get("style_weight")
    return PairResult(
        photo,
        painting,
        Path(job.output),
        float(timings.get("total_s", 0.0)),
        int(timings.get("steps", 0)),
        d.content,
        d.style,
        None if weight is None else float(weight),
        d.structure or 0.0,
        d.face,
    )


def quality_sheet(
    report: QualityReport,
    photos: Sequence[str | os.PathLike],
    paintings: Sequence[str | os.PathLike],
    title: str,
    cell: int = 160,
) -> Image.Image:
    """Contact sheet: a header row of the paintings, a header column of the photos, the outputs between.

    Under each output: its content and style distance (``c 0.31 · s 0.05``) and, on a second line, its
    edge structure and the face's where one is marked (``edges 0.62 · face 0.66``). Only the given photos
    and paintings are drawn (e.g. to leave out inputs that may not be published).
    """
    by_pair = {(r.photo, r.painting): r for r in report.rows}
    rows, cols = [Path(p) for p in photos], [Path(s) for s in paintings]
    size, small_size = max(10, cell // 11), max(9, cell // 14)
    fnt, small = font(size), font(small_size)
    line, small_line = round(size * 1.4), round(small_size * 1.4)
    cell_h = round(cell * 0.8)
    pad = 6
    title_h = line + pad
    width = (len(cols) + 1) * (cell + pad) + pad
    captions = 2  # the distances on one line, the structure on the next
    height = title_h + (len(rows) + 1) * (cell_h + captions * small_line + pad) + pad
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((pad, pad // 2), wrap(title, fnt, width - 2 * pad, 1)[0], font=fnt, fill="#000000")

    def place(image: Image.Image, col: int, row: int, caption: str) -> None:
        x = pad + col * (cell + pad)
        y = title_h + row * (cell_h + captions * small_line + pad)
        img = image.convert("RGB")
        scale = min(cell / img.width, cell_h / img.height)
        img = img.resize(
            (max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.LANCZOS
        )
        sheet.paste(img, (x + (cell - img.width) // 2, y + (cell_h - img.height) // 2))
        for k, part in enumerate(caption.split("\n")[:captions]):
            text = wrap(part, small, cell, 1)[0] if part else ""
            top = y + cell_h + 2 + k * small_line
            draw.text((x + (cell - small.getlength(text)) / 2, top), text, font=small, fill="#404040")

    for j, s in enumerate(cols):
        place(tensor_to_pil(read_image(s, max_side=cell * 2).pixels), j + 1, 0, s.stem)
    for i, p in enumerate(rows):
        place(tensor_to_pil(read_image(p, max_side=cell * 2).pixels), 0, i + 1, p.stem)
        for j, s in enumerate(cols):
            r = by_pair.get((p.stem, s.stem))
            if r is None:
                continue
            place(
                tensor_to_pil(read_image(r.output).pixels),
                j + 1,
                i + 1,
                f"c {r.content_distance:.2f} · s {r.style_distance:.2f}\nedges {r.edge_structure:.2f}"
                + (f" · face {r.face_structure:.2f}" if r.face_structure is not None else ""),
            )
    return sheet


__all__ = ["PairResult", "all_pairs", "QualityReport", "measure_output", "quality_jobs", "quality_sheet", "run_quality"]
