"""Memory on the command line: refused up front in one line, an allocation failure saves and resumes, --dry-run."""

from __future__ import annotations

import pytest

from restyle.engine import allocator, memory
from restyle.io.image import read_image
from restyle.jobs import plan
from restyle.losses.perceptual import PerceptualLoss

CPU_OOM = "DefaultCPUAllocator: can't allocate memory: you tried to allocate 1610612736 bytes. Error code 12"


@pytest.fixture
def fail_at(monkeypatch):
    """``fail_at(k)``: the loss's k-th evaluation raises the CPU allocator's error."""
    original = PerceptualLoss.forward

    def arm(k: int) -> None:
        calls = [0]

        def forward(self, image):  # noqa: ANN001, ANN202
            calls[0] += 1
            if calls[0] == k:
                raise RuntimeError(CPU_OOM)
            return original(self, image)

        monkeypatch.setattr(PerceptualLoss, "forward", forward)

    yield arm
    monkeypatch.setattr(PerceptualLoss, "forward", original)


def test_refused_up_front_in_one_line_and_nothing_written(
    cli, images, fast, one_error_line, listing, tmp_path, monkeypatch
):
    monkeypatch.setattr(memory, "available_memory", lambda device: (1_000_000, "the cgroup's memory limit"))
    before = listing(tmp_path)
    result = cli("run", images["content"], images["style"], *fast, "-o", "out.png")
    line = one_error_line(result, "needs about", "GB for a step at 32x27 px", "the cgroup's memory limit", "--size")
    assert "0.0 GB is free" in line
    assert listing(tmp_path) == before


def test_allocation_failure_mid_run_saves_then_resumes(cli, images, fast, tmp_path, fail_at):
    fail_at(2)
    args = [images["content"], images["style"], *fast, "--iterations", "4"]
    result = cli("run", *args, "-o", "out.png")
    assert result.exit_code == 2 and "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and result.stderr.strip().splitlines()[-1] == errors[0]  # after the progress: one line
    for needle in (
        "out of memory at step 2",
        "you tried to allocate 1610612736 bytes",
        "saved out.partial.png and out.ckpt",
        "restyle resume out.ckpt",
        "smaller --size",
    ):
        assert needle in errors[0]
    assert (tmp_path / "out.partial.png").is_file() and (tmp_path / "out.ckpt").is_file()
    assert not (tmp_path / "out.png").exists()
    fail_at(0)  # the memory is back
    assert cli("resume", "out.ckpt").exit_code == 0
    assert cli("run", *args, "-o", "ref.png").exit_code == 0
    assert (read_image(tmp_path / "out.png").pixels == read_image(tmp_path / "ref.png").pixels).all()
    assert not (tmp_path / "out.ckpt").exists() and not (tmp_path / "out.partial.png").exists()


def test_batch_reports_out_of_memory_as_that_pairs_error_and_goes_on(cli, images, fast, tmp_path, fail_at):
    fail_at(1)  # the first pair's first step
    result = cli("run", images["content"], images["style"], "--style", images["content"], *fast, "-o", "res/")
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert "1 failed, 1 done" in result.stderr and "out of memory at step 1" in result.stderr
    assert (tmp_path / "res" / "style__content.png").is_file()  # the second pair ran
    assert (tmp_path / "res" / "content__content.partial.png").is_file()  # the first kept what it had
    assert (tmp_path / "res" / "content__content.ckpt").is_file()


def test_dry_run_prints_the_plan_and_writes_nothing(cli, images, fast, listing, tmp_path):
    before = listing(tmp_path)
    result = cli("run", images["content"], images["style"], *fast, "--scales", "2", "--size", "128", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "plan:" in result.stdout and "64x53" in result.stdout and "128x107" in result.stdout
    assert "fits in" in result.stdout and "s of optimisation" in result.stdout
    assert ("freed buffers kept for the next step" in result.stdout) == allocator.active()  # tiny: room to spare
    assert listing(tmp_path) == before


def test_dry_run_says_a_run_without_room_to_spare_stays_lean(cli, images, fast, monkeypatch):
    def free(device):  # the peak (~0.08 GB) fits, not with kept mode's slack
        return 90_000_000, "test"

    monkeypatch.setattr(memory, "available_memory", free)
    monkeypatch.setattr(plan, "available_memory", free)
    result = cli("run", images["content"], images["style"], *fast, "--scales", "1", "--size", "128", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "fits in" in result.stdout and "freed buffers kept" not in result.stdout
