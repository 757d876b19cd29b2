"""oai_harvest refuses arguments it cannot honour before it asks anything of anyone: each
refusal says what is wrong and what to give instead, and nothing is loaded or recorded."""

from __future__ import annotations

import re

import pytest

from flows.oai import oai_harvest
from schemas.errors import FatalError
from tests.flow_helpers import warehouse_rows
from warehouse.location import warehouse_exists

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]

# Nothing listens here: a refusal that reached the network would fail differently.
NOWHERE = "http://127.0.0.1:9/oai"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"endpoint": "https://zenodo.org/oai2d?verb=Identify"},
            re.escape("the endpoint must be an http(s) base URL without a query string"),
        ),
        (
            {"endpoint": "zenodo.org/oai2d"},
            re.escape("http(s) base URL") + ".*not 'zenodo.org/oai2d'",
        ),
        (
            {"endpoint": NOWHERE, "since": "01/04/2026"},
            r"since must be a day \(YYYY-MM-DD\) or a datestamp \(YYYY-MM-DDThh:mm:ssZ\), "
            "not '01/04/2026'",
        ),
        (
            # The prefix is part of each record's id, after a "#" the protocol keeps out of it.
            {"endpoint": NOWHERE, "metadata_prefix": "oai_dc#x"},
            re.escape("a metadataPrefix is letters, digits and -_.!~*'() only")
            + ".*not 'oai_dc#x'",
        ),
        (
            {"endpoint": NOWHERE, "since": "2026-04-02", "until": "2026-04-01T23:00:00Z"},
            f"OAI-PMH harvest of OAI-PMH {NOWHERE} \\(oai_dc\\): since 2026-04-02 is after "
            "until 2026-04-01T23:00:00Z",
        ),
    ],
)
def test_refused_before_any_request(warehouse_location, arguments, message):
    path = warehouse_location
    with pytest.raises(FatalError, match=message):
        oai_harvest(**arguments, db=str(path))
    if warehouse_exists(path):
        assert warehouse_rows(path, "SELECT count(*) FROM runs") == [(0,)]
