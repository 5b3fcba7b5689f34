"""RunConfig parsing and validation: every bad value gets one clear message."""

from __future__ import annotations

import json
import math

import pytest

from restyle.config import RunConfig, format_layers, parse_init, parse_layers
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
    [("relu4_2:abc", "must be a number"), ("relu4_2:-1", "≥ 0"), ("relu4_2:nan", "≥ 0"), ("relu4_2:inf", "≥ 0"),
     (":1", "not a layer name"), ("relu1_1,relu1_1", "given twice"), ("4_2", "not a layer name")],
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
    [("style_weight", -1.0, "style_weight must be a finite number ≥ 0, got -1.0"),
     ("content_weight", math.nan, "content_weight"), ("tv_weight", math.inf, "tv_weight"),
     ("iterations", 0, "iterations must be at least 1, got 0"), ("size", 8, "size must be between"),
     ("size", 10**9, "size must be between"), ("optimizer", "sgd", "optimizer must be one of lbfgs, adam"),
     ("pooling", "mean", "pooling must be one of"), ("lr", -0.1, "lr must be a positive number"),
     ("lr", math.nan, "lr must be"), ("init", "mix:2", "between 0 and 1"), ("init", "mixx", "mix:R"),
     ("device", "gpu", "device must be one of"), ("style_scale", math.nan, "style_scale"),
     ("tv_exponent", 0.1, "tv_exponent"), ("bit_depth", 12, "bit_depth must be 8 or 16"),
     ("background", "notacolour", "is not a colour"), ("alpha", "drop", "alpha must be one of")],
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
