"""The sandbox's Pure-like portal as HTML: each research output of `sandbox.pure_corpus` (the
seed among them) as a Pure portal research-output page, and the portal's listing pages
(`/en/publications/?page=N`, 0-based, as Pure numbers them), in the markup of real Pure 5.x
portals (the listing's is that of the recorded Bath listing in ../shared/fixtures/landing_html;
the output page's that of the portals' `portal-header`, `abstractportal` and `detailsportal`
renderings: `div.introduction` with `h1`, `p.relations.persons` and `p.type`,
`table.properties` rows, `span.prefix`/`span.date` of the state, the "ASJC Scopus subject
areas" keyword group, the fingerprint's concept badges, the `scopus-citations` metric).

`PortalPages` serves them as a WSGI app for `sandbox.server.serve`; mounted under a prefix
(werkzeug's `DispatcherMiddleware`, `SCRIPT_NAME`), its links carry the prefix. Pages name
their canonical URL on the portal's own host (`og:url`: `PureOutput.portal_url`, the URL
Pure's MODS gives in `location/url`), with "-2", "-3" added to a slug that an earlier output
already has, as Pure does with its pretty URLs; the emulator serves every page under its slug.

What a real page has and these do not: navigation, cookie banners, PlumX and Altmetric
widgets, "Cite this" exports. What is invented is the corpus's (see `sandbox.pure_corpus`).

The faults real portals have, as the landing emulator has them (`sandbox.faults`): a
`robots_txt` (served at `/robots.txt` when set, 404 otherwise: a `Disallow` of the listing's
`?page=`, a `Crawl-delay`), and a `FaultPlan` over requests counted by key ("robots",
"listing", "output", "other"): `pages.faults.at("listing", 3, fault=Fault.rate_limited(
retry_after="1"))`, `Fault.http_status(503)`, `pages.huge_page()` (a page past the client's
10 MiB cap). Every request is logged with its key, status and arrival (`recorded`).
"""

from __future__ import annotations

import datetime as dt
import html
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from werkzeug.wrappers import Request

from sandbox.faults import (
    Fault,
    FaultPlan,
    RecordedRequest,
    RequestLog,
    html_fault_answer,
    respond,
)
from sandbox.pure_corpus import (
    PORTAL_HOST,
    SEED_OUTPUT,
    TYPE_ROOT,
    PureOutput,
    PurePerson,
    generated_outputs,
    pure_items,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = [
    "LISTING_PATH",
    "PAGE_SIZE",
    "PortalPages",
    "listed_outputs",
    "render_listing_page",
    "render_output_page",
    "slugs",
]

LISTING_PATH = "/en/publications/"
PAGE_SIZE = 50
_HTML = "text/html; charset=utf-8"

# Pure's English labels of the corpus's types (the same as connectors.oaipmh.mods's, which the
# emulator does not import: it plays the server).
_TYPE_LABELS = {
    "contributiontojournal/article": ("Contribution to journal", "Article"),
    "contributiontojournal/systematicreview": ("Contribution to journal", "Review article"),
    "contributiontojournal/letter": ("Contribution to journal", "Letter"),
    "contributiontojournal/editorial": ("Contribution to journal", "Editorial"),
    "contributiontoconference/paper": ("Contribution to conference", "Paper"),
    "contributiontobookanthology/chapter": (
        "Chapter in Book/Report/Conference proceeding",
        "Chapter",
    ),
    "bookanthology/book": ("Book/Report", "Book"),
    "thesis/doc": ("Thesis", "Doctoral Thesis"),
}
_STATES = {
    "published": "Published",
    "inpress": "Accepted/In press",
    "epub_ahead_of_print": "E-pub ahead of print",
}
# The listing names a date's status in parentheses unless it is the publication's.
_LISTING_STATES = {"inpress": "Acceptance date", "epub_ahead_of_print": "E-pub ahead of print"}
_ASJC_GROUPS = "/dk/atira/pure/subjectarea/asjc/"
_INSTITUTION = "Sandbox University"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _category(output: PureOutput) -> str:
    return output.type_uri.removeprefix(TYPE_ROOT).partition("/")[0]


def _rendering(output: PureOutput, view: str) -> str:
    category = _category(output)
    return (
        f"rendering rendering_researchoutput rendering_researchoutput_{view} "
        f"rendering_{category} rendering_{view} rendering_{category}_{view}"
    )


def _slug(text: str) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in text.lower())
    return "-".join(part for part in slug.split("-") if part)


def _portal_date(value: str) -> str:
    """ "1994-04" → "Apr 1994", "2024-03-05" → "5 Mar 2024", "2024" → "2024"."""
    parts = [int(p) for p in value.split("-")]
    if len(parts) == 1:
        return str(parts[0])
    month = dt.date(parts[0], parts[1], 1).strftime("%b")
    return f"{month} {parts[0]}" if len(parts) == 2 else f"{parts[2]} {month} {parts[0]}"


def _person_slug(person: PurePerson) -> str | None:
    """Staff of the institution have a portal page; others are plain names."""
    if not any(_INSTITUTION in a for a in person.affiliations):
        return None
    return _slug(f"{person.given or ''} {person.family}")


def listed_outputs() -> list[PureOutput]:
    """The outputs the portal shows (those the OAI-PMH repository has not deleted), in its
    listing's default order: publication year descending, then title."""
    live = {item.identifier for item in pure_items() if not item.deleted}
    outputs = [SEED_OUTPUT, *(output for output, _stamp in generated_outputs())]
    shown = [output for output in outputs if output.identifier in live]
    return sorted(shown, key=lambda o: (-int(o.date_issued[:4]), o.title.lower(), o.uuid))


def slugs(outputs: Iterable[PureOutput]) -> dict[str, str]:
    """uuid → the output's slug, unique: the corpus's URL slug, "-2", "-3" added on repeats
    (in the order given)."""
    taken: set[str] = set()
    result: dict[str, str] = {}
    for output in outputs:
        base = output.portal_url.rsplit("/", 1)[-1]
        slug, number = base, 1
        while slug in taken:
            number += 1
            slug = f"{base}-{number}"
        taken.add(slug)
        result[output.uuid] = slug
    return result


# --- a research-output page ------------------------------------------------------------------


def _page_person(person: PurePerson, prefix: str) -> str:
    name = f"{person.given} {person.family}" if person.given else person.family
    slug = _person_slug(person)
    if slug is None:
        return f"<span>{_e(name)}</span>"
    return (
        f'<a rel="Person" href="{_e(prefix)}/en/persons/{slug}" class="link person">'
        f"<span>{_e(name)}</span></a>"
    )


def _type_line(output: PureOutput) -> str:
    parent, classification = _TYPE_LABELS[output.type_uri.removeprefix(TYPE_ROOT)]
    review = (
        '<span class="type_classification"><span class="type_parent_sep"> › </span>'
        "peer-review</span>"
        if output.peer_reviewed
        else ""
    )
    return (
        '<p class="type"><span class="type_family">Research output<span '
        'class="type_family_sep">: </span></span><span class="type_classification_parent">'
        f'{_e(parent)}<span class="type_parent_sep"> › </span></span>'
        f'<span class="type_classification">{_e(classification)}</span>{review}</p>'
    )


def _row(kind: str, label: str, value: str) -> str:
    return f'<tr class="{kind}"><th scope="row">{_e(label)}</th><td>{value}</td></tr>'


def _properties(output: PureOutput, prefix: str) -> str:
    category = _category(output)
    rows = [_row("language", "Original language", _e(output.language[0]))]
    if output.pages:
        rows.append(_row("pages", "Pages (from-to)", _e(output.pages)))
    if output.page_count is not None:
        rows.append(_row("numberofpages", "Number of pages", str(output.page_count)))
    if output.host_title:
        if category == "contributiontojournal":
            link = (
                f'<a rel="Journal" href="{_e(prefix)}/en/journals/{_slug(output.host_title)}" '
                f'class="link"><span>{_e(output.host_title)}</span></a>'
            )
            rows.append(_row("journal", "Journal", link))
        else:
            rows.append(_row("hostpublication", "Host publication", _e(output.host_title)))
    if output.volume:
        rows.append(_row("volume", "Volume", _e(output.volume)))
    if output.issue:
        rows.append(_row("journalnumber", "Issue number", _e(output.issue)))
    if output.publisher:
        rows.append(_row("publisher", "Publisher", _e(output.publisher)))
    state = (
        f'<span class="prefix">{_e(_STATES[output.status])}</span> - '
        f'<span class="date">{_e(_portal_date(output.date_issued))}</span>'
    )
    rows.append(_row("status", "State", state))
    if output.issn and category == "contributiontojournal":
        rows.append(_row("issn", "ISSN (Print)", _e(output.issn)))
    return (
        f'<div class="{_rendering(output, "detailsportal")}"><div class="article">'
        f'<table class="properties"><tbody>{"".join(rows)}</tbody></table></div></div>'
    )


def _keyword_group(heading: str, items: Sequence[str]) -> str:
    if not items:
        return ""
    return (
        f'<div class="keyword-group"><h3 class="subheader">{_e(heading)}</h3>'
        f'<ul class="relations keywords">{"".join(items)}</ul></div>'
    )


def _asjc_item(code: str, label: str, prefix: str) -> str:
    uri = f"{_ASJC_GROUPS}{code[:2]}00/{code}"
    return (
        f'<li class="userdefined-keyword"><a href="{_e(prefix)}{LISTING_PATH}?type='
        f'{quote(uri, safe="")}" class="link">{_e(label)}</a></li>'
    )


def _concept_badges(concepts: Sequence[str]) -> str:
    """The concepts as the portal's badges; the corpus gives no weights, so none are shown."""
    badges = "".join(
        '<li class="concept-badge-small-container dropdown-overflow" role="none">'
        '<button class="concept-badge-small tooltipped dropdown-toggle" role="menuitem">'
        f'<span class="concept-wrapper"><span class="concept">{_e(concept)}</span></span>'
        "</button></li>"
        for concept in concepts
    )
    return f'<ul class="content-concept-list concept-badge-container" role="menubar">{badges}</ul>'


def _metrics(output: PureOutput) -> str:
    if output.citations is None:
        return ""
    return (
        '<div class="metrics-container"><div class="metrics-wrap metrics-top one">'
        f'<div class="metric scopus-citations"><span class="count">{output.citations}</span> '
        '<span class="label">Scopus citations</span></div></div></div>'
    )


def render_output_page(output: PureOutput, *, slug: str | None = None, prefix: str = "") -> bytes:
    """One research output as its portal page (`slug`: its unique one, default the corpus's;
    `prefix`: where the emulator is mounted, for its own links)."""
    canonical = f"https://{PORTAL_HOST}/en/publications/{slug or _slug(output.title)}"
    title = f"{output.title}: {output.subtitle}" if output.subtitle else output.title
    persons = ", ".join(_page_person(p, prefix) for p in output.persons)
    parts = [
        f'<div class="{_rendering(output, "portal-header")}"><div class="introduction">'
        f'<h1><span>{_e(title)}</span></h1><p class="relations persons">{persons}</p>'
        f"{_type_line(output)}</div></div>",
        _metrics(output),
    ]
    if output.abstract:
        parts.append(
            f'<section class="page-section"><div class="{_rendering(output, "abstractportal")}">'
            f'<div class="textblock">{_e(output.abstract)}</div></div></section>'
        )
    parts.append(_properties(output, prefix))
    keywords = [f'<li class="userdefined-keyword">{_e(k)}</li>' for k in output.keywords]
    parts.append(_keyword_group("Keywords", keywords))
    asjc = [_asjc_item(code, label, prefix) for code, label in output.asjc]
    parts.append(_keyword_group("ASJC Scopus subject areas", asjc))
    if output.doi:
        parts.append(
            f'<div class="{_rendering(output, "publicationaccessrenderer")}"><ul class="dois">'
            f'<li><div class="doi"><a href="https://doi.org/{_e(output.doi)}" class="link">'
            f"<span>{_e(output.doi)}</span></a></div></li></ul></div>"
        )
    parts.append(
        '<section class="page-section fingerprint"><h2>Fingerprint</h2><p>Dive into the '
        f"research topics of &#39;{_e(title)}&#39;. Together they form a unique fingerprint."
        f'</p><div class="fingerprint-concepts">{_concept_badges(output.fingerprints)}</div>'
        "</section>"
    )
    return (
        '<!DOCTYPE html><html lang="en-US"><head><meta charset="utf-8">'
        f"<title>{_e(title)} — Sandbox University Research Portal</title>"
        f'<meta property="og:title" content="{_e(title)}">'
        f'<meta property="og:url" content="{_e(canonical)}">'
        f'<link rel="canonical" href="{_e(canonical)}">'
        "<script>window.pure = {stopEvent: function () { return false; }};</script>"
        '</head><body><main id="main-content" role="main">'
        + "".join(parts)
        + "</main></body></html>"
    ).encode()


# --- a listing page --------------------------------------------------------------------------


def _initials(given: str | None) -> str:
    return " ".join(f"{part[0]}." for part in (given or "").replace(".", " ").split())


def _listing_person(person: PurePerson, prefix: str) -> str:
    initials = _initials(person.given)
    name = f"{person.family}, {initials}" if initials else person.family
    if person.role == "editor":
        name += " (ed.)"
    slug = _person_slug(person)
    if slug is None:
        return f"<span>{_e(name)}</span>"
    return (
        f'<a rel="Person" href="{_e(prefix)}/en/persons/{slug}" class="link person">'
        f"<span>{_e(name)}</span></a>"
    )


def _byline(people: Sequence[str]) -> str:
    if len(people) < 2:
        return "".join(people)
    return ", ".join(people[:-1]) + " &amp; " + people[-1]


def _listing_item(output: PureOutput, number: int, url: str, prefix: str) -> str:
    title = f"{output.title}: {output.subtitle}" if output.subtitle else output.title
    parts = [
        f'<h3 class="title"><a rel="ResearchOutput" href="{_e(url)}" class="link">'
        f"<span>{_e(title)}</span></a></h3>",
        _byline([_listing_person(p, prefix) for p in output.persons]),
        f', <span class="date">{_e(_portal_date(output.date_issued))}</span>',
    ]
    if output.status in _LISTING_STATES:
        parts.append(f", ({_LISTING_STATES[output.status]})")
    if output.host_title and _category(output) == "contributiontojournal":
        parts.append(
            ', <span class="journal">In: <a rel="Journal" href="#" class="link" tabindex="-1">'
            f"<span>{_e(output.host_title)}.</span></a></span>"
        )
        if output.volume:
            parts.append(f' <span class="volume">{_e(output.volume)}</span>')
        if output.issue:
            parts.append(f', <span class="journalnumber">{_e(output.issue)}</span>')
    elif output.host_title:
        parts.append(f", <em>{_e(output.host_title)}.</em>")
    if output.publisher:
        parts.append(
            ' <a rel="Publisher" href="#" class="link" tabindex="-1">'
            f"<span>{_e(output.publisher)}</span></a>"
        )
    if output.pages:
        parts.append(f', <span class="pages">p. {_e(output.pages)}</span>')
    if output.page_count is not None:
        parts.append(f' <span class="numberofpages">{output.page_count} p.</span>')
    parts.append(_type_line(output))
    item = (
        f'<li class="list-result-item list-result-item-{number}"><div class="result-container">'
        f'<div class="{_rendering(output, "portal-short")}">{"".join(parts)}</div>'
    )
    if output.fingerprints:
        item += _concept_badges(output.fingerprints)
    item += '</div><div class="publication-metrics"><div class="metrics-container">'
    if output.citations is not None:
        item += (
            '<div class="metrics-wrap metrics-top one"><div class="metric scopus-citations">'
            f'<span class="count">{output.citations}</span> <span class="label">Citations '
            "(Scopus)</span></div></div>"
        )
    if output.doi:
        item += (
            f'<div class="metric metric-altmetric"><div data-doi="{_e(output.doi)}" '
            'class="altmetric-embed"></div></div>'
        )
    return item + "</div></div></li>"


def render_listing_page(
    outputs: Sequence[PureOutput],
    page: int,
    *,
    page_size: int = PAGE_SIZE,
    prefix: str = "",
    base_url: str = "",
) -> bytes:
    """Page `page` (0-based) of the listing of `outputs` (in order), with the pager; title
    links are `base_url` + `prefix` + the output's unique slug."""
    unique = slugs(outputs)
    shown = outputs[page * page_size : (page + 1) * page_size]
    first = page * page_size
    items = "".join(
        _listing_item(o, first + i, f"{base_url}{prefix}/en/publications/{unique[o.uuid]}", prefix)
        for i, o in enumerate(shown)
    )
    pages = max(1, -(-len(outputs) // page_size))
    steps = "".join(
        f'<li><span class="currentStep">{n + 1}</span></li>'
        if n == page
        else f'<li><a href="{_e(prefix)}{LISTING_PATH}?page={n}" class="step">{n + 1}</a></li>'
        for n in range(pages)
    )
    if page + 1 < pages:
        steps += (
            f'<li class="next"><a href="{_e(prefix)}{LISTING_PATH}?page={page + 1}" '
            'class="nextLink">Next ›</a></li>'
        )
    last = min(len(outputs), first + page_size)
    information = f"{first + 1} - {last} out of {len(outputs):,} results" if shown else ""
    return (
        '<!DOCTYPE html><html lang="en-US"><head><meta charset="utf-8">'
        "<title>Research output — Sandbox University Research Portal</title></head><body>"
        '<div class="portal-search-results"><div class="search-result-top"><ul>'
        f'<li class="search-pager-information">{information}</li></ul></div>'
        f'<ul class="list-results">{items}</ul>'
        f'<nav class="pages" aria-label="Pagination"><ul>{steps}</ul></nav></div>'
        "</body></html>"
    ).encode()


# --- the app ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Portal:
    outputs: list[PureOutput]
    by_slug: dict[str, PureOutput]
    slug_of: dict[str, str]


class PortalPages:
    """The portal's HTML as a WSGI app: `/en/publications/` (`?page=N`, 0-based),
    `/en/publications/<slug>` and `/robots.txt` (when `robots_txt` is set); anything else 404.
    Every request is counted by path (`requests`) and logged (`recorded`); `faults` applies
    to each by key (see the module docstring)."""

    def __init__(
        self,
        outputs: Sequence[PureOutput] | None = None,
        *,
        page_size: int = PAGE_SIZE,
        huge_page_bytes: int = 12 << 20,
    ) -> None:
        shown = list(outputs) if outputs is not None else listed_outputs()
        unique = slugs(shown)
        self.portal = _Portal(shown, {unique[o.uuid]: o for o in shown}, unique)
        self.page_size = page_size
        self.huge_page_bytes = huge_page_bytes
        self.robots_txt: str | None = None
        self.faults = FaultPlan()
        self.requests: list[str] = []
        self._log = RequestLog()

    @property
    def recorded(self) -> list[RecordedRequest]:
        """Every request received, in arrival order (a copy)."""
        return self._log.entries()

    def url_of(self, output: PureOutput) -> str:
        """The path of an output's page (under the app)."""
        return f"/en/publications/{self.portal.slug_of[output.uuid]}"

    def huge_page(self) -> Fault:
        """A fault answering an HTML page of `huge_page_bytes` (past the client's cap)."""
        filler = b"<p>" + b"x" * 1020 + b"</p>"
        body = b"<html><body>" + filler * (self.huge_page_bytes // len(filler) + 1)
        return Fault.answer(200, body, content_type=_HTML)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        arrived = time.monotonic()
        request = Request(environ)
        self.requests.append(request.full_path)
        key, output = self._key(request.path)
        number, fault = self.faults.take(key, method=request.method)
        if fault is not None and fault.replaces_answer:
            status, headers, body = html_fault_answer(fault)
        else:
            status, headers, body = self._answer(request, key, output)
        self._log.record(
            request, key=key, number=number, arrived=arrived, status=status, fault=fault
        )
        headers = [*headers, ("Content-Length", str(len(body)))]
        return respond(environ, start_response, status, headers, body, fault)

    def _key(self, path: str) -> tuple[str, PureOutput | None]:
        if path == "/robots.txt":
            return "robots", None
        if path.rstrip("/") + "/" == LISTING_PATH:
            return "listing", None
        if path.startswith(LISTING_PATH):
            output = self.portal.by_slug.get(path[len(LISTING_PATH) :].strip("/"))
            if output is not None:
                return "output", output
        return "other", None

    def _answer(
        self, request: Request, key: str, output: PureOutput | None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        prefix = request.script_root
        if key == "robots" and self.robots_txt is not None:
            return 200, [("Content-Type", "text/plain")], self.robots_txt.encode()
        if key == "listing":
            try:
                page = int(request.args.get("page", "0"))
            except ValueError:
                page = -1
            if page < 0:
                return 400, [("Content-Type", "text/plain")], b"Bad page"
            body = render_listing_page(
                self.portal.outputs,
                page,
                page_size=self.page_size,
                prefix=prefix,
                base_url=request.host_url.rstrip("/"),
            )
            return 200, [("Content-Type", _HTML)], body
        if output is not None:
            body = render_output_page(output, slug=self.portal.slug_of[output.uuid], prefix=prefix)
            return 200, [("Content-Type", _HTML)], body
        return 404, [("Content-Type", "text/plain")], b"Not Found"
