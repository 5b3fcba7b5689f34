"""``restyle run --method fast`` and its one-line error under ``--dry-run``."""

from __future__ import annotations

from restyle.io.image import read_image, read_metadata


def test_method_fast_writes_the_picture_at_the_size(cli, images, tmp_path):
    result = cli("run", images["content"], images["style"], "-o", "out.png", "--method", "fast", "--size", "44")
    assert result.exit_code == 0, result.stderr
    assert "wrote out.png (44x37)" in result.stderr and "Ghiasi" in result.stderr
    assert read_image(tmp_path / "out.png").pixels.shape == (3, 37, 44)
    assert read_metadata(tmp_path / "out.png")["config"]["method"] == "fast"


def test_dry_run_of_method_fast_is_a_one_line_error(cli, images):
    result = cli("run", images["content"], images["style"], "-o", "out.png", "--method", "fast", "--dry-run")
    assert result.exit_code == 2
    assert "--dry-run plans the optimisation" in result.stderr and result.stderr.strip().count("\n") == 0
