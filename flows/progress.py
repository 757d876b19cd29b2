"""Progress reporting from flows to whoever is watching (the CLI's progress bar, or nobody).

Callbacks cannot be Prefect parameters, so the CLI installs a reporter here before it runs a
flow in-process; a deployment run has none and reports through logs and artifacts only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

# (description, records done, records expected or None)
Reporter = Callable[[str, int, int | None], None]
# One file's outcome as it is known: {"file", "status": loaded|refused|already loaded, …}
FileReporter = Callable[[dict[str, Any]], None]

_reporter: ContextVar[Reporter | None] = ContextVar("biblioduck_progress", default=None)
_file_reporter: ContextVar[FileReporter | None] = ContextVar("biblioduck_files", default=None)


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


def file_outcome(entry: dict[str, Any]) -> None:
    """Say what became of one file as soon as it is known (a later file may still fail)."""
    reporter = _file_reporter.get()
    if reporter is not None:
        reporter(entry)


@contextmanager
def reporting_files_to(reporter: FileReporter) -> Iterator[None]:
    token = _file_reporter.set(reporter)
    try:
        yield
    finally:
        _file_reporter.reset(token)
