"""A PubMed E-utilities emulator (esearch.fcgi, efetch.fcgi) over a corpus, as a WSGI app.

It answers in the formats of the real recorded responses (fixtures/pubmed_esearch, _efetch):
an `eSearchResult` with Count/RetMax/RetStart/QueryKey/WebEnv/IdList/TranslationSet/
QueryTranslation (zero hits with ErrorList/PhraseNotFound and WarningList like
biopython__esearch8.xml), a `PubmedArticleSet` with the real DOCTYPE. Result sets are sorted by
PMID, newest (highest) first, as PubMed lists them; efetch by history keeps that order, efetch
by `id=` keeps the order asked for.

Like NCBI it serves only the first 9,999 hits of a search (`retstart` up to 9998, measured on
the live service; a window crossing the limit is clipped with a warning, `retstart` past it is
an error), loses WebEnvs (on demand: `expire_webenvs()` or a fault), rate-limits per api_key or
client address (3/s, 10/s with a key) with HTTP 429, `Retry-After` and NCBI's JSON body, and can
be told to misbehave deterministically through a `sandbox.faults.FaultPlan` keyed by endpoint
("esearch", "efetch"; `Fault.expire()` loses the request's WebEnv). Every request is recorded.
"""

from __future__ import annotations

import datetime as dt
import html
import http
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from werkzeug.wrappers import Request

from sandbox.corpus import CorpusRecord, pubmed_article_set
from sandbox.faults import Fault, FaultPlan, RecordedRequest, RequestLog, request_params, respond

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["ESEARCH_WINDOW", "EutilsEmulator"]

ESEARCH_WINDOW = 9_999

_ESEARCH_PROLOG = (
    b'<?xml version="1.0" encoding="UTF-8" ?>\n'
    b'<!DOCTYPE eSearchResult PUBLIC "-//NLM//DTD esearch 20060628//EN" '
    b'"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">\n'
)
_EFETCH_ERROR_PROLOG = (
    b'<?xml version="1.0" encoding="UTF-8" ?>\n'
    b'<!DOCTYPE eEfetchResult PUBLIC "-//NLM//DTD efetch 20131226//EN" '
    b'"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20131226/efetch.dtd">\n'
)
_WINDOW_ERROR = (
    "Search Backend failed: Exception:\n'retstart' cannot be larger than 9998. For PubMed, "
    "ESearch can only retrieve the first 9,999 records matching the query. To obtain more than "
    "9,999 PubMed records, consider using EDirect that contains additional logic to batch "
    "PubMed search results automatically so that an arbitrary number can be retrieved. For "
    "details see https://www.ncbi.nlm.nih.gov/books/NBK25499/"
)
_XML = "text/xml; charset=UTF-8"
_DATETYPES = {"edat": "entrez_date", "mdat": "modified_date", "pdat": "pub_date"}
_DATETYPE_LABELS = {
    "edat": "Date - Entry",
    "mdat": "Date - Modification",
    "pdat": "Date - Publication",
}
_LANGUAGES = {
    "english": "eng",
    "german": "ger",
    "french": "fre",
    "spanish": "spa",
    "norwegian": "nor",
    "japanese": "jpn",
    "chinese": "chi",
    "portuguese": "por",
}


# ---------------------------------------------------------------------------------------------
# Search terms
# ---------------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(r'\(|\)|"[^"]*"(?:\[[^\]]*\])?|[^\s()"]+')
_TAGGED_RE = re.compile(r"^(.*?)\s*\[([^\]]+)\]$")
_OPERATORS = ("AND", "OR", "NOT")


class _TermSyntaxError(ValueError):
    pass


def _parse_term(term: str) -> Any:
    """A term as a tree: ("atom", text) or (op, left, right); booleans left to right as PubMed
    evaluates them, parentheses first, adjacent operands joined by AND."""
    tokens = _TOKEN_RE.findall(term)
    # Runs of plain words are one atom ("journal article[pt]", "cancer[All Fields]").
    merged: list[str] = []
    for token in tokens:
        plain = token not in ("(", ")") and token not in _OPERATORS
        if plain and merged and merged[-1] not in ("(", ")") and merged[-1] not in _OPERATORS:
            merged[-1] = f"{merged[-1]} {token}"
        else:
            merged.append(token)
    position = 0

    def operand() -> Any:
        nonlocal position
        if position >= len(merged):
            raise _TermSyntaxError("term ends where a search term was expected")
        piece = merged[position]
        position += 1
        if piece == "(":
            tree = expression()
            if position >= len(merged) or merged[position] != ")":
                raise _TermSyntaxError("unbalanced parentheses")
            position += 1
            return tree
        if piece == ")" or piece in _OPERATORS:
            raise _TermSyntaxError(f"unexpected {piece!r}")
        return ("atom", piece)

    def expression() -> Any:
        nonlocal position
        tree = operand()
        while position < len(merged) and merged[position] != ")":
            token = merged[position]
            if token in _OPERATORS:
                position += 1
                tree = (token, tree, operand())
            else:
                tree = ("AND", tree, operand())
        return tree

    if not merged:
        raise _TermSyntaxError("empty term")
    tree = expression()
    if position != len(merged):
        raise _TermSyntaxError("unbalanced parentheses")
    return tree


def _atoms(tree: Any) -> Iterator[str]:
    if tree[0] == "atom":
        yield tree[1]
    else:
        yield from _atoms(tree[1])
        yield from _atoms(tree[2])


def _translate(tree: Any) -> str:
    if tree[0] == "atom":
        text, tag = _split_tag(tree[1])
        if tag is None and text.lower() not in ("hasabstract", "*"):
            return f'"{text.strip(chr(34))}"[All Fields]'
        return tree[1]
    return f"({_translate(tree[1])} {tree[0]} {_translate(tree[2])})"


def _split_tag(atom: str) -> tuple[str, str | None]:
    match = _TAGGED_RE.match(atom)
    if match:
        return match.group(1).strip(), match.group(2).strip().lower()
    return atom.strip(), None


# ---------------------------------------------------------------------------------------------
# The emulator
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _History:
    queries: dict[int, list[int]] = field(default_factory=dict)
    expired: bool = False


@dataclass(slots=True)
class _Reply:
    status: int
    body: bytes
    content_type: str = _XML
    headers: list[tuple[str, str]] = field(default_factory=list)


class EutilsEmulator:
    """The WSGI app. Serves `<anything>/esearch.fcgi` and `<anything>/efetch.fcgi`, GET or POST
    (parameters from the query string and a form body are merged, as NCBI does).

    Args:
        corpus: the records to search and fetch.
        faults: the misbehaviour plan (a fresh empty one by default; also `self.faults`).
        rate_limits: requests per second allowed without and with an api_key, or None for no
            limit (tests that are not about rate limits, to run fast).
        rate_limit_retry_after: the `Retry-After` value sent with a rate-limit 429.
        window: how many hits of one search can be paged (9,999 on PubMed).
    """

    def __init__(
        self,
        corpus: Sequence[CorpusRecord],
        *,
        faults: FaultPlan | None = None,
        rate_limits: tuple[int, int] | None = (3, 10),
        rate_limit_retry_after: str = "1",
        window: int = ESEARCH_WINDOW,
    ) -> None:
        self.faults = faults or FaultPlan()
        self.rate_limits = rate_limits
        self.rate_limit_retry_after = rate_limit_retry_after
        self.window = window
        # Newest first: every result set is a filtered view of this order.
        self._records = sorted(corpus, key=lambda record: record.pmid, reverse=True)
        self._by_pmid = {record.pmid: record for record in self._records}
        self._texts: list[str] | None = None
        self._atom_cache: dict[str, frozenset[int]] = {}
        self._lock = threading.Lock()
        self._histories: dict[str, _History] = {}
        self._webenv_serial = 0
        self._recent: dict[str, deque[float]] = {}
        self._log = RequestLog()

    # -- inspection -------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (a copy)."""
        return self._log.entries()

    def expire_webenvs(self) -> int:
        """Forget every history (as NCBI does after hours of inactivity); how many were live."""
        with self._lock:
            live = [history for history in self._histories.values() if not history.expired]
            for history in live:
                history.expired = True
            return len(live)

    # -- WSGI -------------------------------------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        arrived = time.monotonic()
        request = Request(environ)
        endpoint = request.path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".fcgi")
        if endpoint not in ("esearch", "efetch"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not Found"]
        params = request_params(request)
        number, fault = self.faults.take(endpoint, method=request.method)

        reply: _Reply | None = None
        if fault is not None and fault.kind == "expire":
            self._expire(_first(params, "WebEnv"))
        if fault is not None and fault.replaces_answer:
            reply = self._fault_reply(fault, request)
        if reply is None:
            reply = self._rate_limit(params, request)
        if reply is None:
            handler = self._esearch if endpoint == "esearch" else self._efetch
            reply = handler(params)
            remaining = "2" if self.rate_limits else "-1"
            reply.headers += [
                ("X-RateLimit-Limit", str(self._limit_for(params))),
                ("X-RateLimit-Remaining", remaining),
            ]

        self._log.record(
            request, key=endpoint, number=number, arrived=arrived, status=reply.status, fault=fault
        )
        headers = [
            ("Content-Type", reply.content_type),
            ("Content-Length", str(len(reply.body))),
            *reply.headers,
        ]
        return respond(environ, start_response, reply.status, headers, reply.body, fault)

    # -- rate limit -------------------------------------------------------------------------

    def _limit_for(self, params: dict[str, list[str]]) -> int:
        if self.rate_limits is None:
            return 0
        return self.rate_limits[1] if _first(params, "api_key") else self.rate_limits[0]

    def _rate_limit(self, params: dict[str, list[str]], request: Request) -> _Reply | None:
        if self.rate_limits is None:
            return None
        limit = self._limit_for(params)
        # Keyed by the key itself, never echoed: the 429 body names the address, so a test that
        # looks for leaked keys in error messages stays meaningful.
        key = _first(params, "api_key") or request.remote_addr or "?"
        now = time.monotonic()
        with self._lock:
            recent = self._recent.setdefault(key, deque())
            # A 0.9 s window instead of 1 s tolerates the scheduling jitter of a client that
            # spaces its requests exactly 1/limit apart; bursts are still caught.
            while recent and recent[0] <= now - 0.9:
                recent.popleft()
            if len(recent) >= limit:
                return self._rate_limit_reply(
                    request, count=len(recent) + 1, limit=limit, retry_after=None
                )
            recent.append(now)
        return None

    def _rate_limit_reply(
        self, request: Request, *, count: int, limit: int, retry_after: str | None
    ) -> _Reply:
        body = json.dumps(
            {
                "error": "API rate limit exceeded",
                "api-key": request.remote_addr or "",
                "count": str(count),
                "limit": str(limit),
            },
            separators=(",", ":"),
        ).encode()
        return _Reply(
            429,
            body,
            "application/json",
            [
                ("Retry-After", retry_after or self.rate_limit_retry_after),
                ("X-RateLimit-Limit", str(limit)),
                ("X-RateLimit-Remaining", "0"),
            ],
        )

    def _fault_reply(self, fault: Fault, request: Request) -> _Reply:
        if fault.kind == "rate_limit":
            limit = self.rate_limits[0] if self.rate_limits else 3
            return self._rate_limit_reply(
                request, count=limit + 1, limit=limit, retry_after=fault.retry_after
            )
        if fault.kind == "answer":
            content_type = fault.content_type or "text/html; charset=UTF-8"
            return _Reply(fault.status, fault.body or b"", content_type, list(fault.headers))
        phrase = http.HTTPStatus(fault.status).phrase
        page = (
            f"<!DOCTYPE html><html><head><title>{fault.status} {phrase}</title></head>"
            f"<body><h1>{phrase}</h1><p>The server is temporarily unable to service your "
            "request. Please try again later.</p></body></html>"
        ).encode()
        headers = [("Retry-After", fault.retry_after)] if fault.retry_after is not None else []
        return _Reply(fault.status, page, "text/html; charset=UTF-8", headers)

    # -- esearch ----------------------------------------------------------------------------

    def _esearch(self, params: dict[str, list[str]]) -> _Reply:
        db = _first(params, "db") or ""
        if db != "pubmed":
            return _esearch_error(f"Invalid db name specified: {db}", status=400)
        term = (_first(params, "term") or "").strip()
        if not term:
            return _esearch_error("Empty term and query_key - nothing todo")
        try:
            tree = _parse_term(term)
            retstart = int(_first(params, "retstart") or 0)
            retmax = int(_first(params, "retmax") or 20)
            date_range = _date_range(params)
        except ValueError as exc:
            return _esearch_error(f"Invalid query: {exc}", status=400)
        if retstart > self.window - 1:
            return _esearch_error(_WINDOW_ERROR, status=400)

        hits = self._search(tree, date_range)
        count = len(hits)
        end = min(retstart + retmax, count)
        warnings: list[str] = []
        if end > self.window:
            end = self.window
            warnings.append(
                f"Restrictions achieved. start and count adjusted to {retstart}, "
                f"{max(0, end - retstart)}"
            )
        page = hits[retstart:end]
        history = ""
        if _first(params, "usehistory") == "y":
            webenv, query_key = self._remember(_first(params, "WebEnv"), hits)
            history = f"<QueryKey>{query_key}</QueryKey><WebEnv>{webenv}</WebEnv>"
        id_list = (
            "<IdList>\n" + "".join(f"<Id>{pmid}</Id>\n" for pmid in page) + "</IdList>"
            if page
            else "<IdList/>"
        )
        translation = _translate(tree)
        if date_range is not None:
            label = _DATETYPE_LABELS[date_range[0]]
            low, high = date_range[1], date_range[2]
            translation = f"{translation} AND {low:%Y/%m/%d}:{high:%Y/%m/%d}[{label}]"
        errors = "".join(
            f"<PhraseNotFound>{escape(atom)}</PhraseNotFound>"
            for atom in _atoms(tree)
            if not self._atom(atom)
        )
        if not count:
            warnings.append("No items found.")
        body = (
            f"<eSearchResult><Count>{count}</Count><RetMax>{len(page)}</RetMax>"
            f"<RetStart>{retstart}</RetStart>{history}{id_list}<TranslationSet/>"
            f"<QueryTranslation>{escape(translation)}</QueryTranslation>"
            + (f"<ErrorList>{errors}</ErrorList>" if errors else "")
            + (
                "<WarningList>"
                + "".join(f"<OutputMessage>{escape(w)}</OutputMessage>" for w in warnings)
                + "</WarningList>"
                if warnings
                else ""
            )
            + "</eSearchResult>\n"
        )
        return _Reply(200, _ESEARCH_PROLOG + body.encode())

    def _search(self, tree: Any, date_range: tuple[str, dt.date, dt.date] | None) -> list[int]:
        matching = self._evaluate(tree)
        hits = []
        for index, record in enumerate(self._records):
            if index not in matching:
                continue
            if date_range is not None:
                day = getattr(record, _DATETYPES[date_range[0]])
                if not date_range[1] <= day <= date_range[2]:
                    continue
            hits.append(record.pmid)
        return hits

    def _evaluate(self, tree: Any) -> frozenset[int]:
        if tree[0] == "atom":
            return self._atom(tree[1])
        left, right = self._evaluate(tree[1]), self._evaluate(tree[2])
        if tree[0] == "AND":
            return left & right
        if tree[0] == "OR":
            return left | right
        return left - right

    def _atom(self, atom: str) -> frozenset[int]:
        """Indexes (into the newest-first order) of the records an atom matches; cached."""
        with self._lock:
            cached = self._atom_cache.get(atom)
        if cached is not None:
            return cached
        text, tag = _split_tag(atom)
        text = text.strip('"').strip()
        lowered = text.lower()
        records = self._records
        predicate: Callable[[CorpusRecord], bool] | None = None
        if lowered in ("*", "all") and tag in (None, "sb", "all"):
            predicate = _always
        elif lowered == "hasabstract" and tag in (None, "text", "all fields", "all"):
            predicate = _has_abstract
        elif tag == "sb":
            if lowered == "medline":
                predicate = _is_medline
            elif lowered == "pubmed not medline":
                predicate = _not_medline
            else:
                predicate = _never
        elif tag in ("la", "lang", "language"):
            code = _LANGUAGES.get(lowered, lowered)
            predicate = _language_is(code)
        elif tag in ("pt", "ptyp", "publication type"):
            predicate = _publication_type_is(lowered)
        elif tag in ("pmid", "uid"):
            predicate = _pmid_is(text)
        if predicate is not None:
            result = frozenset(i for i, record in enumerate(records) if predicate(record))
        else:
            result = self._text_matches(lowered)
        with self._lock:
            self._atom_cache[atom] = result
        return result

    def _text_matches(self, phrase: str) -> frozenset[int]:
        """Records whose text (tags stripped, references decoded) contains the phrase as whole
        words, case-insensitively; a trailing `*` makes it a prefix."""
        texts = self._record_texts()
        words = phrase.casefold().split()
        if not words:
            return frozenset()
        pattern = r"\s+".join(re.escape(word.rstrip("*")) for word in words)
        pattern = r"(?<!\w)" + pattern + ("" if phrase.endswith("*") else r"(?!\w)")
        compiled = re.compile(pattern)
        return frozenset(i for i, text in enumerate(texts) if compiled.search(text))

    def _record_texts(self) -> list[str]:
        with self._lock:
            if self._texts is None:
                self._texts = [
                    html.unescape(re.sub(r"<[^>]+>", " ", record.xml.decode("utf-8"))).casefold()
                    for record in self._records
                ]
            return self._texts

    def _remember(self, webenv: str | None, hits: list[int]) -> tuple[str, int]:
        with self._lock:
            history = self._histories.get(webenv) if webenv else None
            if history is None or history.expired:
                self._webenv_serial += 1
                webenv = f"MCID_{0x6927D6E7FEE3E90F00000000 + self._webenv_serial * 7919:024x}"
                history = self._histories[webenv] = _History()
            assert webenv is not None
            query_key = len(history.queries) + 1
            history.queries[query_key] = hits
            return webenv, query_key

    def _expire(self, webenv: str | None) -> None:
        with self._lock:
            history = self._histories.get(webenv) if webenv else None
            if history is not None:
                history.expired = True

    # -- efetch -----------------------------------------------------------------------------

    def _efetch(self, params: dict[str, list[str]]) -> _Reply:
        db = _first(params, "db") or ""
        if db != "pubmed":
            return _efetch_error(f"Invalid db name specified: {db}", status=400)
        retmode = _first(params, "retmode") or "xml"
        if retmode != "xml":
            return _efetch_error(f"Unsupported retmode for this emulator: {retmode}", status=400)
        ids = [part for value in params.get("id", []) for part in re.split(r"[,\s]+", value)]
        ids = [part for part in ids if part]
        if ids:
            if not all(part.isdigit() for part in ids):
                return _efetch_error("Invalid uid in id list", status=400)
            seen: set[int] = set()
            records = []
            for pmid in map(int, ids):
                record = self._by_pmid.get(pmid)
                if record is not None and pmid not in seen:
                    seen.add(pmid)
                    records.append(record.xml)
            return _Reply(200, pubmed_article_set(records))
        webenv, query_key = _first(params, "WebEnv"), _first(params, "query_key")
        if not webenv or not query_key:
            return _efetch_error("Empty id list - nothing todo", status=400)
        try:
            retstart = int(_first(params, "retstart") or 0)
            retmax = int(_first(params, "retmax") or 20)
        except ValueError:
            return _efetch_error("Invalid retstart or retmax", status=400)
        with self._lock:
            history = self._histories.get(webenv)
            hits = None
            if history is not None and not history.expired and query_key.isdigit():
                hits = history.queries.get(int(query_key))
        if hits is None:
            # NCBI's answer for a lost history: HTTP 200, an eFetchResult with an ERROR.
            return _efetch_error(f"Unable to obtain query #{query_key}")
        if retstart > self.window - 1 and len(hits) > self.window:
            return _efetch_error(_WINDOW_ERROR, status=400)
        end = min(retstart + retmax, len(hits))
        if len(hits) > self.window:
            end = min(end, self.window)  # clipped silently, as NCBI does
        chosen = [self._by_pmid[pmid].xml for pmid in hits[retstart:end]]
        return _Reply(200, pubmed_article_set(chosen))


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _always(record: CorpusRecord) -> bool:
    return True


def _never(record: CorpusRecord) -> bool:
    return False


def _has_abstract(record: CorpusRecord) -> bool:
    return record.has_abstract


def _is_medline(record: CorpusRecord) -> bool:
    return record.medline


def _not_medline(record: CorpusRecord) -> bool:
    return not record.medline


def _language_is(code: str) -> Callable[[CorpusRecord], bool]:
    return lambda record: record.language == code


def _publication_type_is(name: str) -> Callable[[CorpusRecord], bool]:
    return lambda record: any(pt.lower() == name for pt in record.publication_types)


def _pmid_is(text: str) -> Callable[[CorpusRecord], bool]:
    wanted = int(text) if text.isdigit() else -1
    return lambda record: record.pmid == wanted


def _first(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[0] if values else None


def _parse_day(value: str, *, end: bool) -> dt.date:
    """NCBI's YYYY, YYYY/MM or YYYY/MM/DD (also with '-'); a partial date covers its period."""
    parts = [int(part) for part in re.split(r"[/-]", value.strip())]
    if len(parts) == 1:
        return dt.date(parts[0], 12, 31) if end else dt.date(parts[0], 1, 1)
    if len(parts) == 2:
        first = dt.date(parts[0], parts[1], 1)
        if not end:
            return first
        following = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        return following - dt.timedelta(days=1)
    return dt.date(parts[0], parts[1], parts[2])


def _date_range(params: dict[str, list[str]]) -> tuple[str, dt.date, dt.date] | None:
    mindate, maxdate = _first(params, "mindate"), _first(params, "maxdate")
    if not mindate or not maxdate:
        # Like NCBI: a range needs both ends; one alone is ignored.
        return None
    datetype = _first(params, "datetype") or "pdat"
    if datetype not in _DATETYPES:
        raise ValueError(f"unknown datetype {datetype!r}")
    return datetype, _parse_day(mindate, end=False), _parse_day(maxdate, end=True)


def _esearch_error(message: str, *, status: int = 200) -> _Reply:
    body = f"<eSearchResult><ERROR>{escape(message)}</ERROR></eSearchResult>\n"
    return _Reply(status, _ESEARCH_PROLOG + body.encode())


def _efetch_error(message: str, *, status: int = 200) -> _Reply:
    body = f"<eFetchResult>\n\t<ERROR>{escape(message)}</ERROR>\n</eFetchResult>\n"
    return _Reply(status, _EFETCH_ERROR_PROLOG + body.encode())
