"""Memory of long bulk loads. The cycle collector's freeze around a bulk load: objects alive before it are exempt while it
runs (collections stay cheap beside Great Expectations' and Prefect's objects) and collectable
again after it, so a long-lived process (the flow's, a test session) keeps no frozen garbage;
a worker process freezes for good once set up. And freed Arrow buffers go back to the
system as they are freed, not when a file is done.

Each check runs in a fresh interpreter: a freeze and the allocator are process-wide state, and other tests (a
worker prepared in-process) may already have frozen this one for good."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

_CYCLE = """
import gc, weakref
from processes import memory

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
        with memory.long_lived_frozen():
            assert gc.get_freeze_count() > 0
            del before  # garbage now, but frozen: the collector leaves it alone
            memory.release_memory()
            assert alive() is not None
            during, made_during = garbage_cycle()
            del during
            memory.release_memory()
            assert made_during() is None  # what the load makes is collected as usual
        assert gc.get_freeze_count() == 0
        gc.collect()
        assert alive() is None
        """
    )


def test_a_worker_freezes_for_good_and_a_load_in_it_changes_nothing() -> None:
    _run(
        """
        memory.freeze_long_lived()
        frozen = gc.get_freeze_count()
        assert frozen > 0
        with memory.long_lived_frozen():
            pass
        assert gc.get_freeze_count() == frozen  # not unfrozen by a load in a worker
        """
    )


def test_freed_arrow_buffers_go_back_to_the_system_as_they_are_freed() -> None:
    # Arrow's default pool (mimalloc) kept all of these until release_memory: RSS stayed at
    # its peak (+840 MB here) through the rest of a file's load.
    _run(
        """
        import pyarrow as pa

        def rss_mb():
            for line in open("/proc/self/status"):
                if line.startswith("VmRSS"):
                    return int(line.split()[1]) // 1024

        memory.return_freed_memory()
        assert pa.default_memory_pool().backend_name == "system"
        before = rss_mb()
        # A file's worth of batch-sized buffers: 2,000 of 128 to 512 KiB.
        buffers = [pa.array(range(n % 4 * 16_384 + 16_384), pa.int64()) for n in range(2000)]
        grown = rss_mb() - before
        assert grown > 500, grown
        del buffers
        kept = rss_mb() - before
        assert kept < grown / 3, (grown, kept)
        """
    )
