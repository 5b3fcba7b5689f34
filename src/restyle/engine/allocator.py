"""Keep the C allocator from handing a step's large buffers back to the kernel between steps.

A VGG step at 512 px allocates and frees the same few dozen feature maps of 6-50 MB every step.
glibc's ``malloc`` serves blocks above its mmap threshold (at most 32 MB, however it adapts) with a
fresh ``mmap`` and unmaps them on ``free``, and trims the top of its heap whenever more than its
trim threshold is free; the next step page-faults every one of those pages in again and the kernel
zeroes them: 110,000-165,000 page faults in every 512x384 step, 11-23 % of the step's time, more
for the style loss's step than for a plain forward/backward (``benchmarks/README.md``).

Two modes, chosen per run by the Stylizer once the run's memory is estimated
(:meth:`restyle.engine.stylize.Stylizer.keeps_freed_memory`, with :func:`kept_fits`):

* **kept** -- mmap and trim thresholds of 1 GiB: freed blocks stay in the heap and the next step
  reuses them (no page faults after the first step). The heap fragments a little, so a run's peak
  memory is higher: measured +3 % of the run's extra memory at 512 px, +15 % at 1024 px, +21 % for a
  tiled 2048 px run (:data:`KEPT_SLACK` covers it);
* **lean** -- fixed at the values glibc's adaptive thresholds settle at once a step has freed its large
  blocks (32 MB mmap threshold, 64 MB trim threshold; glibc stops adapting them once any is set): the
  least memory, chosen when the run's estimate plus that slack would not fit in what is free, off the
  main thread (other threads allocate from arenas of at most 64 MB, which these thresholds do not
  keep), and between runs.

:func:`release_freed_memory` sets lean mode and (``malloc_trim``) gives what the heap kept back to the
system after a run, so a long-lived worker does not hold a run's peak between jobs. Nothing happens where the C
library is not glibc (macOS, Windows, musl) or when the environment variable :data:`ENV` is ``0``.
Each process decides from the free memory at its run's start: several worker processes starting runs
at once can together take up to :data:`KEPT_SLACK` more than their estimates (as they can race for the
memory the estimate checks anyway).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import platform
from typing import Literal

#: Set to 0 to leave the C allocator's settings alone.
ENV = "RESTYLE_KEEP_FREED_MEMORY"
#: Kept mode: blocks up to this size come from the heap (reused) instead of an mmap of their own, and this
#: much free memory at the top of the heap stays for the next step.
KEPT_THRESHOLD = 1 << 30
#: Lean mode: glibc's dynamic thresholds where they settle once a step has freed its large blocks.
LEAN_MMAP_THRESHOLD = 32 << 20
LEAN_TRIM_THRESHOLD = 64 << 20
#: Extra peak memory of kept mode, as a fraction of the run's estimate (measured at most 0.21; see above).
KEPT_SLACK = 0.25
# mallopt(3) parameter numbers (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

Mode = Literal["kept", "lean", "untouched"]
_mode: Mode = "untouched"


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    if not (hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim")):
        return None
    libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    libc.malloc_trim.argtypes, libc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
    return libc


def _libc() -> ctypes.CDLL | None:
    return _glibc() if os.environ.get(ENV, "1") != "0" else None


def keep_freed_memory(keep: bool = True) -> Mode:
    """Set kept mode (``keep``) or lean mode for this process; returns the mode now in force.

    ``"untouched"`` where there is no glibc or :data:`ENV` is 0 (then nothing was changed).
    """
    global _mode
    libc = _libc()
    if libc is None:
        return _mode
    mmap, trim = (KEPT_THRESHOLD, KEPT_THRESHOLD) if keep else (LEAN_MMAP_THRESHOLD, LEAN_TRIM_THRESHOLD)
    set_mmap = libc.mallopt(_M_MMAP_THRESHOLD, mmap)  # both, even if one is refused: never half a mode
    set_trim = libc.mallopt(_M_TRIM_THRESHOLD, trim)
    if set_mmap and set_trim:
        _mode = "kept" if keep else "lean"
    elif keep:  # refused (a glibc that caps the threshold): back to lean, which every glibc accepts
        return keep_freed_memory(False)
    return _mode


def active() -> bool:
    """Whether this process can set the allocator's mode (glibc, and :data:`ENV` not 0)."""
    return _libc() is not None


def kept_fits(need: int, free: int) -> bool:
    """Whether a run that needs ``need`` bytes (its estimate) fits in ``free`` bytes in kept mode."""
    return need * (1 + KEPT_SLACK) <= free


def mode() -> Mode:
    """The mode this process is in (``"untouched"`` until :func:`keep_freed_memory` changed something)."""
    return _mode


def release_freed_memory() -> bool:
    """End of a run: back to lean mode, and the heap's free pages returned to the system (``malloc_trim(0)``);
    True when any were released."""
    libc = _libc()
    if libc is None:
        return False
    keep_freed_memory(False)
    return bool(libc.malloc_trim(0))
