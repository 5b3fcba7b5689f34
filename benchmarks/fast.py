"""The fast method (``--method fast``): latency by size, torch vs onnxruntime, fidelity, quality, strength.

    nice -n 19 .venv/bin/python benchmarks/fast.py > benchmarks/results/fast.json

* ``latency``: one transfer pass (the painting's style vector read once, apart) at 256/512/1024/2048 px
  longest side (tubingen, 4:3), median of ``--runs`` after two warm-ups, ``--threads`` threads: torch
  fp32 (and bf16 where native), onnxruntime on the wheel's int8 graph with its input made dynamic;
* ``fidelity``: at 384 px (the graph's own shape), the mean absolute pixel difference of torch's
  picture from onnxruntime's on the original graph (default optimisations: its int8 kernels; and
  without graph optimisations: the graph's float Q/DQ semantics), on 0-1 and in 8-bit levels;
* ``quality``: the quality Judge's content and style distances of ``--method fast`` at 256 px on the
  photos x paintings of /work/shared/images (30 pairs);
* ``strength``: content distance against ``--strength`` on a few pairs (the optimisation aims at 0.7·S).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from restyle.config import RunConfig
from restyle.engine import fast
from restyle.engine.fast_run import FastStylizer
from restyle.engine.inputs import load_run_inputs
from restyle.engine.pyramid import fit_size, resize
from restyle.engine.quality import Judge
from restyle.fast.weights import PREDICT_ONNX, PREDICT_SHA256, TRANSFORM_ONNX, TRANSFORM_SHA256, checked_source
from restyle.features.precision import cpu_model, machine_info, native_bf16

IMAGES = Path(os.environ.get("RESTYLE_IMAGES", "/work/shared/images"))
PHOTOS = ("tubingen", "golden_gate", "astronaut", "chelsea", "coffee", "rocket")
PAINTINGS = ("starry_night", "the_scream", "composition_vii", "wave", "udnie")
STRENGTH_PAIRS = ("tubingen:starry_night", "astronaut:the_scream", "golden_gate:wave", "chelsea:udnie")


def image(stem: str) -> Path:
    """The file of ``stem`` in IMAGES (any suffix)."""
    hits = sorted(IMAGES.glob(f"{stem}.*"))
    if not hits:
        raise SystemExit(f"no image {stem}.* in {IMAGES}")
    return hits[0]


def median_time(fn: Callable[[], object], runs: int, warmups: int = 2) -> dict[str, float]:
    """Median wall and CPU (process) time of ``fn`` over ``runs`` calls after ``warmups`` calls.

    On a loaded machine the wall time stretches with the load; the CPU time (all threads) much less so.
    """
    for _ in range(warmups):
        fn()
    wall, cpu = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return {"wall_s": round(statistics.median(wall), 4), "cpu_s": round(statistics.median(cpu), 4)}


def ort_sessions(threads: int, optimise: bool = True, dynamic: bool = False) -> tuple[object, object]:
    """onnxruntime sessions of the wheel's two graphs (the transfer graph's input made dynamic if asked)."""
    import onnx
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    if not optimise:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    predict = ort.InferenceSession(
        str(checked_source(PREDICT_ONNX, PREDICT_SHA256)), options, providers=["CPUExecutionProvider"]
    )
    model = onnx.load(str(checked_source(TRANSFORM_ONNX, TRANSFORM_SHA256)))
    if dynamic:  # every op is size-agnostic: only the declared shapes fix 384x384
        for value in (model.graph.input[0], model.graph.output[0]):
            dims = value.type.tensor_type.shape.dim
            dims[1].dim_param, dims[2].dim_param = "h", "w"
        del model.graph.value_info[:]
    transfer = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return predict, transfer


def nhwc(x: torch.Tensor) -> np.ndarray:
    return x.permute(0, 2, 3, 1).contiguous().numpy()


def latency(sizes: list[int], runs: int, threads: int, warmups: int = 2) -> list[dict[str, object]]:
    photo = load_run_inputs(RunConfig(size=max(sizes)), image("tubingen"), image("starry_night"))
    content = photo.content.pixels[None]
    painting = photo.style_pixels[0][None]
    variants = {"torch_fp32": fast.network("cpu", "fp32")}
    if native_bf16("cpu"):
        variants["torch_bf16"] = fast.network("cpu", "bf16")
    net = variants["torch_fp32"]
    vector = net.style_vector(painting)
    rows: list[dict[str, object]] = [
        {
            "what": "style vector (256 px painting)",
            "torch_fp32": median_time(lambda: net.style_vector(painting), runs),
        }
    ]
    predict, transfer = ort_sessions(threads, dynamic=True)
    style_in = nhwc(torch.nn.functional.interpolate(painting, size=(256, 256), mode="bilinear", antialias=True))
    rows[0]["onnxruntime_int8"] = median_time(lambda: predict.run(None, {"style_image": style_in}), runs)
    v_ort = predict.run(None, {"style_image": style_in})[0]
    v_name = transfer.get_inputs()[1].name
    for side in sizes:
        size = fit_size(content.shape[-1], content.shape[-2], side)
        x = resize(content, size)
        row: dict[str, object] = {"size": side, "shape": list(size)}
        for name, n in variants.items():
            row[name] = median_time(lambda n=n, x=x: n.transfer(x, vector), runs, warmups)
        if size[0] % 4 == 0 and size[1] % 4 == 0:
            xin = nhwc(x)
            row["onnxruntime_int8"] = median_time(
                lambda xin=xin: transfer.run(None, {"content_image": xin, v_name: v_ort}), runs, warmups
            )
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    return rows


def fidelity(threads: int, pairs: list[tuple[str, str]]) -> list[dict[str, object]]:
    """torch's 384 px picture against onnxruntime's on the original graph (fixed 384x384 input)."""
    sessions = {"ort_default": ort_sessions(threads), "ort_no_optimisation": ort_sessions(threads, optimise=False)}
    net = fast.network("cpu", "fp32")
    out = []
    for photo, painting in pairs:
        inputs = load_run_inputs(RunConfig(size=384), image(photo), image(painting))
        x = resize(inputs.content.pixels[None], (384, 384))
        s = torch.nn.functional.interpolate(
            inputs.style_pixels[0][None], size=(256, 256), mode="bilinear", antialias=True
        )
        mine = net.transfer(x, net.style_vector(s)).permute(0, 2, 3, 1).numpy()
        row: dict[str, object] = {"pair": f"{photo}:{painting}"}
        for name, (predict, transfer) in sessions.items():
            v = predict.run(None, {"style_image": nhwc(s)})[0]
            ref = transfer.run(None, {"content_image": nhwc(x), transfer.get_inputs()[1].name: v})[0]
            row[f"torch_vs_{name}"] = round(float(np.abs(mine - ref).mean()), 4)
            row[f"torch_vs_{name}_8bit"] = round(float(np.abs(np.round(mine * 255) - np.round(ref * 255)).mean()), 2)
            if name == "ort_default":
                first = ref
            else:
                row["ort_default_vs_no_optimisation"] = round(float(np.abs(first - ref).mean()), 4)
        out.append(row)
        print(json.dumps(row), file=sys.stderr)
    return out


def distances(judge: Judge, photo: str, painting: str, size: int, strength: float = 0.5) -> dict[str, float]:
    config = RunConfig(method="fast", size=size, strength=strength, precision="fp32", device="cpu")
    inputs = load_run_inputs(config, image(photo), image(painting))
    result = FastStylizer(config).run(inputs)
    d = judge.measure(result.pixels[None], inputs.content.pixels[None], inputs.style_pixels[0][None])
    return {"content": round(d.content, 4), "style": round(d.style, 4), "seconds": round(result.timings["total_s"], 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", type=int, default=[256, 512, 1024, 2048])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmups", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quality-size", type=int, default=256)
    ap.add_argument("--strengths", nargs="+", type=float, default=[0.25, 0.5, 0.75, 1.0])
    ap.add_argument("--skip", nargs="*", default=[], choices=["latency", "fidelity", "quality", "strength"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    report: dict[str, object] = {"machine": machine_info(), "cpu": cpu_model(), "threads": args.threads}
    report["load_average"] = os.getloadavg()
    if "latency" not in args.skip:
        report["latency"] = latency(args.sizes, args.runs, args.threads, args.warmups)
    if "fidelity" not in args.skip:
        report["fidelity_384"] = fidelity(args.threads, [tuple(p.split(":")) for p in STRENGTH_PAIRS])  # type: ignore[misc]
    judge = Judge() if {"quality", "strength"} - set(args.skip) else None
    if judge is not None and "quality" not in args.skip:
        rows = []
        for photo in PHOTOS:
            for painting in PAINTINGS:
                rows.append({"pair": f"{photo}:{painting}", **distances(judge, photo, painting, args.quality_size)})
                print(json.dumps(rows[-1]), file=sys.stderr)
        content = [r["content"] for r in rows]
        style = [r["style"] for r in rows]
        report["quality"] = {
            "size": args.quality_size,
            "strength": 0.5,
            "pairs": rows,
            "content": [min(content), statistics.median(content), max(content)],
            "style": [min(style), statistics.median(style), max(style)],
        }
    if judge is not None and "strength" not in args.skip:
        rows = []
        for pair in STRENGTH_PAIRS:
            photo, painting = pair.split(":")
            for s in args.strengths:
                rows.append({"pair": pair, "strength": s, **distances(judge, photo, painting, args.quality_size, s)})
                print(json.dumps(rows[-1]), file=sys.stderr)
        report["strength"] = {
            "exponent": fast.STRENGTH_EXPONENT,
            "rows": rows,
            "mean_content_over_strength": {
                str(s): round(statistics.mean(r["content"] / s for r in rows if r["strength"] == s), 3)
                for s in args.strengths
            },
        }
    report["load_average_end"] = os.getloadavg()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
