"""Artist's controls on the command line: blended styles make one output, masks and colour modes are flags."""

from __future__ import annotations

import torch

from helpers import make_image
from restyle.io.image import read_image, read_metadata, write_image


def test_style_blend_makes_one_output(cli, images, fast, tmp_path):
    other = tmp_path / "in" / "other.png"
    write_image(other, make_image(40, 40, 9))
    result = cli(
        "run",
        images["content"],
        "--style",
        images["style"],
        "--style",
        other,
        "--style-blend",
        "0.7,0.3",
        *fast,
        "-o",
        "out.png",
    )
    assert result.exit_code == 0, result.output
    assert read_metadata(tmp_path / "out.png")["config"]["style_blend"] == "0.7,0.3"
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["out.png"]
    # a folder of photos: one blended output per photo, named after both styles
    result = cli(
        "run",
        images["content"],
        images["style"],
        "--style",
        images["style"],
        "--style",
        other,
        "--style-blend",
        "1,1",
        *fast,
        "-o",
        "res/",
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "res").iterdir()) == [
        "content__style+other.png",
        "style__style+other.png",
    ]


def test_blend_weight_count_must_match(cli, images, fast, one_error_line):
    result = cli("run", images["content"], images["style"], "--style-blend", "0.7,0.3", *fast, "-o", "out.png")
    one_error_line(result, "style_blend has 2 weights for 1 style images")


def test_mask_and_colour_flags(cli, images, fast, tmp_path):
    mask = torch.zeros(3, 40, 48)
    mask[:, :, :24] = 1
    write_image(tmp_path / "mask.png", mask)
    result = cli(
        "run",
        images["content"],
        images["style"],
        *fast,
        "--mask",
        "mask.png",
        "--mask-style",
        "keep",
        "--preserve-color",
        "luminance",
        "-o",
        "out.png",
    )
    assert result.exit_code == 0, result.output
    meta = read_metadata(tmp_path / "out.png")["config"]
    assert (meta["mask"], meta["mask_style"], meta["preserve_color"]) == ("mask.png", "keep", "luminance")
    assert read_image(tmp_path / "out.png").pixels.shape[1:] == (27, 32)


def test_bad_mask_is_one_line(cli, images, fast, one_error_line, listing, tmp_path):
    write_image(tmp_path / "tall.png", torch.ones(3, 80, 20))
    before = listing(tmp_path)
    result = cli(
        "run", images["content"], images["style"], *fast, "--mask", "tall.png", "--mask-style", "keep", "-o", "out.png"
    )
    one_error_line(result, "tall.png", "not the content's aspect")
    assert listing(tmp_path) == before
    result = cli("run", images["content"], images["style"], *fast, "--mask", "tall.png", "-o", "out.png")
    one_error_line(result, "1 --mask and 0 --mask-style")
