"""Readers beside a load on a DuckDB file.

A DuckDB file has one writing process and no reader beside it: a process that opens it while
another writes gets a lock error. Our loads commit per batch (a sync group, a bulk file), so a
load yields the file to readers between two of its batches instead of holding it for the whole
run: a reader that finds the file busy *knocks* (a file named after its process in
`<warehouse>.readers/`) and retries opening it; a writer looks for knocks after each commit,
and when it finds one it closes its connection, lets the readers in, and opens the file again
once they are done (each reader's query is short: it holds the file only for its statement).
A reader also marks itself *reading* while it has the file open, so that a load opening the
file (its first open, or the derived work after a bulk import) waits for readers instead of
failing as if another load held it; another load still gets the lock error at once.

Only our own read paths knock (`query`, `search`, `report`, `export`, `status`, `works`); any
other DuckDB client still gets the lock error while a batch loads — a DuckLake warehouse (see
the README) is for readers that hold the warehouse open. Bounded both ways: a reader waits at
most `BIBLIODUCK_READ_WAIT` seconds (default 120: a whole bulk file, or works updated after a
large run, is one commit), a writer waits for readers at most `BIBLIODUCK_WRITE_WAIT` seconds
(default 900) before its run fails as busy (nothing it committed is lost).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar

from schemas.errors import UsageError, WarehouseBusyError

T = TypeVar("T")

# How often a waiting reader or writer tries the lock again: a batch commits in tens of ms to
# seconds, and an attempt costs one failed open (under a millisecond).
RETRY_SECONDS = 0.05
# How long a writer that found knocks waits for the readers to take the file before it takes
# it back: opening a file read-only takes milliseconds, so a knock that stays longer is a
# reader that gave up or died between two checks.
LET_IN_SECONDS = 2.0


def _seconds(variable: str, default: float) -> float:
    text = os.environ.get(variable)
    if text is None or not text.strip():
        return default
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{variable} must be a number of seconds, not {text!r}") from None
    if value < 0:
        raise UsageError(f"{variable} must be a number of seconds, not {text!r}")
    return value


def read_wait() -> float:
    return _seconds("BIBLIODUCK_READ_WAIT", 120.0)


def write_wait() -> float:
    return _seconds("BIBLIODUCK_WRITE_WAIT", 900.0)


def knock_folder(path: Path) -> Path:
    """Where readers of the warehouse `path` leave their marks: `<pid>.<token>.knock` while
    they wait to open it, `<pid>.<token>.reading` from just before they open it until they
    close it."""
    return path.with_name(path.name + ".readers")


KNOCK, READING = "knock", "reading"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _marked(path: Path, kind: str) -> bool:
    """Whether a live reader left a mark of `kind` at the warehouse `path` (a dead reader's
    marks are removed)."""
    folder = knock_folder(path)
    try:
        marks = list(folder.iterdir())
    except FileNotFoundError:
        return False
    found = False
    for mark in marks:
        pid_text = mark.name.partition(".")[0]
        if not (pid_text.isdigit() and _alive(int(pid_text))):
            mark.unlink(missing_ok=True)
        elif mark.name.endswith("." + kind):
            found = True
    return found


def waiting(path: Path) -> bool:
    """Whether a live reader knocks at the warehouse `path`."""
    return _marked(path, KNOCK)


def reading(path: Path) -> bool:
    """Whether a live reader has (or is opening) the warehouse `path`."""
    return _marked(path, READING)


@contextmanager
def marked(path: Path, kind: str) -> Iterator[None]:
    """A mark of `kind` at `path` for as long as the block runs."""
    folder = knock_folder(path)
    folder.mkdir(exist_ok=True)
    mark = folder / f"{os.getpid()}.{secrets.token_hex(4)}.{kind}"
    mark.touch()
    try:
        yield
    finally:
        mark.unlink(missing_ok=True)
        with suppress(OSError):  # the last reader tidies up; others still reading keep it
            folder.rmdir()


def open_as_reader(path: Path, open_: Callable[[], T]) -> T:
    """`open_()` (a read-only open of the DuckDB file `path`), retried while a load holds the
    file, knocking so that the load lets this reader in at its next commit. The caller marks
    itself `READING` around the whole read (`marked`), so that a writer finding the file
    busy knows a reader, not another writer, holds it."""
    try:
        return open_()
    except WarehouseBusyError:
        pass
    deadline = time.monotonic() + read_wait()
    with marked(path, KNOCK):
        while True:
            try:
                return open_()
            except WarehouseBusyError as exc:
                if time.monotonic() >= deadline:
                    raise WarehouseBusyError(
                        f"the warehouse {path} stayed busy for {read_wait():g} s (a load "
                        "commits one batch at a time and lets readers in between; one batch "
                        "took longer). Try again, raise BIBLIODUCK_READ_WAIT, or use a DuckLake "
                        "warehouse, which readers never wait for"
                    ) from exc
            time.sleep(RETRY_SECONDS)


def let_readers_in(path: Path) -> None:
    """Wait (briefly) until the readers knocking at `path` have opened it, after the writer
    closed its connection."""
    deadline = time.monotonic() + LET_IN_SECONDS
    while waiting(path) and time.monotonic() < deadline:
        time.sleep(RETRY_SECONDS / 5)


def open_as_writer(path: Path, open_: Callable[[], T]) -> T:
    """`open_()` (a writer's open of `path`). While our readers hold the file it is retried
    (for at most `BIBLIODUCK_WRITE_WAIT`); held by anything else — another load — the lock
    error is raised at once: one writer at a time."""
    deadline = time.monotonic() + write_wait()
    while True:
        try:
            return open_()
        except WarehouseBusyError as exc:
            if not reading(path):
                raise
            if time.monotonic() >= deadline:
                raise WarehouseBusyError(
                    f"the warehouse {path} was held by readers for {write_wait():g} s; the "
                    "load stops here (what it committed stays). Close the other DuckDB "
                    "clients, or raise BIBLIODUCK_WRITE_WAIT"
                ) from exc
        time.sleep(RETRY_SECONDS)
