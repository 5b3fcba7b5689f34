"""The quality report: pairs run as Jobs through run_batch, each output measured by the Judge."""

from __future__ import annotations

import json

import pytest

from helpers import make_image
from restyle.config import RunConfig
from restyle.engine.quality import Box, Judge
from restyle.io.image import write_image
from restyle.jobs.report import all_pairs, quality_sheet, run_quality

pytestmark = pytest.mark.usefixtures("one_thread")


def test_report_runs_every_pair_measures_and_draws(tiny_weights, tmp_path):
    photos = [tmp_path / "a.png", tmp_path / "b.png"]
    paintings = [tmp_path / "p.png"]
    for i, path in enumerate([*photos, *paintings]):
        write_image(path, make_image(48, 40, seed=i + 1))
    config = RunConfig(size=48, scales=1, iterations=3, style_weight=10, device="cpu")
    judge = Judge(tiny_weights, size=48)
    faces = {"b": Box(0.25, 0.25, 0.75, 0.75)}
    report = run_quality(
        all_pairs(photos, paintings), config, tmp_path / "out", judge=judge, weights=tiny_weights, faces=faces
    )
    assert [(r.photo, r.painting) for r in report.rows] == [("a", "p"), ("b", "p")] and not report.failed
    for r in report.rows:
        assert r.output.is_file() and r.steps == 3 and r.seconds > 0 and r.style_weight == 10
        assert 0 < r.content_distance and 0 < r.style_distance and -1 <= r.edge_structure <= 1
    assert [r.face_structure is None for r in report.rows] == [True, False]  # only b has a marked face
    rows = report.to_dict()["pairs"]
    assert "face_structure" not in rows[0] and rows[1]["face_structure"] == round(report.rows[1].face_structure, 4)
    assert rows[1]["edge_structure"] == round(report.rows[1].edge_structure, 4)
    s = report.summary()
    c = [r.content_distance for r in report.rows]
    assert s["content_distance"]["max"] == pytest.approx(max(c), abs=1e-4)
    assert s["content_distance"]["max_over_min"] == pytest.approx(max(c) / min(c), abs=1e-3)
    e = [r.edge_structure for r in report.rows]
    assert s["edge_structure"]["min"] == pytest.approx(min(e), abs=1e-4)
    assert s["face_structure"]["max"] == pytest.approx(report.rows[1].face_structure, abs=1e-4)
    json.dumps(report.to_dict())
    assert report.table().count("\n") == 4  # header, rule, two rows, summary
    sheet = quality_sheet(report, photos, paintings, "test")
    assert sheet.width > 2 * 160 and sheet.height > 3 * 100  # header row + column and two rows

    again = run_quality(all_pairs(photos, paintings), config, tmp_path / "out", judge=judge, weights=tiny_weights)
    assert [r.seconds for r in again.rows] == [r.seconds for r in report.rows]  # finished pairs skipped
