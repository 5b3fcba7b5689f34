"""Artist's controls: colour preservation, blended styles, region masks (Gatys et al. 2017)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers import make_image
from restyle.config import RunConfig
from restyle.engine import color
from restyle.engine.pyramid import resize
from restyle.engine.stylize import Stylizer
from restyle.errors import ConfigError, ImageError, RestyleError
from restyle.features import weights as registry
from restyle.io.image import write_image
from restyle.losses.functional import gram_matrix

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = RunConfig(size=48, scales=1, iterations=4, optimizer="adam", lr=0.05, device="cpu")


def stripes(width: int, height: int, period: int = 4) -> torch.Tensor:
    """A high-frequency painting: red/blue vertical stripes."""
    x = torch.arange(width)
    on = ((x // (period // 2)) % 2).float().view(1, 1, width).expand(1, height, width)
    return torch.cat([on, 0.2 * torch.ones_like(on), 1 - on])


# ------------------------------------------------------------------------------------------ colour
def test_ycbcr_round_trip_and_luminance() -> None:
    x = make_image(20, 16)[None]
    assert torch.allclose(color.ycbcr_to_rgb(color.rgb_to_ycbcr(x)), x, atol=1e-6)
    y = color.luminance(x)
    assert torch.equal(y[:, 0], y[:, 1]) and torch.equal(y[:, 1], y[:, 2])
    assert torch.allclose(color.with_chroma(y, x), x, atol=1e-5)  # its own luma and chroma: itself


def test_luminance_mode_keeps_the_photos_chroma(tiny_weights) -> None:
    # Colours away from the gamut's edge: there the new luma can push RGB out of [0, 1], and the clip shifts chroma.
    content, style = make_image(48, 40, 1) * 0.5 + 0.25, stripes(40, 40)
    config = FAST.replace(preserve_color="luminance", iterations=6)
    result = Stylizer(config, weights=tiny_weights).run(content, style)
    out = color.rgb_to_ycbcr(result.pixels[None])
    photo = color.rgb_to_ycbcr(resize(content[None], (result.pixels.shape[2], result.pixels.shape[1])))
    chroma = (out[:, 1:] - photo[:, 1:]).abs()
    assert chroma.mean() < 0.5 / 255 and chroma.quantile(0.99) < 2 / 255
    assert (out[:, 0] - photo[:, 0]).abs().mean() > 1 / 255  # while the luma was painted
    plain = Stylizer(FAST.replace(iterations=6), weights=tiny_weights).run(content, style)
    plain_chroma = (color.rgb_to_ycbcr(plain.pixels[None])[:, 1:] - photo[:, 1:]).abs().mean()
    assert plain_chroma > 10 * chroma.mean()  # without the mode the painting's colours come through


def test_luminance_events_show_colour(tiny_weights) -> None:
    seen = []
    result = Stylizer(FAST.replace(preserve_color="luminance"), weights=tiny_weights).run(
        make_image(48, 40, 1), stripes(40, 40), lambda e: seen.append(e.pixels())
    )
    assert not torch.equal(seen[-1][0], seen[-1][1])  # not grey: the preview is what the result will be
    assert seen[-1].shape == result.pixels.shape


def test_histogram_matching_moves_the_paintings_colour_statistics() -> None:
    content = make_image(40, 32, 3)[None] * 0.6 + 0.2  # inside (0, 1): no clipping to blur the check
    style = make_image(36, 36, 5)[None] * 0.5 + 0.25
    matched = color.match_histogram(style, content)
    flat_c, flat_m = content.flatten(2)[0].double(), matched.flatten(2)[0].double()
    assert torch.allclose(flat_m.mean(1), flat_c.mean(1), atol=2e-3)
    assert torch.allclose(torch.cov(flat_m), torch.cov(flat_c), atol=2e-3)
    assert matched.shape == style.shape


def test_histogram_mode_runs_on_the_matched_painting(tiny_weights) -> None:
    content, style = make_image(48, 40, 1), stripes(40, 40)
    a = Stylizer(FAST.replace(preserve_color="histogram"), weights=tiny_weights).run(content, style)
    matched = color.match_histogram(style[None], content[None])[0]
    b = Stylizer(FAST, weights=tiny_weights).run(content, matched)
    assert torch.allclose(a.pixels, b.pixels, atol=1e-5)


# ------------------------------------------------------------------------------------------ blend
def test_blend_one_zero_is_exactly_the_single_style(tiny_weights) -> None:
    content, s1, s2 = make_image(48, 40, 1), stripes(40, 40), make_image(40, 40, 7)
    single = Stylizer(FAST, weights=tiny_weights).run(content, s1)
    blended = Stylizer(FAST.replace(style_blend="1,0"), weights=tiny_weights).run(content, [s1, s2])
    assert torch.equal(blended.pixels, single.pixels)
    other = Stylizer(FAST.replace(style_blend="0,1"), weights=tiny_weights).run(content, [s1, s2])
    assert torch.equal(other.pixels, Stylizer(FAST, weights=tiny_weights).run(content, s2).pixels)


def test_blend_weights_mix_the_targets(tiny_weights) -> None:
    content, s1, s2 = make_image(48, 40, 1), stripes(40, 40), make_image(40, 40, 7)
    equal = Stylizer(FAST, weights=tiny_weights).run(content, [s1, s2])
    half = Stylizer(FAST.replace(style_blend="0.5,0.5"), weights=tiny_weights).run(content, [s1, s2])
    assert torch.allclose(equal.pixels, half.pixels, atol=1e-5)  # equal weights are the default blend
    mostly = Stylizer(FAST.replace(style_blend="0.9,0.1"), weights=tiny_weights).run(content, [s1, s2])
    assert not torch.allclose(mostly.pixels, half.pixels, atol=1e-3)


def test_blend_errors(tiny_weights) -> None:
    with pytest.raises(ConfigError, match="one weight per style"):
        RunConfig(style_blend="1").validate()
    with pytest.raises(ConfigError, match="must be a finite number"):
        RunConfig(style_blend="1,-1").validate()
    with pytest.raises(ConfigError, match="style_blend has 3 weights for 2 style images"):
        Stylizer(FAST.replace(style_blend="1,1,1"), weights=tiny_weights).run(
            make_image(48, 40), [stripes(40, 40), make_image(40, 40)]
        )


# ------------------------------------------------------------------------------------------ masks
def style_distance(image: torch.Tensor, painting: torch.Tensor, stylizer: Stylizer) -> float:
    """Σ over style layers of the relative Gram distance between ``image`` and ``painting``."""
    with torch.no_grad():
        fa, fb = stylizer.extractor(image[None]), stylizer.extractor(painting[None])
    total = 0.0
    for n in stylizer.style_layers:
        ga, gb = gram_matrix(fa[n]), gram_matrix(fb[n])
        total += float((ga - gb).square().mean() / gb.square().mean())
    return total


def test_a_mask_confines_the_style_to_its_region(real_vgg16: Path, tmp_path: Path) -> None:
    weights, _ = registry.load("vgg16", str(real_vgg16))
    w, h = 64, 48
    content = make_image(w, h, 2) * 0.3 + 0.35  # a calm photo
    painting = stripes(48, 48)
    mask = torch.zeros(3, h, w)
    mask[:, :, : w // 2] = 1  # the left half
    write_image(tmp_path / "mask.png", mask)
    write_image(tmp_path / "stripes.png", painting)
    config = RunConfig(
        size=w,
        scales=1,
        iterations=30,
        device="cpu",
        style_weight=100,
        tv_weight=0,
        style_layers={"relu1_1": 1.0, "relu2_1": 1.0},
        mask=str(tmp_path / "mask.png"),
        mask_style=str(tmp_path / "stripes.png"),
    )
    stylizer = Stylizer(config, weights=weights)
    result = stylizer.run(content, content)  # the main style is the photo itself: only the region changes
    left, right = result.pixels[:, :, : w // 2 - 4], result.pixels[:, :, w // 2 + 4 :]
    inside, outside = style_distance(left, painting, stylizer), style_distance(right, painting, stylizer)
    assert inside < 0.5 * outside, (inside, outside)
    photo = resize(content[None], (w, h))[0]
    assert (right - photo[:, :, w // 2 + 4 :]).abs().mean() < (left - photo[:, :, : w // 2 - 4]).abs().mean() / 3


def test_keep_leaves_its_region_as_the_photo(tiny_weights, tmp_path: Path) -> None:
    w, h = 48, 40
    content = make_image(w, h, 1)
    mask = torch.zeros(3, h, w)
    mask[:, :, w // 2 :] = 1
    write_image(tmp_path / "right.png", mask)
    lbfgs = FAST.replace(optimizer="lbfgs", lr=None, iterations=8)  # Adam moves every pixel by ~lr, whatever its loss
    config = lbfgs.replace(mask=str(tmp_path / "right.png"), mask_style="keep")
    kept = Stylizer(config, weights=tiny_weights).run(content, stripes(40, 40))
    free = Stylizer(lbfgs, weights=tiny_weights).run(content, stripes(40, 40))
    photo = resize(content[None], (w, h))[0]

    def change(x: torch.Tensor) -> float:
        return float((x[:, :, w // 2 + 4 :] - photo[:, :, w // 2 + 4 :]).abs().mean())

    assert change(kept.pixels) < 0.5 * change(free.pixels)


def test_bad_masks_are_one_clear_error(tiny_weights, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not an image")
    write_image(tmp_path / "tall.png", torch.ones(3, 80, 20))
    write_image(tmp_path / "black.png", torch.zeros(3, 40, 48))
    write_image(tmp_path / "ok.png", torch.ones(3, 40, 48))
    run = Stylizer(FAST, weights=tiny_weights)
    cases = [
        (f"{tmp_path / 'notes.txt'}", "keep", ImageError, "notes.txt"),
        (f"{tmp_path / 'tall.png'}", "keep", ImageError, "not the content's aspect"),
        (f"{tmp_path / 'black.png'}", "keep", ImageError, "is empty"),
        (f"{tmp_path / 'ok.png'},{tmp_path / 'ok.png'}", "keep", ConfigError, "2 --mask and 1 --mask-style"),
    ]
    for mask, mask_style, error, message in cases:
        with pytest.raises(error, match=message):
            config = FAST.replace(mask=mask, mask_style=mask_style).validate()
            Stylizer(config, weights=run.weights).run(make_image(48, 40), stripes(40, 40))
    assert issubclass(ImageError, RestyleError)
