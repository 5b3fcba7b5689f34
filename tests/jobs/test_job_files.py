"""JobFiles: a job's paths and writers in one object, the same conventions as the module's functions."""

from __future__ import annotations

from pathlib import Path

import pytest

from restyle.config import RunConfig
from restyle.errors import ConfigError
from restyle.jobs.job import CheckpointWriter, IntermediateWriter, Job, JobFiles, checkpoint_path, partial_path


def test_job_files_names_every_file_of_the_output(tmp_path: Path) -> None:
    files = Job(tmp_path / "out.png", "photo.jpg", "art.jpg").files
    assert files == JobFiles(tmp_path / "out.png")
    assert files.checkpoint == checkpoint_path(tmp_path / "out.png") == tmp_path / "out.ckpt"
    assert files.partial == partial_path(tmp_path / "out.png") == tmp_path / "out.partial.png"


def test_job_files_check_and_skip_rules(tmp_path: Path) -> None:
    files = JobFiles(tmp_path / "out.png")
    config = RunConfig()
    assert files.check(config) == tmp_path / "out.png"
    with pytest.raises(ConfigError):
        JobFiles(tmp_path / "out.jpg").check(RunConfig(bit_depth=16))
    assert not files.is_finished(config, "sha")  # nothing written yet
    assert files.find_resumable(config, "sha") is None
    files.checkpoint.write_bytes(b"not a checkpoint")
    assert files.find_resumable(config, "sha") is None  # unreadable: not resumable, no error


def test_job_files_writers_follow_the_config(tmp_path: Path) -> None:
    files = JobFiles(tmp_path / "out.png")
    writers = files.writers(RunConfig(checkpoint_every=7, save_every=3))
    active = writers.__closure__[0].cell_contents  # combine's callbacks, in order
    assert [type(w) for w in active] == [CheckpointWriter, IntermediateWriter]
    assert (active[0].path, active[0].every) == (files.checkpoint, 7)
    assert (active[1].output, active[1].every) == (files.output, 3)
