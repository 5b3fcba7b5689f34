"""Video: flow method, seconds per frame, and temporal error of the consistent mode vs the independent baseline.

Usage: nice -n 5 python benchmarks/video.py [--size 96] [--frames 8] [--out benchmarks/results/video.json]
        [--strip docs/video_strip.png] [--schedule 10 20 40] [--timing-sizes 256 512] [--method fast]

``--method fast``: every frame through the feed-forward network (the schedule's iterations do not
apply: give ``--schedule 1``, and ``--timing-sizes`` with no size); "consistent" then blends each
frame with the previous one warped along the flow.

The clip is made here, so the numbers are reproducible: a slow pan and zoom over
/work/shared/images/tubingen.jpg (``--images``), painted in the style of starry_night.jpg, real
VGG16 weights, L-BFGS. Parts (each one JSON section):

* ``flow``: OpenCV's DIS and Farnebäck on frame pairs of the clip at 256 and 512 px -- median seconds
  of 5 runs after a warm-up, and the end-point error against the known (affine) motion;
* ``modes``: the same clip through ``stylize_video`` with ``temporal_weight`` 0 (every frame on its
  own: the baseline) and with the temporal term for each ``--schedule`` iteration count of later
  frames. Temporal error = mean |out_t - warp(out_{t-1})| over the pixels the forward-backward check
  keeps, with flows of the *input* frames (so both modes are measured with the same warps). Also the
  mean final content and style terms of the frames (quality is not traded away) and seconds per frame;
* ``timing``: seconds per frame at ``--timing-sizes`` (a first frame, and later frames of
  ``--timing-iterations`` steps: flow, warp and guide included), with the seconds of one plain step
  measured in the same run (the machine is shared: compare ratios).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from PIL import Image, ImageDraw

from restyle.config import RunConfig
from restyle.engine.pyramid import resize
from restyle.features.precision import cpu_model
from restyle.io.image import read_image, read_metadata
from restyle.video.driver import frame_size, stylize_video, work_dir
from restyle.video.flow import consistency_mask, optical_flow, temporal_error
from restyle.video.io import write_video
from restyle.video.settings import VideoSettings

IMAGES = Path("/work/shared/images")
FPS = 12


def affine(t: int) -> np.ndarray:
    """Frame t's map from output pixels (at 1 px = 1/640 of the width) to source pixels: pan right, zoom in."""
    s = 1.0 / (1 + 0.012 * t)  # zoom in 1.2 % per frame
    return np.array([[s, 0, 40 + 3.0 * t], [0, s, 30 + 1.0 * t]], dtype=np.float64)


def make_frames(source: np.ndarray, frames: int, width: int, height: int) -> list[np.ndarray]:
    """The clip at ``width`` x ``height``: each frame samples the source through :func:`affine`."""
    k = 640 / width  # affine() is in 640-px-wide units
    out = []
    for t in range(frames):
        m = affine(t).copy()
        m[:, :2] *= k
        out.append(cv2.warpAffine(source, m, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP))
    return out


def known_backward(t: int, width: int, height: int) -> np.ndarray:
    """The true flow frame t → t-1 at ``width`` px: where each pixel of frame t is in frame t-1."""
    k = 640 / width
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    a, b = affine(t), affine(t - 1)
    sx = a[0, 0] * k * xs + a[0, 2]  # source point of frame t's pixel
    sy = a[1, 1] * k * ys + a[1, 2]
    px = (sx - b[0, 2]) / (b[0, 0] * k)  # that source point in frame t-1
    py = (sy - b[1, 2]) / (b[1, 1] * k)
    return np.stack([px - xs, py - ys], axis=-1).astype(np.float32)


def tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float() / 255


def flow_bench(source: np.ndarray, repeats: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for width in (256, 512):
        height = width * 9 // 16 // 2 * 2
        frames = [tensor(f) for f in make_frames(source, 4, width, height)]
        for method in ("dis", "farneback"):
            optical_flow(frames[1], frames[0], method)  # warm-up
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                optical_flow(frames[1], frames[0], method)
                times.append(time.perf_counter() - t0)
            m = 16  # border pixels left out of the error (their source leaves the frame)
            epe = [
                float(
                    np.linalg.norm(
                        optical_flow(frames[t], frames[t - 1], method).numpy()[m:-m, m:-m]
                        - known_backward(t, width, height)[m:-m, m:-m],
                        axis=-1,
                    ).mean()
                )
                for t in range(1, 4)
            ]
            out[f"{method}_{width}"] = {
                "s_median": statistics.median(times),
                "s_min": min(times),
                "s_max": max(times),
                "epe_px": statistics.mean(epe),
            }
    return out


def frame_pngs(output: Path) -> list[Path]:
    return sorted(work_dir(output).glob("frame_??????.png"))


def measure_mode(inputs: list[torch.Tensor], output: Path) -> dict[str, Any]:
    """Temporal error and mean loss terms of a finished run's frames."""
    outs = [read_image(p).pixels for p in frame_pngs(output)]
    errors = []
    for t in range(1, len(outs)):
        back = optical_flow(inputs[t], inputs[t - 1])
        fwd = optical_flow(inputs[t - 1], inputs[t])
        errors.append(temporal_error(outs[t], outs[t - 1], back, consistency_mask(back, fwd)))
    metas = [read_metadata(p) or {} for p in frame_pngs(output)]
    losses = [m.get("losses", {}) for m in metas]
    return {
        "temporal_error": statistics.mean(errors),
        "temporal_error_per_frame": errors,
        "content_mean": statistics.mean(loss.get("content", 0.0) for loss in losses),
        "style_mean": statistics.mean(loss.get("style", 0.0) for loss in losses),
        "style_later_mean": statistics.mean(loss.get("style", 0.0) for loss in losses[1:]),
    }


def run_mode(clip: Path, style: Path, output: Path, config: RunConfig, settings: VideoSettings) -> dict[str, Any]:
    t0 = time.perf_counter()
    result = stylize_video(clip, style, output, config, settings)
    total = time.perf_counter() - t0
    later = result.seconds if result.reused else result.seconds[1:]  # a reused first frame took no time here
    return {
        "settings": settings.to_dict(),
        "total_s": total,
        "first_frame_s": None if result.reused else result.seconds[0],
        "later_frame_s_median": statistics.median(later) if later else None,
    }


def strip(rows: list[tuple[str, list[Path] | list[np.ndarray]]], path: Path, every: int, zoom: int = 2) -> None:
    """A PNG of frames 0, every, 2·every, ... one row per mode, labelled, each frame enlarged ``zoom`` times."""
    loaded = []
    for label, items in rows:
        ims = [Image.open(p).convert("RGB") if isinstance(p, Path) else Image.fromarray(p) for p in items]
        ims = [im.resize((im.width * zoom, im.height * zoom), Image.Resampling.NEAREST) for im in ims]
        loaded.append((label, ims[::every]))
    w, h = loaded[0][1][0].size
    cols = len(loaded[0][1])
    pad, label_h = 4, 16
    sheet = Image.new("RGB", (cols * (w + pad) + pad, len(loaded) * (h + label_h + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (label, ims) in enumerate(loaded):
        y = pad + r * (h + label_h + pad)
        draw.text((pad, y), label, fill="black")
        for c, im in enumerate(ims):
            sheet.paste(im, (pad + c * (w + pad), y + label_h))
    sheet.save(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, default=IMAGES)
    ap.add_argument("--size", type=int, default=96, help="Longest side of the modes' comparison.")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--iterations", type=int, default=30, help="Iterations of a full frame (first / baseline).")
    ap.add_argument("--schedule", type=int, nargs="+", default=[10, 20], help="Later frames' iterations.")
    ap.add_argument("--temporal-weight", type=float, default=VideoSettings().temporal_weight)
    ap.add_argument("--timing-sizes", type=int, nargs="*", default=[256, 512])
    ap.add_argument("--timing-iterations", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--method", default="optimize", choices=["optimize", "fast"], help="--method of every frame.")
    ap.add_argument("--out", type=Path, default=None, help="Also write the JSON here.")
    ap.add_argument("--work", type=Path, default=None, help="Folder for the clips and frames (default: temporary).")
    ap.add_argument("--strip", type=Path, default=None, help="Frame strip PNG (input / independent / consistent).")
    ap.add_argument("--clip-out", type=Path, default=None, help="Also write the consistent clip here (e.g. a GIF).")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)
    source = np.asarray(Image.open(args.images / "tubingen.jpg").convert("RGB"))
    style = args.images / "starry_night.jpg"
    record: dict[str, Any] = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cpu_model": cpu_model(),
            "torch": torch.__version__,
            "opencv": cv2.__version__,
            "threads": torch.get_num_threads(),
            "loadavg_start": os.getloadavg(),
        },
        "clip": {"frames": args.frames, "fps": FPS, "motion": "pan 3 px + 1 px and zoom 1.2 % per frame (640 px)"},
    }
    record["flow"] = flow_bench(source, args.repeats)
    _dump(record, args.out)
    with tempfile.TemporaryDirectory() as tmp:
        d = args.work or Path(tmp)  # a --work folder keeps finished frames: a rerun continues there
        d.mkdir(parents=True, exist_ok=True)
        src = make_frames(source, args.frames, 640, 360)
        clip = d / "clip.mp4"
        write_video(clip, src, [t / FPS for t in range(args.frames)], args.frames / FPS, Fraction(FPS))
        config = RunConfig(
            model="vgg16", size=args.size, iterations=args.iterations, scales=1, device="cpu", method=args.method
        )
        w, h = frame_size(640, 360, args.size)
        inputs = [_resized(f, (w, h)) for f in src]
        modes: dict[str, Any] = {}
        base = VideoSettings(temporal_weight=0)
        modes["independent"] = run_mode(clip, style, d / "independent.mp4", config, base)
        modes["independent"].update(measure_mode(inputs, d / "independent.mp4"))
        _dump({**record, "modes": modes}, args.out)
        for k in args.schedule:
            name = f"consistent_{k}"
            # The first frame is the same job in every mode (no guide, the full config): reuse the baseline's.
            work_dir(d / f"{name}.mp4").mkdir(exist_ok=True)
            shutil.copy2(frame_pngs(d / "independent.mp4")[0], work_dir(d / f"{name}.mp4"))
            settings = VideoSettings(temporal_weight=args.temporal_weight, frame_iterations=k)
            modes[name] = run_mode(clip, style, d / f"{name}.mp4", config, settings)
            modes[name].update(measure_mode(inputs, d / f"{name}.mp4"))
            modes[name]["error_ratio_vs_independent"] = (
                modes["independent"]["temporal_error"] / modes[name]["temporal_error"]
            )
            _dump({**record, "modes": modes}, args.out)
        record["modes"] = modes
        record["size"] = [w, h]
        best = f"consistent_{VideoSettings().frame_iterations}"
        shown = best if best in modes else f"consistent_{args.schedule[-1]}"
        if args.strip:
            rows = [
                ("input", [(f * 255).round().byte().permute(1, 2, 0).numpy() for f in inputs]),
                ("independent (--temporal-weight 0)", frame_pngs(d / "independent.mp4")),
                (f"consistent ({shown.split('_')[1]} it. per later frame)", frame_pngs(d / f"{shown}.mp4")),
            ]
            strip(rows, args.strip, every=1)
        if args.clip_out:  # the shown mode's finished frames, encoded again (nothing recomputed)
            shutil.copytree(work_dir(d / f"{shown}.mp4"), work_dir(args.clip_out), dirs_exist_ok=True)
            stylize_video(clip, style, args.clip_out, config, VideoSettings(**modes[shown]["settings"]))
            shutil.rmtree(work_dir(args.clip_out))
        record["timing"] = timing(source, style, d, args)
        record["machine"]["loadavg_end"] = os.getloadavg()
    _dump(record, args.out)
    json.dump(record, sys.stdout, indent=1)
    print()


def timing(source: np.ndarray, style: Path, d: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Seconds per frame at each size: first frame and later frames, against a plain step's seconds."""
    out: dict[str, Any] = {}
    frames = 3
    src = make_frames(source, frames, 1280, 720)
    clip = d / "timing.mp4"
    write_video(clip, src, [t / FPS for t in range(frames)], frames / FPS, Fraction(FPS))
    for size in args.timing_sizes:
        k = args.timing_iterations
        config = RunConfig(model="vgg16", size=size, iterations=k, scales=1, device="cpu")
        settings = VideoSettings(frame_iterations=k)
        result = stylize_video(clip, style, d / f"timing_{size}.mp4", config, settings)
        metas = [read_metadata(p) or {} for p in result.frames]
        step = statistics.median(m["timings"]["s_per_step"] for m in metas)
        later = result.seconds[1:]
        out[str(size)] = {
            "size": list(result.size),
            "iterations_per_frame": k,
            "s_per_step_median": step,
            "first_frame_s": result.seconds[0],
            "later_frame_s": later,
            "later_overhead_s_median": statistics.median(s - k * step for s in later),
            "note": "seconds per frame of N iterations ≈ overhead + N x s_per_step",
        }
    return out


def _resized(rgb: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """A source frame as the driver sees it (the same resize)."""
    return resize(tensor(rgb)[None], size)[0]


def _dump(record: dict[str, Any], path: Path | None) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
