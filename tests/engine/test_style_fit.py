"""``style_fit``: how the painting meets the photo's shape (stretch, crop, keep) and the size it is read at."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers import make_image
from restyle.config import RunConfig
from restyle.engine.inputs import STYLE_READ_MAX, fit_batch, fit_style, load_run_inputs, load_style
from restyle.engine.pyramid import resize
from restyle.engine.stylize import Stylizer
from restyle.io.image import ImageData, write_image

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = RunConfig(size=64, scales=1, iterations=3, optimizer="adam", lr=0.05, device="cpu")


def tall() -> torch.Tensor:
    """A (1, 3, 80, 40) painting: twice as tall as wide, top half red, bottom half blue."""
    p = torch.zeros(1, 3, 80, 40)
    p[:, 0, :40] = 1
    p[:, 2, 40:] = 1
    return p


def test_stretch_and_crop_give_the_contents_sides_keep_its_own_aspect() -> None:
    p = tall()
    assert fit_style(p, (64, 32), 1.0, "stretch").shape[-2:] == (32, 64)
    assert fit_style(p, (64, 32), 0.5, "stretch").shape[-2:] == (16, 32)
    assert fit_style(p, (64, 32), 1.0, "keep").shape[-2:] == (64, 32)  # its aspect, the longest side 64
    crop = fit_style(p, (64, 32), 1.0, "crop")
    assert crop.shape[-2:] == (32, 64)
    # the centre 40x20 of the painting (half red, half blue) resized: the crop keeps both colours equally
    assert torch.allclose(crop, resize(p[..., 30:50, :], (64, 32)))
    assert torch.equal(fit_batch(p, (40, 80)), resize(p, (40, 80)))


def test_stretch_keeps_the_paintings_colours_crop_drops_the_edges() -> None:
    wide = torch.zeros(1, 3, 20, 80)
    wide[:, 1, :, :10] = 1  # a green strip at the left edge only
    stretched = fit_style(wide, (32, 32), 1.0, "stretch")
    cropped = fit_style(wide, (32, 32), 1.0, "crop")
    assert float(stretched[:, 1].mean()) == pytest.approx(float(wide[:, 1].mean()), abs=0.02)
    assert float(cropped[:, 1].max()) == 0.0  # the centre square never sees the strip


def test_a_same_aspect_painting_is_the_same_whatever_the_fit() -> None:
    p = make_image(40, 30)[None]
    assert torch.equal(fit_style(p, (48, 36), 1.0, "stretch"), fit_style(p, (48, 36), 1.0, "keep"))


def test_the_style_is_read_large_enough_that_no_scale_upsamples_it(tmp_path: Path) -> None:
    path = tmp_path / "tall.png"
    write_image(path, tall()[0])  # 40 x 80 on disk
    content = ImageData(make_image(64, 32), None, 8, "<c>", (64, 32))
    small = load_style(path, 32, content, FAST.replace(style_fit="keep"))
    assert small.pixels.shape[1:] == (32, 16)
    # stretched to the content's 32 x 16 (at --size 32), its width must reach 32: read at twice the side
    big = load_style(path, 32, content, FAST.replace(style_fit="stretch"))
    assert big.pixels.shape[1:] == (64, 32)
    assert fit_style(big.pixels[None], (32, 16), 1.0, "stretch").shape[-2:] == (16, 32)
    # never more than STYLE_READ_MAX x the side, nor more than the file has
    narrow = tmp_path / "narrow.png"
    write_image(narrow, make_image(10, 80))  # needs 8x its side to reach a 64 x 8 content's width
    capped = load_style(narrow, 8, ImageData(make_image(64, 8), None, 8, "<c>", (64, 8)), FAST)
    assert max(capped.pixels.shape[1:]) == round(8 * STYLE_READ_MAX)
    whole = load_style(path, 60, ImageData(make_image(60, 20), None, 8, "<c>", (60, 20)), FAST)
    assert whole.pixels.shape[1:] == (80, 40)


def test_load_run_inputs_reads_styles_and_region_paintings_for_the_fit(tmp_path: Path) -> None:
    path = tmp_path / "tall.png"
    write_image(path, tall()[0])
    inputs = load_run_inputs(FAST.replace(size=32), make_image(64, 32), str(path))
    assert inputs.styles[0].pixels.shape[1:] == (64, 32)
    kept = load_run_inputs(FAST.replace(size=32, style_fit="keep"), make_image(64, 32), str(path))
    assert kept.styles[0].pixels.shape[1:] == (32, 16)


@pytest.mark.parametrize("fit", ["stretch", "crop", "keep"])
def test_the_run_targets_the_fitted_paintings_grams(tiny_weights, fit: str) -> None:
    content, painting = make_image(64, 32, 1), make_image(30, 60, 2)
    stylizer = Stylizer(FAST.replace(style_fit=fit), weights=tiny_weights)
    result = stylizer.run(content, painting)
    h, w = result.pixels.shape[1:]
    expected = stylizer.loss.style_targets([fit_style(painting[None], (w, h), 1.0, fit)])
    for name, gram in stylizer.loss.targets.style.items():
        assert torch.allclose(gram, expected.style[name], rtol=1e-5, atol=1e-7), name


def test_fits_differ_on_another_aspect_and_the_default_stretches(tiny_weights) -> None:
    assert RunConfig().style_fit == "stretch"
    content, painting = make_image(64, 32, 1), make_image(30, 60, 2)
    out = {
        f: Stylizer(FAST.replace(style_fit=f), weights=tiny_weights).run(content, painting).pixels
        for f in ("stretch", "keep")
    }
    assert not torch.equal(out["stretch"], out["keep"])
