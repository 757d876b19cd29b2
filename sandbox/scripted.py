"""A WSGI app that answers a fixed script of responses, for testing HTTP behaviour itself
(retries, timeouts, truncation, size caps) without any particular source's format.

    app = ScriptedApp([
        Fault.answer(503),
        Fault.answer(429, headers={"Retry-After": "0"}),
        Fault.answer(200, b"ok", delivery="chunked"),
    ])
    with serve(app) as base_url: ...
    app.requests  # what arrived, with arrival times

The script is a `sandbox.faults.FaultPlan` like every emulator's: answer N is `at("any", N)`,
and past the end `default` answers (`Fault.answer(200, b"ok")` unless given).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request

from sandbox.faults import ANY, Fault, FaultPlan, RecordedRequest, RequestLog, respond

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["ScriptedApp"]


class ScriptedApp:
    """Answers `script` in order, then `default`; records every request. Thread-safe.

    Each answer is a `Fault` that replaces the answer (`Fault.answer(...)`, or
    `Fault.http_status(...)`: an empty body), with its delivery and delay."""

    def __init__(self, script: Sequence[Fault] = (), *, default: Fault | None = None) -> None:
        self.faults = FaultPlan()
        for number, answer in enumerate(script, 1):
            self.faults.at(ANY, number, fault=answer)
        self.faults.next(ANY, default or Fault.answer(200, b"ok"), times=None)
        self._log = RequestLog()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, in arrival order (a copy)."""
        return self._log.entries()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        arrived = time.monotonic()
        request = Request(environ)
        number, answer = self.faults.take(ANY, method=request.method)
        assert answer is not None  # the default answers every request past the script
        body = answer.body or b""
        self._log.record(
            request, key=ANY, number=number, arrived=arrived, status=answer.status, fault=answer
        )
        headers = [*answer.headers]
        if answer.retry_after is not None:
            headers.append(("Retry-After", answer.retry_after))
        if answer.content_type is not None:
            headers.append(("Content-Type", answer.content_type))
        headers.append(("Content-Length", str(len(body))))
        return respond(environ, start_response, answer.status, headers, body, answer)
