"""E-utilities `efetch db=pmc`: PubMed Central articles by PMCID, as JATS (`<pmc-articleset>`)
for `connectors.jats.iter_jats_records`, through the same client (POST, `tool`/`email`, API
key kept out of URLs, the same polite session and retries) as PubMed's efetch.

A function beside `EutilsClient` rather than a method in it: the client's PubMed paging is
left as it is, and this uses only its one way of posting a request.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from connectors.http import HttpReply, redact
from connectors.pubmed.client import (
    EutilsClient,
    _describe_body,
    _error_text,
    _raise_not_expected,
    _root_name,
)
from schemas.errors import FatalError, TransientError
from schemas.identifiers import normalise_pmcid

__all__ = ["PmcPage", "fetch_pmc_articles"]

_EMPTY_SET_END = re.compile(rb"<pmc-articleset\s*/>$")


@dataclass(frozen=True, slots=True)
class PmcPage:
    """One efetch db=pmc answer: `body` is a `<pmc-articleset>` of up to `size` articles, the
    ids from `offset` of the list that `key` names (a hash of the whole list)."""

    key: str
    offset: int
    size: int
    body: bytes

    @property
    def origin(self) -> str:
        """What messages call this payload."""
        return f"efetch db=pmc {self.key} [{self.offset}:{self.offset + self.size}]"


def fetch_pmc_articles(client: EutilsClient, pmcids: Iterable[str]) -> Iterator[PmcPage]:
    """efetch db=pmc pages for `pmcids` ("PMC123" or "123"), `client.batch_size` per POST.

    Raises:
        FatalError: an id that is not a PMCID.
        TransientError: an incomplete articleset or an in-band error, after the session's
            retries.
        MalformedPayloadError: an answer that is not a pmc-articleset (HTML, JSON, …).
    """
    ids = []
    for value in pmcids:
        pmcid = normalise_pmcid(value)
        if pmcid is None:
            raise FatalError(f"efetch db=pmc: {value!r} is not a PMCID")
        ids.append(pmcid.removeprefix("PMC"))  # E-utilities' UIDs of db=pmc are the digits
    if not ids:
        return
    digest = hashlib.sha256(",".join(ids).encode()).hexdigest()[:16]
    key = f"pmc:ids:{len(ids)}:{digest}"
    for offset in range(0, len(ids), client.batch_size):
        batch = ids[offset : offset + client.batch_size]
        form: dict[str, str | int] = {"db": "pmc", "id": ",".join(batch), "retmode": "xml"}
        reply = client._post("efetch.fcgi", form, validate=_check_pmc_articleset)
        yield PmcPage(key, offset, len(batch), reply.body)


def _check_pmc_articleset(reply: HttpReply) -> None:
    """A complete `<pmc-articleset>` passes; NCBI's in-band errors and cut bodies are
    retried (run inside the session's retry loop)."""
    body = reply.body
    root = _root_name(body)
    if root == "pmc-articleset":
        tail = body.rstrip()
        if not (tail.endswith(b"</pmc-articleset>") or _EMPTY_SET_END.search(tail)):
            raise TransientError(
                f"efetch db=pmc returned an incomplete pmc-articleset ({len(body)} bytes, no "
                "closing tag)"
            )
        return
    if root == "eFetchResult":
        error = _error_text(body) or _describe_body(body)
        raise TransientError(f"efetch db=pmc answered with an error: {redact(error)}")
    _raise_not_expected(body, "a pmc-articleset")
