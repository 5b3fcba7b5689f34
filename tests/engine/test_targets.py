"""The target cache: shared sets are reused, and what it keeps stays within its byte budget."""

from __future__ import annotations

import pytest

from helpers import make_image
from restyle.config import RunConfig
from restyle.engine.stylize import Stylizer
from restyle.engine.targets import TargetCache, targets_nbytes

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_cache_reuses_sets_and_keeps_within_its_byte_budget(tiny_weights) -> None:
    st = Stylizer(RunConfig(size=64, scales=1, device="cpu"), weights=tiny_weights)
    small, large = make_image(32, 24, 1)[None], make_image(64, 48, 2)[None]
    one = targets_nbytes(st.loss.content_targets(small))
    assert one > 0 and targets_nbytes(st.loss.content_targets(large)) > 3 * one  # 4x the pixels
    cache = TargetCache(max_bytes=2 * one)
    first = cache.content(st.loss, st.network, small)
    assert cache.content(st.loss, st.network, small) is first and (cache.computed, cache.reused) == (1, 1)
    big = cache.content(st.loss, st.network, large)  # larger than the budget on its own: used, not kept
    assert set(big.content) == set(first.content) and cache.nbytes == one
    assert cache.content(st.loss, st.network, small) is first  # the small set was not pushed out by it
    for seed in (3, 4):  # two more small sets: the oldest goes
        cache.content(st.loss, st.network, make_image(32, 24, seed)[None])
        assert cache.nbytes <= cache.max_bytes
    computed = cache.computed
    cache.content(st.loss, st.network, small)
    assert cache.computed == computed + 1  # dropped: computed again
