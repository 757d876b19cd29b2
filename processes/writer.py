"""The one writer of a bulk load, in a process of its own.

Why a process: the flow's process carries Prefect (~300 MB resident before its first file,
measured in the e2e benchmark) and, with no worker processes, Great Expectations and the parser
too; loading a file needs only DuckDB and Arrow. Together they peaked at 670-694 MB; apart,
each stays under 500 MB at any number of files.

The flow talks to it over a pipe, one call at a time: it sends (method, args, kwargs), the
writer answers ("progress", items applied) any number of times, then ("ok", value) or
("error", exception). Only public, picklable values cross (paths, ledger entries, counts):
no settings object, so no secret, ever reaches the writer.

The writer dies with the flow's process (Linux's parent-death signal): a run killed mid-file
must not leave a process holding the warehouse's lock, or the next run could not open it. Its
open transaction then dies with it and nothing of the file is committed.
"""

from __future__ import annotations

import importlib.abc
import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from importlib.machinery import ModuleSpec
from multiprocessing.connection import Connection
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

from processes.memory import libc_function
from schemas.batch import LoadCounts
from schemas.errors import FatalError

# How long a writer told to stop may take to close the warehouse (DuckDB may checkpoint its
# write-ahead log then) and exit; past it, it is killed. A guard against a hang: it has no
# transaction open between calls, and a checkpoint cut short is redone from the log on the
# next open, so a kill loses nothing.
STOP_TIMEOUT_SECONDS = 300.0


class BulkWriter:
    """A `Warehouse` opened for bulk loading in a child process; the methods a bulk flow needs.

    Use as a context manager: leaving the block normally stops the writer; leaving it by an
    exception kills it (a file it was loading is then rolled back with its transaction)."""

    def __init__(
        self, db: Path, *, memory_limit: str, row_group_size: int, threads: int | None
    ) -> None:
        # Unix: a socket pair, so the child's end can be handed over as a file descriptor.
        self._conn, child = multiprocessing.Pipe()
        self._process = subprocess.Popen(  # noqa: S603 - our own module, no shell
            [
                sys.executable,
                "-m",
                "processes.writer",
                str(child.fileno()),
                str(os.getpid()),
                str(db),
                memory_limit,
                str(row_group_size),
                "" if threads is None else str(threads),
            ],
            pass_fds=[child.fileno()],
            stdin=subprocess.DEVNULL,
        )
        child.close()
        try:
            self._call("open")  # raises what opening raised: WarehouseBusyError, FatalError
        except BaseException:
            self.kill()
            raise

    @property
    def pid(self) -> int:
        return self._process.pid

    def start_run(self, source: str, kind: str, parameters: dict[str, Any]) -> str:
        run_id: str = self._call("start_run", source, kind, parameters)
        return run_id

    def load_file(
        self,
        entry: Any,
        prepared: Any,
        *,
        run_id: str | None,
        progress: Callable[[int], None] | None = None,
    ) -> LoadCounts:
        """`Warehouse.load` of a `PreparedFile`'s batches with their ledger `entry` (its spool
        is read in the writer's process)."""
        counts: LoadCounts = self._call(
            "load_file", entry, prepared.spooled(), run_id=run_id, progress=progress
        )
        return counts

    def mark_file_failed(self, entry: Any, *, run_id: str | None, error: str) -> None:
        self._call("mark_file_failed", entry, run_id=run_id, error=error)

    def finish_run(self, run_id: str, *, status: str, error: str | None = None) -> dict[str, Any]:
        run: dict[str, Any] = self._call("finish_run", run_id, status=status, error=error)
        return run

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def stop(self) -> None:
        """Close the warehouse and end the process (killed if it does not end in time)."""
        if self.alive:
            try:
                self._conn.send(None)
                self._process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()

    def kill(self) -> None:
        if self.alive:
            self._process.kill()
        self._process.wait()
        self._conn.close()

    def __enter__(self) -> BulkWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.stop()
        else:
            self.kill()

    def _call(
        self,
        method: str,
        *args: Any,
        progress: Callable[[int], None] | None = None,
        **kwargs: Any,
    ) -> Any:
        kind, value = self._exchange(method, args, kwargs, progress)
        if kind == "error":
            raise value
        return value

    def _exchange(
        self,
        method: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        progress: Callable[[int], None] | None,
    ) -> tuple[str, Any]:
        try:
            if method != "open":
                self._conn.send((method, args, kwargs))
            while True:
                kind, value = self._conn.recv()
                if kind != "progress":
                    return kind, value
                if progress is not None:
                    progress(value)
        except (EOFError, OSError) as exc:
            code = self._process.wait()
            raise FatalError(
                f"the bulk writer process (pid {self._process.pid}) ended with exit code "
                f"{code} during {method}; what it had not committed is rolled back"
            ) from exc


def die_with_parent(parent: int) -> None:
    """Have the kernel kill this process when its parent dies (Linux; elsewhere a dead parent
    is noticed at the next read from the pipe)."""
    prctl = libc_function("prctl")
    if prctl is None:
        return
    pr_set_pdeathsig = 1
    prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the signal was armed
        os._exit(1)


def _picklable(error: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
    except Exception:
        return FatalError(f"{type(error).__name__}: {error}")
    return error


def serve(conn: Connection, warehouse: Any) -> None:
    """Answer calls until told to stop (None) or the pipe closes."""
    from processes import memory

    def progress(applied: int) -> None:
        conn.send(("progress", applied))

    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        method, args, kwargs = message
        try:
            if method == "load_file":
                from warehouse.ledger import FileBatches

                entry, spooled = args
                value: Any = warehouse.load(
                    FileBatches(entry, spooled.batches),
                    run_id=kwargs["run_id"],
                    progress=progress,
                )
                memory.release_memory()
            elif method in ("start_run", "mark_file_failed", "finish_run"):
                value = getattr(warehouse, method)(*args, **kwargs)
            else:
                raise FatalError(f"the bulk writer has no method {method!r}")
        except Exception as exc:
            conn.send(("error", _picklable(exc)))
            continue
        conn.send(("ok", value))


class _WithoutPandas(importlib.abc.MetaPathFinder):
    """pyarrow imports pandas the first time it builds an array from Python objects, only to
    ask whether they are pandas objects: ~45 MB resident, 25-35 MB of the writer's peak
    (measured). The writer never uses pandas, so in its process pandas is not to be found
    (pyarrow then goes on without it)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname.partition(".")[0] == "pandas":
            raise ModuleNotFoundError(f"no pandas in the bulk writer ({fullname})", name=fullname)
        return None


def main(argv: list[str]) -> int:
    fd, parent, db, memory_limit, row_group_size, threads = argv
    die_with_parent(int(parent))
    sys.meta_path.insert(0, _WithoutPandas())
    conn = Connection(int(fd))
    from processes import memory
    from warehouse.store import Warehouse

    memory.tune_gc()
    memory.return_freed_memory()
    try:
        warehouse = Warehouse(
            db,
            memory_limit=memory_limit,
            row_group_size=int(row_group_size),
            threads=int(threads) if threads else None,
        )
    except Exception as exc:
        conn.send(("error", _picklable(exc)))
        return 1
    with warehouse:
        memory.freeze_long_lived()
        conn.send(("ok", None))
        serve(conn, warehouse)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
