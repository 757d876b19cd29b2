"""A connector's harvest on its own, without the runner or the warehouse: the pages it yields,
the checkpoint each carries, and where the watermark goes once every page is in. An OAI-PMH
page is parsed once: its records come from the same parse as its headers and token."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

import connectors.oaipmh.client as oai_client_module
import connectors.oaipmh.parse as oai_parse_module
from connectors.harvest import Harvest
from connectors.http import PoliteSession
from connectors.oaipmh.client import OaiClient
from connectors.oaipmh.harvest import OaiHarvest
from flows.settings import load_settings
from sandbox.oaipmh import PURE_PATH, GeneratedRepository, OaiEmulator, pure_repository
from sandbox.server import serve
from schemas.record import Deletion


@pytest.fixture
def portal() -> Iterator[tuple[GeneratedRepository, str]]:
    repository = pure_repository(page_size=7)
    with serve(OaiEmulator({PURE_PATH: repository})) as base:
        yield repository, base + PURE_PATH


def _harvest(url: str, **options: Any) -> OaiHarvest:
    session = PoliteSession(
        source="harvest", requests_per_second=500, backoff_base=0.01, rng=random.Random(3)
    )
    client = OaiClient(url, session=session)
    return OaiHarvest(
        load_settings(), endpoint=url, metadata_prefix="mods", client=client, **options
    )


def test_oai_pages_carry_their_checkpoints_and_the_watermark_is_the_last_datestamp(
    portal: tuple[GeneratedRepository, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repository, url = portal
    parses: list[str] = []

    def counting(original: Any) -> Any:
        def parse_response(body: bytes, **options: Any) -> Any:
            parses.append(options.get("request", ""))
            return original(body, **options)

        return parse_response

    for module in (oai_client_module, oai_parse_module):
        monkeypatch.setattr(module, "parse_response", counting(module.parse_response))

    harvest: Harvest = _harvest(url)
    window = harvest.plan(None, None)
    pages = list(harvest.pages(window, "run-1"))
    items = [item for page in pages for item in page.payload.items()]

    assert len(pages) == -(-len(repository.items) // 7)
    assert len(parses) == len(pages)  # one parse per answer: none parsed again for its records
    assert [p.batch_id for p in pages] == [f"oai:run-1:{n}" for n in range(1, len(pages) + 1)]
    assert sum(p.records for p in pages) == len(items) == len(repository.items)
    deleted = {f"{item.identifier}#mods" for item in repository.items if item.deleted}
    assert {i.source_id for i in items if isinstance(i, Deletion)} == deleted
    assert [p.ends_group for p in pages] == [
        any(isinstance(i, Deletion) for i in page.payload.items()) for page in pages
    ]
    last = max(item.datestamp for item in repository.items)
    assert pages[-1].checkpoint == {
        "unfinished": True,
        "endpoint": url,
        "metadata_prefix": "mods",
        "set": None,
        "since": None,
        "until": None,
        "resume_from": last,
        "max_datestamp": last,
    }
    assert harvest.completed(window) == last
    assert harvest.result(window)["pages"] == len(pages)


def test_an_oai_backfill_after_the_watermark_does_not_move_it(
    portal: tuple[GeneratedRepository, str],
) -> None:
    _, url = portal
    harvest = _harvest(url, since="2026-01-01")
    window = harvest.plan("2020-01-01T00:00:00Z", None)
    list(harvest.pages(window, "run-2"))
    assert harvest.completed(window) == "2020-01-01T00:00:00Z"
