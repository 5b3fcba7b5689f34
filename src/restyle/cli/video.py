"""``restyle video``: a clip in the style of a painting, frame by frame with temporal consistency.

A thin layer over :func:`restyle.video.driver.stylize_video` (the ``video`` extra: PyAV and
OpenCV, imported when the command runs, so the CLI works without them and says how to get them).
Every ``restyle run`` flag applies to each frame; the video's own flags come from the fields of
:class:`~restyle.video.settings.VideoSettings`.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import time
from collections.abc import Callable
from dataclasses import fields
from typing import Any, Optional, get_type_hints

import typer
from rich.console import Console

from restyle.cli.common import JSON_OPTION, QUIET_OPTION, build_config, err, fail, handle_errors, prepare_for, say
from restyle.cli.options import with_config_options
from restyle.cli.progress import format_eta, format_losses, info_progress
from restyle.io.files import atomic_write_text, check_output_path
from restyle.jobs.events import JobFailed, JobFinished, JobSkipped, JobStarted, JobStep, ModelLoaded
from restyle.jobs.signals import Aborted, GracefulStop
from restyle.video.events import VideoEncoding, VideoPlanned
from restyle.video.settings import VideoSettings

#: The modules of the ``video`` extra.
VIDEO_MODULES = ("av", "cv2")
INSTALL_HINT = "restyle video needs the video extra: pip install 'restyle[video]'"


def missing_video_modules() -> list[str]:
    """The modules of the ``video`` extra that are not installed."""
    return [m for m in VIDEO_MODULES if importlib.util.find_spec(m) is None]


def video_parameters() -> list[inspect.Parameter]:
    """One keyword-only ``--flag`` per VideoSettings field, None meaning not given (its default applies)."""
    hints = get_type_hints(VideoSettings)
    defaults = VideoSettings()
    params = []
    for f in fields(VideoSettings):
        typ = next(t for t in (int, float, str) if t in (hints[f.name], *getattr(hints[f.name], "__args__", ())))
        shown = getattr(defaults, f.name)
        option = typer.Option(
            None,
            f"--{f.name.replace('_', '-')}",
            help=f"{f.metadata['help']} \\[default: {'-' if shown is None else shown}]",
            show_default=False,
            rich_help_panel="Video settings",
        )
        params.append(
            inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=Optional[typ])  # noqa: UP045
        )
    return params


def with_video_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a command so that it takes every VideoSettings flag; the given ones arrive as ``video``."""
    names = {f.name for f in fields(VideoSettings)}
    sig = inspect.signature(func, eval_str=True)
    own = [p for p in sig.parameters.values() if p.name != "video"]

    def wrapper(**kwargs: Any) -> Any:
        video = {k: kwargs.pop(k) for k in list(kwargs) if k in names and kwargs[k] is not None}
        for k in names:
            kwargs.pop(k, None)
        return func(video=video, **kwargs)

    keyword = [p for p in own if p.kind is inspect.Parameter.KEYWORD_ONLY]
    positional = [p for p in own if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    wrapper.__signature__ = sig.replace(parameters=positional + keyword + video_parameters())  # type: ignore[attr-defined]
    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


class VideoProgress:
    """Shows a video run: frames i/N with an ETA, and the current frame's steps and losses.

    The ETA counts the steps still to run (the first frame's full schedule, then the later frames' short
    one) at the seconds per step measured so far; frames found finished cost nothing.
    """

    def __init__(self, console: Console, enabled: bool = True) -> None:
        self.console = console
        self.progress = info_progress(console, enabled)
        self.frames = self.progress.add_task("frames", total=None, info="")
        self.steps = self.progress.add_task("frame", total=None, info="loading")
        self.plan: VideoPlanned | None = None
        self.done = 0  # frames finished (computed or found)
        self.step = 0  # steps of the running frame
        self.frame_steps = 0  # steps the running frame will take
        self.ran_steps = 0  # steps computed by this call, the running frame's included
        self.computing_s = 0.0  # seconds spent in finished computed frames
        self.frame_start: float | None = None
        self.started = False

    def __enter__(self) -> VideoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.started:
            self.progress.stop()
            self.started = False

    def _eta(self) -> str:
        plan = self.plan
        if plan is None or self.frame_start is None or self.ran_steps == 0:
            return format_eta(None)
        per_step = (self.computing_s + time.perf_counter() - self.frame_start) / self.ran_steps
        later = plan.frames - self.done - 1  # after the running frame
        return format_eta(per_step * (self.frame_steps - self.step + later * plan.later_steps))

    def on_event(self, event: object) -> None:
        """Update the display from one video or job event."""
        match event:
            case VideoPlanned() as plan:
                self.plan = plan
                found = f"; {plan.finished} already there" if plan.finished else ""
                say(
                    self.console,
                    f"{plan.frames} frames to paint ({plan.source_frames} in the clip's part) at "
                    f"{plan.size[0]}x{plan.size[1]}, {float(plan.fps):.3g} fps; frames kept in {plan.work}{found}",
                )
            case ModelLoaded(description=description):
                say(self.console, description)
            case JobStarted(index=index, total=total):
                if not self.started:
                    self.progress.start()
                    self.started = True
                self.frame_start, self.step, self.frame_steps = time.perf_counter(), 0, 0
                self.progress.reset(self.steps, description=f"frame {index + 1}/{total}", total=None, info="")
            case JobStep(index=index, total=total, iterate=it) if it is not None:
                self.ran_steps += it.step - self.step
                self.step, self.frame_steps = it.step, it.total_steps
                self.progress.update(self.steps, total=it.total_steps, completed=it.step, info=format_losses(it.losses))
                done = self.done + it.step / it.total_steps
                self.progress.update(self.frames, total=total, completed=done, info=self._eta())
                if it.note:
                    say(self.console, f"[yellow]frame {index + 1}/{total}: {it.note}")
            case JobFinished(total=total):
                if self.frame_start is not None:
                    self.computing_s += time.perf_counter() - self.frame_start
                self.done += 1
                self.progress.update(self.frames, total=total, completed=self.done, info=self._eta())
            case JobSkipped(total=total):
                self.done += 1
                self.progress.update(self.frames, total=total, completed=self.done, info="finished before")
            case JobFailed():
                pass  # the command prints the one error line
            case VideoEncoding(output=output):
                self.progress.update(self.steps, description="encoding", total=None, info=str(output))


@with_config_options
@with_video_options
@handle_errors
def video_command(
    clip: str = typer.Argument(..., metavar="IN", help="Video (mp4, mov, webm, mkv, ...) or animated GIF/WebP."),
    style: str = typer.Argument(..., help="Style image (the painting)."),
    output: str = typer.Option(
        ..., "--output", "-o", help="Output clip: .mp4 (H.264), .mov, .mkv, .webm (VP9), .gif or .webp."
    ),
    json_path: Optional[str] = JSON_OPTION,  # noqa: UP045
    quiet: bool = QUIET_OPTION,
    video: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
) -> None:
    """Paint a clip IN in the style of STYLE, frame by frame without flicker (Ruder et al. 2016).

    Each frame starts from the previous painted frame warped along the optical flow and is pulled towards it outside occluded regions (--temporal-weight 0: every frame on its own).

    The output keeps the frame rate, duration and audio. Every run flag applies to each frame.

    Finished frames are kept as PNGs in OUT.frames/ next to the output: after Ctrl-C, SIGTERM or a crash the same command continues from the frame that was running.
    """  # noqa: E501
    if missing := missing_video_modules():
        raise fail(f"{INSTALL_HINT} (missing: {', '.join(missing)})")
    from restyle.video.driver import stylize_video

    if json_path:
        check_output_path(json_path)
    settings = VideoSettings(**(video or {})).validate()
    config = build_config(overrides or {})
    prepare_for(config)
    console = Console(stderr=True, quiet=quiet)
    t0 = time.perf_counter()
    try:
        with GracefulStop() as stop, VideoProgress(console, enabled=not quiet) as display:
            result = stylize_video(clip, style, output, config, settings, on_event=display.on_event, stop=stop)
    except Aborted as e:
        say(err, f"{e} (second signal): finished frames are kept; run the same command again to continue")
        raise typer.Exit(e.exit_code) from None
    if result.stopped:
        say(
            err,
            f"interrupted by {stop.signal_name}: {len(result.frames)} finished frames are kept in {result.work}; "
            "run the same command again to continue",
        )
        raise typer.Exit(stop.exit_code)
    if json_path:
        atomic_write_text(json_path, json.dumps({**result.to_dict(), "config": config.to_dict()}, indent=1))
    for note in result.notes:
        say(console, f"[yellow]note:[/] {note}")
    say(
        console,
        f"wrote {result.output} ({result.size[0]}x{result.size[1]}, {len(result.frames)} frames painted: "
        f"{result.computed} now, {result.reused} before) in {time.perf_counter() - t0:.1f} s",
    )
