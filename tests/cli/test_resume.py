"""Kill a real ``restyle run`` process with SIGINT mid-way, resume it, and get the uninterrupted image."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from restyle.engine.checkpoint import load_checkpoint, save_checkpoint
from restyle.io.image import read_image

RESTYLE = [sys.executable, "-c", "from restyle.cli.app import main; main()"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_sigint_a_real_process_then_resume(cli, images, fast, tmp_path):
    args = [*fast, "--iterations", "150", "--checkpoint-every", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}  # one thread, as in this process
    proc = subprocess.Popen(
        [*RESTYLE, "run", images["content"], images["style"], "-o", "out.png", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "out.ckpt").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert proc.poll() is None, "the run ended before its first checkpoint"
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "continue with: restyle resume out.ckpt" in stderr
    assert not (tmp_path / "out.png").exists()
    assert (tmp_path / "out.partial.png").is_file()
    step = load_checkpoint(tmp_path / "out.ckpt").step
    assert 2 <= step < 150

    result = cli("resume", "out.ckpt")  # in-process, one thread too
    assert result.exit_code == 0, result.stderr
    assert f"resuming out.ckpt from step {step}" in result.stderr
    reference = cli("run", images["content"], images["style"], "-o", "ref.png", *args)
    assert reference.exit_code == 0
    got, want = read_image(tmp_path / "out.png").pixels, read_image(tmp_path / "ref.png").pixels
    assert (got - want).abs().max() <= 1 / 255 + 1e-6
    assert not (tmp_path / "out.ckpt").exists() and not (tmp_path / "out.partial.png").exists()


@pytest.fixture
def interrupted(cli, images, fast, tmp_path, monkeypatch):
    """An ``out.ckpt`` (and ``out.partial.png``) of a 4-step run stopped after step 1, and the finished reference."""
    from restyle.engine.stylize import Stylizer

    args = [*fast, "--iterations", "4"]
    assert cli("run", images["content"], images["style"], "-o", "ref.png", *args).exit_code == 0
    original = Stylizer.run

    def run_one_step(self, content, style, callback=None, **kw):
        def cb(event):
            if callback:
                callback(event)
            self.request_stop()

        return original(self, content, style, cb, **kw)

    with monkeypatch.context() as m:
        m.setattr(Stylizer, "run", run_one_step)
        assert cli("run", images["content"], images["style"], "-o", "out.png", *args).exit_code == 130
    return tmp_path / "out.ckpt"


def test_resume_elsewhere_and_keep_the_checkpoint(cli, interrupted, tmp_path):
    result = cli("resume", interrupted, "-o", "other.png", "--keep-checkpoint", "--json", "r.json")
    assert result.exit_code == 0, result.stderr
    assert interrupted.exists() and (tmp_path / "r.json").is_file()
    assert torch.equal(read_image(tmp_path / "other.png").pixels, read_image(tmp_path / "ref.png").pixels)
    assert not (tmp_path / "out.png").exists()


def test_resume_after_moving_the_folder(cli, interrupted, tmp_path):
    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.move(interrupted, moved / "out.ckpt")
    assert cli("resume", moved / "out.ckpt").exit_code == 0
    assert (moved / "out.png").is_file() and not (moved / "out.ckpt").exists()


def test_resume_refuses_a_checkpoint_of_another_version(cli, interrupted, one_error_line):
    checkpoint = load_checkpoint(interrupted)
    checkpoint.config = {**checkpoint.config, "warp_factor": 9}
    save_checkpoint(checkpoint, interrupted)
    one_error_line(cli("resume", interrupted), "out.ckpt", "warp_factor")


def test_resume_to_a_bad_output(cli, interrupted, one_error_line):
    one_error_line(cli("resume", interrupted, "-o", "x.svg"), ".svg")
    one_error_line(cli("resume", interrupted, "-o", "missing/x.png"), "does not exist")
    assert interrupted.exists()
