"""``--executor`` without Ray: the base CLI imports and runs without it, and asks for the extra in one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from helpers import make_image
from restyle.io.image import write_image


def test_the_cli_does_not_import_ray() -> None:
    code = "import sys, restyle.cli.app; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_ray_missing_is_one_line_naming_the_extra(cli, one_error_line, tmp_path, monkeypatch, command) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    write_image(tmp_path / "c.png", make_image(16, 16))
    args = [command, tmp_path / "c.png", tmp_path / "c.png", "--executor", "ray"]
    if command == "sweep":
        args += ["--vary", "style_weight=1,2", "-o", "sw"]
    one_error_line(cli(*args), "pip install -e '.[ray]'")


def test_ray_options_need_the_ray_executor(cli, one_error_line, tmp_path) -> None:
    write_image(tmp_path / "c.png", make_image(16, 16))
    one_error_line(cli("run", tmp_path / "c.png", tmp_path / "c.png", "--workers", "2"), "--executor ray")
    one_error_line(cli("run", tmp_path / "c.png", tmp_path / "c.png", "--executor", "dask"), "local, ray")
