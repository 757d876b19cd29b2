"""A DOI resolver and a publisher's web site on loopback, serving the real recorded landing
pages of `fixtures/landing_html/` (read in place), with the faults real sites have.

    emulator = LandingEmulator(fixtures / "landing_html")
    with emulator.serving() as (resolver_url, publisher_url):
        client = LandingClient(landing_session(), resolver=resolver_url)
        client.fetch_doi("10.1371/journal.pone.0213978")

Two servers, two hosts (two ports), as in life: the resolver answers `/<doi>` with a 302 to
the publisher, as doi.org does; the publisher serves `/pages/<fixture file>`, its robots.txt,
and the recorded Zenodo exchange of `commonmeta__cassette_zenodo.yaml` (a 301 from
`www.zenodo.org` to `zenodo.org`, then the 200 page) under `/<recorded host>/<path>`, its
Location rewritten to this host. Requests are counted by key ("resolver", "robots", "page")
for the `FaultPlan` (`faults.next("page", Fault.rate_limited(retry_after="1"))`).

DOIs (all under 10.9999/ are the emulator's own, for faults):

- the fixtures' own DOIs (`PAGES`), and arXiv's DOI for the arXiv page (the page states none);
- 10.9999/loop: publisher /loop/a → /loop/b → /loop/a …; 10.9999/chain: 50 redirects;
- 10.9999/forbidden: 403; 10.9999/bare: HTML without any metadata; 10.9999/huge: a page of
  `huge_page_bytes` (default 12 MiB, past the client's 10 MiB cap); 10.9999/pdf: a PDF;
  10.9999/private: a page robots.txt disallows; 10.9999/moved: the PLOS page (another DOI);
- any other DOI: 404, as doi.org answers for an unregistered one.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import yaml
from werkzeug.wrappers import Request

from sandbox.faults import (
    Fault,
    FaultPlan,
    RecordedRequest,
    RequestLog,
    html_fault_answer,
    respond,
)
from sandbox.server import serve

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["CASSETTE", "PAGES", "LandingEmulator"]

# DOI → the fixture page its landing page is.
PAGES = {
    "10.1371/journal.pone.0213978": "sandcrawler__plos_one_article.html",
    "10.5210/fm.v25i10.10274": "sandcrawler__first_monday_ojs3_landing.html",
    "10.1038/d41586-020-02610-z": "sandcrawler__nature_article.html",
    "10.1045/may2017-vanhyning": "sandcrawler__dlib_article.html",
    "10.48550/arxiv.1902.02534": "arxiv_abs_1902.02534.html",
    "10.9999/moved": "sandcrawler__plos_one_article.html",
}
CASSETTE = "commonmeta__cassette_zenodo.yaml"
# The DOI whose resolution starts the cassette's exchange, and where it starts.
CASSETTE_DOI = "10.5281/zenodo.1196821"
_CASSETTE_START = "https://www.zenodo.org/records/1196821"

DEFAULT_ROBOTS_TXT = "User-agent: *\nDisallow: /private/\n"
_BARE_PAGE = b"<!DOCTYPE html><html><head><title>Welcome</title></head><body>Hi</body></html>"
_PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
_HTML = "text/html; charset=utf-8"


class LandingEmulator:
    """The resolver and the publisher (see the module docstring). Thread-safe."""

    def __init__(self, pages_dir: Path, *, huge_page_bytes: int = 12 << 20) -> None:
        self.pages_dir = Path(pages_dir)
        self.huge_page_bytes = huge_page_bytes
        self.robots_txt = DEFAULT_ROBOTS_TXT
        self.faults = FaultPlan()
        self.resolver_url = ""
        self.publisher_url = ""
        self._log = RequestLog()
        self._lock = threading.Lock()
        self._cassette: dict[str, tuple[int, list[tuple[str, str]], bytes]] | None = None

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request both hosts received, in arrival order (a copy)."""
        return self._log.entries()

    @contextlib.contextmanager
    def serving(self) -> Iterator[tuple[str, str]]:
        """Run both hosts; yields (resolver URL, publisher URL)."""
        with serve(self._publisher) as publisher, serve(self._resolver) as resolver:
            self.publisher_url, self.resolver_url = publisher, resolver
            yield resolver, publisher

    # -- the resolver ---------------------------------------------------------------------

    def _resolver(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        arrived = time.monotonic()
        request = Request(environ)
        number, fault = self.faults.take("resolver", method=request.method)
        doi = unquote(request.path.lstrip("/")).lower()
        target = self._target_of(doi)
        if fault is not None and fault.replaces_answer:
            status, headers, body = html_fault_answer(fault)
        elif target is None:
            status, headers, body = 404, [("Content-Type", _HTML)], b"<html>DOI Not Found</html>"
        else:
            status, headers = 302, [("Location", target), ("Content-Type", _HTML)]
            body = b'<html><body>Handle Redirect <a href="' + target.encode() + b'"></a></body>'
        return self._send(request, environ, start_response, "resolver", number, arrived, fault,
                          status, headers, body)  # fmt: skip

    def _target_of(self, doi: str) -> str | None:
        base = self.publisher_url
        if doi in PAGES:
            return f"{base}/pages/{PAGES[doi]}"
        if doi == CASSETTE_DOI:
            return self._cassette_url(_CASSETTE_START)
        own = {
            "10.9999/loop": "/loop/a",
            "10.9999/chain": "/chain/1",
            "10.9999/forbidden": "/forbidden",
            "10.9999/bare": "/bare",
            "10.9999/huge": "/huge",
            "10.9999/pdf": "/paper.pdf",
            "10.9999/private": "/private/page",
        }
        return f"{base}{own[doi]}" if doi in own else None

    # -- the publisher --------------------------------------------------------------------

    def _publisher(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        arrived = time.monotonic()
        request = Request(environ)
        path = request.path
        key = "robots" if path == "/robots.txt" else "page"
        number, fault = self.faults.take(key, method=request.method)
        if fault is not None and fault.replaces_answer:
            status, headers, body = html_fault_answer(fault)
        else:
            status, headers, body = self._page(path)
        return self._send(request, environ, start_response, key, number, arrived, fault,
                          status, headers, body)  # fmt: skip

    def _page(self, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
        if path == "/robots.txt":
            return 200, [("Content-Type", "text/plain")], self.robots_txt.encode()
        if path.startswith("/pages/"):
            page = self.pages_dir / Path(path).name
            if page.suffix == ".html" and page.is_file():
                return 200, [("Content-Type", _HTML)], page.read_bytes()
        if path in ("/loop/a", "/loop/b"):
            other = "/loop/b" if path == "/loop/a" else "/loop/a"
            return 302, [("Location", other)], b""
        if path.startswith("/chain/"):
            step = int(path.rsplit("/", 1)[1]) if path.rsplit("/", 1)[1].isdigit() else 0
            if step < 50:
                return 302, [("Location", f"/chain/{step + 1}")], b""
        if path == "/forbidden":
            return 403, [("Content-Type", _HTML)], b"<html>Access denied</html>"
        if path == "/bare":
            return 200, [("Content-Type", _HTML)], _BARE_PAGE
        if path == "/huge":
            filler = b"<p>" + b"x" * 1020 + b"</p>"
            body = b"<html><body>" + filler * (self.huge_page_bytes // len(filler) + 1)
            return 200, [("Content-Type", _HTML)], body
        if path == "/paper.pdf":
            return 200, [("Content-Type", "application/pdf")], _PDF
        if path.startswith("/private/"):
            return 200, [("Content-Type", _HTML)], _BARE_PAGE
        recorded = self._recorded().get(path)
        if recorded is not None:
            return recorded
        return 404, [("Content-Type", _HTML)], b"<html>Not found</html>"

    # -- the recorded Zenodo exchange -----------------------------------------------------

    def _cassette_url(self, recorded_url: str) -> str:
        parts = urlsplit(recorded_url)
        return f"{self.publisher_url}/{parts.netloc}{parts.path}"

    def _recorded(self) -> dict[str, tuple[int, list[tuple[str, str]], bytes]]:
        """The cassette's answers to the recorded host's pages, by this host's path."""
        with self._lock:
            if self._cassette is None:
                self._cassette = self._read_cassette()
            return self._cassette

    def _read_cassette(self) -> dict[str, tuple[int, list[tuple[str, str]], bytes]]:
        document: dict[str, Any] = yaml.safe_load((self.pages_dir / CASSETTE).read_text("utf-8"))
        answers = {}
        for interaction in document["interactions"]:
            uri = interaction["request"]["uri"]
            if "zenodo.org/records/" not in uri:
                continue  # the DataCite and doi.org/ra lookups are not pages
            response = interaction["response"]
            headers = []
            for name, values in response["headers"].items():
                if name.lower() == "location":
                    headers.append(("Location", self._cassette_url(values[0])))
                elif name.lower() == "content-type":
                    headers.append(("Content-Type", values[0]))
            body = (response["body"].get("string") or "").encode("utf-8")
            path = urlsplit(self._cassette_url(uri)).path
            answers[path] = (int(response["status"]["code"]), headers, body)
        return answers

    # -- answers --------------------------------------------------------------------------

    def _send(
        self,
        request: Request,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        key: str,
        number: int,
        arrived: float,
        fault: Fault | None,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> Iterable[bytes]:
        self._log.record(
            request, key=key, number=number, arrived=arrived, status=status, fault=fault
        )
        headers = [*headers, ("Content-Length", str(len(body)))]
        return respond(environ, start_response, status, headers, body, fault)
