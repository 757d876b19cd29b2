"""Serve a WSGI app on a free loopback port in a background thread, for the demo and the tests.

`serve(app)` is a context manager yielding the base URL (`http://127.0.0.1:PORT`, no trailing
slash). Apps can ask for an abortive close (a TCP reset) of the current connection by setting
`environ[ABORT_CONNECTION] = True` and then raising `ConnectionResetError` from their body
iterator: that is how the emulators fake "connection reset by peer" half-way through a body.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from werkzeug.serving import WSGIRequestHandler, make_server

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = ["ABORT_CONNECTION", "serve"]

ABORT_CONNECTION = "sandbox.abort_connection"


class _QuietResetCapableHandler(WSGIRequestHandler):
    """Werkzeug's handler without the per-request access log line (it would print every URL of
    every test), and able to end a connection with a reset instead of a clean close."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None

    def handle(self) -> None:
        super().handle()
        environ: dict[str, Any] | None = getattr(self, "environ", None)
        if environ is not None and environ.get(ABORT_CONNECTION):
            # SO_LINGER with a zero timeout turns close() into an RST; closing here, before
            # socketserver's own shutdown(SHUT_WR), keeps a FIN from going out first.
            with contextlib.suppress(OSError):
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()


@contextlib.contextmanager
def serve(app: WSGIApplication) -> Iterator[str]:
    """Run `app` on 127.0.0.1 (a free port) in a daemon thread until the block ends."""
    server = make_server(
        "127.0.0.1", 0, app, threaded=True, request_handler=_QuietResetCapableHandler
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
