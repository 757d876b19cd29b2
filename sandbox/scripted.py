"""A WSGI app that answers a fixed script of responses, for testing HTTP behaviour itself
(retries, timeouts, truncation, size caps) without any particular source's format.

    app = ScriptedApp([Step(503), Step(429, headers={"Retry-After": "0"}), Step(200, b"ok")])
    with serve(app) as base_url: ...
    app.requests  # what arrived, with arrival times

Steps are used in order, one per request; past the end, `default` answers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request

from sandbox.server import ABORT_CONNECTION

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["ScriptedApp", "SeenRequest", "Step"]


@dataclass(frozen=True, slots=True)
class Step:
    """One scripted answer.

    `action` is "answer" (normal), "reset" (headers and half the body, then a TCP reset),
    "short_body" (full Content-Length announced, half sent) or "chunked" (no Content-Length,
    body streamed in 1 KiB chunks). `delay` seconds pass before the headers are sent (to
    exercise read timeouts)."""

    status: int = 200
    body: bytes = b"ok"
    headers: Mapping[str, str] = field(default_factory=dict)
    action: str = "answer"
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class SeenRequest:
    """A request as the scripted app received it; `arrived` is `time.monotonic()`."""

    method: str
    path: str
    query_string: str
    form: dict[str, list[str]]
    headers: dict[str, str]
    arrived: float
    body: bytes = b""  # a body that is not a form (JSON)


class ScriptedApp:
    """Answers `steps` in order, then `default`; records every request. Thread-safe."""

    def __init__(self, steps: Sequence[Step] = (), *, default: Step | None = None) -> None:
        self._steps = list(steps)
        self._default = default or Step()
        self._lock = threading.Lock()
        self._seen: list[SeenRequest] = []

    @property
    def requests(self) -> list[SeenRequest]:
        """Every request so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._seen)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        arrived = time.monotonic()
        request = Request(environ)
        form = {name: request.form.getlist(name) for name in request.form}
        body = b"" if form else request.get_data()
        with self._lock:
            index = len(self._seen)
            self._seen.append(
                SeenRequest(
                    method=request.method,
                    path=request.path,
                    query_string=request.query_string.decode("latin-1"),
                    form=form,
                    headers=dict(request.headers.items()),
                    arrived=arrived,
                    body=body,
                )
            )
            step = self._steps[index] if index < len(self._steps) else self._default
        if step.delay:
            time.sleep(step.delay)
        headers = [(name, value) for name, value in step.headers.items()]
        if step.action != "chunked":
            headers.append(("Content-Length", str(len(step.body))))
        start_response(f"{step.status} {HTTPStatus(step.status).phrase}", headers)
        half = step.body[: len(step.body) // 2]
        if step.action == "short_body":
            return [half]
        if step.action == "reset":
            return _reset_after(half, environ)
        if step.action == "chunked":
            return [step.body[i : i + 1024] for i in range(0, len(step.body), 1024)]
        return [step.body]


def _reset_after(part: bytes, environ: WSGIEnvironment) -> Iterator[bytes]:
    yield part
    environ[ABORT_CONNECTION] = True
    raise ConnectionResetError("sandbox: connection reset on purpose")
