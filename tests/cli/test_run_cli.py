"""``restyle run``: the classic one-pair form, its files, checkpoints, and Ctrl-C/SIGTERM handling (in-process)."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch

from restyle.cli.progress import RunProgress
from restyle.io.image import read_image, read_metadata


class Signals:
    """Make the progress bar send signals to this process when it shows a given step."""

    def __init__(self, monkeypatch) -> None:
        self.plan: dict[int, tuple[signal.Signals, ...]] = {}
        original = RunProgress.callback
        plan = self.plan

        def callback(self, event):
            original(self, event)
            for s in plan.pop(event.step, ()):
                os.kill(os.getpid(), s)

        monkeypatch.setattr(RunProgress, "callback", callback)

    def at(self, step: int, *signals: signal.Signals) -> None:
        """Send ``signals`` at ``step`` of the next run (once)."""
        self.plan.clear()
        self.plan[step] = signals


@pytest.fixture
def signals(monkeypatch) -> Signals:
    return Signals(monkeypatch)


def test_classic_form_writes_the_image_with_metadata(cli, images, fast, tmp_path):
    result = cli("run", images["content"], images["style"], "-o", "out.png", *fast)
    assert result.exit_code == 0, result.stderr
    assert "wrote out.png (32x27)" in result.stderr and "model: " in result.stderr
    meta = read_metadata(tmp_path / "out.png")
    assert meta["interrupted"] is False and meta["config"]["iterations"] == 2 and len(meta["inputs_sha256"]) == 64
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out.png"]  # no checkpoint, partial or temp file


def test_default_run_calibrates_the_style_weight(cli, images, fast, tmp_path):
    """Without --style-weight, --strength's calibration picks the weight: said on the console and in the metadata."""
    without_weight = fast[: fast.index("--style-weight")] + fast[fast.index("--style-weight") + 2 :]
    result = cli("run", images["content"], images["style"], "-o", "out.png", *without_weight, "--iterations", "16")
    assert result.exit_code == 0, result.stderr
    assert "strength 0.5: style weight" in result.stderr
    meta = read_metadata(tmp_path / "out.png")
    assert meta["config"]["style_weight"] is None and meta["calibration"]["strength"] == 0.5
    assert meta["style_weight"] == meta["calibration"]["style_weight"] > 0


def test_default_output_quiet_json_and_intermediates(cli, images, fast, tmp_path):
    result = cli("run", images["content"], images["style"], *fast, "-q", "--json", "run.json", "--save-every", "1")
    assert result.exit_code == 0 and result.stderr == "" and result.stdout == ""
    assert (tmp_path / "out.png").is_file()
    record = json.loads((tmp_path / "run.json").read_text())
    assert [h["step"] for h in record["history"]] == [1, 2] and record["interrupted"] is False
    assert {"out_00001.png", "out_00002.png"} <= {p.name for p in tmp_path.iterdir()}


def test_sixteen_bit_output(cli, images, fast, tmp_path):
    assert cli("run", images["content"], images["style"], "-o", "deep.png", "--bit-depth", "16", *fast).exit_code == 0
    assert read_image(tmp_path / "deep.png").bit_depth == 16


def test_output_into_an_existing_folder(cli, images, fast, tmp_path):
    (tmp_path / "results").mkdir()
    result = cli("run", images["content"], images["style"], "-o", "results", *fast)
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "results" / "content__style.png").is_file()


def test_checkpoint_every_is_written_during_and_removed_after(cli, images, fast, tmp_path, monkeypatch):
    seen = []
    original = RunProgress.callback

    def callback(self, event):
        original(self, event)
        seen.append((event.step, (tmp_path / "out.ckpt").exists()))

    monkeypatch.setattr(RunProgress, "callback", callback)
    args = [*fast, "--iterations", "4"]  # the last value of a flag wins
    assert cli("run", images["content"], images["style"], *args, "--checkpoint-every", "2").exit_code == 0
    assert seen == [(1, False), (2, False), (3, True), (4, True)]
    assert not (tmp_path / "out.ckpt").exists()


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_saves_partial_and_checkpoint_then_resume(cli, images, fast, tmp_path, signals, signum, code):
    args = [*fast, "--iterations", "5"]  # the last value of a flag wins
    assert cli("run", images["content"], images["style"], "-o", "ref.png", *args).exit_code == 0
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)

    signals.at(2, signum)
    result = cli("run", images["content"], images["style"], "-o", "out.png", *args)
    assert result.exit_code == code, result.stderr
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers  # restored
    name = signal.Signals(signum).name
    assert f"interrupted by {name} at step 2/5: saved out.partial.png and out.ckpt" in result.stderr
    assert "continue with: restyle resume out.ckpt" in result.stderr
    assert not (tmp_path / "out.png").exists()
    assert read_metadata(tmp_path / "out.partial.png")["interrupted"] is True

    result = cli("resume", "out.ckpt")
    assert result.exit_code == 0, result.stderr
    assert "resuming out.ckpt from step 2" in result.stderr
    assert torch.equal(read_image(tmp_path / "out.png").pixels, read_image(tmp_path / "ref.png").pixels)
    assert not (tmp_path / "out.ckpt").exists() and not (tmp_path / "out.partial.png").exists()


def test_rerunning_the_same_command_resumes(cli, images, fast, tmp_path, signals):
    args = [*fast, "--iterations", "4"]  # the last value of a flag wins
    assert cli("run", images["content"], images["style"], "-o", "ref.png", *args).exit_code == 0
    signals.at(3, signal.SIGINT)
    assert cli("run", images["content"], images["style"], *args).exit_code == 130
    result = cli("run", images["content"], images["style"], *args)
    assert result.exit_code == 0 and "resuming out.ckpt from step 3" in result.stderr
    assert torch.equal(read_image(tmp_path / "out.png").pixels, read_image(tmp_path / "ref.png").pixels)
    # Other settings: a fresh run; the checkpoint is not used.
    signals.at(1, signal.SIGINT)
    assert cli("run", images["content"], images["style"], "-o", "b.png", *args).exit_code == 130
    result = cli("run", images["content"], images["style"], "-o", "b.png", *args, "--style-weight", "3")
    assert result.exit_code == 0 and "resuming" not in result.stderr


def test_second_signal_aborts_without_saving(cli, images, fast, tmp_path, signals):
    args = [*fast, "--iterations", "5"]  # the last value of a flag wins
    signals.at(2, signal.SIGINT, signal.SIGINT)
    result = cli("run", images["content"], images["style"], *args)
    assert result.exit_code == 130
    assert "second signal" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]
