"""The C allocator keeps a step's freed buffers for the next step where memory allows; a run gives them back."""

from __future__ import annotations

import resource
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import torch

from helpers import make_image
from restyle.config import RunConfig
from restyle.engine import allocator, memory
from restyle.engine.stylize import Stylizer

glibc = pytest.mark.skipif(allocator._libc() is None, reason=f"mallopt/malloc_trim are glibc's ({allocator.ENV}=0?)")

MB = 1 << 20
#: Above glibc's largest dynamic mmap threshold (32 MB): by default mmapped, and faulted in anew each time.
LARGE = 96 * MB
PAGES = LARGE // resource.getpagesize()


def _in_fresh_process(body: str) -> list[int]:
    """Run ``body`` (with ``touch(nbytes)`` -> minor page faults, ``resident()`` -> bytes) in a new interpreter,
    whose heap holds nothing yet; returns the integers it prints."""
    prelude = """
import resource
import torch
from restyle.engine import allocator

def touch(nbytes):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t = torch.empty(nbytes // 4, dtype=torch.float32)
    t.fill_(1.0)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    del t
    return faults

def resident():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()
"""
    done = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(body)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return [int(v) for v in done.stdout.split()]


def _huge_pages_always() -> bool:
    """Transparent huge pages for every mapping: then an mmapped block faults in 2 MB at a time."""
    path = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    return path.exists() and "[always]" in path.read_text()


@glibc
@pytest.mark.parametrize("keep", [True, False])
def test_a_freed_large_buffer_is_reused_in_kept_mode_and_faulted_in_again_in_lean_mode(keep: bool) -> None:
    if _huge_pages_always():
        pytest.skip("transparent huge pages fault a mapping in 2 MB at a time: too few faults to tell")
    faults = _in_fresh_process(f"""
        assert allocator.keep_freed_memory({keep}) == allocator.mode() == {"kept" if keep else "lean"!r}
        print(*(touch({LARGE}) for _ in range(6)))
    """)
    if keep:
        # A freed block can be a few bytes short of the next aligned request of its size while small allocations
        # sit beside it (glibc's memalign pads), so the heap may grow once or twice before every request fits.
        assert max(faults[3:]) < PAGES // 16, f"page faults allocating {LARGE // MB} MB six times: {faults}"
    else:  # unmapped on free, faulted in again every time
        assert min(faults) > PAGES // 2, f"page faults allocating {LARGE // MB} MB six times: {faults}"


@glibc
def test_release_gives_the_kept_memory_back() -> None:
    kept, released, after = _in_fresh_process(f"""
        assert allocator.keep_freed_memory(True) == "kept"
        touch({4 * LARGE})
        kept = resident()
        print(kept, int(allocator.release_freed_memory()), resident())
    """)
    assert released and kept - after > 2 * LARGE


def test_kept_mode_only_where_the_run_fits_with_its_slack() -> None:
    need = 1_000_000_000
    assert allocator.kept_fits(need, int(need * (1 + allocator.KEPT_SLACK)))
    assert not allocator.kept_fits(need, int(need * (1 + allocator.KEPT_SLACK)) - 1)


def test_the_environment_variable_leaves_the_allocator_alone(monkeypatch) -> None:
    monkeypatch.setenv(allocator.ENV, "0")
    monkeypatch.setattr(allocator, "_mode", "untouched")
    assert allocator.keep_freed_memory(True) == "untouched"
    assert allocator.release_freed_memory() is False


def _mode_during_run(st: Stylizer, content: torch.Tensor, style: torch.Tensor) -> set[str]:
    modes: set[str] = set()
    st.run(content, style, lambda it: modes.add(allocator.mode()))
    return modes


@glibc
@pytest.mark.parametrize(("free", "expected"), [(1 << 40, "kept"), (None, "lean")])
def test_a_run_keeps_freed_memory_only_with_room_to_spare(tiny_weights, monkeypatch, free, expected) -> None:
    st = Stylizer(RunConfig(size=48, scales=1, iterations=2, style_weight=1.0, device="cpu"), weights=tiny_weights)
    content, style = make_image(48, 40), make_image(48, 48, seed=1)
    need = st.estimate_memory(st._inputs(content, style, None)).total
    # None: enough for the run (the memory check passes) but not for kept mode's slack
    have = free if free is not None else int(need * (1 + allocator.KEPT_SLACK / 2))
    monkeypatch.setattr(memory, "available_memory", lambda device: (have, "test"))
    assert _mode_during_run(st, content, style) == {expected}
    assert allocator.mode() == "lean"  # kept mode lasts for the run only


@glibc
def test_a_run_off_the_main_thread_stays_lean(tiny_weights) -> None:
    """glibc serves other threads from arenas of at most 64 MB, where the thresholds keep nothing."""
    st = Stylizer(RunConfig(size=48, scales=1, iterations=2, style_weight=1.0, device="cpu"), weights=tiny_weights)
    modes: list[set[str]] = []
    worker = threading.Thread(target=lambda: modes.append(_mode_during_run(st, make_image(48, 40), make_image(48, 48))))
    worker.start()
    worker.join()
    assert modes == [{"lean"}]
    assert _mode_during_run(st, make_image(48, 40), make_image(48, 48)) == {"kept"}  # the main thread keeps


def test_every_run_releases_what_it_kept(tiny_weights, monkeypatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(allocator, "release_freed_memory", lambda: calls.append(1) or True)
    st = Stylizer(RunConfig(size=48, scales=1, iterations=2, style_weight=1.0, device="cpu"), weights=tiny_weights)
    st.run(make_image(48, 40), make_image(48, 48, seed=1))
    assert calls == [1]

    def fail(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(st, "_run", fail)
    with pytest.raises(RuntimeError, match="boom"):  # a run that fails releases too
        st.run(make_image(48, 40), make_image(48, 48, seed=1))
    assert calls == [1, 1]
