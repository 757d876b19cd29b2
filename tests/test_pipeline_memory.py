"""The cycle collector's freeze around a bulk load: objects alive before it are exempt while it
runs (collections stay cheap beside Great Expectations' and Prefect's objects) and collectable
again after it, so a long-lived process (the flow's, a test session) keeps no frozen garbage."""

from __future__ import annotations

import gc
import weakref

from flows import pipeline


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_a_bulk_load_freezes_what_existed_and_unfreezes_it_after() -> None:
    assert gc.get_freeze_count() == 0
    cycle = _Cycle()
    alive = weakref.ref(cycle)
    with pipeline.long_lived_frozen():
        assert gc.get_freeze_count() > 0
        del cycle  # garbage now, but frozen: the collector leaves it alone
        pipeline.release_memory()
        assert alive() is not None
        made_during = _Cycle()
        during = weakref.ref(made_during)
        del made_during
        pipeline.release_memory()
        assert during() is None  # what the load makes is collected as usual
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert alive() is None
