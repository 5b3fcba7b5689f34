"""``RunConfig``: every setting of a run, the single source of CLI flags, presets and JSON sidecars.

Each field's ``metadata["help"]`` is the flag's help text; the CLI builds its options from
these fields, so the library API and the command line cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field, fields
from typing import Any

from restyle.errors import ConfigError, suggest

DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
OPTIMIZERS = ("lbfgs", "adam")
POOLINGS = ("max", "avg")
#: Loss formulas: restyle's own (relative, none) and the exact ones of the sources the presets follow.
NORMALIZATIONS = ("relative", "none", "neural-style", "gatys", "cs20", "keras", "tf-tutorial")
IMAGE_FITS = ("stretch", "crop")
DEVICES = ("auto", "cpu", "cuda")
ALPHA_MODES = ("keep", "composite")
#: Largest longest side accepted (print resolution: 16384 px = A1 at 600 dpi, roughly).
MAX_SIZE = 16384


def _f(default: Any, help: str, **kw: Any) -> Any:
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class RunConfig:
    """All settings of one stylisation. Defaults give a good result on CPU in a few minutes."""

    # --- recipe
    preset: str | None = _f(None, "Start from a named recipe (sbavon, cs20, ryanwu, tf-tutorial, gatys2016, "
                            "neural-style; see `restyle presets`); flags given explicitly override its values.")
    # --- model
    model: str = _f("auto", "Weights: vgg16, vgg19, vgg16-torchvision, vgg19-caffe, or auto "
                    "(vgg19 if cached, else vgg16).")
    weights: str | None = _f(None, "Weights file (.pth, .safetensors, .onnx, .h5, .mat); overrides --model.")
    pooling: str = _f("max", "Pooling in the VGG: max or avg (Gatys 2016 uses avg).")
    # --- objective
    content_layers: dict[str, float] = _f({"relu4_2": 1.0}, "Content layers with optional weights, "
                                          "e.g. relu4_2 or conv4_2:1,conv5_2:0.5 (block4_conv2 also accepted).")
    style_layers: dict[str, float] = _f({n: 1.0 for n in DEFAULT_STYLE_LAYERS},
                                        "Style layers with optional weights, e.g. relu1_1:1,relu2_1:0.5.")
    content_weight: float = _f(1.0, "Weight α of the content term.")
    style_weight: float = _f(10.0, "Weight β of the style term.")
    tv_weight: float = _f(0.1, "Weight γ of the total-variation (smoothness) term.")
    tv_exponent: float = _f(1.0, "Exponent β of TV: mean((dx²+dy²)^β); 1.25 is the Keras form.")
    normalize: str = _f("relative", "Loss formulas: relative (each term divided by its target's size), none "
                        "(plain means), or a source's own: neural-style, gatys, cs20, keras, tf-tutorial.")
    # --- optimisation
    optimizer: str = _f("lbfgs", "Optimiser: lbfgs or adam.")
    lr: float | None = _f(None, "Learning rate (default 1 for L-BFGS, 0.02 for Adam).")
    adam_beta1: float = _f(0.9, "Adam β1.")
    adam_beta2: float = _f(0.999, "Adam β2.")
    adam_eps: float = _f(1e-8, "Adam ε.")
    lbfgs_history: int = _f(50, "L-BFGS history size (memory: 2 images per step kept).")
    iterations: int = _f(200, "Iterations at the final scale (coarser scales use the same number).")
    scales: int = _f(3, "Pyramid scales: 1 optimises at --size only; each extra scale halves the size first.")
    init: str = _f("content", "Start image: content, noise, mix:R (R·noise + (1-R)·content), or an image path.")
    noise: str = _f("unit", "Noise of --init noise/mix: unit (uniform 0-1 per pixel), uniform:A (mean pixel ± A) "
                    "or normal:S (mean pixel + N(0, S²)); A and S in 0-255 units.")
    seed: int = _f(0, "Random seed (noise init); the same seed gives the same result.")
    # --- sizes and device
    size: int = _f(512, "Longest side of the output in pixels.")
    image_size: str | None = _f(None, "Resize content and style to exactly WxH pixels (Wx or xH: the other side "
                                "follows the content's aspect); replaces --size.")
    image_fit: str = _f("stretch", "How --image-size meets another aspect ratio: stretch, or crop (centre) first.")
    style_scale: float = _f(1.0, "Style image's longest side relative to --size.")
    device: str = _f("auto", "cpu, cuda, or auto (cuda when available).")
    save_every: int = _f(0, "Write an intermediate image every N iterations (0: never).")
    checkpoint_every: int = _f(0, "Write a resumable checkpoint every N iterations (0: only on Ctrl-C/SIGTERM).")
    # --- input/output images
    alpha: str = _f("keep", "Transparent inputs: keep (restore the alpha on output) or composite (on --background).")
    background: str = _f("#ffffff", "Background colour for --alpha composite (#rrggbb or a colour name).")
    bit_depth: int = _f(8, "Bits per channel of the output: 8, or 16 (PNG/TIFF only).")

    # ------------------------------------------------------------------ helpers
    def validate(self) -> RunConfig:
        """Raise ConfigError naming the first bad value; return self for chaining."""
        _choice("pooling", self.pooling, POOLINGS)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("normalize", self.normalize, NORMALIZATIONS)
        _choice("image_fit", self.image_fit, IMAGE_FITS)
        if self.preset is not None:
            from restyle.presets import get_preset

            get_preset(self.preset)
        parse_noise(self.noise)
        if self.image_size is not None:
            parse_image_size(self.image_size)
        _choice("device", self.device, DEVICES)
        for name in ("content_weight", "style_weight", "tv_weight", "adam_eps"):
            _non_negative(name, getattr(self, name))
        if self.lr is not None and not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr must be a positive number, got {self.lr}")
        if not (math.isfinite(self.tv_exponent) and 0.5 <= self.tv_exponent <= 4):
            raise ConfigError(f"tv_exponent must be between 0.5 and 4, got {self.tv_exponent}")
        for name in ("adam_beta1", "adam_beta2"):
            v = getattr(self, name)
            if not (0 <= v < 1):
                raise ConfigError(f"{name} must be in [0, 1), got {v}")
        if self.iterations < 1:
            raise ConfigError(f"iterations must be at least 1, got {self.iterations}")
        if not 1 <= self.scales <= 8:
            raise ConfigError(f"scales must be between 1 and 8, got {self.scales}")
        if self.lbfgs_history < 1:
            raise ConfigError(f"lbfgs_history must be at least 1, got {self.lbfgs_history}")
        if not 16 <= self.size <= MAX_SIZE:
            raise ConfigError(f"size must be between 16 and {MAX_SIZE} pixels, got {self.size}")
        if not (math.isfinite(self.style_scale) and 0.05 <= self.style_scale <= 8):
            raise ConfigError(f"style_scale must be between 0.05 and 8, got {self.style_scale}")
        for name in ("save_every", "checkpoint_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 or more, got {getattr(self, name)}")
        _choice("alpha", self.alpha, ALPHA_MODES)
        parse_colour(self.background)
        if self.bit_depth not in (8, 16):
            raise ConfigError(f"bit_depth must be 8 or 16, got {self.bit_depth}")
        parse_init(self.init)
        if not self.style_layers and not self.content_layers:
            raise ConfigError("no content and no style layers: nothing to optimise")
        for kind in ("content_layers", "style_layers"):
            layers = getattr(self, kind)
            for n, w in layers.items():
                _non_negative(f"{kind} weight of {n}", w)
            if layers and sum(layers.values()) <= 0:
                raise ConfigError(f"{kind}: the layer weights sum to 0")
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of every field."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """The config as JSON (stored in output PNGs and sidecars)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """Build from a dict of field values (strings are parsed as on the command line)."""
        return cls().replace(**d)

    def replace(self, **overrides: Any) -> RunConfig:
        """A copy with some fields changed; values may be strings as typed on the command line.

        ``preset=NAME`` first applies that preset's values (see :mod:`restyle.presets`), then the
        other overrides on top, so explicitly given settings always win. Giving ``size`` without
        ``image_size`` clears a fixed ``image_size`` (from a preset or the base): the longest side
        asked for is what the run uses.
        """
        names = {f.name for f in fields(self)}
        parsed = {}
        for key, value in overrides.items():
            k = key.replace("-", "_")
            if k not in names:
                raise ConfigError(f"unknown setting {key!r}{suggest(k, names)}")
            parsed[k] = coerce(k, value)
        base = self
        if parsed.get("preset") is not None:
            from restyle.presets import get_preset

            base = dataclasses.replace(self, **get_preset(parsed["preset"]).values)
        if "size" in parsed and "image_size" not in parsed:
            parsed["image_size"] = None
        return dataclasses.replace(base, **parsed)


def field_names() -> list[str]:
    """Names of all RunConfig fields in declaration order."""
    return [f.name for f in fields(RunConfig)]


_TYPES: dict[str, str] = {f.name: str(f.type) for f in fields(RunConfig)}


def coerce(name: str, value: Any) -> Any:
    """Convert a value (often a CLI string) to the type of field ``name``; ConfigError if impossible."""
    kind = _TYPES[name]
    if kind.startswith("dict"):
        return parse_layers(value, name) if isinstance(value, str) else {str(k): float(v) for k, v in value.items()}
    if "None" in kind and (value is None or (isinstance(value, str) and value.strip().lower() in ("", "none"))):
        return None  # "none" on the command line clears an optional setting (e.g. a preset's --image-size)
    if value is None:
        raise ConfigError(f"{name} needs a value")
    if kind.startswith("float"):
        return _number(name, value, float)
    if kind.startswith("int"):
        return _number(name, value, int)
    return str(value)


def _number(name: str, value: Any, typ: type) -> Any:
    try:
        if typ is int and isinstance(value, str):
            f = float(value)
            if not f.is_integer():
                raise ValueError
            return int(f)
        return typ(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{name} must be {'an integer' if typ is int else 'a number'}, got {value!r}") from None


_LAYER = re.compile(r"^[a-z]+\d(_(conv)?\d)?$|^block\d_(conv\d|pool)$")


def parse_layers(spec: str, what: str = "layers") -> dict[str, float]:
    """Parse ``"name[:weight],name[:weight]..."`` into ``{name: weight}`` (weight defaults to 1).

    Only syntax is checked here; names are checked against the model when it is known.
    An empty string means no layers.
    """
    out: dict[str, float] = {}
    items = [s.strip() for s in spec.split(",")]
    if spec.strip() and "" in items:
        raise ConfigError(f"{what}: empty entry in {spec!r}; separate layer names by single commas")
    for item in filter(None, items):
        name, colon, weight = item.partition(":")
        name = name.strip().lower()
        if not _LAYER.match(name):
            raise ConfigError(f"{what}: {item!r} is not a layer name like relu4_2 or conv1_1:0.5")
        if colon and not weight.strip():
            raise ConfigError(f"{what}: {item!r} has no weight after ':' (e.g. {name}:0.5)")
        w = _number(f"{what} weight of {name}", weight.strip(), float) if colon else 1.0
        _non_negative(f"{what} weight of {name}", w)
        if name in out:
            raise ConfigError(f"{what}: layer {name} is given twice")
        out[name] = w
    return out


def format_layers(layers: dict[str, float]) -> str:
    """Inverse of :func:`parse_layers` (weights of 1 omitted)."""
    return ",".join(n if w == 1 else f"{n}:{w:g}" for n, w in layers.items())


def parse_init(init: str) -> tuple[str, float | str | None]:
    """Split ``init`` into ``("content"|"noise"|"mix"|"file", argument)``."""
    if init in ("content", "noise"):
        return init, None
    if init.startswith("mix:"):
        r = _number("init mix ratio", init[4:], float)
        if not 0 <= r <= 1:
            raise ConfigError(f"init mix ratio must be between 0 and 1, got {r}")
        return "mix", r
    if init.startswith("mix"):
        raise ConfigError(f"init {init!r}: write mix:R with R between 0 and 1, e.g. mix:0.6")
    return "file", init


def parse_noise(spec: str) -> tuple[str, float]:
    """Split ``noise`` into ``("unit", 1)``, ``("uniform", A)`` or ``("normal", S)`` (A, S in 0-255 units)."""
    if spec == "unit":
        return "unit", 1.0
    kind, _, amount = spec.partition(":")
    if kind in ("uniform", "normal") and amount:
        a = _number(f"noise {kind} amount", amount, float)
        if not (math.isfinite(a) and 0 < a <= 255):
            raise ConfigError(f"noise {kind} amount must be in (0, 255] (0-255 pixel units), got {a:g}")
        return kind, a
    raise ConfigError(f"noise {spec!r}: use unit, uniform:A or normal:S, e.g. uniform:10")


_IMAGE_SIZE = re.compile(r"^(\d*)x(\d*)$")


def parse_image_size(spec: str) -> tuple[int | None, int | None]:
    """``"300x300"`` → (300, 300); ``"x720"`` → (None, 720); ``"640x"`` → (640, None)."""
    m = _IMAGE_SIZE.match(spec.strip().lower())
    if not m or not (m[1] or m[2]):
        raise ConfigError(f"image_size {spec!r}: write WxH, Wx or xH in pixels, e.g. 300x300 or x720")
    w, h = (int(v) if v else None for v in (m[1], m[2]))
    for side in (w, h):
        if side is not None and not 16 <= side <= MAX_SIZE:
            raise ConfigError(f"image_size {spec!r}: each side must be between 16 and {MAX_SIZE} pixels")
    return w, h


def parse_colour(colour: str) -> tuple[int, int, int]:
    """``#rrggbb``, ``#rgb`` or a CSS colour name → (r, g, b); ConfigError if unknown."""
    from PIL import ImageColor

    try:
        return ImageColor.getrgb(colour)[:3]
    except (ValueError, AttributeError):
        raise ConfigError(f"background {colour!r} is not a colour (use #rrggbb or a name like white)") from None


def _choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}{suggest(value, choices)}")


def _non_negative(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise ConfigError(f"{name} must be a finite number ≥ 0, got {value}")


def image_settings(config: RunConfig | dict[str, Any]) -> dict[str, Any]:  # TEMP until the config branch lands
    """The settings that change the result image (resume and skip compare these)."""
    d = config.to_dict() if isinstance(config, RunConfig) else config
    return {k: v for k, v in d.items() if k not in ("save_every", "checkpoint_every", "device")}


def sweepable_fields() -> list[str]:  # TEMP until the config branch lands
    """Fields a sweep may vary."""
    return [n for n in field_names() if n not in ("preset", "save_every", "checkpoint_every", "device")]


def configure(overrides: dict[str, Any], base: RunConfig | None = None) -> tuple[RunConfig, list[str]]:  # TEMP
    from restyle.presets import configure as _configure

    return _configure(overrides, base)
