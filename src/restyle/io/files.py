"""Small file helpers: atomic text writes and early checks of output paths."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from restyle.errors import ImageError


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory and ``os.replace``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions of a new file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """UTF-8 text version of :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def check_output_path(path: str | os.PathLike, suffixes: tuple[str, ...] | None = None) -> Path:
    """Fail early (before a long run) if ``path`` cannot be written; returns it as a Path.

    Checks: not a directory, parent directory exists and is writable (a file can be created), suffix known.
    """
    p = Path(path)
    if p.is_dir():
        raise ImageError(f"output {str(p)!r} is a directory; give a file name such as {p / 'out.png'}")
    if suffixes is not None and p.suffix.lower() not in suffixes:
        raise ImageError(
            f"output {str(p)!r}: unknown image format {p.suffix or '(none)'!r}; "
            f"use one of {', '.join(suffixes)}"
        )
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ImageError(f"output directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise ImageError(f"output directory {str(parent)!r} is not writable")
    try:  # os.access says yes to root on read-only mounts and special file systems: really try
        with tempfile.TemporaryFile(dir=parent, prefix=".restyle-probe-"):
            pass
    except OSError as e:
        raise ImageError(f"output directory {str(parent)!r} is not writable ({e.strerror or e})") from None
    return p
