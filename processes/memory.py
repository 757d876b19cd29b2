"""Memory of long-running batch work (bulk workers, the bulk writer, syncs): the cycle
collector's thresholds and freezes, and allocators that hand freed memory back.

Light on purpose: the bulk writer's process imports it, and keeps out of its way every module
that loading needs not (parsers, Prefect, Great Expectations).
"""

from __future__ import annotations

import ctypes
import functools
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pyarrow as pa


def tune_gc() -> None:
    """Collect young objects less often: a batch holds thousands of live records, and CPython's
    default thresholds rescan them over and over (measured: parse + validate + prepare of a
    30,000-record file took 42 s with the defaults, 20 s with these, at the same peak memory)."""
    gc.set_threshold(200_000, 20, 1000)


def release_memory() -> None:
    """Hand back to the system what a finished bulk file left freed but kept: CPython's cycle
    collector, Arrow's allocator and glibc's all hold on to freed memory for reuse, and a
    worker crept up file after file (measured: 398, 461, 473, 497 MB after four files; with
    this it falls back to ~360 MB after each, and peaks at ~480). Costs ~0.15 s per file."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    trim = libc_function("malloc_trim")
    if trim is not None:
        trim(0)


# glibc's mallopt parameter, and the size from which a freed allocation goes straight back to
# the system (glibc's own default before it starts raising it: 128 KiB).
_M_MMAP_THRESHOLD = -3
BULK_MMAP_THRESHOLD = 128 * 1024


def return_freed_memory() -> None:
    """Have large buffers handed back to the system as soon as they are freed, for the rest of
    this process (bulk loading and preparing). A bulk load churns through a file's Arrow
    batches, and both allocators kept what they freed: Arrow's default pool (mimalloc) held
    ~315 MB resident with 131 MB in use at the loader's peak, and glibc raises its mmap
    threshold each time a large block is freed, so later ones came from a heap it does not
    shrink. Arrow now allocates through glibc (`system_memory_pool`), and glibc's threshold
    is fixed, which also turns the raising off. Measured on the loader benchmark's eight files:
    peak RSS 771-807 MB -> 553 MB, RSS between files ~480 -> ~240 MB."""
    pa.set_memory_pool(pa.system_memory_pool())
    mallopt = libc_function("mallopt")
    if mallopt is not None:
        mallopt(_M_MMAP_THRESHOLD, BULK_MMAP_THRESHOLD)


_frozen_for_good = False


def freeze_long_lived() -> None:
    """Exempt every object alive now from the cycle collector, for the rest of this process.
    For worker processes, once their imports and validation suites are set up: a full
    collection otherwise rescans Great Expectations' and Prefect's ~400,000 objects, 0.25-0.3 s
    each time `release_memory` runs (measured: 5.8 % of a one-process bulk load)."""
    global _frozen_for_good
    if not _frozen_for_good:
        gc.collect()
        gc.freeze()
        _frozen_for_good = True


@contextmanager
def long_lived_frozen() -> Iterator[None]:
    """`freeze_long_lived` for the span of a bulk load in a process that outlives it (the
    flow's): what existed before is collectable again afterwards."""
    if _frozen_for_good:
        yield
        return
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@functools.cache
def libc_function(name: str) -> Callable[..., int] | None:
    """A function of glibc (`mallopt`, `malloc_trim`, `prctl`), or None where the C library is
    another (musl, macOS)."""
    try:
        function: Callable[..., int] = getattr(ctypes.CDLL("libc.so.6"), name)
    except (OSError, AttributeError):
        return None
    return function
