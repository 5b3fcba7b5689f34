"""Small file helpers: atomic writes and early checks of output paths."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from restyle.errors import ImageError


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], object]) -> None:
    """Call ``write`` on a temporary file next to ``path``, then rename it over ``path``.

    ``path`` never holds a partial file: the data is flushed and fsynced before ``os.replace``, and on any
    failure (including KeyboardInterrupt) the temporary file is removed and the exception re-raised as it
    is. The new file gets the usual permissions of a new file (``0o666`` minus the umask, e.g. 0644).

    Raises:
        IsADirectoryError: ``path`` is a directory (checked before ``write`` runs).
        OSError: the temporary file cannot be created (e.g. FileNotFoundError for a missing directory,
            PermissionError for a read-only one) or ``path`` cannot be replaced.
        Exception: whatever ``write`` raises.
    """
    target = os.fspath(path)
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), target)
    directory = os.path.dirname(os.path.abspath(target))
    # A hidden name short enough for NAME_MAX. Mode "x" (O_EXCL) with 0o666 lets the kernel apply the umask,
    # unlike mkstemp (0600) + chmod, which would need the process-wide umask read and reset (not
    # thread-safe). open() rather than os.fdopen: writers such as tifffile want fp.name to be the path.
    base = os.path.basename(target)[:200]
    for _ in range(100):
        temp = os.path.join(directory, f".{base}.{secrets.token_hex(4)}.tmp")
        try:
            fp = open(temp, "xb", opener=_open_0666)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(errno.EEXIST, "could not create a temporary file", directory)
    try:
        with fp:
            write(fp)
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _open_0666(path: str, flags: int) -> int:
    return os.open(path, flags | getattr(os, "O_BINARY", 0), 0o666)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda fp: fp.write(data))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
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
            f"output {str(p)!r}: unknown image format {p.suffix or '(none)'!r}; use one of {', '.join(suffixes)}"
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
