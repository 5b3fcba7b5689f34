"""Precision: where bf16 is native (detection with stubbed inputs), and how ``auto`` is resolved."""

from __future__ import annotations

from pathlib import Path

import pytest

from restyle import config as config_module
from restyle.config import RunConfig, image_settings
from restyle.errors import ConfigError
from restyle.features import precision
from restyle.features.precision import cpu_flags, cpu_native_bf16, native_bf16, resolve_precision

ZEN4 = {"avx2", "avx512f", "avx512bw", "avx512_bf16", "avx512_vnni"}
ZEN3 = {"avx2", "fma", "sse4_2"}
SAPPHIRE_RAPIDS = {"avx512f", "amx_tile", "amx_bf16", "amx_int8"}
ICELAKE = {"avx2", "avx512f", "avx512bw", "avx512_vnni"}  # AVX-512 without BF16


@pytest.mark.parametrize(
    ("capability", "flags", "torch_says", "native"),
    [
        ("AVX512", ZEN4, False, True),
        ("AVX512", SAPPHIRE_RAPIDS, False, True),
        ("AMX", SAPPHIRE_RAPIDS, False, True),
        ("AVX512", ICELAKE, False, False),
        ("AVX512", ICELAKE, True, True),  # torch's own probe saw it (flags unreadable in a container)
        ("AVX2", ZEN3, False, False),
        ("AVX2", ZEN4, True, False),  # torch dispatches to AVX2 only (ATEN_CPU_CAPABILITY): emulated
        ("DEFAULT", set(), False, False),
    ],
)
def test_native_bf16_needs_avx512_and_bf16_dot_products(capability, flags, torch_says, native) -> None:
    assert cpu_native_bf16(capability, flags, torch_says) is native


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512f avx512_bf16\n\nflags : other\n"
    )
    assert cpu_flags(info) == {"fpu", "avx2", "avx512f", "avx512_bf16"}
    assert cpu_flags(tmp_path / "missing") == frozenset()


@pytest.mark.parametrize("native", [True, False])
def test_auto_resolves_to_bf16_only_where_it_is_native(monkeypatch, native) -> None:
    monkeypatch.setattr(precision, "native_bf16", lambda device: native)
    monkeypatch.delenv(precision.AUTO_ENV, raising=False)  # the suite's fp32 pin (tests/conftest.py)
    assert resolve_precision("auto", "cpu") == ("bf16" if native else "fp32")
    assert resolve_precision("fp32", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"  # asked for explicitly: even where slow


def test_cuda_is_native_only_with_a_bf16_gpu(monkeypatch) -> None:
    monkeypatch.setattr(precision.torch.cuda, "is_available", lambda: True)
    asked = []

    def ampere(including_emulation: bool = True) -> bool:
        asked.append(including_emulation)
        return True

    monkeypatch.setattr(precision.torch.cuda, "is_bf16_supported", ampere)
    assert native_bf16("cuda")  # the real function (conftest stubs the module's for the other tests)
    assert asked == [False]  # emulated bf16 (pre-Ampere) does not count
    monkeypatch.setattr(precision.torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    assert not native_bf16("cuda")
    assert not native_bf16("meta")


def test_precision_is_a_validated_image_setting(monkeypatch) -> None:
    assert RunConfig().precision == "auto"
    with pytest.raises(ConfigError, match="precision must be one of auto, fp32, bf16"):
        RunConfig(precision="fp16").validate()
    assert image_settings(RunConfig(precision="fp32")) != image_settings(RunConfig(precision="bf16"))
    for resolved in ("fp32", "bf16"):  # auto compares as what this machine runs
        monkeypatch.setattr(config_module, "resolve_precision", lambda p, d, r=resolved: r if p == "auto" else p)
        assert image_settings(RunConfig()) == image_settings(RunConfig(precision=resolved))
        assert image_settings(RunConfig().to_dict()) == image_settings(RunConfig(precision=resolved).to_dict())


def test_records_from_before_the_setting_compare_as_fp32() -> None:
    old = RunConfig(precision="fp32").to_dict()
    del old["precision"]
    assert image_settings(old) == image_settings(RunConfig(precision="fp32"))
    assert image_settings(old) != image_settings(RunConfig(precision="bf16"))


def test_the_environment_fixes_what_auto_means(monkeypatch) -> None:
    monkeypatch.setenv(precision.AUTO_ENV, "bf16")
    assert precision.resolve_precision("auto", "cpu") == "bf16"
    assert precision.resolve_precision("fp32", "cpu") == "fp32"  # an explicit choice still wins
    monkeypatch.setenv(precision.AUTO_ENV, "fp16")
    with pytest.raises(ValueError, match="RESTYLE_AUTO_PRECISION"):
        precision.resolve_precision("auto", "cpu")
