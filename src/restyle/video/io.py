"""Reading and writing clips: PyAV (FFmpeg) for videos, Pillow for animated GIF/WebP.

* :func:`probe` reads a clip's timeline without decoding (frame times, size as displayed, frame
  rate, audio) and refuses what is not a video: :class:`VideoError`, one line.
* :func:`read_frames` decodes the frames in presentation order as ``(H, W, 3)`` uint8 RGB, upright
  (the rotation metadata of phone videos applied).
* :func:`write_video` encodes frames at given times -- H.264 in .mp4/.mov/.mkv, VP9 in .webm,
  Pillow's GIF/WebP -- with the source's audio copied packet by packet (re-encoded to Opus only
  where the container cannot hold the codec, e.g. AAC into WebM), atomically: the output name
  never holds a partial file.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import av
import numpy as np
from PIL import Image, ImageSequence

from restyle.errors import RestyleError
from restyle.io.files import atomic_write, check_output_path

#: Containers written by FFmpeg (name → (muxer, video codec)).
CONTAINERS = {
    ".mp4": ("mp4", "libx264"),
    ".mov": ("mov", "libx264"),
    ".mkv": ("matroska", "libx264"),
    ".webm": ("webm", "libvpx-vp9"),
}
#: Animated images, read and written with Pillow (name → Pillow format).
ANIMATED = {".gif": "GIF", ".webp": "WEBP"}
#: Output formats ``restyle video -o`` accepts.
VIDEO_SUFFIXES = (*CONTAINERS, *ANIMATED)
#: Largest frame accepted (pixels, and longest side): far beyond 8K, so only absurd inputs are refused.
MAX_FRAME_PIXELS = 8192 * 8192
MAX_FRAME_SIDE = 16384
MIN_FRAME_SIDE = 16
#: Containers FFmpeg opens for still images: a photo is not a clip.
_STILL_FORMATS = ("image2", "png_pipe", "jpeg_pipe", "bmp_pipe", "tiff_pipe", "webp_pipe", "gif_pipe")


class VideoError(RestyleError):
    """A clip cannot be read (not a video, no video stream, no frames, absurd size) or written."""


@dataclass
class VideoInfo:
    """A clip's timeline and shape, as :func:`probe` found it."""

    path: str
    width: int  #: as displayed (rotation applied)
    height: int
    fps: Fraction  #: average frame rate
    times: list[float]  #: start of each frame in seconds from the clip's first, presentation order
    duration: float  #: seconds, the last frame's display time included
    rotation: int = 0  #: degrees counter-clockwise applied to the decoded frames
    audio: str | None = None  #: codec of the first audio stream, if any
    animated: bool = False  #: GIF/WebP read with Pillow
    durations: list[float] = field(default_factory=list)  #: seconds each frame shows (animated images)

    @property
    def frames(self) -> int:
        """Number of frames."""
        return len(self.times)


def _open(path: str | os.PathLike) -> Any:
    try:
        return av.open(os.fspath(path))
    except FileNotFoundError:
        raise VideoError(f"input {str(path)!r} does not exist") from None
    except (av.FFmpegError, OSError, UnicodeDecodeError) as e:
        raise VideoError(f"{str(path)!r} is not a video PyAV can read ({_one_line(e)})") from None


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:157] + "..." if len(text) > 160 else text


def _check_size(path: str, w: int, h: int) -> None:
    if min(w, h) < MIN_FRAME_SIDE or max(w, h) > MAX_FRAME_SIDE or w * h > MAX_FRAME_PIXELS:
        raise VideoError(
            f"{path!r}: frames of {w}x{h} px are not a usable video size (each side {MIN_FRAME_SIDE} to "
            f"{MAX_FRAME_SIDE} px, at most {MAX_FRAME_PIXELS // 1_000_000} MP)"
        )


def probe(path: str | os.PathLike) -> VideoInfo:
    """The clip's timeline, size and audio, read without decoding (demuxing only).

    Raises:
        VideoError: missing file, not a video, no video stream, a still image, no frames, absurd size.
    """
    p = os.fspath(path)
    if Path(p).suffix.lower() in ANIMATED:
        return _probe_animated(p)
    with _open(p) as c:
        if c.format.name in _STILL_FORMATS or not c.streams.video:
            what = "a still image" if c.streams.video else "a file without a video stream"
            raise VideoError(f"{p!r} is {what}, not a clip (use `restyle run` for images)")
        stream = c.streams.video[0]
        tb = stream.time_base
        pts: list[int] = []
        last_duration = 0
        try:
            for packet in c.demux(stream):
                if packet.pts is not None and packet.size:
                    pts.append(packet.pts)
                    last_duration = max(last_duration, packet.duration or 0)
        except av.FFmpegError as e:
            raise VideoError(f"{p!r}: the video stream cannot be read ({_one_line(e)})") from None
        if not pts:
            raise VideoError(f"{p!r} has no video frames")
        pts.sort()
        first = pts[0]
        times = [float((t - first) * tb) for t in pts]
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        step = float(last_duration * tb) if last_duration else 1 / float(rate)
        rotation = _rotation(p)
        w, h = stream.codec_context.width, stream.codec_context.height
        if rotation % 180:
            w, h = h, w
        _check_size(p, w, h)
        audio = c.streams.audio[0].codec_context.name if c.streams.audio else None
        return VideoInfo(p, w, h, Fraction(rate), times, times[-1] + step, rotation, audio)


def _rotation(path: str) -> int:
    """Degrees counter-clockwise that turn decoded frames upright (the first frame's display matrix)."""
    with _open(path) as c:
        try:
            for frame in c.decode(c.streams.video[0]):
                return int(round(frame.rotation / 90)) * 90 % 360
        except av.FFmpegError:
            return 0
    return 0


def _probe_animated(p: str) -> VideoInfo:
    try:
        with Image.open(p) as im:
            w, h = im.size
            _check_size(p, w, h)
            durations = [max(float(f.info.get("duration") or 100), 10.0) / 1000 for f in ImageSequence.Iterator(im)]
    except FileNotFoundError:
        raise VideoError(f"input {p!r} does not exist") from None
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise VideoError(f"{p!r} is not an animation Pillow can read ({_one_line(e)})") from None
    if not durations:
        raise VideoError(f"{p!r} has no frames")
    times = [sum(durations[:i]) for i in range(len(durations))]
    total = sum(durations)
    fps = Fraction(len(durations) / total).limit_denominator(1001) if total else Fraction(10)
    return VideoInfo(p, w, h, fps, times, total, animated=True, durations=durations)


def read_frames(info: VideoInfo) -> Iterator[np.ndarray]:
    """Every frame of the clip in presentation order, ``(H, W, 3)`` uint8 RGB, upright."""
    if info.animated:
        with Image.open(info.path) as im:
            for frame in ImageSequence.Iterator(im):
                yield np.array(frame.convert("RGB"))
        return
    with _open(info.path) as c:
        try:
            for frame in c.decode(c.streams.video[0]):
                rgb = frame.to_ndarray(format="rgb24")
                yield np.ascontiguousarray(np.rot90(rgb, k=info.rotation // 90)) if info.rotation else rgb
        except av.FFmpegError as e:
            raise VideoError(f"{info.path!r}: decoding failed ({_one_line(e)})") from None


def check_video_output(path: str | os.PathLike) -> Path:
    """Fail before any compute when the clip cannot be written there (folder, format): VideoError/ImageError."""
    return check_output_path(path, VIDEO_SUFFIXES)


def write_video(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    times: list[float],
    duration: float,
    fps: Fraction,
    *,
    audio_from: str | None = None,
    audio_range: tuple[float, float] = (0.0, math.inf),
) -> list[str]:
    """Encode ``frames`` (``(H, W, 3)`` uint8, shown from ``times`` seconds on) to ``path``, atomically.

    ``duration`` is the clip's length (the last frame shows until then); ``audio_from`` is a clip whose
    first audio stream, cut to ``audio_range`` (seconds of that clip), is copied along. Returns notes
    (audio re-encoded or left out).
    """
    out = Path(path)
    suffix = out.suffix.lower()
    notes: list[str] = []
    if suffix in ANIMATED:
        images = [Image.fromarray(f) for f in frames]
        ends = [*times[1:], duration]
        ms = [max(10, round((e - t) * 1000)) for t, e in zip(times, ends, strict=True)]
        fmt = ANIMATED[suffix]
        extra: dict[str, Any] = {"optimize": False, "disposal": 1} if fmt == "GIF" else {"quality": 90}

        def write_animated(fp: IO[bytes]) -> None:
            images[0].save(fp, format=fmt, save_all=True, append_images=images[1:], duration=ms, loop=0, **extra)

        atomic_write(out, write_animated)
        if audio_from is not None and _has_audio(audio_from):
            notes.append(f"{suffix[1:].upper()} holds no sound: the audio is left out")
        return notes
    muxer, codec = CONTAINERS[suffix]

    def write(fp: IO[bytes]) -> None:
        notes.extend(_encode(fp, muxer, codec, frames, times, duration, fps, audio_from, audio_range))

    try:
        atomic_write(out, write)
    except av.FFmpegError as e:
        raise VideoError(f"cannot encode {str(out)!r} ({_one_line(e)})") from None
    return notes


def _has_audio(path: str) -> bool:
    if Path(path).suffix.lower() in ANIMATED:
        return False
    with _open(path) as c:
        return bool(c.streams.audio)


#: Time base of the written video: fine enough for any frame rate and variable frame timing.
_TIME_BASE = Fraction(1, 90000)


def _encode(
    fp: IO[bytes],
    muxer: str,
    codec: str,
    frames: Iterable[np.ndarray],
    times: list[float],
    duration: float,
    fps: Fraction,
    audio_from: str | None,
    audio_range: tuple[float, float],
) -> list[str]:
    notes: list[str] = []
    with av.open(fp, "w", format=muxer) as out:
        source = _open(audio_from) if audio_from is not None else None
        try:
            audio_packets, audio_note = _audio_packets(source, out, audio_range) if source else ([], "")
            if audio_note:
                notes.append(audio_note)
            stream: Any = None
            for i, rgb in enumerate(frames):
                if stream is None:
                    stream = out.add_stream(codec, rate=fps)
                    stream.height, stream.width = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
                    stream.pix_fmt = "yuv420p"
                    stream.codec_context.time_base = _TIME_BASE
                    stream.time_base = _TIME_BASE
                    stream.options = {"crf": "18"} if codec == "libx264" else {"crf": "30", "b": "0"}
                frame = av.VideoFrame.from_ndarray(
                    np.ascontiguousarray(rgb[: stream.height, : stream.width]), format="rgb24"
                )
                frame.pts = round(times[i] / _TIME_BASE)
                frame.time_base = _TIME_BASE
                for packet in stream.encode(frame):
                    _mux_until(out, audio_packets, float(packet.pts * packet.time_base))
                    out.mux(packet)
            if stream is None:
                raise VideoError("no frames to write")
            for packet in stream.encode():
                out.mux(packet)
            _mux_until(out, audio_packets, math.inf)
        finally:
            if source is not None:
                source.close()
    return notes


def _mux_until(out: Any, packets: list[Any], t: float) -> None:
    """Mux the queued audio packets that start before ``t`` seconds (interleaved with the video)."""
    while packets and float(packets[0].pts * packets[0].time_base) <= t:
        out.mux(packets.pop(0))


def _audio_packets(source: Any, out: Any, span: tuple[float, float]) -> tuple[list[Any], str]:
    """The first audio stream's packets in ``span`` seconds, shifted to start at 0, on a new stream of ``out``.

    Copied unchanged when ``out`` can hold the codec; otherwise decoded and encoded to Opus (a note says so).
    """
    if not source.streams.audio:
        return [], ""
    ain = source.streams.audio[0]
    start, end = span
    tb = ain.time_base
    origin = ain.start_time or 0
    packets = []
    for packet in source.demux(ain):
        if packet.pts is None or not packet.size:
            continue
        t = float((packet.pts - origin) * tb)
        if t + float((packet.duration or 0) * tb) >= start - 1e-6 and t < end:  # touches the part (priming too)
            packets.append(packet)
    if not packets:
        return [], ""
    shift = origin + round(start / tb)  # the part's start is 0 (an encoder's priming packet stays before it)
    if ain.codec_context.name in out.supported_codecs:
        aout = out.add_stream_from_template(ain)
        for packet in packets:
            packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
            packet.stream = aout
        return packets, ""
    aout = out.add_stream("libopus", rate=48000)
    aout.layout = ain.codec_context.layout.name if ain.codec_context.layout else "stereo"
    resampler = av.AudioResampler(format="flt", layout=aout.layout, rate=48000)
    encoded, samples = [], 0
    for packet in [*packets, None]:
        for frame in ain.codec_context.decode(packet):
            frame.pts = None
            for resampled in resampler.resample(frame):
                resampled.pts, resampled.time_base = samples, Fraction(1, 48000)
                samples += resampled.samples
                encoded += aout.encode(resampled)
    encoded += aout.encode(None)
    return encoded, f"{ain.codec_context.name} audio cannot go into {out.format.name}: re-encoded to Opus"
