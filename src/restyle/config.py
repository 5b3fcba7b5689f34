"""``RunConfig``: every setting of a run, the single source of CLI flags, presets and JSON sidecars.

Each field declares itself in its metadata, so the library API, the command line and the
checks cannot drift apart:

* ``help``: the flag's help text (the CLI builds its options from these fields);
* ``choices``: the allowed values;
* ``ge``, ``gt``, ``le``, ``lt``: bounds of a number (≥, >, ≤, <); ``unit`` names them in messages.
  Float settings must always be finite;
* ``parse``: a parser of the field's string syntax (``init``, ``noise``, ...), called with the value;
  its ConfigError is the message;
* ``check``: any other rule, called with ``(name, value)`` (the layer weights);
* ``affects_image=False``: the setting changes how or where a run executes, never its result
  (``device``, ``save_every``, ``checkpoint_every``): :func:`image_settings` leaves it out;
* ``sweepable=False``: ``restyle sweep --vary`` refuses it (``preset``, which replaces the base
  itself). Settings that do not affect the image are never sweepable either.

:meth:`RunConfig.validate` is one loop over these declarations (plus one rule across fields).
"""

from __future__ import annotations

import dataclasses
import json
import math
import operator
import re
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Union, get_args, get_origin, get_type_hints

from PIL import ImageColor

from restyle.errors import ConfigError, suggest
from restyle.features.precision import PRECISIONS, resolve_precision
from restyle.presets import get_preset

DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
OPTIMIZERS = ("lbfgs", "adam")
POOLINGS = ("max", "avg")
#: Loss formulas: restyle's own (relative, none) and the exact ones of the sources the presets follow.
NORMALIZATIONS = ("relative", "none", "neural-style", "gatys", "cs20", "keras", "tf-tutorial")
IMAGE_FITS = ("stretch", "crop")
#: How the painting meets the photo's shape (``style_fit``).
STYLE_FITS = ("stretch", "crop", "keep")
DEVICES = ("auto", "cpu", "cuda")
#: How a picture is made: the optimisation (Gatys et al.), or one pass of the feed-forward network (restyle.fast).
METHODS = ("optimize", "fast")
ALPHA_MODES = ("keep", "composite")
BIT_DEPTHS = (8, 16)
#: ``preserve_color`` modes (Gatys et al. 2017, "Controlling Perceptual Factors", §5).
PRESERVE_COLORS = ("none", "luminance", "histogram")
#: ``mask_style`` entry that keeps the photo in its region (no style there).
KEEP = "keep"
#: Largest longest side accepted (print resolution: 16384 px = A1 at 600 dpi, roughly).
MAX_SIZE = 16384


# ---------------------------------------------------------------------------------- value syntaxes
# Defined before RunConfig: its fields name these parsers in their metadata.
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


def _non_negative(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0):
        raise ConfigError(f"{name} must be a finite number ≥ 0, got {value}")


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


def format_layers(layers: Mapping[str, float]) -> str:
    """Inverse of :func:`parse_layers` (weights of 1 omitted)."""
    return ",".join(n if w == 1 else f"{n}:{w:g}" for n, w in layers.items())


def format_value(value: Any) -> str:
    """A setting's value as typed on the command line (``-`` for None); the inverse of :func:`coerce`."""
    if value is None:
        return "-"
    if isinstance(value, Mapping):
        return format_layers(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _check_layer_weights(name: str, layers: Any) -> None:
    if not isinstance(layers, Mapping):
        raise ConfigError(f"{name} must map layer names to weights, got {layers!r}")
    for n, w in layers.items():
        _non_negative(f"{name} weight of {n}", w)
    if layers and sum(layers.values()) <= 0:
        raise ConfigError(f"{name}: the layer weights sum to 0")


def parse_init(init: str) -> tuple[str, float | str | None]:
    """Split ``init`` into ``("content"|"noise"|"fast"|"mix"|"file", argument)``."""
    if init in ("content", "noise", "fast"):
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
    try:
        return ImageColor.getrgb(colour)[:3]
    except (ValueError, AttributeError):
        raise ConfigError(f"background {colour!r} is not a colour (use #rrggbb or a name like white)") from None


def parse_blend(spec: str) -> tuple[float, ...]:
    """``"0.7,0.3"`` → (0.7, 0.3): non-negative weights of blended styles, not all zero."""
    items = [v.strip() for v in spec.split(",")]
    weights = tuple(_number("style_blend weight", v, float) for v in items)
    for w in weights:
        _non_negative("style_blend weight", w)
    if len(weights) < 2 or sum(weights) <= 0:
        raise ConfigError(f"style_blend {spec!r}: give one weight per style, at least two, not all 0 (e.g. 0.7,0.3)")
    return weights


def parse_list(spec: str) -> list[str]:
    """``"a.png, b.png"`` → ["a.png", "b.png"] (comma-separated paths of ``mask``/``mask_style``)."""
    items = [v.strip() for v in spec.split(",")]
    if not all(items):
        raise ConfigError(f"{spec!r}: empty entry; separate paths by single commas")
    return items


# ---------------------------------------------------------------------------------- the settings
_BOUNDS: dict[str, Callable[[Any, Any], bool]] = {
    "ge": operator.ge,
    "gt": operator.gt,
    "le": operator.le,
    "lt": operator.lt,
}
_META_KEYS = {"choices", "unit", "parse", "check", "affects_image", "sweepable", *_BOUNDS}


def _f(default: Any, help: str, **meta: Any) -> Any:
    """A field with its help text and constraints (keys: see the module docstring)."""
    if unknown := set(meta) - _META_KEYS:  # a typo (``gte=``) would silently drop a check
        raise TypeError(f"unknown field metadata {sorted(unknown)}")
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata={"help": help, **meta})
    return field(default=default, metadata={"help": help, **meta})


@dataclass
class RunConfig:
    """All settings of one stylisation. Defaults give a good result on CPU in a few minutes."""

    # --- recipe (its values land in the other fields; the name stays as the result's label)
    preset: str | None = _f(
        None,
        "Start from a named recipe (sbavon, cs20, ryanwu, tf-tutorial, gatys2016, "
        "neural-style; see `restyle presets`); flags given explicitly override its values.",
        parse=get_preset,
        sweepable=False,
    )
    method: str = _f(
        "optimize",
        "optimize (paint by optimisation: a minute or more, the best pictures) or fast (one pass of a "
        "feed-forward network, Ghiasi et al. 2017: under a second, weaker pictures; the optimisation's "
        "settings are ignored).",
        choices=METHODS,
    )
    # --- model
    model: str = _f(
        "auto",
        "Weights: vgg16, vgg19 (both offline), vgg16-torchvision, vgg19-torchvision, vgg19-caffe (downloads), "
        "or auto (the default network, vgg16).",
    )
    weights: str | None = _f(None, "Weights file (.pth, .safetensors, .onnx, .h5, .mat); overrides --model.")
    pooling: str = _f("max", "Pooling in the VGG: max or avg (Gatys 2016 uses avg).", choices=POOLINGS)
    # --- objective
    # relu2_2 at 0.3: a light structure term. relu4_2 alone lets the style redraw eyes and mouths (a 2-px
    # feature at the coarsest scale); benchmarks/README.md "Structure" has the measurements behind 0.3.
    content_layers: dict[str, float] = _f(
        {"relu4_2": 1.0, "relu2_2": 0.3},
        "Content layers with optional weights, e.g. relu4_2 or conv4_2:1,conv5_2:0.5 (block4_conv2 also accepted); "
        "a shallow layer (relu2_2) keeps the photo's fine structure: faces, edges.",
        check=_check_layer_weights,
    )
    style_layers: dict[str, float] = _f(
        {n: 1.0 for n in DEFAULT_STYLE_LAYERS},
        "Style layers with optional weights, e.g. relu1_1:1,relu2_1:0.5.",
        check=_check_layer_weights,
    )
    content_weight: float = _f(1.0, "Weight α of the content term.", ge=0)
    style_weight: float | None = _f(
        None,
        "Weight β of the style term, used as given (e.g. 10); none (the default): calibrated for --strength.",
        ge=0,
    )
    strength: float = _f(
        0.5,
        "How strongly to paint, 0-1, the same on every pair: without --style-weight, short runs at the coarsest "
        "scale calibrate the style weight until the content distance (0: the photo, 1: as far "
        "as the painting) is 0.7 x strength.",
        ge=0,
        le=1,
    )
    tv_weight: float = _f(0.1, "Weight γ of the total-variation (smoothness) term.", ge=0)
    tv_exponent: float = _f(1.0, "Exponent β of TV: mean((dx²+dy²)^β); 1.25 is the Keras form.", ge=0.5, le=4)
    normalize: str = _f(
        "relative",
        "Loss formulas: relative (each term divided by its target's size), none "
        "(plain means), or a source's own: neural-style, gatys, cs20, keras, tf-tutorial.",
        choices=NORMALIZATIONS,
    )
    # --- artist's controls
    preserve_color: str = _f(
        "none",
        "Keep the photo's colours: none; luminance (paint the luminance only and keep the photo's YCbCr chroma); "
        "histogram (match the painting's colour mean and covariance to the photo's first).",
        choices=PRESERVE_COLORS,
    )
    style_blend: str | None = _f(
        None,
        "Blend the --style images into one output with these weights, e.g. 0.7,0.3 (without it, several styles "
        "make a batch: one output per style).",
        parse=parse_blend,
    )
    mask: str | None = _f(
        None,
        "Region masks, comma-separated images the content's shape (white: the region); each region is painted "
        "in its --mask-style, the rest of the image in the main style.",
        parse=parse_list,
    )
    mask_style: str | None = _f(
        None, "For each --mask, the painting of its region, or keep (the photo stays there).", parse=parse_list
    )
    # --- optimisation
    optimizer: str = _f("lbfgs", "Optimiser: lbfgs or adam.", choices=OPTIMIZERS)
    lr: float | None = _f(None, "Learning rate (default 1 for L-BFGS, 0.02 for Adam).", gt=0)
    adam_beta1: float = _f(0.9, "Adam β1.", ge=0, lt=1)
    adam_beta2: float = _f(0.999, "Adam β2.", ge=0, lt=1)
    adam_eps: float = _f(1e-8, "Adam ε.", ge=0)
    ema: float = _f(
        0.0,
        "Adam only: the output is the moving average of the iterate with this decay (e.g. 0.99: about the "
        "last 100 steps), restarted at every scale; 0: the last iterate.",
        ge=0,
        lt=1,
    )
    lbfgs_history: int = _f(
        50, "L-BFGS history size (memory: 2 images per step kept; capped to 4 GB at print size).", ge=1
    )
    iterations: int = _f(
        60,
        "Iterations at the final scale; each coarser scale runs --coarse-factor times as many as the next finer "
        "one (a quarter of the cost per step), e.g. 60 and 1.25: 94, 75, 60 over three scales.",
        ge=1,
    )
    coarse_factor: float = _f(
        1.25, "Iterations of a scale relative to the next finer one (1: every scale runs --iterations).", ge=1, le=16
    )
    scales: int = _f(
        3, "Pyramid scales: 1 optimises at --size only; each extra scale halves the size first.", ge=1, le=8
    )
    photo_detail: float = _f(
        1.0,
        "How much of the photo's fine detail each finer pyramid scale starts with: 1 puts back the detail the "
        "coarser scale was too small to hold (eyes, mouths and edges stay where the photo has them), 0 starts "
        "from the coarser result enlarged.",
        ge=0,
        le=1,
    )
    tol: float = _f(
        1e-3,
        "Stop a scale early when its best total loss improved by less than this fraction over the last 10 steps "
        "((best 10 steps ago − best now) / best 10 steps ago < tol); 0: always run every iteration.",
        ge=0,
        lt=1,
    )
    init: str = _f(
        "content",
        "Start image: content, noise, mix:R (R·noise + (1-R)·content), fast (the feed-forward network's "
        "picture, as --method fast paints it), or an image path.",
        parse=parse_init,
    )
    noise: str = _f(
        "unit",
        "Noise of --init noise/mix: unit (uniform 0-1 per pixel), uniform:A (mean pixel ± A) "
        "or normal:S (mean pixel + N(0, S²)); A and S in 0-255 units.",
        parse=parse_noise,
    )
    seed: int = _f(0, "Random seed (noise init); the same seed gives the same result.")
    # --- sizes and device
    size: int = _f(512, "Longest side of the output in pixels.", ge=16, le=MAX_SIZE, unit="pixels")
    image_size: str | None = _f(
        None,
        "Resize content and style to exactly WxH pixels (Wx or xH: the other side "
        "follows the content's aspect); replaces --size.",
        parse=parse_image_size,
    )
    image_fit: str = _f(
        "stretch", "How --image-size meets another aspect ratio: stretch, or crop (centre) first.", choices=IMAGE_FITS
    )
    style_scale: float = _f(
        1.0,
        "Style image's size relative to the output's (its sides; its longest side with --style-fit keep).",
        ge=0.05,
        le=8,
    )
    style_fit: str = _f(
        "stretch",
        "How the painting meets the photo's shape: stretch (resized to it, as the quality report measures "
        "style), crop (centre-cropped to its aspect first: the strokes keep their shape) or keep (its own "
        "aspect, longest side as the output's: neural-style's).",
        choices=STYLE_FITS,
    )
    tile: int = _f(
        0,
        "Tile the steps of scales larger than N px (overlapping tiles, global style statistics: the same "
        "gradient, bounded memory); 0: tile only the scales whose step would not fit in memory.",
        ge=0,
        le=MAX_SIZE,
    )
    # bf16 rounds the features to 3 significant digits: the image differs a little from fp32's, so this
    # is an image setting; ``auto`` is resolved (to what this machine runs) before settings are compared.
    precision: str = _f(
        "auto",
        "Number format of the network: auto (bf16 where it is native: a CPU with AVX-512 BF16 or AMX, or a CUDA "
        "GPU with bf16; else fp32), fp32, or bf16 (~1.5-2x faster steps there, slower on other CPUs). The Gram "
        "matrices and losses are always fp32.",
        choices=PRECISIONS,
    )
    # Where the run executes, not what it computes: CPU and CUDA differ only by float rounding, and
    # "auto" names a different device on each machine, so results are reused across devices.
    device: str = _f("auto", "cpu, cuda, or auto (cuda when available).", choices=DEVICES, affects_image=False)
    save_every: int = _f(0, "Write an intermediate image every N iterations (0: never).", ge=0, affects_image=False)
    checkpoint_every: int = _f(
        0, "Write a resumable checkpoint every N iterations (0: only on Ctrl-C/SIGTERM).", ge=0, affects_image=False
    )
    # --- input/output images
    alpha: str = _f(
        "keep",
        "Transparent inputs: keep (restore the alpha on output) or composite (on --background).",
        choices=ALPHA_MODES,
    )
    background: str = _f(
        "#ffffff", "Background colour for --alpha composite (#rrggbb or a colour name).", parse=parse_colour
    )
    bit_depth: int = _f(8, "Bits per channel of the output: 8, or 16 (PNG/TIFF only).", choices=BIT_DEPTHS)

    # ------------------------------------------------------------------ helpers
    def validate(self) -> RunConfig:
        """Raise ConfigError naming the first bad value (in field order); return self for chaining."""
        for f in fields(self):
            _check_field(f, getattr(self, f.name))
        if not self.style_layers and not self.content_layers:
            raise ConfigError("no content and no style layers: nothing to optimise")
        masks, styles = (parse_list(v) if v else [] for v in (self.mask, self.mask_style))
        if len(masks) != len(styles):
            raise ConfigError(
                f"{len(masks)} --mask and {len(styles)} --mask-style: give one painting (or keep) per mask"
            )
        return self

    def scale_iterations(self, scales: int | None = None) -> list[int]:
        """Iterations of each of ``scales`` pyramid scales (default: ``self.scales``), coarse to fine.

        The final scale runs ``iterations``, each coarser one ``coarse_factor`` times the next finer.
        """
        n = self.scales if scales is None else scales
        return [max(1, round(self.iterations * self.coarse_factor ** (n - 1 - i))) for i in range(n)]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of every field."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """The config as JSON (stored in output PNGs and sidecars)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunConfig:
        """Build from a dict of field values (strings are parsed as on the command line)."""
        return cls().replace(**d)

    def replace(self, **overrides: Any) -> RunConfig:
        """A copy with some fields changed; values may be strings as typed on the command line.

        ``preset=NAME`` first applies that preset's values (see :mod:`restyle.presets`), then the
        other overrides on top, so explicitly given settings always win. Giving ``size`` without
        ``image_size`` clears a fixed ``image_size`` (from a preset or the base): the longest side
        asked for is what the run uses. A preset runs on :data:`~restyle.presets.SEED_BEHAVIOUR` (the
        schedule its numbers were written for: the same iterations at every scale, no ``tol``)
        unless it sets those values itself; every preset sets its ``style_weight``, so none is
        calibrated for ``strength``.
        """
        names = set(_TYPES)
        parsed = {}
        for key, value in overrides.items():
            k = key.replace("-", "_")
            if k not in names:
                raise ConfigError(f"unknown setting {key!r}{suggest(k, names)}")
            parsed[k] = coerce(k, value)
        base = self
        if parsed.get("preset") is not None:
            base = dataclasses.replace(self, **get_preset(parsed["preset"]).settings)
        if "size" in parsed and "image_size" not in parsed:
            parsed["image_size"] = None
        return dataclasses.replace(base, **parsed)


# ---------------------------------------------------------------------------------- field types
_SUPPORTED = (int, float, str, dict)


def _resolve(hint: Any) -> tuple[type, bool]:
    """``int`` → (int, False); ``str | None`` → (str, True); ``dict[str, float]`` → (dict, False)."""
    optional = False
    if get_origin(hint) in (Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        optional = len(args) < len(get_args(hint))
        if len(args) != 1:
            raise TypeError(f"unsupported RunConfig field type {hint}")
        hint = args[0]
    base = get_origin(hint) or hint
    if base not in _SUPPORTED:
        raise TypeError(f"unsupported RunConfig field type {hint}")
    return base, optional


#: Every field's value type (Optional and type parameters stripped) and whether it may be None.
_TYPES: dict[str, tuple[type, bool]] = {name: _resolve(h) for name, h in get_type_hints(RunConfig).items()}


def field_names() -> list[str]:
    """Names of all RunConfig fields in declaration order."""
    return [f.name for f in fields(RunConfig)]


def field_type(name: str) -> type:
    """The value type of field ``name``: int, float, str or dict (``None`` allowed or not)."""
    return _TYPES[name][0]


def sweepable_fields() -> list[str]:
    """Fields ``restyle sweep --vary`` may vary: all but ``sweepable=False`` and ``affects_image=False`` ones."""
    return [
        f.name for f in fields(RunConfig) if f.metadata.get("sweepable", True) and f.metadata.get("affects_image", True)
    ]


_NOT_IMAGE = frozenset(f.name for f in fields(RunConfig) if not f.metadata.get("affects_image", True))


def image_settings(config: RunConfig | Mapping[str, Any]) -> dict[str, Any]:
    """The settings that decide the result image: ``to_dict()`` without the ``affects_image=False`` fields.

    Equal image settings and equal inputs give the same image, so skip/resume keys compare these.
    ``precision: auto`` is replaced by the precision it resolves to on this machine.
    ``config`` may also be a stored config dict (image metadata, checkpoint, sweep record); keys
    this version does not know are kept, so such a dict never matches a current config by accident.
    """
    d = config.to_dict() if isinstance(config, RunConfig) else dict(config)
    # ``auto`` precision means what this machine runs (fp32 or bf16); records made before the setting
    # existed were computed in fp32.
    precision = d.get("precision", "fp32")
    d["precision"] = resolve_precision(precision, d.get("device", "auto")) if precision in PRECISIONS else precision
    return {k: v for k, v in d.items() if k not in _NOT_IMAGE}


def coerce(name: str, value: Any) -> Any:
    """Convert a value (often a CLI string) to the type of field ``name``; ConfigError if impossible."""
    typ, optional = _TYPES[name]
    if optional and (value is None or (isinstance(value, str) and value.strip().lower() in ("", "none"))):
        return None  # "none" on the command line clears an optional setting (e.g. a preset's --image-size)
    if value is None:
        raise ConfigError(f"{name} needs a value")
    if typ is dict:
        if isinstance(value, str):
            return parse_layers(value, name)
        if not isinstance(value, Mapping):
            raise ConfigError(f"{name} must be layers like relu4_2 or conv1_1:0.5, got {value!r}")
        return {str(k): _number(f"{name} weight of {k}", v, float) for k, v in value.items()}
    if typ in (int, float):
        return _number(name, value, typ)
    return str(value)


# ---------------------------------------------------------------------------------- validation
_TYPE_WORDS = {int: "an integer", float: "a number", str: "text", dict: "a map of layers to weights"}


def _has_type(value: Any, typ: type) -> bool:
    if isinstance(value, bool):  # bool is an int to Python, never a setting's value here
        return False
    if typ is float:
        return isinstance(value, int | float)
    return isinstance(value, Mapping) if typ is dict else isinstance(value, typ)


def _check_field(f: dataclasses.Field[Any], value: Any) -> None:
    """The rules declared in ``f``'s metadata, applied to ``value``; ConfigError naming both."""
    name, meta = f.name, f.metadata
    typ, optional = _TYPES[name]
    if value is None:
        if optional:
            return
        raise ConfigError(f"{name} needs a value")
    if not _has_type(value, typ):
        raise ConfigError(f"{name} must be {_TYPE_WORDS[typ]}, got {value!r}")
    if "choices" in meta and value not in meta["choices"]:
        hint = suggest(value, meta["choices"]) if isinstance(value, str) else ""
        raise ConfigError(f"{name} must be {_choices_text(meta['choices'])}, got {value!r}{hint}")
    bounds = {k: meta[k] for k in _BOUNDS if k in meta}
    finite = typ is not float or math.isfinite(value)
    if not (finite and all(_BOUNDS[k](value, b) for k, b in bounds.items())):
        raise ConfigError(f"{name} must be {_bounds_text(bounds, typ, meta.get('unit'))}, got {value!r}")
    if "parse" in meta:
        meta["parse"](value)
    if "check" in meta:
        meta["check"](name, value)


def _choices_text(choices: tuple[Any, ...]) -> str:
    """``one of max, avg`` for names; ``8 or 16`` for numbers."""
    if all(isinstance(c, str) for c in choices):
        return f"one of {', '.join(choices)}"
    *rest, last = (str(c) for c in choices)
    return f"{', '.join(rest)} or {last}" if rest else last


def _bounds_text(bounds: Mapping[str, float], typ: type, unit: str | None) -> str:
    """The rule in words: ``between 16 and 16384 pixels``, ``in [0, 1)``, ``at least 1``, ``a positive number``."""
    lo = next(((k, bounds[k]) for k in ("ge", "gt") if k in bounds), None)
    hi = next(((k, bounds[k]) for k in ("le", "lt") if k in bounds), None)
    unit = f" {unit}" if unit else ""
    noun = "an integer" if typ is int else "a finite number"
    if lo and hi:
        if (lo[0], hi[0]) == ("ge", "le"):
            return f"between {lo[1]:g} and {hi[1]:g}{unit}"
        return f"in {'[' if lo[0] == 'ge' else '('}{lo[1]:g}, {hi[1]:g}{']' if hi[0] == 'le' else ')'}{unit}"
    if lo == ("gt", 0):
        return "a positive integer" if typ is int else "a positive number"
    if lo:
        if typ is int:
            return f"at least {lo[1]:g}{unit}" if lo[0] == "ge" else f"more than {lo[1]:g}{unit}"
        return f"{noun} {'≥' if lo[0] == 'ge' else '>'} {lo[1]:g}{unit}"
    if hi:
        return f"{noun} {'≤' if hi[0] == 'le' else '<'} {hi[1]:g}{unit}"
    return noun


# ---------------------------------------------------------------------------------- building a run
def configure(overrides: Mapping[str, Any], base: RunConfig | None = None) -> tuple[RunConfig, list[str]]:
    """Build and validate the config of a run from explicitly given settings (e.g. CLI flags).

    ``overrides`` may hold ``preset``: its values are applied first, the other overrides on top.
    Returns the config and notes for the user (at most one line each; none today). A preset's
    weights (``vgg19``) are offline like the default's, so a preset always runs on its own network
    (before issue 26 it fell back to VGG16 when its VGG19 was not in the cache).
    """
    config = (base or RunConfig()).replace(**overrides).validate()
    notes: list[str] = []
    return config, notes
