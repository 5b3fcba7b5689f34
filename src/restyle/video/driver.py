"""The frame loop of ``restyle video``: one :class:`~restyle.jobs.job.Job` per frame on an executor.

For each chosen frame, in order (Ruder, Dosovitskiy & Brox 2016, "Artistic style transfer for videos"):

1. the frame, resized to the working size (even sides, as H.264 wants), is the job's content;
2. from the second frame on (``temporal_weight`` > 0), the previous *stylised* frame is warped
   into this one along the backward optical flow, and a forward-backward check marks where the
   warp holds (:mod:`restyle.video.flow`); the job's :class:`~restyle.engine.inputs.TemporalGuide`
   starts the run there and adds the temporal term. Such frames start close to the answer and run
   the short ``frame_iterations`` x ``frame_scales`` schedule; the first frame runs the full config;
3. the executor writes the finished frame as a PNG in the work folder next to the output
   (``OUT.frames/frame_000012.png``, with the usual restyle metadata). The guide is part of the
   job's input fingerprint and is always built from the PNG as written, so a rerun finds every
   finished frame finished (the executor skips it) and recomputes only the frame that was running.

When every frame is there, the clip is encoded from the PNGs (each shown until the next chosen
frame, at the source's timestamps, with its audio) and written atomically. The executor's events
reach ``on_event`` as for any batch; :class:`~restyle.video.events.VideoPlanned` and
:class:`~restyle.video.events.VideoEncoding` are added.

>>> result = stylize_video("clip.mp4", "starry_night.jpg", "out.mp4", RunConfig(size=256))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from restyle.config import RunConfig
from restyle.engine.inputs import ImageLike, TemporalGuide, load_run_inputs
from restyle.engine.pyramid import fit_size, resize
from restyle.errors import ConfigError
from restyle.features.convert import VGGWeights
from restyle.io.image import read_image, read_metadata
from restyle.jobs.events import Listener
from restyle.jobs.executor import LocalExecutor
from restyle.jobs.job import Job, JobResult
from restyle.jobs.signals import GracefulStop
from restyle.video.events import VideoEncoding, VideoPlanned
from restyle.video.flow import consistency_mask, optical_flow, warp
from restyle.video.io import VideoError, VideoInfo, check_video_output, probe, read_frames, write_video
from restyle.video.settings import VideoSettings

__all__ = ["VideoResult", "frame_path", "frame_size", "stylize_video", "work_dir"]


@dataclass
class VideoResult:
    """What :func:`stylize_video` did. ``interrupted`` is set (and nothing is written) when it was stopped."""

    output: Path
    work: Path  #: the folder of finished frames
    size: tuple[int, int]
    fps: Fraction
    frames: list[Path] = field(default_factory=list)  #: the stylised frames, in order
    computed: int = 0  #: frames stylised by this call
    reused: int = 0  #: frames found finished
    seconds: list[float] = field(default_factory=list)  #: time of each frame computed by this call
    notes: list[str] = field(default_factory=list)
    interrupted: JobResult | None = None  #: the frame that was stopped (its checkpoint is in ``work``)
    stopped: bool = False  #: a stop came (during a frame or between two)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary."""
        return {
            "output": str(self.output),
            "work": str(self.work),
            "size": list(self.size),
            "fps": float(self.fps),
            "frames": len(self.frames),
            "computed": self.computed,
            "reused": self.reused,
            "seconds": self.seconds,
            "notes": self.notes,
            "stopped": self.stopped,
        }


def work_dir(output: str | os.PathLike) -> Path:
    """``out.mp4`` → ``out.mp4.frames``: the finished frames, next to the output."""
    p = Path(output)
    return p.with_name(p.name + ".frames")


def frame_path(work: Path, index: int) -> Path:
    """Frame ``index`` of the source (0-based, presentation order) in the work folder."""
    return work / f"frame_{index:06d}.png"


def frame_size(width: int, height: int, size: int) -> tuple[int, int]:
    """The working ``(w, h)``: longest side ``size`` (the aspect kept), both sides even (H.264's 4:2:0)."""
    w, h = fit_size(width, height, size)
    return max(2, w // 2 * 2), max(2, h // 2 * 2)


def _tensor(rgb: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float() / 255
    return resize(t[None], size)[0].contiguous()  # L-BFGS views gradients flat


def _frame_array(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def stylize_video(
    content: str | os.PathLike,
    style: ImageLike | list[ImageLike],
    output: str | os.PathLike,
    config: RunConfig | None = None,
    settings: VideoSettings | None = None,
    *,
    on_event: Listener | None = None,
    stop: GracefulStop | None = None,
    weights: VGGWeights | None = None,
    executor: LocalExecutor | None = None,
) -> VideoResult:
    """Stylise clip ``content`` with ``style`` into ``output`` (.mp4/.mov/.mkv/.webm/.gif/.webp).

    ``config`` applies to every frame (``size``: the output's longest side); ``settings`` choose the
    frames and the temporal consistency. Finished frames in the work folder (:func:`work_dir`) are
    reused, so a rerun after Ctrl-C/SIGTERM or a crash continues where it stopped. ``stop`` (a
    :class:`GracefulStop`) ends the run after the current step; ``weights`` replaces every
    config's weights (tests); ``executor`` runs the frames (default: a :class:`LocalExecutor`).

    Raises:
        VideoError: the clip cannot be read (not a video, no frames in the part, absurd size) or written.
        ConfigError, ImageError: bad settings, style image or output path -- all before any compute.
    """
    config = (config or RunConfig()).validate()
    settings = (settings or VideoSettings()).validate()
    if config.image_size is not None:
        raise ConfigError("image_size does not apply to video: give the output's longest side with --size")
    out = check_video_output(output)
    info = probe(content)
    chosen, in_part = _choose_frames(info, settings)
    size = frame_size(info.width, info.height, config.size)
    first = dataclasses.replace(config, size=max(size))
    later = first
    if settings.temporal_weight > 0:
        later = dataclasses.replace(first, iterations=settings.frame_iterations, scales=settings.frame_scales)
    load_run_inputs(first, torch.zeros(3, size[1], size[0]), style)  # a bad style or mask fails here, before any work
    work = work_dir(out)
    try:
        work.mkdir(exist_ok=True)
    except OSError as e:
        raise VideoError(f"cannot make the work folder {str(work)!r} ({e.strerror or e})") from None
    emit = on_event or (lambda event: None)
    runner = executor or LocalExecutor(first, weights=weights, stop=stop)
    result = VideoResult(out, work, size, info.fps)
    found = sum(frame_path(work, i).is_file() for i in chosen)
    steps = (
        sum(first.scale_iterations()),
        sum(later.scale_iterations()),
    )  # at most: small frames have fewer scales, --tol may stop one early
    emit(VideoPlanned(len(chosen), len(in_part), size, info.fps, work, found, *steps))
    try:
        return _run(info, style, out, chosen, in_part, first, later, settings, runner, emit, result)
    finally:
        if not any(work.iterdir()):  # failed before the first frame (e.g. a bad style image): leave nothing
            work.rmdir()


def _run(
    info: VideoInfo,
    style: ImageLike | list[ImageLike],
    out: Path,
    chosen: list[int],
    in_part: list[int],
    first: RunConfig,
    later: RunConfig,
    settings: VideoSettings,
    runner: LocalExecutor,
    emit: Listener,
    result: VideoResult,
) -> VideoResult:
    """The frame loop and the encoding of :func:`stylize_video`."""
    work = result.work
    previous: tuple[torch.Tensor, torch.Tensor] | None = None  # (content, stylised) of the last frame
    wanted = set(chosen)
    for n, (index, frame) in enumerate(_frames(info, chosen, result.size)):
        if runner.stopping:
            result.stopped = True
            return result
        assert index in wanted
        guide = None
        if previous is not None and settings.temporal_weight > 0:
            guide = _guide(previous, frame, settings)
        job = Job(frame_path(work, index), frame, style, first if guide is None else later, tag=index, guide=guide)
        t0 = time.perf_counter()
        done = runner.run_job(job, n, len(chosen), emit)
        if done.status == "interrupted":
            result.interrupted, result.stopped = done, True
            return result
        if done.status == "failed":
            assert done.exception is not None
            raise done.exception
        if done.status == "skipped":
            result.reused += 1
        else:
            result.computed += 1
            result.seconds.append(time.perf_counter() - t0)
        result.frames.append(job.output)
        if n == 0 and first.style_weight is None:
            # --strength calibrates once, on the first frame; every later frame keeps that weight (a weight per
            # frame would flicker). Read from the PNG as written, so a rerun that skips frame 1 agrees.
            weight = read_metadata(job.output).get("style_weight")
            if weight is not None:
                first = dataclasses.replace(first, style_weight=float(weight))
                later = dataclasses.replace(later, style_weight=float(weight))
        # The guide of the next frame comes from the PNG as written: the same on a rerun that skips this frame.
        previous = (frame, read_image(job.output).pixels)
    if runner.stopping:
        result.stopped = True
        return result
    emit(VideoEncoding(out))
    t_first = info.times[in_part[0]]
    end = min(settings.end, info.duration) if settings.end is not None else info.duration
    times = [info.times[i] - t_first for i in in_part]
    result.notes += write_video(
        out,
        _held_frames(in_part, chosen, work),
        times,
        end - t_first,
        info.fps,
        audio_from=None if info.animated else info.path,
        audio_range=(t_first, end),
    )
    return result


def _choose_frames(info: VideoInfo, settings: VideoSettings) -> tuple[list[int], list[int]]:
    """(frames to stylise, frames of the part ``start``-``end``), as source indices."""
    end = settings.end if settings.end is not None else float("inf")
    in_part = [i for i, t in enumerate(info.times) if settings.start - 1e-9 <= t < end]
    if not in_part:
        raise VideoError(
            f"{info.path!r} has no frames between {settings.start:g} s and "
            f"{'the end' if settings.end is None else f'{settings.end:g} s'} (it lasts {info.duration:.2f} s)"
        )
    return in_part[:: settings.every], in_part


def _frames(info: VideoInfo, chosen: list[int], size: tuple[int, int]) -> Iterator[tuple[int, torch.Tensor]]:
    """The chosen frames, decoded in order and resized to the working size."""
    wanted, last = set(chosen), chosen[-1]
    for index, rgb in enumerate(read_frames(info)):
        if index in wanted:
            yield index, _tensor(rgb, size)
        if index >= last:
            return


def _guide(previous: tuple[torch.Tensor, torch.Tensor], frame: torch.Tensor, settings: VideoSettings) -> TemporalGuide:
    """The previous stylised frame warped into ``frame``, with the mask of where the warp holds."""
    before, stylised = previous
    backward = optical_flow(frame, before, settings.flow)  # frame t → t-1: where each pixel came from
    forward = optical_flow(before, frame, settings.flow)
    return TemporalGuide(
        warp(stylised, backward).clamp(0, 1), consistency_mask(backward, forward), settings.temporal_weight
    )


def _held_frames(in_part: list[int], chosen: list[int], work: Path) -> Iterator[np.ndarray]:
    """One image per source frame of the part: the last chosen frame at or before it (``every`` > 1 holds it)."""
    k, current, loaded = 0, None, -1
    for index in in_part:
        while k + 1 < len(chosen) and chosen[k + 1] <= index:
            k += 1
        if chosen[k] != loaded:
            current, loaded = _frame_array(frame_path(work, chosen[k])), chosen[k]
        assert current is not None
        yield current
