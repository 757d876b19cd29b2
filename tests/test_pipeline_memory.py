"""The cycle collector's freeze around a bulk load: objects alive before it are exempt while it
runs (collections stay cheap beside Great Expectations' and Prefect's objects) and collectable
again after it, so a long-lived process (the flow's, a test session) keeps no frozen garbage;
a worker process freezes for good once set up.

Each check runs in a fresh interpreter: a freeze is process-wide state, and other tests (a
worker prepared in-process) may already have frozen this one for good."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

_CYCLE = """
import gc, weakref
from flows import pipeline

class Cycle:
    def __init__(self):
        self.me = self

def garbage_cycle():
    made = Cycle()
    alive = weakref.ref(made)
    return made, alive
"""


def _run(body: str) -> None:
    code = textwrap.dedent(_CYCLE) + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_a_bulk_load_freezes_what_existed_and_unfreezes_it_after() -> None:
    _run(
        """
        assert gc.get_freeze_count() == 0
        before, alive = garbage_cycle()
        with pipeline.long_lived_frozen():
            assert gc.get_freeze_count() > 0
            del before  # garbage now, but frozen: the collector leaves it alone
            pipeline.release_memory()
            assert alive() is not None
            during, made_during = garbage_cycle()
            del during
            pipeline.release_memory()
            assert made_during() is None  # what the load makes is collected as usual
        assert gc.get_freeze_count() == 0
        gc.collect()
        assert alive() is None
        """
    )


def test_a_worker_freezes_for_good_and_a_load_in_it_changes_nothing() -> None:
    _run(
        """
        pipeline.freeze_long_lived()
        frozen = gc.get_freeze_count()
        assert frozen > 0
        with pipeline.long_lived_frozen():
            pass
        assert gc.get_freeze_count() == frozen  # not unfrozen by a load in a worker
        """
    )
