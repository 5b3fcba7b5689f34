"""``restyle video`` in a real process: SIGTERM keeps the finished frames, writes no clip, and the rerun continues."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("av", reason="the video extra (PyAV) is not installed")
pytest.importorskip("cv2", reason="the video extra (OpenCV) is not installed")

from helpers import make_image  # noqa: E402
from restyle.io.image import write_image  # noqa: E402
from video.clips import pan_frames, write_clip  # noqa: E402

FLAGS = ["--size", "48", "--scales", "1", "--style-layers", "relu1_1,relu2_1", "--content-layers", "relu2_2"]


def restyle(args: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    code = "from restyle.cli.app import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def test_sigterm_keeps_finished_frames_and_the_rerun_redoes_none(tmp_path, tiny_weights_file):
    clip = write_clip(tmp_path / "clip.mp4", pan_frames(frames=6, size=48))
    write_image(tmp_path / "style.png", make_image(40, 40, seed=2))
    args = ["video", str(clip), "style.png", "-o", "out.mp4", "--weights", str(tiny_weights_file), *FLAGS, "-q"]
    frames = tmp_path / "out.mp4.frames"
    proc = restyle([*args, "--iterations", "30", "--frame-iterations", "30"], tmp_path)
    try:
        deadline = time.monotonic() + 120
        while not (frames / "frame_000001.png").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no frame finished in time"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err.decode()
    assert "interrupted by SIGTERM" in err.decode() and "run the same command again" in err.decode()
    assert not (tmp_path / "out.mp4").exists()
    kept = sorted(p.name for p in frames.glob("frame_??????.png"))  # not the .partial.png of the stopped one
    assert kept[:2] == ["frame_000000.png", "frame_000001.png"] and len(kept) < 6
    again = restyle([*args[:-1], "--iterations", "30", "--frame-iterations", "30"], tmp_path)
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err.decode()
    assert f"6 frames painted: {6 - len(kept)} now, {len(kept)} before" in err.decode()
