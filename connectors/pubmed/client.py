"""PubMed E-utilities client: plan a query as slices that each fit PubMed's paging window, then
yield raw efetch pages (bytes + checkpoint) for each slice, hiding WebEnv/retstart plumbing.

Every request is a POST with a form body, so `api_key` never appears in a URL (NCBI accepts POST
for esearch and efetch). The client checks the envelope of each answer (an `eSearchResult`, a
complete `PubmedArticleSet`); parsing records is `connectors.pubmed.parse`'s job.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from lxml import etree
from pydantic import SecretStr

from connectors.http import HttpReply, PoliteSession, redact
from schemas.errors import BiblioduckError, FatalError, MalformedPayloadError, TransientError

__all__ = [
    "DEFAULT_SPLIT_TERMS",
    "EUTILS_BASE_URL",
    "SEARCH_WINDOW",
    "EfetchPage",
    "EutilsClient",
    "QuerySlice",
    "SearchResult",
]

log = logging.getLogger(__name__)

SOURCE = "PubMed E-utilities"
EUTILS_BASE_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"

# PubMed pages through the first 9,999 hits of a search only: NCBI documents 10,000, but the
# live service refuses retstart > 9998 and silently clips windows that cross 9,999 (measured).
# A slice must therefore hold at most 9,999 hits, or its tail would be lost without a word.
SEARCH_WINDOW = 9_999

# Complementary filters for splitting a single day that still holds too many hits: each X
# divides a set S exactly into `S AND X` and `S NOT X`. Filters that cut large sets roughly in
# half come first; the order is part of every slice key, so changing it invalidates checkpoints.
DEFAULT_SPLIT_TERMS = (
    "hasabstract",
    "english[la]",
    "journal article[pt]",
    "medline[sb]",
    "review[pt]",
    "case reports[pt]",
)

_DATETYPES = ("edat", "mdat", "pdat")
_HISTORY_LOST = re.compile(r"unable to obtain query|cannot retrieve query|query key|webenv", re.I)
_PROLOG_ROOT = re.compile(
    rb"^\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*"
    rb"(?:<!DOCTYPE[^>\[]*(?:\[.*?\])?\s*>\s*)?(?:<!--.*?-->\s*)*<([A-Za-z_][\w.:-]*)",
    re.S,
)
_EMPTY_SET_END = re.compile(rb"<PubmedArticleSet\s*/>$")
_SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@dataclass(frozen=True, slots=True)
class SearchResult:
    """One esearch answer: the hit count, the history handles (None without `usehistory` or
    when NCBI gives none) and the PMIDs of the requested window (empty with `retmax=0`)."""

    count: int
    webenv: str | None
    query_key: str | None
    ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class QuerySlice:
    """A part of a query small enough to page through completely: `term` over the inclusive
    date range `mindate..maxdate` of `datetype` (edat, mdat or pdat). `count` is the hit count
    when it was planned. Slices from one `plan_slices` call are disjoint and together
    exhaustive."""

    term: str
    mindate: dt.date
    maxdate: dt.date
    datetype: str
    count: int

    @property
    def key(self) -> str:
        """A stable identity for checkpoints (the count is deliberately not part of it)."""
        return f"pubmed:{self.datetype}:{self.mindate:%Y/%m/%d}-{self.maxdate:%Y/%m/%d}:{self.term}"


@dataclass(frozen=True, slots=True)
class EfetchPage:
    """A raw efetch answer (a complete `PubmedArticleSet` document) and its checkpoint: the page
    covers result positions `retstart .. retstart + count - 1` of the slice `slice_key`, whose
    size was `total` when it was searched. After storing it, resume from `retstart + count`.
    The body may hold fewer articles than `count` when records were deleted meanwhile."""

    slice_key: str
    retstart: int
    count: int
    body: bytes
    total: int

    @property
    def next_retstart(self) -> int:
        """Where the next page of the same slice starts."""
        return self.retstart + self.count


class _HistoryLost(BiblioduckError):
    """NCBI no longer knows the WebEnv/query_key (internal: the client searches again)."""


class EutilsClient:
    """The E-utilities client for PubMed.

    Args:
        base_url: the E-utilities base (`EUTILS_BASE_URL`, or an emulator's).
        tool, email: NCBI's required identification of the software and of a contact person.
        api_key: NCBI API key (raises the rate limit from 3 to 10 requests/s); never logged.
        session: the HTTP session; by default a `PoliteSession` at NCBI's rate for the key.
        batch_size: records per efetch request.
        split_terms: complementary filters used to split one day that exceeds the window.
        max_history_retries: how many times in a row one page may hit a lost WebEnv before
            the client gives up with `TransientError`.
    """

    def __init__(
        self,
        base_url: str = EUTILS_BASE_URL,
        *,
        tool: str,
        email: str,
        api_key: SecretStr | None = None,
        session: PoliteSession | None = None,
        batch_size: int = 500,
        split_terms: Sequence[str] = DEFAULT_SPLIT_TERMS,
        max_history_retries: int = 3,
    ) -> None:
        if not tool or not email:
            raise FatalError(f"{SOURCE}: NCBI requires `tool` and `email`; configure both.")
        if not 1 <= batch_size <= SEARCH_WINDOW:
            raise ValueError(f"batch_size must be within 1..{SEARCH_WINDOW}")
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.tool = tool
        self.email = email
        self._api_key = api_key
        key = api_key.get_secret_value() if api_key is not None else None
        if session is None:
            session = PoliteSession(
                source=SOURCE,
                requests_per_second=10.0 if key else 3.0,
                secrets=[key] if key else (),
            )
        session.add_secret(key)
        self.session = session
        self.batch_size = batch_size
        self.split_terms = tuple(split_terms)
        self.max_history_retries = max_history_retries

    def __repr__(self) -> str:
        return (
            f"EutilsClient({self.base_url!r}, tool={self.tool!r}, email={self.email!r}, "
            f"api_key={'set' if self._api_key else None})"
        )

    # -- searching --------------------------------------------------------------------------

    def search(
        self,
        term: str,
        *,
        mindate: dt.date | None = None,
        maxdate: dt.date | None = None,
        datetype: str = "mdat",
        retmax: int = 0,
        usehistory: bool = True,
    ) -> SearchResult:
        """esearch `term`, optionally within an inclusive date range (both ends or neither),
        keeping the result on NCBI's history server (`usehistory=y`) for efetch.

        Raises:
            FatalError: a bad argument, or NCBI refusing the request.
            TransientError: NCBI failing; retried inside first.
        """
        form: dict[str, str | int] = {
            "db": "pubmed",
            "term": term,
            "retmax": retmax,
            "retstart": 0,
        }
        if usehistory:
            form["usehistory"] = "y"
        form.update(_date_params(mindate, maxdate, datetype))
        reply = self._post("esearch.fcgi", form, validate=_check_esearch)
        return _parse_esearch(reply.body, term)

    def count(
        self, term: str, *, mindate: dt.date, maxdate: dt.date, datetype: str = "mdat"
    ) -> int:
        """The number of hits of `term` in the date range (one esearch, no history)."""
        return self.search(
            term, mindate=mindate, maxdate=maxdate, datetype=datetype, usehistory=False
        ).count

    def plan_slices(
        self, term: str, *, mindate: dt.date, maxdate: dt.date, datetype: str = "mdat"
    ) -> list[QuerySlice]:
        """Split `term` over `mindate..maxdate` into slices of at most `SEARCH_WINDOW` hits.

        Date ranges are halved recursively down to single days; a single day still over the
        window is split by `(term) AND X` / `(term) NOT X` for X in `split_terms`, recursively.
        Each split is into complementary halves, so the slices are disjoint and cover the query
        exactly (as of planning time). Empty slices are left out.

        Raises:
            FatalError: a single day cannot be brought under the window with the split terms.
        """
        if mindate > maxdate:
            raise ValueError(f"mindate {mindate} is after maxdate {maxdate}")
        _check_datetype(datetype)
        slices: list[QuerySlice] = []
        self._plan_dates(term, mindate, maxdate, datetype, slices, known=None)
        log.info(
            "%s: %r over %s..%s (%s) planned as %d slice(s), %d hits",
            SOURCE,
            term,
            mindate,
            maxdate,
            datetype,
            len(slices),
            sum(piece.count for piece in slices),
        )
        return slices

    def _plan_dates(
        self,
        term: str,
        low: dt.date,
        high: dt.date,
        datetype: str,
        out: list[QuerySlice],
        known: int | None,
    ) -> None:
        hits = (
            known
            if known is not None
            else self.count(term, mindate=low, maxdate=high, datetype=datetype)
        )
        if hits == 0:
            return
        if hits <= SEARCH_WINDOW:
            out.append(QuerySlice(term, low, high, datetype, hits))
            return
        if low == high:
            self._plan_terms(f"({term})", term, low, datetype, 0, out, hits)
            return
        middle = low + (high - low) // 2
        self._plan_dates(term, low, middle, datetype, out, known=None)
        self._plan_dates(term, middle + dt.timedelta(days=1), high, datetype, out, known=None)

    def _plan_terms(
        self,
        narrowed: str,
        original: str,
        day: dt.date,
        datetype: str,
        next_split: int,
        out: list[QuerySlice],
        hits: int,
    ) -> None:
        if hits == 0:
            return
        if hits <= SEARCH_WINDOW:
            out.append(QuerySlice(narrowed, day, day, datetype, hits))
            return
        if next_split >= len(self.split_terms):
            raise FatalError(
                f"{SOURCE}: the query {original!r} has {hits} hits on {day:%Y/%m/%d} ({datetype}) "
                f"even narrowed to {narrowed!r}; PubMed pages through {SEARCH_WINDOW} at most. "
                "Add split_terms that divide this day further, or narrow the query."
            )
        split = self.split_terms[next_split]
        # PubMed evaluates booleans left to right: "(T) AND X NOT Y" is "((T) AND X) NOT Y".
        with_term = f"{narrowed} AND {split}"
        without_term = f"{narrowed} NOT {split}"
        with_hits = self.count(with_term, mindate=day, maxdate=day, datetype=datetype)
        without_hits = self.count(without_term, mindate=day, maxdate=day, datetype=datetype)
        if with_hits + without_hits != hits:
            # The day changed while we counted: the halves would not add up to the whole.
            raise TransientError(
                f"{SOURCE}: {original!r} on {day:%Y/%m/%d} had {hits} hits but its halves by "
                f"{split!r} have {with_hits} + {without_hits}; PubMed changed while planning. "
                "Plan again later."
            )
        self._plan_terms(with_term, original, day, datetype, next_split + 1, out, with_hits)
        self._plan_terms(without_term, original, day, datetype, next_split + 1, out, without_hits)

    # -- fetching ---------------------------------------------------------------------------

    def iter_pages(self, piece: QuerySlice, *, start: int = 0) -> Iterator[EfetchPage]:
        """Yield the slice's records as efetch pages of `batch_size`, from position `start`
        (a checkpoint's `next_retstart`). A WebEnv that NCBI has lost is replaced by searching
        again, and fetching goes on from the same position.

        Raises:
            FatalError: the slice grew past the window since it was planned (plan again).
            MalformedPayloadError: an answer that is not a PubmedArticleSet (e.g. HTML).
            TransientError: NCBI kept failing (after retries).
        """
        result = self._search_slice(piece)
        retstart = start
        lost_in_a_row = 0
        while retstart < result.count:
            size = min(self.batch_size, result.count - retstart)
            try:
                body = self._efetch_history(result, retstart, size)
            except _HistoryLost as lost:
                lost_in_a_row += 1
                if lost_in_a_row > self.max_history_retries:
                    raise TransientError(
                        f"{SOURCE}: efetch of slice {piece.key!r} at retstart={retstart} lost "
                        f"its search history {lost_in_a_row} times in a row ({lost}). NCBI's "
                        "history server is failing; retry later."
                    ) from None
                log.info(
                    "%s: history lost at retstart=%d of %s (%s); searching again",
                    SOURCE,
                    retstart,
                    piece.key,
                    lost,
                )
                previous = result.count
                result = self._search_slice(piece)
                if result.count != previous:
                    log.warning(
                        "%s: slice %s changed from %d to %d hits while paging; positions "
                        "may have shifted",
                        SOURCE,
                        piece.key,
                        previous,
                        result.count,
                    )
                continue
            lost_in_a_row = 0
            yield EfetchPage(piece.key, retstart, size, body, result.count)
            retstart += size

    def fetch_by_ids(self, pmids: Iterable[int | str]) -> Iterator[EfetchPage]:
        """Yield efetch pages for a list of PMIDs, `batch_size` per POST. The page key names
        the whole list (a hash), `retstart` is the offset in it."""
        ids = [_pmid(value) for value in pmids]
        if not ids:
            return
        digest = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:16]
        key = f"pubmed:ids:{len(ids)}:{digest}"
        for offset in range(0, len(ids), self.batch_size):
            batch = ids[offset : offset + self.batch_size]
            form: dict[str, str | int] = {
                "db": "pubmed",
                "id": ",".join(map(str, batch)),
                "retmode": "xml",
            }
            reply = self._post("efetch.fcgi", form, validate=_check_article_set)
            yield EfetchPage(key, offset, len(batch), reply.body, len(ids))

    def _search_slice(self, piece: QuerySlice) -> SearchResult:
        result = self.search(
            piece.term, mindate=piece.mindate, maxdate=piece.maxdate, datetype=piece.datetype
        )
        if result.count > SEARCH_WINDOW:
            raise FatalError(
                f"{SOURCE}: slice {piece.key!r} now has {result.count} hits (planned with "
                f"{piece.count}), more than the {SEARCH_WINDOW} PubMed can page through. Plan "
                "the slices again."
            )
        if result.count and (not result.webenv or not result.query_key):
            raise MalformedPayloadError(
                f"{SOURCE}: esearch for {piece.term!r} with usehistory=y returned no "
                "WebEnv/QueryKey; cannot page through the result."
            )
        return result

    def _efetch_history(self, result: SearchResult, retstart: int, size: int) -> bytes:
        assert result.webenv is not None and result.query_key is not None
        form: dict[str, str | int] = {
            "db": "pubmed",
            "query_key": result.query_key,
            "WebEnv": result.webenv,
            "retstart": retstart,
            "retmax": size,
            "retmode": "xml",
        }
        return self._post("efetch.fcgi", form, validate=_check_article_set).body

    def _post(
        self,
        endpoint: str,
        form: dict[str, str | int],
        *,
        validate: Callable[[HttpReply], None],
    ) -> HttpReply:
        body: dict[str, str | int] = {**form, "tool": self.tool, "email": self.email}
        if self._api_key is not None:
            body["api_key"] = self._api_key.get_secret_value()
        return self.session.fetch("POST", self.base_url + endpoint, data=body, validate=validate)


# ---------------------------------------------------------------------------------------------
# Envelope checks (run inside the session's retry loop: TransientError there means "retry")
# ---------------------------------------------------------------------------------------------


def _root_name(body: bytes) -> str | None:
    match = _PROLOG_ROOT.match(body[:8192])
    return match.group(1).decode("ascii", "replace") if match else None


def _describe_body(body: bytes) -> str:
    text = " ".join(body[:200].decode("utf-8", "replace").split())
    return redact(text)


def _check_esearch(reply: HttpReply) -> None:
    root = _root_name(reply.body)
    if root != "eSearchResult":
        _raise_not_expected(reply.body, "an eSearchResult")
    error = _error_text(reply.body)
    if error is not None:
        if "cannot be larger than" in error or "Invalid" in error:
            raise FatalError(f"{SOURCE}: esearch refused the request: {redact(error)}")
        # NCBI reports backend trouble in-band with HTTP 200: worth another attempt.
        raise TransientError(f"esearch answered with an error: {redact(error)}")


def _check_article_set(reply: HttpReply) -> None:
    body = reply.body
    root = _root_name(body)
    if root == "PubmedArticleSet":
        tail = body.rstrip()
        if not (tail.endswith(b"</PubmedArticleSet>") or _EMPTY_SET_END.search(tail)):
            raise TransientError(
                f"efetch returned an incomplete PubmedArticleSet ({len(body)} bytes, no closing "
                "tag)"
            )
        return
    if root == "eFetchResult":
        error = _error_text(body) or _describe_body(body)
        if _HISTORY_LOST.search(error):
            raise _HistoryLost(redact(error))
        raise TransientError(f"efetch answered with an error: {redact(error)}")
    _raise_not_expected(body, "a PubmedArticleSet")


def _raise_not_expected(body: bytes, expected: str) -> None:
    stripped = body.lstrip()[:1]
    snippet = _describe_body(body)
    if stripped == b"{":
        if b"rate limit" in body.lower():
            raise TransientError(f"NCBI reported a rate limit in a JSON body: {snippet}")
        raise MalformedPayloadError(
            f"{SOURCE}: expected {expected}, got a JSON document: {snippet!r}. Check the base URL "
            "and retmode."
        )
    root = _root_name(body)
    if (root is not None and root.lower() == "html") or body.lstrip()[:14].lower() == (
        b"<!doctype html"
    ):
        raise MalformedPayloadError(
            f"{SOURCE}: expected {expected}, got an HTML page: {snippet!r}. NCBI may be in "
            "maintenance, or the base URL points elsewhere; retry later or check the URL."
        )
    raise MalformedPayloadError(
        f"{SOURCE}: expected {expected}, got {('<' + root + '>') if root else 'something else'}: "
        f"{snippet!r}."
    )


def _text(element: etree._Element) -> str:
    return "".join(str(piece) for piece in element.itertext())


def _error_text(body: bytes) -> str | None:
    try:
        root = etree.fromstring(body, parser=_SAFE_PARSER)
    except etree.XMLSyntaxError:
        return None
    error = root.find("ERROR")
    if error is None:
        return None
    return " ".join(_text(error).split())


def _parse_esearch(body: bytes, term: str) -> SearchResult:
    try:
        root = etree.fromstring(body, parser=_SAFE_PARSER)
    except etree.XMLSyntaxError as exc:
        raise MalformedPayloadError(
            f"{SOURCE}: esearch for {term!r} returned broken XML: {exc}"
        ) from None
    count_text = root.findtext("Count")
    if count_text is None or not count_text.strip().isdigit():
        raise MalformedPayloadError(
            f"{SOURCE}: esearch for {term!r} returned no usable Count: {_describe_body(body)!r}"
        )
    count = int(count_text)
    not_found = [_text(element) for element in root.iterfind("ErrorList/*")]
    if not_found and count:
        # PubMed drops the parts it does not know and searches the rest: a broader result
        # than the query says. Worth a person's attention, not a stop.
        log.warning("%s: parts of %r were not understood by PubMed: %s", SOURCE, term, not_found)
    ids = tuple(
        int(text)
        for text in (element.text or "" for element in root.iterfind("IdList/Id"))
        if text.strip().isdigit()
    )
    return SearchResult(
        count=count,
        webenv=(root.findtext("WebEnv") or "").strip() or None,
        query_key=(root.findtext("QueryKey") or "").strip() or None,
        ids=ids,
    )


def _date_params(mindate: dt.date | None, maxdate: dt.date | None, datetype: str) -> dict[str, str]:
    if (mindate is None) != (maxdate is None):
        raise ValueError("give both mindate and maxdate, or neither (NCBI needs both)")
    if mindate is None or maxdate is None:
        return {}
    _check_datetype(datetype)
    return {
        "datetype": datetype,
        "mindate": f"{mindate:%Y/%m/%d}",
        "maxdate": f"{maxdate:%Y/%m/%d}",
    }


def _check_datetype(datetype: str) -> None:
    if datetype not in _DATETYPES:
        raise ValueError(f"datetype must be one of {_DATETYPES}, not {datetype!r}")


def _pmid(value: int | str) -> int:
    text = str(value).strip()
    if not text.isdigit() or int(text) <= 0:
        raise ValueError(f"not a PMID: {value!r}")
    return int(text)
