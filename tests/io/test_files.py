"""Tests for restyle.io.files: the one atomic writer, used by images, checkpoints and JSON/CSV records."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from restyle.io.files import atomic_write, atomic_write_bytes, atomic_write_text


def test_bytes_and_text(tmp_path: Path) -> None:
    atomic_write_bytes(tmp_path / "a.bin", b"\x00\x01")
    atomic_write_text(tmp_path / "a.txt", "ünïcode ✓\n")
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "ünïcode ✓\n"
    atomic_write_text(str(tmp_path / "a.txt"), "replaced")  # str paths too; an existing file is replaced
    assert (tmp_path / "a.txt").read_text() == "replaced"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "a.txt"]  # no temp files left


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_permissions_follow_umask(tmp_path: Path, umask: int, mode: int) -> None:
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    old = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "a", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "a").stat().st_mode & 0o777 == mode


def test_writer_gets_a_named_file_next_to_the_target(tmp_path: Path) -> None:
    seen: list[str] = []

    def write(fp) -> None:
        seen.append(fp.name)  # tifffile, for one, wants a path here, not a file descriptor
        fp.write(b"data")

    atomic_write(tmp_path / "out.tif", write)
    assert isinstance(seen[0], str) and Path(seen[0]).parent == tmp_path and Path(seen[0]).name.startswith(".")
    assert not Path(seen[0]).exists() and (tmp_path / "out.tif").read_bytes() == b"data"


@pytest.mark.parametrize("error", [ValueError("encoder failed"), KeyboardInterrupt()])
def test_failure_keeps_the_old_file_and_removes_the_temp_file(tmp_path: Path, error: BaseException) -> None:
    target = tmp_path / "out.json"
    atomic_write_text(target, "old")

    def write(fp) -> None:
        fp.write(b"partial")
        raise error

    with pytest.raises(type(error)):  # re-raised as it is
        atomic_write(target, write)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_directory_or_missing_directory(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    called: list[bool] = []
    with pytest.raises(IsADirectoryError):
        atomic_write(tmp_path / "dir", lambda fp: called.append(True))
    assert not called  # checked before any work is done
    with pytest.raises(FileNotFoundError):
        atomic_write_bytes(tmp_path / "missing" / "a.bin", b"x")
    assert [p.name for p in tmp_path.iterdir()] == ["dir"]
