"""``restyle run`` and ``restyle sweep`` with ``--executor ray`` on a local 2-CPU Ray instance."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import make_image
from restyle.io.image import write_image

ray = pytest.importorskip("ray", reason="Ray is an optional extra (pip install -e '.[ray]'); its tests need it")


@pytest.fixture(scope="module", autouse=True)
def ray_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One local Ray instance (2 CPUs, no dashboard) for the module; the commands use it instead of their own."""
    src = str(Path(__file__).resolve().parents[2] / "src")
    path = os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    cache = str(tmp_path_factory.mktemp("ray-cache"))
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": path, "RESTYLE_CACHE_DIR": cache}},
    )
    yield
    ray.shutdown()


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Path]:
    """photos/ with a.png, b.png and broken.png; styles/ with s1.png."""
    photos, styles = tmp_path / "photos", tmp_path / "styles"
    photos.mkdir()
    styles.mkdir()
    write_image(photos / "a.png", make_image(48, 40, 1))
    write_image(photos / "b.png", make_image(40, 48, 3))
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    write_image(styles / "s1.png", make_image(40, 40, 2))
    return {"photos": photos, "styles": styles}


def test_run_batch_on_ray(cli, folders, fast, tmp_path) -> None:
    args = ["run", folders["photos"], "--style", folders["styles"], "-o", "out", *fast, "--executor", "ray"]
    result = cli(*args, "--workers", "2", "--json", "batch.json")
    assert result.exit_code == 2, result.stderr  # the broken photo
    assert "2 done, 1 failed" in result.stderr and "broken.png" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a__s1.png", "b__s1.png"]
    assert json.loads((tmp_path / "batch.json").read_text())["counts"] == {"done": 2, "failed": 1}
    result = cli(*args)
    assert result.exit_code == 2 and "2 skipped, 1 failed" in result.stderr


def test_sweep_on_ray(cli, folders, fast, tmp_path) -> None:
    content, style = folders["photos"] / "a.png", folders["styles"] / "s1.png"
    args = ["sweep", content, style, "--vary", "style_weight=1,10", "--vary", "tv_weight=0,1", "-o", "sw", *fast]
    result = cli(*args, "--executor", "ray", "--cell-size", "32")
    assert result.exit_code == 0, result.stderr
    assert "4 run, 0 resumed" in result.stderr
    assert (tmp_path / "sw" / "sheet.png").is_file()


def test_single_bad_input_on_ray_is_one_error_line(cli, folders, fast, one_error_line) -> None:
    args = ["run", folders["photos"] / "broken.png", folders["styles"] / "s1.png", "-o", "x.png", *fast]
    one_error_line(cli(*args, "--executor", "ray"), "broken.png")
