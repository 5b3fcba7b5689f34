"""The unit every timing is compared with: one plain fp32 VGG16 step at the run's size.

A **plain step** is a forward of VGG16 (Caffe weights) fp32 channels-last to relu5_1 and the
gradient of its sum with respect to the input: what plain PyTorch does for one step, without the
losses, the optimiser or anything restyle adds. Two ways to time it:

* :class:`PlainStep` in this process, which restyle has tuned once a Stylizer exists (the C
  allocator keeps freed blocks: ``restyle.engine.allocator``), so it shares the run's conditions;
* :class:`ChildPlainStep` in a child process that restyle never tunes: a plain PyTorch process, as
  the issue's "plain PyTorch fp32 channels-last" step. It is called in turn with the run's own steps
  (each waits for the other), so both see the same machine load.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import statistics
import time
from typing import Any

import numpy as np
import torch

from restyle.engine.allocator import ENV as ALLOCATOR_ENV
from restyle.features import weights as registry
from restyle.features.vgg import VGGFeatures


def spread(xs: list[float], ndigits: int | None = None) -> dict[str, Any]:
    """Median, min, max and every sample (seconds; rounded to ``ndigits`` when given) and the count."""
    r = (lambda v: v) if ndigits is None else (lambda v: round(v, ndigits))
    return {
        "median": r(statistics.median(xs)),
        "min": r(min(xs)),
        "max": r(max(xs)),
        "n": len(xs),
        "all": [r(v) for v in xs],
    }


class PlainStep:
    """A forward of VGG16 fp32 channels-last to relu5_1 and the input gradient of its sum."""

    def __init__(self, weights: Any = None, dtype: torch.dtype = torch.float32) -> None:
        if weights is None:
            weights, _ = registry.load("vgg16", None)
        self.net = VGGFeatures(weights, ["relu5_1"], dtype=dtype)

    def __call__(self, x: torch.Tensor) -> float:
        """Seconds of one plain step at ``x``'s size (``(1, 3, H, W)`` in [0, 1])."""
        t = time.perf_counter()
        y = x.detach().clone().requires_grad_(True)
        self.net(y)["relu5_1"].sum().backward()
        return time.perf_counter() - t


def _serve(conn: Any, threads: int) -> None:
    """The child's loop: an image in, the seconds of one plain step on it out; None ends it."""
    if threads:
        torch.set_num_threads(threads)
    step = PlainStep()
    while (pixels := conn.recv()) is not None:
        conn.send(step(torch.from_numpy(pixels)))


class ChildPlainStep:
    """:class:`PlainStep` in a child process with the C allocator as every process starts with it."""

    def __init__(self, threads: int = 0) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        saved = os.environ.get(ALLOCATOR_ENV)
        os.environ[ALLOCATOR_ENV] = "0"  # inherited by the child only: restyle leaves its allocator alone
        try:
            self._proc = ctx.Process(target=_serve, args=(child, threads), daemon=True)
            self._proc.start()
        finally:
            if saved is None:
                del os.environ[ALLOCATOR_ENV]
            else:
                os.environ[ALLOCATOR_ENV] = saved

    def __call__(self, x: torch.Tensor) -> float:
        """Seconds of one plain step in the child (the transfer is not timed)."""
        self._conn.send(np.ascontiguousarray(x.detach().float().cpu().numpy()))
        return self._conn.recv()

    def close(self) -> None:
        """End the child."""
        self._conn.send(None)
        self._proc.join(timeout=30)

    def __enter__(self) -> ChildPlainStep:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
