"""The Ray executor on a local 2-CPU Ray instance: batches, sweeps, a killed worker, reruns, same images as local."""

from __future__ import annotations

import dataclasses
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from helpers import make_image
from restyle.config import RunConfig, coerce
from restyle.features.convert import VGGWeights
from restyle.io.image import read_image, write_image
from restyle.jobs.batch import plan_jobs, run_batch
from restyle.jobs.events import JobFailed, JobFinished, JobStarted, JobStep, JobTile, ModelLoaded
from restyle.jobs.executor import LocalExecutor
from restyle.jobs.job import Job, checkpoint_path, partial_path
from restyle.jobs.ray_executor import (
    JobAssigned,
    RayExecutor,
    RayUnavailable,
    StylizeWorker,
    WorkerLost,
    WorkerReady,
)
from restyle.jobs.sweep import sweep

ray = pytest.importorskip("ray", reason="Ray is an optional extra (pip install -e '.[ray]'); its tests need it")

pytestmark = pytest.mark.usefixtures("one_thread")  # as the 1-CPU workers: bit-identical results

BASE = RunConfig(
    size=32,
    iterations=2,
    scales=1,
    optimizer="adam",
    device="cpu",
    style_layers=coerce("style_layers", "relu1_1,relu2_1"),
    content_layers=coerce("content_layers", "relu2_2"),
    style_weight=10.0,  # fixed: these tests are about the executor, not the strength calibration
)


@pytest.fixture(scope="module", autouse=True)
def ray_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One local Ray instance (2 CPUs, no dashboard) for the module; workers import restyle from here."""
    src = str(Path(__file__).resolve().parents[2] / "src")
    path = os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    cache = str(tmp_path_factory.mktemp("ray-cache"))
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": path, "RESTYLE_CACHE_DIR": cache}},
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """photos/ (a.png, b.png) and styles/ (s1.png, s2.png): a 4-pair batch."""
    root = tmp_path_factory.mktemp("inputs")
    photos, styles = root / "photos", root / "styles"
    photos.mkdir()
    styles.mkdir()
    write_image(photos / "a.png", make_image(40, 32, 1))
    write_image(photos / "b.png", make_image(32, 40, 3))
    write_image(styles / "s1.png", make_image(36, 36, 2))
    write_image(styles / "s2.png", make_image(36, 36, 4))
    return {"photos": photos, "styles": styles}


def local_pixels(jobs, config: RunConfig, weights: VGGWeights) -> list[torch.Tensor]:
    """The result pixels of the same jobs run by the LocalExecutor (into a scratch folder)."""
    report = LocalExecutor(config, weights=weights, skip_finished=False, auto_resume=False).run(
        [dataclasses.replace(j, output=j.output.with_name("local_" + j.output.name)) for j in jobs]
    )
    assert report.counts() == {"done": len(jobs)}
    return [r.result.pixels for r in report.results]


def test_batch_runs_on_workers_gives_local_images_and_rerun_skips(tmp_path, folders, tiny_weights) -> None:
    jobs = plan_jobs([folders["photos"]], [folders["styles"]], tmp_path / "out", BASE)
    events: list[object] = []
    with RayExecutor(BASE, weights=tiny_weights, workers=2) as executor:
        report = run_batch(jobs, on_event=events.append, executor=executor)
        assert report.counts() == {"done": 4}
        assert all(j.output.is_file() for j in jobs)
        assert sorted(e.index for e in events if isinstance(e, JobFinished)) == [0, 1, 2, 3]
        assert sum(isinstance(e, JobStep) for e in events) >= 4  # throttled, but at least one per job
        assert {e.worker for e in events if isinstance(e, JobAssigned)} <= {"w1", "w2"}
        assert any(isinstance(e, WorkerReady) and e.worker.pid != os.getpid() for e in events)
        assert any(isinstance(e, ModelLoaded) for e in events)
        assert report.model and report.targets["targets_computed"] > 0
        # the same seed gives the same image as the local executor, bit for bit
        for ours, theirs in zip(report.results, local_pixels(jobs, BASE, tiny_weights), strict=True):
            assert torch.equal(ours.result.pixels, theirs)
            assert torch.equal(
                read_image(ours.output).pixels, read_image(ours.output.with_name("local_" + ours.output.name)).pixels
            )
        # rerun: everything is finished, nothing is sent to a worker
        again: list[object] = []
        assert executor.run(jobs, again.append).counts() == {"skipped": 4}
        assert not any(isinstance(e, JobStarted) for e in again)


def test_a_bad_input_fails_only_its_job(tmp_path, folders, tiny_weights) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    jobs = plan_jobs([folders["photos"] / "a.png", broken], [folders["styles"] / "s1.png"], tmp_path / "out", BASE)
    events: list[object] = []
    with RayExecutor(BASE, weights=tiny_weights, workers=2) as executor:
        report = executor.run(jobs, events.append)
    assert report.counts() == {"done": 1, "failed": 1}
    assert "broken.png" in report.failed[0].error
    assert [e.index for e in events if isinstance(e, JobFailed)] == [1]
    assert jobs[0].output.is_file() and not jobs[1].output.exists()


def test_a_worker_killed_mid_job_is_replaced_and_the_batch_finishes(tmp_path, folders, tiny_weights) -> None:
    config = BASE.replace(iterations=20, checkpoint_every=5)
    jobs = plan_jobs([folders["photos"]], [folders["styles"]], tmp_path / "out", config)
    # job 1 runs long enough to be killed while it computes (not after it finished)
    jobs[1] = dataclasses.replace(jobs[1], config=config.replace(iterations=150))
    events: list[object] = []
    killed: list[int] = []
    assigned: dict[int, str] = {}

    with RayExecutor(config, weights=tiny_weights, workers=2) as executor:

        def listen(event: object) -> None:
            events.append(event)
            if isinstance(event, JobAssigned):
                assigned[event.index] = event.worker
            if isinstance(event, JobStep) and event.index == 1 and not killed:
                info = executor.worker_info(assigned[1])
                assert info is not None and info.pid != os.getpid()
                os.kill(info.pid, signal.SIGKILL)
                killed.append(info.pid)

        report = executor.run(jobs, listen)
    assert killed
    lost = [e for e in events if isinstance(e, WorkerLost)]
    assert [(e.index, e.retry) for e in lost] == [(1, True)]
    retried = [e for e in events if isinstance(e, JobAssigned) and e.index == 1]
    assert [e.attempt for e in retried] == [1, 2] and retried[1].worker != retried[0].worker
    assert not report.failed and sum(report.counts().values()) == 4
    assert all(j.output.is_file() for j in jobs)
    assert not any(checkpoint_path(j.output).exists() or partial_path(j.output).exists() for j in jobs)
    # the retried job (continued from a checkpoint the driver wrote, or run again) ends at the same image
    for ours, theirs in zip(report.results, local_pixels(jobs, config, tiny_weights), strict=True):
        assert torch.equal(ours.result.pixels, theirs)


def test_stop_saves_running_jobs_and_rerun_finishes(tmp_path, folders, tiny_weights) -> None:
    config = BASE.replace(iterations=60)
    jobs = plan_jobs([folders["photos"]], [folders["styles"]], tmp_path / "out", config)
    with RayExecutor(config, weights=tiny_weights, workers=2) as executor:

        def listen(event: object) -> None:
            if isinstance(event, JobStep):
                executor.request_stop()

        report = executor.run(jobs, listen)
        counts = report.counts()
        stopped = report.with_status("interrupted")
        assert stopped and counts.get("not run", 0) >= 1 and "failed" not in counts
        for r in stopped:
            assert r.partial.is_file() and r.checkpoint.is_file() and not r.output.exists()
        again = executor.run(jobs)
    # finished jobs are skipped, stopped ones continue from their checkpoints, the rest run
    assert again.counts() == {
        k: v
        for k, v in {
            "skipped": counts.get("done", 0),
            "resumed": len(stopped),
            "done": counts["not run"],
        }.items()
        if v
    }
    assert all(j.output.is_file() and not checkpoint_path(j.output).exists() for j in jobs)


def test_sweep_2x2_on_ray(tmp_path, folders, tiny_weights) -> None:
    content, style = folders["photos"] / "a.png", folders["styles"] / "s1.png"
    vary = [("style_weight", [1.0, 10.0]), ("tv_weight", [0.0, 1.0])]
    with RayExecutor(BASE, weights=tiny_weights, workers=2) as executor:
        result = sweep(content, style, BASE, vary, tmp_path / "sweep", cell_size=32, executor=executor)
        assert len(result.records) == 4 and result.sheet is not None and result.sheet.is_file()
        assert (tmp_path / "sweep" / "results.json").is_file()
        assert result.timings["cells_run"] == 4
        again = sweep(content, style, BASE, vary, tmp_path / "sweep", cell_size=32, executor=executor)
    assert again.timings["cells_resumed"] == 4


def test_workers_the_cluster_cannot_hold_are_refused_up_front(tmp_path, folders, tiny_weights) -> None:
    jobs = plan_jobs([folders["photos"]], [folders["styles"]], tmp_path / "out", BASE)
    with RayExecutor(BASE, weights=tiny_weights, gpus_per_worker=1) as executor:
        with pytest.raises(RayUnavailable, match="0 GPUs"):
            executor.run(jobs)
    assert not any(j.output.exists() for j in jobs)


class _BrokenWorker(StylizeWorker):
    """A worker that cannot start (as on a node without restyle)."""

    def __init__(self, *args: object) -> None:
        raise RuntimeError("no restyle on this node")


def test_workers_that_cannot_start_end_the_run_in_one_line(tmp_path, folders, tiny_weights) -> None:
    jobs = plan_jobs([folders["photos"]], [folders["styles"]], tmp_path / "out", BASE)
    with RayExecutor(BASE, weights=tiny_weights, workers=1) as executor:
        executor.worker_class = _BrokenWorker
        with pytest.raises(RayUnavailable, match="Ray workers cannot start") as raised:
            executor.run(jobs)
    # the worker's own error, in one line (here: this test module cannot even be imported there)
    assert "\n" not in str(raised.value) and (
        "no restyle on this node" in str(raised.value) or "helpers" in str(raised.value)
    )
    assert not any(j.output.exists() for j in jobs)


def test_a_tiled_job_on_a_worker_reports_its_tiles(tmp_path, folders, tiny_weights) -> None:
    """Tile i/N of long steps travels back from the worker like the steps do (throttled to the newest)."""
    config = BASE.replace(size=96, tile=40)
    jobs = [Job(tmp_path / "o.png", folders["photos"] / "a.png", folders["styles"] / "s1.png")]
    events: list[object] = []
    with RayExecutor(config, weights=tiny_weights, workers=1) as executor:
        assert executor.run(jobs, events.append).counts() == {"done": 1}
    tiles = [e.tile for e in events if isinstance(e, JobTile)]
    assert tiles and all(t.tiles > 1 and 1 <= t.tile <= t.tiles for t in tiles)
    assert {t.phase for t in tiles} <= {"statistics", "gradient"} and tiles[-1].step == 2
