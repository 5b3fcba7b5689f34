"""``stylize_video`` end to end on a synthetic clip: frames, fps, audio, temporal consistency, resume."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

av = pytest.importorskip("av", reason="the video extra (PyAV) is not installed")
pytest.importorskip("cv2", reason="the video extra (OpenCV) is not installed")

from restyle.errors import ConfigError  # noqa: E402
from restyle.io.image import read_image  # noqa: E402
from restyle.jobs.events import JobSkipped, JobStarted, JobStep  # noqa: E402
from restyle.jobs.executor import LocalExecutor  # noqa: E402
from restyle.video.driver import frame_path, stylize_video, work_dir  # noqa: E402
from restyle.video.flow import consistency_mask, optical_flow, temporal_error  # noqa: E402
from restyle.video.io import probe, read_frames  # noqa: E402
from restyle.video.settings import VideoSettings  # noqa: E402


def mean_temporal_error(clip: Path, output: Path) -> float:
    """Mean temporal error of a run's frames, with flows of the input frames (as the benchmark measures)."""
    inputs = [torch.from_numpy(f).permute(2, 0, 1).float() / 255 for f in read_frames(probe(clip))]
    outs = [read_image(p).pixels for p in sorted(work_dir(output).glob("frame_??????.png"))]
    errors = []
    for t in range(1, len(outs)):
        back, fwd = optical_flow(inputs[t], inputs[t - 1]), optical_flow(inputs[t - 1], inputs[t])
        errors.append(temporal_error(outs[t], outs[t - 1], back, consistency_mask(back, fwd)))
    return sum(errors) / len(errors)


def test_output_keeps_frames_fps_and_audio(clip, style, fast, tiny_weights, tmp_path):
    out = tmp_path / "out.mp4"
    result = stylize_video(clip, style, out, fast, VideoSettings(frame_iterations=3), weights=tiny_weights)
    assert (result.computed, result.reused, result.size) == (8, 0, (64, 64))
    info = probe(out)
    source = probe(clip)
    assert info.frames == source.frames == 8
    assert info.fps == source.fps == 12
    assert info.audio == "aac"
    assert info.duration == pytest.approx(source.duration, abs=0.02)
    with av.open(str(out)) as c, av.open(str(clip)) as s:  # the sound is the source's, packet for packet
        copied = [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]
        original = [bytes(p) for p in s.demux(s.streams.audio[0]) if p.size]
    assert copied == original[: len(copied)] and len(copied) >= len(original) - 1
    assert not list(tmp_path.glob(".out.mp4*"))  # no temporary file left


def test_consistent_mode_has_lower_temporal_error_than_independent_frames(clip, style, fast, tiny_weights, tmp_path):
    independent = tmp_path / "independent.mp4"
    consistent = tmp_path / "consistent.mp4"
    stylize_video(clip, style, independent, fast, VideoSettings(temporal_weight=0), weights=tiny_weights)
    stylize_video(clip, style, consistent, fast, VideoSettings(frame_iterations=3), weights=tiny_weights)
    base, ours = mean_temporal_error(clip, independent), mean_temporal_error(clip, consistent)
    assert ours < base / 1.5, (ours, base)


def test_resume_after_an_interrupt_redoes_no_finished_frame(clip, style, fast, tiny_weights, tmp_path):
    out = tmp_path / "out.mp4"
    settings = VideoSettings(frame_iterations=3)
    executor = LocalExecutor(fast, weights=tiny_weights)

    def stop_in_frame_3(event: object) -> None:
        if isinstance(event, JobStep) and event.index == 3:
            executor.request_stop()  # what the first Ctrl-C does

    first = stylize_video(clip, style, out, fast, settings, executor=executor, on_event=stop_in_frame_3)
    assert first.stopped and first.interrupted is not None and len(first.frames) == 3
    assert not out.exists()  # nothing under the output's name until every frame is there
    done = {i: frame_path(first.work, i).stat().st_mtime_ns for i in range(3)}
    assert not frame_path(first.work, 3).exists()

    events: list[object] = []
    again = stylize_video(clip, style, out, fast, settings, weights=tiny_weights, on_event=events.append)
    started = [e.index for e in events if isinstance(e, JobStarted)]
    skipped = [e.index for e in events if isinstance(e, JobSkipped)]
    assert skipped == [0, 1, 2] and started == [3, 4, 5, 6, 7]
    assert {i: frame_path(first.work, i).stat().st_mtime_ns for i in range(3)} == done
    assert (again.computed, again.reused) == (5, 3)
    assert probe(out).frames == 8


def test_every_and_part_keep_the_timeline(clip, style, fast, tiny_weights, tmp_path):
    out = tmp_path / "part.mp4"
    settings = VideoSettings(start=0.1, end=0.55, every=2, frame_iterations=2)
    result = stylize_video(clip, style, out, fast, settings, weights=tiny_weights)
    # frames at 0.167, 0.25, ..., 0.5 s: 5 in the part, every second one painted, each shown until the next
    assert len(result.frames) == 3
    info = probe(out)
    assert info.frames == 5 and info.fps == 12 and info.audio == "aac"


def test_gif_in_and_out(clip, style, fast, tiny_weights, tmp_path):
    gif = tmp_path / "out.gif"
    stylize_video(clip, style, gif, fast, VideoSettings(frame_iterations=2), weights=tiny_weights)
    info = probe(gif)
    assert info.frames == 8 and info.durations == pytest.approx([0.08] * 8, abs=0.011)
    again = tmp_path / "again.webp"
    result = stylize_video(gif, style, again, fast, VideoSettings(temporal_weight=0), weights=tiny_weights)
    assert result.computed == 8 and probe(again).frames == 8


def test_settings_are_checked():
    with pytest.raises(ConfigError, match="end"):
        VideoSettings(start=2, end=1).validate()
    with pytest.raises(ConfigError, match="every"):
        VideoSettings(every=0).validate()
    with pytest.raises(ConfigError, match="flow"):
        VideoSettings(flow="raft").validate()


def test_rotation_metadata_is_applied(tmp_path):
    path = tmp_path / "phone.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.set_display_rotation(90)  # shown turned a quarter counter-clockwise, as phones store portrait clips
        marked = np.zeros((48, 64, 3), np.uint8)
        marked[:8, :8] = 255  # the stored frame's top-left corner
        for packet in [*stream.encode(av.VideoFrame.from_ndarray(marked, format="rgb24")), *stream.encode()]:
            out.mux(packet)
    info = probe(path)
    assert (info.width, info.height, info.rotation) == (48, 64, 90)
    frame = next(read_frames(info))
    assert frame.shape == (64, 48, 3)
    assert frame[-8:, :8].mean() > 200 and frame[:8, :8].mean() < 50  # top-left went to bottom-left


def test_variable_frame_rate_keeps_each_frames_time(clip, style, fast, tiny_weights, tmp_path):
    vfr = tmp_path / "vfr.mkv"
    shown = [0.0, 0.1, 0.15, 0.4, 0.45]  # seconds: frames of uneven length
    with av.open(str(vfr), "w") as out:
        stream = out.add_stream("libx264", rate=20)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        frames = [*read_frames(probe(clip))][: len(shown)]
        for t, rgb in zip(shown, frames, strict=True):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = round(t * 1000), Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    assert probe(vfr).times == pytest.approx(shown, abs=1e-3)
    out = tmp_path / "out.mp4"
    stylize_video(vfr, style, out, fast, VideoSettings(frame_iterations=1), weights=tiny_weights)
    assert probe(out).times == pytest.approx(shown, abs=1e-3)
