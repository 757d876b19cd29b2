"""Errors raised in a worker process reach the loader intact: bulk files are prepared in
spawned processes, and an error that pickle cannot rebuild turned a clear message (the md5
mismatch) into a TypeError about __init__ arguments."""

from __future__ import annotations

import pickle

import pytest

from connectors.crossref.parse import CrossrefNotFoundError
from connectors.http import FatalHttpError, TransientHttpError
from connectors.oaipmh.errors import BadResumptionToken
from connectors.pubmed.files import ChecksumMismatchError
from schemas.errors import BiblioduckError, InvalidRecordError

ERRORS = [
    ChecksumMismatchError(
        "pubmed26n0001.xml.gz", "http://127.0.0.1:1/pubmed/baseline/x", "aa" * 16, "bb" * 16
    ),
    TransientHttpError("pubmed: 503 after 6 attempts", status=503, retry_after=2.0, attempts=6),
    FatalHttpError("crossref: HTTP 404", status=404),
    InvalidRecordError("pubmed", "12345", "no title"),
    BadResumptionToken("expired", source="zenodo", request="ListRecords", status=200),
    CrossrefNotFoundError("crossref works/10.1/x"),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_an_error_survives_pickling_with_its_message_and_fields(error: BiblioduckError) -> None:
    rebuilt = pickle.loads(pickle.dumps(error))
    assert type(rebuilt) is type(error)
    assert str(rebuilt) == str(error)
    assert vars(rebuilt) == vars(error)
    assert isinstance(rebuilt, BiblioduckError)
