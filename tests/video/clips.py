"""Synthetic clips for the video tests: a textured image panning a few pixels per frame, with a tone."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from helpers import make_image

FPS = 12
#: Pixels the picture moves right per frame.
PAN = 2


def texture(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth picture with fine stripes (something for the flow to lock onto), ``(H, W, 3)`` uint8."""
    img = make_image(width, height, seed)
    yy, xx = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    stripes = 0.15 * torch.sin(xx * 0.7) * torch.cos(yy * 0.45)
    return ((img + stripes).clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()


def pan_frames(frames: int = 8, size: int = 64, pan: int = PAN) -> list[np.ndarray]:
    """``frames`` crops of one wide texture, each ``pan`` px further left (the scene moves right)."""
    wide = texture(size + pan * frames, size)
    return [
        np.ascontiguousarray(wide[:, (frames - 1 - i) * pan : (frames - 1 - i) * pan + size]) for i in range(frames)
    ]


def write_clip(
    path: Path, frames: list[np.ndarray], fps: int = FPS, audio: bool = True, codec: str = "libx264"
) -> Path:
    """Encode ``frames`` (and a 440 Hz tone as long as them, AAC) to ``path``."""
    with av.open(str(path), "w") as out:
        video = out.add_stream(codec, rate=fps)
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt = "yuv420p"
        video.options = {"crf": "10"}
        sound = out.add_stream("aac", rate=16000) if audio else None
        if sound is not None:
            sound.layout = "mono"
        for rgb in frames:
            for packet in video.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if sound is not None:
            samples = int(16000 * len(frames) / fps)
            tone = (0.3 * np.sin(np.arange(samples) / 16000 * 2 * np.pi * 440)).astype(np.float32)
            for start in range(0, samples, 1024):
                frame = av.AudioFrame.from_ndarray(tone[None, start : start + 1024], format="fltp", layout="mono")
                frame.sample_rate, frame.pts = 16000, start
                frame.time_base = Fraction(1, 16000)
                for packet in sound.encode(frame):
                    out.mux(packet)
            for packet in sound.encode():
                out.mux(packet)
    return path
