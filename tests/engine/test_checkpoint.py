"""Runs to files (restyle.jobs.job), checkpoints, resume, skip detection and graceful stop on signals."""

from __future__ import annotations

import os
import signal
import threading

import pytest
import torch

from helpers import make_image
from restyle import RunConfig, Stylizer
from restyle.engine.checkpoint import load_checkpoint, save_checkpoint
from restyle.engine.inputs import fingerprint, load_run_inputs
from restyle.errors import RestyleError
from restyle.io.image import read_image, read_metadata, write_image
from restyle.jobs.executor import run_job
from restyle.jobs.job import (
    checkpoint_fingerprint,
    checkpoint_path,
    config_from_checkpoint,
    find_resumable,
    is_finished,
    partial_path,
)
from restyle.jobs.signals import Aborted, GracefulStop

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = {
    "size": 32,
    "scales": 1,
    "iterations": 6,
    "optimizer": "adam",
    "style_layers": "relu1_1,relu2_1",
    "content_layers": "relu2_2",
}


@pytest.fixture
def pair(tmp_path):
    content, style = tmp_path / "c.png", tmp_path / "s.png"
    write_image(content, make_image(48, 40, 1))
    write_image(style, make_image(40, 40, 2))
    return content, style


def make(tiny_weights, **overrides) -> Stylizer:
    return Stylizer(RunConfig().replace(**{**FAST, **overrides}), weights=tiny_weights)


def test_interrupt_then_resume_gives_the_uninterrupted_image(tiny_weights, pair, tmp_path):
    content, style = pair
    st = make(tiny_weights, checkpoint_every=2)
    reference = run_job(st, tmp_path / "ref.png", content=content, style=style)
    assert reference.status == "done" and reference.total_steps == 6
    assert not checkpoint_path(tmp_path / "ref.png").exists()  # removed once finished

    out = tmp_path / "out.png"
    seen = []

    def stop_at_3(event):
        seen.append((event.step, checkpoint_path(out).exists()))
        if event.step == 3:
            st.request_stop()

    stopped = run_job(st, out, content=content, style=style, callback=stop_at_3)
    assert stopped.status == "interrupted" and stopped.step == 3
    assert seen == [(1, False), (2, False), (3, True)]  # written after step 2's callbacks
    assert not out.exists()
    assert stopped.partial == partial_path(out) == tmp_path / "out.partial.png"
    assert read_metadata(stopped.partial)["interrupted"] is True
    checkpoint = load_checkpoint(stopped.checkpoint)
    assert checkpoint.step == 3 and checkpoint.output == str(out.resolve())

    resumed = run_job(st, out, resume=checkpoint, resume_file=stopped.checkpoint)
    assert resumed.status == "done" and resumed.resumed_from == 3
    assert torch.equal(resumed.result.pixels, reference.result.pixels)
    assert torch.equal(read_image(out).pixels, read_image(tmp_path / "ref.png").pixels)
    assert not checkpoint_path(out).exists() and not partial_path(out).exists()
    meta, ref_meta = read_metadata(out), read_metadata(tmp_path / "ref.png")
    assert meta["inputs_sha256"] == ref_meta["inputs_sha256"] and meta["interrupted"] is False
    assert [h["step"] for h in resumed.result.history] == list(range(1, 7))


def test_keep_checkpoint_and_intermediates(tiny_weights, pair, tmp_path):
    content, style = pair
    st = make(tiny_weights, checkpoint_every=3, save_every=2)
    out = tmp_path / "out.png"
    run_job(st, out, content=content, style=style, keep_checkpoint=True)
    assert load_checkpoint(checkpoint_path(out)).step == 6
    assert sorted(p.name for p in tmp_path.glob("out_*.png")) == ["out_00002.png", "out_00004.png", "out_00006.png"]


def test_is_finished_and_find_resumable(tiny_weights, pair, tmp_path):
    content, style = pair
    st = make(tiny_weights)
    out = tmp_path / "out.png"
    run_job(st, out, content=content, style=style)
    fp = read_metadata(out)["inputs_sha256"]
    config = st.config
    assert is_finished(out, config, fp)
    assert is_finished(out, config.replace(checkpoint_every=7, save_every=3), fp)  # bookkeeping only
    assert not is_finished(out, config.replace(style_weight=3), fp)
    assert not is_finished(out, config, "0" * 64)
    assert not is_finished(tmp_path / "missing.png", config, fp)
    (tmp_path / "junk.png").write_bytes(b"junk")
    assert not is_finished(tmp_path / "junk.png", config, fp)

    assert find_resumable(out, config, fp) is None  # no checkpoint
    stopper = make(tiny_weights)
    stopped = run_job(
        stopper, tmp_path / "b.png", content=content, style=style, callback=lambda e: stopper.request_stop()
    )
    assert find_resumable(tmp_path / "b.png", config, fp) is not None
    assert find_resumable(tmp_path / "b.png", config.replace(seed=5), fp) is None
    assert find_resumable(tmp_path / "b.png", config, "0" * 64) is None
    stopped.checkpoint.write_bytes(b"corrupt")
    assert find_resumable(tmp_path / "b.png", config, fp) is None


def test_fingerprints():
    a, b = make_image(8, 8, 1), make_image(8, 8, 2)
    assert fingerprint(a, None, [b]) == fingerprint(a.clone(), None, [b.clone()])
    assert fingerprint(a, None, [b]) != fingerprint(b, None, [a])
    assert fingerprint(a, None, [b]) != fingerprint(a, torch.ones(1, 8, 8), [b])
    assert fingerprint(a, None, [b]) != fingerprint(a, None, [b, b])


def test_checkpoint_fingerprint_matches_the_files(tiny_weights, pair, tmp_path):
    content, style = pair
    st = make(tiny_weights)
    stopped = run_job(st, tmp_path / "o.png", content=content, style=style, callback=lambda e: st.request_stop())
    inputs = load_run_inputs(st.config, content, style)
    assert checkpoint_fingerprint(load_checkpoint(stopped.checkpoint)) == inputs.fingerprint()


@pytest.mark.parametrize("preset", [None, "cs20"])
def test_config_round_trips_through_a_checkpoint(tiny_weights, pair, tmp_path, preset):
    config = RunConfig().replace(**FAST) if preset is None else RunConfig().replace(preset=preset, size=48)
    st = Stylizer(config, weights=tiny_weights)
    content, style = pair
    stopped = run_job(st, tmp_path / "o.png", content=content, style=style, callback=lambda e: st.request_stop())
    checkpoint = load_checkpoint(stopped.checkpoint)
    assert config_from_checkpoint(checkpoint).to_dict() == checkpoint.config == st.config.to_dict()
    checkpoint.config = {**checkpoint.config, "from_the_future": 1}
    save_checkpoint(checkpoint, tmp_path / "future.ckpt")
    with pytest.raises(RestyleError, match="cannot use"):
        config_from_checkpoint(load_checkpoint(tmp_path / "future.ckpt"), "future.ckpt")


# ---------------------------------------------------------------------------------------------- signals


def test_graceful_stop_first_signal_requests_second_aborts():
    before_int, before_term = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    calls = []
    with GracefulStop(lambda: calls.append("stop")) as stop:
        assert signal.getsignal(signal.SIGTERM) == stop._handle
        os.kill(os.getpid(), signal.SIGTERM)
        assert calls == ["stop"] and stop.requested and stop.exit_code == 143 and stop.signal_name == "SIGTERM"
        with pytest.raises(Aborted) as info:
            os.kill(os.getpid(), signal.SIGINT)
        assert info.value.exit_code == 130 and isinstance(info.value, KeyboardInterrupt)
    assert signal.getsignal(signal.SIGINT) is before_int and signal.getsignal(signal.SIGTERM) is before_term


def test_graceful_stop_restores_a_users_handler_and_stops_a_run(tiny_weights, pair):
    got = []

    def mine(signum, frame):
        got.append(signum)

    previous = signal.signal(signal.SIGINT, mine)
    try:
        st = make(tiny_weights, iterations=20)

        def interrupt(event):
            if event.step == 2:
                os.kill(os.getpid(), signal.SIGINT)

        with GracefulStop(st.request_stop) as stop:
            result = st.run(*pair, interrupt)
        assert result.interrupted and result.timings["steps"] == 2 and stop.exit_code == 130
        assert signal.getsignal(signal.SIGINT) is mine
        os.kill(os.getpid(), signal.SIGINT)
        assert got == [signal.SIGINT]
    finally:
        signal.signal(signal.SIGINT, previous)


def test_graceful_stop_outside_the_main_thread_does_nothing():
    errors = []

    def body():
        try:
            with GracefulStop() as stop:
                assert not stop.requested
        except Exception as e:  # pragma: no cover - the failure being tested for
            errors.append(e)

    before = signal.getsignal(signal.SIGINT)
    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert errors == [] and signal.getsignal(signal.SIGINT) is before
