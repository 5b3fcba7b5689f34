"""A memo of loss targets shared between runs (sweep cells, batch pairs with the same painting).

Content features and style Grams depend only on the input pixels, the network (weights, pooling,
layers) and the loss mode; runs that differ in term weights, optimiser, iterations, init or seed
reuse them. The Stylizer asks the cache for each half of its :class:`~restyle.losses.perceptual.Targets`
at every scale, as pystiche's encoders cache per input; nothing is patched.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence

import torch

from restyle.losses.perceptual import PerceptualLoss, Targets, Tiler

#: Target sets kept (least recently used dropped first): bounds memory in long batches.
MAX_ENTRIES = 32
#: Bytes of targets kept: a print-size run's content features are large (relu4_2 of a 4096x3072
#: photo is 400 MB, its three scales' 528 MB), and a run needs only its current scale's. Older
#: sets are dropped first; a set larger than this on its own is used but not kept.
MAX_BYTES = 256 * 2**20


def targets_nbytes(targets: Targets) -> int:
    """Bytes of the tensors a :class:`Targets` holds."""
    tensors = [*targets.content.values(), *targets.style.values()]
    tensors += [r.mask for r in targets.regions] + [t for r in targets.regions for t in (r.style or {}).values()]
    if targets.rest is not None:
        tensors.append(targets.rest)
    return sum(t.numel() * t.element_size() for t in tensors)


def tensor_key(t: torch.Tensor) -> tuple[Hashable, ...]:
    """Shape, device and a digest of the values of ``t``: equal for equal tensors."""
    data = t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()
    return tuple(t.shape), str(t.device), hashlib.blake2b(data, digest_size=16).hexdigest()


class TargetCache:
    """Memo of :class:`Targets` halves keyed by input pixels, network and loss mode.

    Counters: ``computed`` / ``reused`` target sets, ``compute_s`` seconds spent computing and
    ``saved_s`` the seconds the reused sets took the first time.
    """

    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self._entries: OrderedDict[Hashable, tuple[Targets, float, int]] = OrderedDict()
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.computed = 0
        self.reused = 0
        self.compute_s = 0.0
        self.saved_s = 0.0

    def content(
        self, loss: PerceptualLoss, network: Hashable, image: torch.Tensor, tiler: Tiler | None = None
    ) -> Targets:
        """``loss.content_targets(image, tiler)``, computed once per distinct input and network."""
        key = (
            network,
            loss.normalize,
            loss.tv_exponent,
            "content",
            tuple(sorted(loss.content_layers)),
            tensor_key(image),
        )
        return self._get(key, lambda: loss.content_targets(image, tiler))

    def style(
        self,
        loss: PerceptualLoss,
        network: Hashable,
        images: Sequence[torch.Tensor],
        blend: Sequence[float] = (),
        tiler: Tiler | None = None,
    ) -> Targets:
        """``loss.style_targets(images, blend, tiler)``, computed once per distinct inputs, weights and network."""
        styles = tuple(tensor_key(s) for s in images)
        key = (network, loss.normalize, "style", tuple(sorted(loss.style_layers)), styles, tuple(blend))
        return self._get(key, lambda: loss.style_targets(images, blend, tiler))

    def stats(self) -> dict[str, float]:
        """The counters as a dict (for timings records)."""
        return {
            "targets_computed": self.computed,
            "targets_reused": self.reused,
            "targets_s": self.compute_s,
            "targets_saved_s": self.saved_s,
        }

    def _get(self, key: Hashable, compute: Callable[[], Targets]) -> Targets:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            self.reused += 1
            self.saved_s += entry[1]
            return entry[0]
        t0 = time.perf_counter()
        targets = compute()
        took = time.perf_counter() - t0
        self.computed += 1
        self.compute_s += took
        size = targets_nbytes(targets)
        if size > self.max_bytes:
            return targets
        self._entries[key] = (targets, took, size)
        while len(self._entries) > self.max_entries or self.nbytes > self.max_bytes:
            self._entries.popitem(last=False)
        return targets

    @property
    def nbytes(self) -> int:
        """Bytes of the target sets kept."""
        return sum(e[2] for e in self._entries.values())
