"""Every kind of bad input to ``restyle run``/``resume``: one clear ``error:`` line, exit code 2, no file left.

Plus property-based tests (hypothesis) over the numeric and layer flags and over corrupted image bytes:
the CLI either starts the run or exits 2 with one line -- never a traceback or exit code 1.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from helpers import make_image
from restyle.engine.stylize import Stylizer
from restyle.errors import NumericalError

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def png_bytes(width: int = 40, height: int = 32) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray((make_image(width, height).permute(1, 2, 0).numpy() * 255).astype("uint8")).save(buffer, "PNG")
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------- bad images


@pytest.mark.parametrize(
    "kind, data, needle",
    [
        ("zero-byte", b"", "empty"),
        ("truncated", png_bytes()[:300], "content.png"),
        ("not an image", b"hello, I am a text file\n" * 10, "content.png"),
    ],
)
def test_bad_content_file(cli, images, fast, one_error_line, listing, tmp_path, kind, data, needle):
    images["content"].write_bytes(data)
    before = listing(tmp_path)
    result = cli("run", images["content"], images["style"], "-o", "out.png", *fast)
    one_error_line(result, needle)
    assert listing(tmp_path) == before  # no output, partial or temp file


def test_bad_style_file_and_missing_paths(cli, images, fast, one_error_line, tmp_path):
    images["style"].write_bytes(b"GIF89a garbage")
    one_error_line(cli("run", images["content"], images["style"], *fast), "style.png")
    one_error_line(cli("run", "missing.png", images["content"], *fast), "missing.png", "no such file")
    one_error_line(cli("run", images["content"], "--style", "nope/", *fast), "nope/")
    (tmp_path / "empty").mkdir()
    one_error_line(cli("run", "empty", images["style"], "-o", "outdir", *fast), "empty", "no images")
    one_error_line(cli("run", images["content"], *fast), "content image and a style image")


def test_wrong_input_extension_is_fine(cli, images, fast):
    """Formats are detected from the content: a PNG named .jpg is read as a PNG."""
    renamed = images["content"].with_suffix(".jpg")
    images["content"].rename(renamed)
    result = cli("run", renamed, images["style"], "-o", "out.png", *fast)
    assert result.exit_code == 0, result.stderr


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads everything")
def test_unreadable_file(cli, images, fast, one_error_line):
    images["content"].chmod(0)
    one_error_line(cli("run", images["content"], images["style"], *fast), "permission denied")


def test_init_directory_or_missing(cli, images, fast, one_error_line, tmp_path):
    one_error_line(cli("run", images["content"], images["style"], "--init", tmp_path, *fast), "directory")
    one_error_line(cli("run", images["content"], images["style"], "--init", "gone.png", *fast), "gone.png")
    assert not (tmp_path / "out.png").exists()


# ---------------------------------------------------------------------------------------------- outputs


@pytest.mark.parametrize(
    "output, needle",
    [
        ("out.xyz", "'.xyz'"),
        ("out", "(none)"),
        ("no/such/dir/out.png", "does not exist"),
    ],
)
def test_bad_output(cli, images, fast, one_error_line, output, needle):
    one_error_line(cli("run", images["content"], images["style"], "-o", output, *fast), needle)


def test_output_must_not_overwrite_an_input(cli, images, fast, one_error_line):
    before = images["content"].read_bytes()
    one_error_line(cli("run", images["content"], images["style"], "-o", images["content"], *fast), "input images")
    assert images["content"].read_bytes() == before


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")
def test_output_not_writable(cli, images, fast, one_error_line):
    """/proc refuses new files even to root (for whom os.access always says yes)."""
    one_error_line(cli("run", images["content"], images["style"], "-o", "/proc/out.png", *fast), "not writable")
    one_error_line(
        cli("run", images["content"], images["style"], "-o", "out.png", "--json", "/proc/x.json", *fast), "not writable"
    )


def test_output_problems_are_found_before_compute(cli, images, fast, one_error_line, monkeypatch):
    def no_compute(*args, **kwargs):
        raise AssertionError("computed before checking the output")

    monkeypatch.setattr(Stylizer, "run", no_compute)
    one_error_line(
        cli("run", images["content"], images["style"], "-o", "out.jpg", "--bit-depth", "16", *fast), "bit_depth 16"
    )
    one_error_line(cli("run", images["content"], images["style"], "-o", "out.gif", *fast), ".gif")


# ---------------------------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    "flag, value, needle",
    [
        ("--size", "0", "size"),
        ("--size", str(10**9), "size"),
        ("--size", "-5", "size"),
        ("--iterations", "0", "iterations"),
        ("--iterations", "-3", "iterations"),
        ("--scales", "0", "scales"),
        ("--checkpoint-every", "-1", "checkpoint_every"),
        ("--style-weight", "nan", "nan"),
        ("--style-weight", "inf", "inf"),
        ("--content-weight", "-1", "-1"),
        ("--tv-weight", "-inf", "-inf"),
        ("--lr", "nan", "nan"),
        ("--lr", "0", "lr"),
        ("--lr", "inf", "inf"),
        ("--style-scale", "nan", "nan"),
        ("--style-scale", "inf", "inf"),
        ("--tv-exponent", "nan", "nan"),
        ("--adam-beta1", "nan", "nan"),
        ("--adam-eps", "-1e-8", "adam_eps"),
        ("--style-layers", "relu4_2:abc", "abc"),
        ("--style-layers", "relu1_1:nan", "nan"),
        ("--style-layers", "relu1_1:inf", "inf"),
        ("--content-layers", "relu4_2:-1", "-1"),
        ("--style-layers", ":1", "':1'"),
        ("--style-layers", "relu1_1,,", "relu1_1,,"),
        ("--style-layers", "relu1_1:", "relu1_1:"),
        ("--style-layers", "relu1_1,relu1_1", "twice"),
        ("--content-layers", "relu4_2:0", "sum to 0"),
        ("--init", "mix:nan", "nan"),
        ("--init", "mix:2", "2"),
        ("--optimizer", "sgd", "sgd"),
        ("--pooling", "mean", "mean"),
        ("--device", "tpu", "tpu"),
        ("--bit-depth", "12", "12"),
        ("--background", "notacolour", "notacolour"),
    ],
)
def test_bad_setting(cli, images, fast, one_error_line, listing, tmp_path, flag, value, needle):
    before = listing(tmp_path)
    one_error_line(cli("run", images["content"], images["style"], *fast, flag, value), needle)
    assert listing(tmp_path) == before


@pytest.mark.parametrize(
    "flag, value", [("--size", "abc"), ("--size", "1.5"), ("--iterations", "many"), ("--style-weight", "heavy")]
)
def test_typer_usage_errors_exit_2(cli, images, fast, flag, value):
    """Values typer cannot parse as the option's type: its usage box, exit code 2, no traceback."""
    result = cli("run", images["content"], images["style"], *fast, flag, value)
    assert result.exit_code == 2 and "Invalid value" in result.stderr and "Traceback" not in result.stderr


def test_missing_argument_exit_2(cli):
    result = cli("run")
    assert result.exit_code == 2 and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "flag, value, needles",
    [
        ("--style-layers", "relu9_9", ("relu9_9",)),
        ("--style-layers", "rleu4_2", ("rleu4_2", "did you mean", "relu4_2")),
        ("--content-layers", "relu4_2,block4_conv2", ("twice",)),
        ("--size", "16", ("size 16", "at least")),
    ],
)
def test_bad_layers_or_size_for_the_model(cli, images, fast, one_error_line, flag, value, needles):
    """Checked once the model is known; still one line, nothing written."""
    args = [a for a in fast]
    if flag == "--size":  # default layers (relu5_1) need 32 px
        args = args[: args.index("--style-layers")]
    one_error_line(cli("run", images["content"], images["style"], *args, flag, value), *needles)
    assert not Path("out.png").exists()


# ---------------------------------------------------------------------------------------------- weights


def test_unknown_model(cli, images, one_error_line):
    one_error_line(cli("run", images["content"], images["style"], "--model", "vgg61"), "vgg61", "did you mean")


def test_corrupt_or_missing_weights_file(cli, images, one_error_line, tmp_path):
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(os.urandom(4096))
    one_error_line(cli("run", images["content"], images["style"], "--weights", garbage), "garbage.safetensors")
    one_error_line(cli("run", images["content"], images["style"], "--weights", "nope.pth"), "nope.pth")
    (tmp_path / "empty.pth").write_bytes(b"")
    one_error_line(cli("run", images["content"], images["style"], "--weights", "empty.pth"), "empty")


def test_cached_weights_with_wrong_hash(cli, images, one_error_line, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    (cache / "weights").mkdir(parents=True)
    (cache / "weights" / "vgg16.safetensors").write_bytes(b"not the weights")
    (cache / "weights" / "vgg16.safetensors.sha256").write_text("0" * 64 + "\n")
    monkeypatch.setenv("RESTYLE_CACHE_DIR", str(cache))
    one_error_line(
        cli("run", images["content"], images["style"], "--model", "vgg16"),
        "sha256 mismatch",
        "restyle weights prepare vgg16",
    )


# ---------------------------------------------------------------------------------------------- numerics


def test_diverging_run_is_one_error_and_no_file(cli, images, fast, one_error_line, listing, tmp_path, monkeypatch):
    from restyle.losses.perceptual import PerceptualLoss

    original = PerceptualLoss.forward

    def nan_loss(self, image):
        out = original(self, image)
        return {k: v * float("nan") for k, v in out.items()}

    monkeypatch.setattr(PerceptualLoss, "forward", nan_loss)
    before = listing(tmp_path)
    one_error_line(
        cli("run", images["content"], images["style"], *fast, "--checkpoint-every", "1"), "not finite", "--lr"
    )
    assert listing(tmp_path) == before
    assert issubclass(NumericalError, FloatingPointError)


# ---------------------------------------------------------------------------------------------- checkpoints


def test_bad_checkpoints(cli, one_error_line, tmp_path):
    one_error_line(cli("resume", "none.ckpt"), "none.ckpt", "does not exist")
    (tmp_path / "bad.ckpt").write_bytes(os.urandom(500))
    one_error_line(cli("resume", "bad.ckpt"), "bad.ckpt")
    one_error_line(cli("resume", tmp_path), "directory")
    torch.save({"version": 1, "something": "else"}, tmp_path / "other.ckpt")
    one_error_line(cli("resume", "other.ckpt"), "other.ckpt")


# ---------------------------------------------------------------------------------------------- properties


class _Started(Exception):
    """Raised instead of optimising: the CLI accepted everything and began the run."""


@pytest.fixture
def no_run(monkeypatch):
    def start(self, *args, **kwargs):
        raise _Started

    monkeypatch.setattr(Stylizer, "run", start)


def _check_outcome(result) -> None:
    """Either the run started, or exit 2 with one error line / typer's usage box; never a crash."""
    if isinstance(result.exception, _Started):
        event("run started")
        return
    assert "Traceback" not in result.stderr, result.stderr
    assert result.exit_code == 2, (result.exit_code, result.stderr, repr(result.exception))
    if "Invalid value" in result.stderr:  # typer could not parse the type
        event("typer usage error")
        return
    event("one error line")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr


NUMERIC_FLAGS = [
    "--size",
    "--iterations",
    "--scales",
    "--content-weight",
    "--style-weight",
    "--tv-weight",
    "--lr",
    "--style-scale",
    "--tv-exponent",
    "--adam-beta1",
    "--adam-eps",
    "--checkpoint-every",
    "--save-every",
    "--lbfgs-history",
    "--seed",
    "--bit-depth",
]
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["nan", "inf", "-inf", "NaN", "1e309", "-0", "0x10", "1_000", "", " ", "٣", "½", "1e-400"]),
    st.text(max_size=8),
)


@FUZZ
@given(flag=st.sampled_from(NUMERIC_FLAGS), value=numbers)
def test_fuzz_numeric_flags(cli, images, fast, no_run, flag, value):
    _check_outcome(cli("run", images["content"], images["style"], *fast, "--iterations", "1", flag, value))


layer_specs = st.one_of(
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "relu1_1",
                    "relu2_1",
                    "conv1_2",
                    "pool1",
                    "block1_conv1",
                    "relu9_9",
                    "x",
                    "relu1",
                    "RELU1_1",
                    " relu1_1 ",
                    "",
                ]
            ),
            st.one_of(st.none(), numbers),
        ),
        max_size=3,
    ).map(lambda items: ",".join(n if w is None else f"{n}:{w}" for n, w in items)),
    st.text(alphabet="relucovbkp_0123456789:,.-+ein ", max_size=20),
)


@FUZZ
@given(flag=st.sampled_from(["--style-layers", "--content-layers"]), value=layer_specs)
def test_fuzz_layer_flags(cli, images, fast, no_run, flag, value):
    base = list(fast)
    i = base.index(flag)
    del base[i : i + 2]
    _check_outcome(cli("run", images["content"], images["style"], *base, flag, value))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), kind=st.sampled_from(["PNG", "JPEG", "GIF", "BMP", "WEBP"]))
def test_fuzz_corrupted_image_bytes(cli, images, fast, no_run, data, kind):
    buffer = io.BytesIO()
    Image.new("RGB", (40, 32), (200, 30, 90)).save(buffer, kind)
    raw = bytearray(buffer.getvalue())
    how = data.draw(st.sampled_from(["truncate", "flip", "random", "prefix"]))
    if how == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif how == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    elif how == "random":
        raw = bytearray(data.draw(st.binary(max_size=200)))
    else:
        raw = raw[:16] + bytearray(data.draw(st.binary(max_size=64)))
    images["content"].write_bytes(bytes(raw))
    _check_outcome(cli("run", images["content"], images["style"], *fast))


def test_error_lines_name_the_value_not_a_repr_of_an_exception(cli, images, fast):
    """Spot check: messages are user sentences, not exception class dumps."""
    result = cli("run", images["content"], images["style"], *fast, "--style-weight", "-2")
    assert "ConfigError" not in result.stderr and "-2" in result.stderr
