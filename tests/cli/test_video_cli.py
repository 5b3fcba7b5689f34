"""``restyle video``: a run end to end, and every bad input as one ``error:`` line, exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av", reason="the video extra (PyAV) is not installed")
pytest.importorskip("cv2", reason="the video extra (OpenCV) is not installed")

from restyle.cli import video as video_cli  # noqa: E402
from restyle.video.io import probe  # noqa: E402
from video.clips import pan_frames, write_clip  # noqa: E402


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    return write_clip(folder / "clip.mp4", pan_frames(frames=4, size=48))


def test_video_end_to_end(cli, images, fast, clip, tmp_path):
    result = cli("video", clip, images["style"], "-o", "out.mp4", *fast, "--frame-iterations", "1", "--json", "v.json")
    assert result.exit_code == 0, result.stderr
    assert "wrote out.mp4" in result.stderr and "4 frames painted: 4 now, 0 before" in result.stderr
    info = probe(tmp_path / "out.mp4")
    assert (info.frames, info.fps, info.audio) == (4, 12, "aac")
    assert (tmp_path / "out.mp4.frames" / "frame_000003.png").is_file()
    again = cli("video", clip, images["style"], "-o", "out.mp4", *fast, "--frame-iterations", "1")
    assert again.exit_code == 0 and "0 now, 4 before" in again.stderr  # finished frames are reused


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=16000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    return path


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("garbage", "not a video"),
        ("audio_only", "without a video stream"),
        ("image", "still image"),
        ("missing", "does not exist"),
        ("tiny", "not a usable video size"),
        ("after_end", "no frames between"),
        ("bad_output_dir", "does not exist"),
        ("bad_suffix", "unknown image format"),
        ("bad_every", "every"),
        ("end_before_start", "must come after start"),
    ],
)
def test_bad_input_is_one_error_line_and_writes_nothing(
    cli, images, fast, clip, tmp_path, one_error_line, listing, case, needle
):
    folder = tmp_path / "in"
    source, extra, output = str(clip), [], "out.mp4"
    if case == "garbage":
        source = str(folder / "junk.mp4")
        Path(source).write_bytes(b"this is not a video at all" * 40)
    elif case == "audio_only":
        source = str(_audio_only(folder / "sound.m4a"))
    elif case == "image":
        source = str(images["content"])
    elif case == "missing":
        source = str(folder / "nope.mp4")
    elif case == "tiny":
        source = str(write_clip(folder / "tiny.mp4", pan_frames(frames=2, size=8), audio=False))
    elif case == "after_end":
        extra = ["--start", "5"]
    elif case == "bad_output_dir":
        output = "no/such/dir/out.mp4"
    elif case == "bad_suffix":
        output = "out.avi"
    elif case == "bad_every":
        extra = ["--every", "0"]
    elif case == "end_before_start":
        extra = ["--start", "0.2", "--end", "0.1"]
    before = listing(tmp_path)
    result = cli("video", source, images["style"], "-o", output, *fast, *extra)
    one_error_line(result, needle)
    assert listing(tmp_path) == before


def test_bad_style_leaves_no_work_folder(cli, fast, clip, tmp_path, one_error_line, listing):
    junk = tmp_path / "in" / "style.png"
    junk.write_text("not an image")
    before = listing(tmp_path)
    one_error_line(cli("video", clip, junk, "-o", "out.mp4", *fast))
    assert listing(tmp_path) == before and not (tmp_path / "out.mp4.frames").exists()


def test_missing_extra_says_how_to_install(cli, images, fast, clip, one_error_line, monkeypatch):
    monkeypatch.setattr(video_cli, "missing_video_modules", lambda: ["av"])
    one_error_line(cli("video", clip, images["style"], "-o", "out.mp4", *fast), "pip install 'restyle[video]'")
