"""Progress reporting from flows to whoever is watching (the CLI's progress bar, or nobody).

Callbacks cannot be Prefect parameters, so the CLI installs a reporter here before it runs a
flow in-process; a deployment run has none and reports through logs and artifacts only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# (description, records done, records expected or None)
Reporter = Callable[[str, int, int | None], None]

_reporter: ContextVar[Reporter | None] = ContextVar("biblioduck_progress", default=None)


def report(description: str, done: int, total: int | None) -> None:
    reporter = _reporter.get()
    if reporter is not None:
        reporter(description, done, total)


@contextmanager
def reporting_to(reporter: Reporter) -> Iterator[None]:
    token = _reporter.set(reporter)
    try:
        yield
    finally:
        _reporter.reset(token)
