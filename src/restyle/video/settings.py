"""``VideoSettings``: what a video run sets beyond a frame's :class:`~restyle.config.RunConfig`.

Each frame is an ordinary run with a RunConfig (every ``restyle run`` flag applies to it); these
fields say which frames, and how they are tied together. Like RunConfig's, each field declares
its help text and bounds in its metadata, from which ``restyle video`` builds its flags.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields
from typing import Any

from restyle.errors import ConfigError

#: Optical-flow methods (``flow`` setting; :mod:`restyle.video.flow`).
FLOW_METHODS = ("dis", "farneback")

#: Temporal weight of the consistent mode. Measured (benchmarks/video.py, README): 5x less temporal error
#: than independent frames, with style and content terms as low as theirs.
DEFAULT_TEMPORAL_WEIGHT = 200.0
#: Iterations of each frame after the first (it starts from the warped previous frame). Measured: 10 and 20
#: later-frame steps both cut the temporal error 5x against full independent frames; 20 also ends with a lower
#: style term than those (10 as low), at 0.6x a full frame's time.
DEFAULT_FRAME_ITERATIONS = 20


def _f(default: Any, help: str, **meta: Any) -> Any:
    return field(default=default, metadata={"help": help, **meta})


@dataclass(frozen=True)
class VideoSettings:
    """Which frames of a clip are stylised and how each frame is tied to the one before."""

    temporal_weight: float = _f(
        DEFAULT_TEMPORAL_WEIGHT,
        "Weight of the temporal term (Ruder et al. 2016): each frame starts from the previous stylised frame "
        "warped along the optical flow and is pulled towards it outside occlusions; 0: every frame on its own "
        "(the flickering baseline).",
        ge=0,
    )
    start: float = _f(0.0, "Start of the part to stylise, seconds from the clip's start.", ge=0)
    end: float | None = _f(None, "End of the part to stylise, seconds (default: the clip's end).", gt=0)
    every: int = _f(
        1, "Stylise every Nth frame; each is shown until the next (frame rate and duration stay).", ge=1, le=1000
    )
    frame_iterations: int = _f(
        DEFAULT_FRAME_ITERATIONS,
        "Iterations of each frame after the first (these start close to the answer); the first frame runs the "
        "full --iterations x --scales.",
        ge=1,
    )
    frame_scales: int = _f(1, "Pyramid scales of each frame after the first.", ge=1, le=8)
    flow: str = _f("dis", "Optical flow: dis (OpenCV's DIS, fast) or farneback.", choices=FLOW_METHODS)

    def validate(self) -> VideoSettings:
        """Raise ConfigError naming the first bad value; return self."""
        for f in fields(self):
            value, meta = getattr(self, f.name), f.metadata
            if value is None:
                continue
            if "choices" in meta and value not in meta["choices"]:
                raise ConfigError(f"{f.name} must be one of {', '.join(meta['choices'])}, got {value!r}")
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{f.name} must be a finite number, got {value!r}")
            if ("ge" in meta and value < meta["ge"]) or ("gt" in meta and value <= meta["gt"]):
                raise ConfigError(f"{f.name} must be {'≥' if 'ge' in meta else '>'} {meta.get('ge', meta.get('gt'))}")
            if "le" in meta and value > meta["le"]:
                raise ConfigError(f"{f.name} must be ≤ {meta['le']}, got {value!r}")
        if self.end is not None and self.end <= self.start:
            raise ConfigError(f"end ({self.end:g} s) must come after start ({self.start:g} s)")
        return self

    def replace(self, **changes: Any) -> VideoSettings:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes).validate()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of every field."""
        return dataclasses.asdict(self)
