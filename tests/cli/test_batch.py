"""Batch runs: pairing and naming, folders, skipping finished pairs, bad files, one model load, interrupt/rerun."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch

from helpers import make_image
from restyle.cli.progress import RunProgress
from restyle.errors import RestyleError
from restyle.features import weights as registry
from restyle.io.image import read_image, write_image
from restyle.jobs.batch import expand_images, plan_jobs


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Path]:
    """photos/ with a.png, b.jpg (really a PNG) and broken.png; styles/ with s1.png, s2.png; plus clutter."""
    photos, styles = tmp_path / "photos", tmp_path / "styles"
    photos.mkdir()
    styles.mkdir()
    write_image(photos / "a.png", make_image(48, 40, 1))
    write_image(photos / "b.jpg", make_image(40, 48, 3))
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (photos / "notes.txt").write_text("not an image")
    (photos / ".hidden.png").write_bytes(b"")
    write_image(styles / "s1.png", make_image(40, 40, 2))
    write_image(styles / "s2.png", make_image(40, 40, 4))
    return {"photos": photos, "styles": styles}


# ---------------------------------------------------------------------------------------------- planning


def test_expand_images(folders, tmp_path):
    assert [p.name for p in expand_images([folders["photos"]])] == ["a.png", "b.jpg", "broken.png"]
    assert [p.name for p in expand_images([folders["photos"] / "a.png", folders["photos"]])] == [
        "a.png",
        "b.jpg",
        "broken.png",
    ]  # duplicates dropped, order kept
    with pytest.raises(RestyleError, match="no such file"):
        expand_images([tmp_path / "nope.png"])
    (tmp_path / "void").mkdir()
    with pytest.raises(RestyleError, match="has no images"):
        expand_images([tmp_path / "void"], "content")


def test_plan_single_and_batch(folders, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    a, s1 = folders["photos"] / "a.png", folders["styles"] / "s1.png"
    [job] = plan_jobs([a], [s1], None)
    assert job.output == Path("out.png") and job.content == a and job.style == s1
    [job] = plan_jobs([a], [s1], "res/")  # a trailing slash asks for a folder
    assert job.output == Path("res/a__s1.png") and Path("res").is_dir()
    jobs = plan_jobs([folders["photos"]], [folders["styles"]], "out")
    assert [j.output.name for j in jobs] == [
        "a__s1.png",
        "a__s2.png",
        "b__s1.png",
        "b__s2.png",
        "broken__s1.png",
        "broken__s2.png",
    ]
    with pytest.raises(RestyleError, match="output folder with -o"):
        plan_jobs([folders["photos"]], [folders["styles"]], None)
    with pytest.raises(RestyleError, match="is a file"):
        plan_jobs([folders["photos"]], [folders["styles"]], folders["photos"] / "a.png")
    with pytest.raises(RestyleError, match="also an input folder"):
        plan_jobs([folders["photos"]], [folders["styles"]], folders["photos"])


def test_plan_disambiguates_equal_stems(tmp_path):
    for name in ("x.png", "x.jpg"):
        write_image(tmp_path / name, make_image(8, 8))
    jobs = plan_jobs([tmp_path / "x.png", tmp_path / "x.jpg"], [tmp_path / "x.png"], tmp_path / "o")
    assert [j.output.name for j in jobs] == ["x__x.png", "x.jpg__x.png.png"]


# ---------------------------------------------------------------------------------------------- running


def test_batch_runs_skips_and_reports_failures(cli, folders, fast, tmp_path, monkeypatch):
    loads = []
    load = registry.load
    monkeypatch.setattr(registry, "load", lambda *a: loads.append(a) or load(*a))

    result = cli(
        "run",
        folders["photos"],
        "--style",
        folders["styles"] / "s1.png",
        "--style",
        folders["styles"] / "s2.png",
        "-o",
        "out",
        *fast,
        "--json",
        "batch.json",
    )
    assert result.exit_code == 2, result.stderr
    assert len(loads) == 1  # one model load for all pairs
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["a__s1.png", "a__s2.png", "b__s1.png", "b__s2.png"]
    assert "4 done, 2 failed" in result.stderr
    assert "2 failed" in result.stderr and "broken.png" in result.stderr and "Traceback" not in result.stderr
    record = json.loads((tmp_path / "batch.json").read_text())
    assert record["counts"] == {"done": 4, "failed": 2}
    assert [j["status"] for j in record["jobs"]] == ["done"] * 4 + ["failed"] * 2

    # Rerun: finished pairs are skipped (the model is not even loaded), the broken file fails again.
    stamp = (out / "a__s1.png").stat().st_mtime_ns
    result = cli("run", folders["photos"], "--style", folders["styles"], "-o", "out", *fast)
    assert result.exit_code == 2 and "4 skipped, 2 failed" in result.stderr and len(loads) == 1
    assert (out / "a__s1.png").stat().st_mtime_ns == stamp
    # Other settings, or --overwrite: computed again.
    result = cli("run", folders["photos"], "--style", folders["styles"], "-o", "out", *fast, "--tv-weight", "0.5")
    assert result.exit_code == 2 and "4 done" in result.stderr
    result = cli(
        "run", folders["photos"], "--style", folders["styles"], "-o", "out", *fast, "--tv-weight", "0.5", "--overwrite"
    )
    assert "4 done" in result.stderr


def test_classic_positional_form_with_several_contents(cli, folders, fast, tmp_path):
    a, b = folders["photos"] / "a.png", folders["photos"] / "b.jpg"
    result = cli("run", a, b, folders["styles"] / "s2.png", "-o", "res", *fast)
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "res").iterdir()) == ["a__s2.png", "b__s2.png"]
    assert "[1/2] a.png × s2.png" in result.stderr and "2 done" in result.stderr


def test_batch_interrupted_then_rerun_continues(cli, folders, fast, tmp_path, monkeypatch):
    a, b = folders["photos"] / "a.png", folders["photos"] / "b.jpg"
    s = folders["styles"] / "s1.png"
    args = [*fast, "--iterations", "3"]
    assert cli("run", b, s, "-o", "ref.png", *args).exit_code == 0

    original, sent = RunProgress.callback, []

    def callback(self, event):  # SIGTERM during the second pair's second step
        original(self, event)
        if not sent and event.step == 2 and (tmp_path / "o" / "a__s1.png").exists():
            sent.append(1)
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(RunProgress, "callback", callback)
    result = cli("run", a, b, folders["photos"] / "broken.png", s, "-o", "o", *args)
    assert result.exit_code == 143, result.stderr
    assert "1 done, 1 interrupted, 1 not run" in result.stderr
    assert "continue with: the same command" in result.stderr
    assert {p.name for p in (tmp_path / "o").iterdir()} == {"a__s1.png", "b__s1.partial.png", "b__s1.ckpt"}

    result = cli("run", a, b, folders["photos"] / "broken.png", s, "-o", "o", *args)
    assert result.exit_code == 2
    assert "resuming" in result.stderr and "1 skipped, 1 resumed, 1 failed" in result.stderr
    assert {p.name for p in (tmp_path / "o").iterdir()} == {"a__s1.png", "b__s1.png"}
    assert torch.equal(read_image(tmp_path / "o" / "b__s1.png").pixels, read_image(tmp_path / "ref.png").pixels)
