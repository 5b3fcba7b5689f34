"""RunConfig parsing and validation: every bad value gets one clear message."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from restyle import config
from restyle.config import (
    RunConfig,
    coerce,
    field_names,
    field_type,
    format_layers,
    format_value,
    image_settings,
    parse_init,
    parse_layers,
    sweepable_fields,
)
from restyle.errors import ConfigError


def test_defaults_are_valid_and_round_trip_through_json():
    c = RunConfig().validate()
    assert RunConfig.from_dict(json.loads(c.to_json())) == c


def test_parse_layers():
    assert parse_layers("relu4_2") == {"relu4_2": 1.0}
    assert parse_layers("conv1_1:1, conv2_1:0.5,block4_conv2") == {"conv1_1": 1, "conv2_1": 0.5, "block4_conv2": 1}
    assert parse_layers("") == {}
    assert format_layers({"conv1_1": 1.0, "conv2_1": 0.5}) == "conv1_1,conv2_1:0.5"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("relu4_2:abc", "must be a number"),
        ("relu4_2:-1", "≥ 0"),
        ("relu4_2:nan", "≥ 0"),
        ("relu4_2:inf", "≥ 0"),
        (":1", "not a layer name"),
        ("relu1_1,relu1_1", "given twice"),
        ("4_2", "not a layer name"),
    ],
)
def test_parse_layers_errors(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_layers(spec, "style_layers")


def test_replace_coerces_strings_and_rejects_unknown_keys():
    c = RunConfig().replace(iterations="10", content_weight="2.5", style_layers="relu1_1:2", lr="0.5")
    assert (c.iterations, c.content_weight, c.style_layers, c.lr) == (10, 2.5, {"relu1_1": 2.0}, 0.5)
    with pytest.raises(ConfigError, match="did you mean: style_weight"):
        RunConfig().replace(styleweight=1)
    with pytest.raises(ConfigError, match="iterations must be an integer, got '1.5'"):
        RunConfig().replace(iterations="1.5")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("style_weight", -1.0, "style_weight must be a finite number ≥ 0, got -1.0"),
        ("content_weight", math.nan, "content_weight"),
        ("tv_weight", math.inf, "tv_weight"),
        ("iterations", 0, "iterations must be at least 1, got 0"),
        ("size", 8, "size must be between"),
        ("size", 10**9, "size must be between"),
        ("optimizer", "sgd", "optimizer must be one of lbfgs, adam"),
        ("pooling", "mean", "pooling must be one of"),
        ("lr", -0.1, "lr must be a positive number"),
        ("lr", math.nan, "lr must be"),
        ("init", "mix:2", "between 0 and 1"),
        ("init", "mixx", "mix:R"),
        ("device", "gpu", "device must be one of"),
        ("style_scale", math.nan, "style_scale"),
        ("tv_exponent", 0.1, "tv_exponent"),
        ("bit_depth", 12, "bit_depth must be 8 or 16"),
        ("background", "notacolour", "is not a colour"),
        ("alpha", "drop", "alpha must be one of"),
    ],
)
def test_validation_names_the_bad_value(field, value, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        RunConfig().replace(**{field: value}).validate()


def test_layer_weights_must_not_all_be_zero():
    with pytest.raises(ConfigError, match="sum to 0"):
        RunConfig(style_layers={"relu1_1": 0.0}).validate()
    with pytest.raises(ConfigError, match="nothing to optimise"):
        RunConfig(style_layers={}, content_layers={}).validate()


def test_parse_init():
    assert parse_init("mix:0.6") == ("mix", 0.6)
    assert parse_init("content") == ("content", None)
    assert parse_init("start.png") == ("file", "start.png")


# ------------------------------------------------------------------ rules declared in field metadata
def _fields_with(*keys: str) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(RunConfig) if any(k in f.metadata for k in keys)]


def _one_line_error(config: RunConfig) -> str:
    with pytest.raises(ConfigError) as info:
        config.validate()
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("f", _fields_with("ge", "gt", "le", "lt"), ids=lambda f: f.name)
def test_every_bound_is_enforced_and_its_edge_accepted(f):
    integer = field_type(f.name) is int
    step = 1 if integer else 1e-6
    bad, good = [], []
    for key, sign in (("ge", -1), ("gt", -1), ("le", 1), ("lt", 1)):
        if key in f.metadata:
            edge = f.metadata[key]
            bad.append(edge + sign * step)
            (good if key in ("ge", "le") else bad).append(edge)
    if not integer:
        bad += [math.nan, math.inf, -math.inf]
    for value in bad:
        message = _one_line_error(dataclasses.replace(RunConfig(), **{f.name: value}))
        assert message.startswith(f"{f.name} must be ") and message.endswith(f"got {value!r}"), message
    for value in good:
        dataclasses.replace(RunConfig(), **{f.name: value}).validate()


@pytest.mark.parametrize("f", _fields_with("choices"), ids=lambda f: f.name)
def test_every_choice_field_rejects_other_values_with_suggestions(f):
    first = f.metadata["choices"][0]
    for c in f.metadata["choices"]:
        dataclasses.replace(RunConfig(), **{f.name: c}).validate()
    if isinstance(first, str):
        message = _one_line_error(dataclasses.replace(RunConfig(), **{f.name: first + "x"}))
        assert message.startswith(f"{f.name} must be one of ") and f"did you mean: {first}" in message
    else:
        message = _one_line_error(dataclasses.replace(RunConfig(), **{f.name: first + 1}))
        assert message.startswith(f"{f.name} must be ") and f"got {first + 1}" in message


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("size", "big", "size must be an integer, got 'big'"),
        ("iterations", 2.0, "iterations must be an integer"),
        ("iterations", True, "iterations must be an integer, got True"),
        ("style_weight", "1", "must be a number"),
        ("init", 3, "init must be text, got 3"),
        ("model", None, "model needs a value"),
        ("style_layers", "relu1_1", "style_layers must be a map"),
        ("content_layers", {"relu4_2": "x"}, "≥ 0"),
        ("save_every", -1, "save_every must be at least 0, got -1"),
        ("lr", 0.0, "lr must be a positive number, got 0.0"),
        ("adam_beta1", 1.0, r"adam_beta1 must be in [0, 1), got 1.0"),
        ("noise", "uniform:0", "(0, 255]"),
        ("image_size", "300", "WxH"),
        ("preset", "cs2O", "did you mean: cs20"),
    ],
)
def test_values_set_directly_are_checked_too(field, value, message):
    """Not only strings through replace(): a RunConfig built in code gets the same one-line errors."""
    assert message in _one_line_error(dataclasses.replace(RunConfig(), **{field: value}))


def test_field_metadata_keys_are_checked_when_declared():
    with pytest.raises(TypeError, match="gte"):
        config._f(1, "help", gte=0)


def test_field_types_come_from_the_annotations():
    assert [field_type(n) for n in ("size", "lr", "init", "preset", "style_layers")] == [int, float, str, str, dict]
    assert RunConfig().replace(preset="sbavon", image_size=" None ").image_size is None  # optional: "none" clears
    with pytest.raises(ConfigError, match="size needs a value"):
        coerce("size", None)
    with pytest.raises(ConfigError, match="style_layers weight of relu1_1 must be a number, got 'x'"):
        coerce("style_layers", {"relu1_1": "x"})
    assert coerce("content_layers", {"relu4_2": 2}) == {"relu4_2": 2.0}


def test_image_settings_leave_out_what_does_not_change_the_image():
    c = RunConfig()
    assert set(c.to_dict()) - set(image_settings(c)) == {"device", "save_every", "checkpoint_every"}
    other = dataclasses.replace(c, device="cpu", save_every=5, checkpoint_every=7)
    assert image_settings(other) == image_settings(c)
    assert image_settings(dataclasses.replace(c, seed=1)) != image_settings(c)
    stored = json.loads(other.to_json())  # a config read back from metadata or a checkpoint
    assert image_settings(stored) == image_settings(c)
    assert image_settings({**stored, "future_setting": 1}) != image_settings(c)


def test_sweepable_fields():
    names = sweepable_fields()
    assert not {"preset", "device", "save_every", "checkpoint_every"} & set(names)
    assert {"style_weight", "content_layers", "seed", "size"} <= set(names)
    assert names == [n for n in field_names() if n in names]  # declaration order


def test_format_value_is_the_inverse_of_coerce():
    for name in ("style_layers", "style_weight", "lr", "iterations", "init"):
        for value in (getattr(RunConfig(), name), getattr(RunConfig().replace(preset="cs20"), name)):
            text = format_value(value)
            assert (None if text == "-" else coerce(name, text)) == pytest.approx(value), (name, text)
