"""benchmarks/quantization.py's parts: 1-D k-means, the quantised network as usable weights (tiny, no real model)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from helpers import random_vgg_weights
from restyle.features import weights as registry
from restyle.features.convert import read_weights

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load("quantization")


def test_lloyd_converges_to_a_fixed_point_of_contiguous_clusters() -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(-1, 0.1, 500), rng.normal(2, 0.1, 700), rng.normal(0.5, 0.05, 300)])
    labels, centroids, iterations = bench.lloyd_1d(values, k=8)
    assert 1 < iterations < 10_000 and labels.shape == values.shape and centroids.shape == (8,)
    assert np.all(np.diff(centroids) >= 0)
    for c in np.unique(labels):  # each centroid is its cluster's mean, each value at its nearest centroid
        assert np.isclose(centroids[c], values[labels == c].mean())
    nearest = np.abs(values[:, None] - centroids[None, :]).min(axis=1)
    assert np.allclose(np.abs(values - centroids[labels]), nearest)
    # three well-separated groups and three clusters: the groups' means
    _, three, _ = bench.lloyd_1d(values, k=3)
    groups = [values[:500].mean(), values[1200:].mean(), values[500:1200].mean()]  # in value order
    assert np.allclose(three, groups, atol=1e-9)


def test_quantize_kernel_is_pastiches_layout() -> None:
    w = torch.randn(16, 8, 3, 3, generator=torch.Generator().manual_seed(1))
    index, table, stats = bench.quantize_kernel(w, "lloyd")
    assert index.dtype == torch.uint8 and index.shape == w.shape and table.shape == (256,)
    q = table[index.long()]
    assert torch.unique(q).numel() <= 256
    assert float((q - w).norm() / w.norm()) < 0.02  # 1152 values on 256 levels
    assert stats["method"] == "lloyd" and stats["sse"] >= 0


def test_quantized_vgg16_is_usable_as_weights(tmp_path: Path) -> None:
    pristine = random_vgg_weights()
    pristine.provenance = {"entry": "vgg16", "source_sha256": "ab" * 32}
    quantized, layers = bench.quantize_weights(pristine, "lloyd")
    assert set(layers) == {k.removesuffix(".weight") for k in pristine.state if k.endswith(".weight")}
    assert all(s["distinct_values"] <= 256 and s["weight_rel_error"] < 0.05 for s in layers.values())
    assert torch.equal(quantized.state["conv3_1.bias"], pristine.state["conv3_1.bias"])
    assert registry.is_quantized(quantized) and not registry.is_quantized(pristine)
    out = tmp_path / "vgg16-q.safetensors"
    bench.save_safetensors(quantized, out)
    w, description = registry.load(weights_path=out)  # what --weights does
    assert w.arch == "vgg16" and torch.equal(w.state["conv5_3.weight"], quantized.state["conv5_3.weight"])
    assert w.provenance["quantized"] is True and w.provenance["source_sha256"] == "ab" * 32
    assert "k-means" in w.provenance["quantization"] and w.provenance["file_sha256"] == registry.sha256_file(out)
    assert read_weights(out).provenance == quantized.provenance
