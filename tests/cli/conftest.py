"""Fixtures for CLI tests: tiny images, fast run flags, an in-process runner and the one-line-error check."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from helpers import make_image
from restyle.cli.app import app
from restyle.io.image import write_image

_LOADED: dict[str, object] = {}


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Every CLI test runs on one torch thread (see ``one_thread`` in tests/conftest.py)."""


@pytest.fixture
def images(tmp_path: Path) -> dict[str, Path]:
    """A content (48x40) and a style (40x40) PNG in ``tmp_path/in``."""
    folder = tmp_path / "in"
    folder.mkdir()
    paths = {"content": folder / "content.png", "style": folder / "style.png"}
    write_image(paths["content"], make_image(48, 40, seed=1))
    write_image(paths["style"], make_image(40, 40, seed=2))
    return paths


@pytest.fixture
def fast(tiny_weights_file: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Flags for a run that takes well under a second: 32 px, 2 Adam steps, shallow layers, random weights.

    Loading the random weights file is memoised for the session (the reading itself is tested elsewhere).
    """
    from restyle.features import weights as registry

    original = registry.load

    def load(model: str = "auto", weights_path: str | None = None):  # noqa: ANN202
        if weights_path != str(tiny_weights_file):
            return original(model, weights_path)
        if weights_path not in _LOADED:
            _LOADED[weights_path] = original(model, weights_path)
        return _LOADED[weights_path]

    monkeypatch.setattr(registry, "load", load)
    return [
        "--weights",
        str(tiny_weights_file),
        "--size",
        "32",
        "--scales",
        "1",
        "--iterations",
        "2",
        "--optimizer",
        "adam",
        "--style-layers",
        "relu1_1,relu2_1",
        "--content-layers",
        "relu2_2",
        # A fixed weight: --strength's calibration probes would be most of such a short run's work (and they
        # are tested in tests/engine/test_strength.py and by test_default_run_calibrates_the_style_weight).
        "--style-weight",
        "10",
    ]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., Result]:
    """``cli("run", "a.png", ...)`` runs the restyle CLI in-process, in ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, [str(a) for a in args])

    return invoke


def assert_one_error_line(result: Result, *needles: str) -> str:
    """Exit code 2, no traceback, and stderr is exactly one ``error: ...`` line containing each needle."""
    assert result.exit_code == 2, (result.exit_code, result.stderr, result.exception)
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture
def one_error_line() -> Callable[..., str]:
    """The :func:`assert_one_error_line` check, as a fixture."""
    return assert_one_error_line


def files_in(folder: Path) -> set[str]:
    """Names of all files under ``folder`` (relative), hidden temp files included."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def listing() -> Callable[[Path], set[str]]:
    """The :func:`files_in` helper, as a fixture."""
    return files_in
