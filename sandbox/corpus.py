"""The project's own PubMed corpus, generated in code (seeded, so identical on every run): a rich
demo corpus of ~400 records and a fast, plainer synthetic corpus of any size for load tests.

Records are `<PubmedArticle>` elements serialised the way efetch does it: compact, one element
per record, non-ASCII characters as hexadecimal character references (`&#xfc;`). Nothing here
is real bibliographic data: journal names and ISSNs look real, the rest is invented.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from schemas.identifiers import orcid_check_character

__all__ = [
    "PUBMED_DOCTYPE",
    "CorpusRecord",
    "demo_corpus",
    "pubmed_article_set",
    "synthetic_corpus",
]

# The prolog of real efetch answers (fixtures/pubmed_efetch/*, 2025 DTD).
PUBMED_DOCTYPE = (
    b'<?xml version="1.0" ?>\n'
    b'<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    b'"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n'
)

DEMO_FIRST_DAY = dt.date(2024, 1, 1)
DEMO_LAST_DAY = dt.date(2026, 10, 31)


@dataclass(frozen=True, slots=True)
class CorpusRecord:
    """One PubMed record of a corpus, with the facts an E-utilities emulator searches on.

    `xml` is the complete `<PubmedArticle>` element (UTF-8, ASCII-only with char refs);
    `entrez_date`, `modified_date`, `pub_date` back `edat`, `mdat`, `pdat`; `language` is the
    first `<Language>` (ISO 639-2, e.g. "eng"); `medline` is Status="MEDLINE"."""

    pmid: int
    entrez_date: dt.date
    modified_date: dt.date
    pub_date: dt.date
    xml: bytes
    has_abstract: bool
    language: str
    publication_types: tuple[str, ...]
    medline: bool


def pubmed_article_set(records: Iterable[bytes]) -> bytes:
    """A PubmedArticleSet document as efetch writes it (real DOCTYPE, no trailing newline)."""
    return PUBMED_DOCTYPE + b"<PubmedArticleSet>\n" + b"".join(records) + b"</PubmedArticleSet>"


# ---------------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Journal:
    title: str
    iso: str
    issn_print: str | None
    issn_electronic: str | None
    nlm_id: str
    country: str
    doi_prefix: str
    language: str = "eng"


_JOURNALS = (
    _Journal(
        "Proceedings of the National Academy of Sciences of the United States of America",
        "Proc Natl Acad Sci U S A",
        "0027-8424",
        "1091-6490",
        "7505876",
        "United States",
        "10.1073/pnas",
    ),
    _Journal("Nature", "Nature", "0028-0836", "1476-4687", "0410462", "England", "10.1038/s41586"),
    _Journal(
        "Lancet (London, England)", "Lancet", "0140-6736", "1474-547X", "2985213R", "England",
        "10.1016/S0140-6736",
    ),
    _Journal("PloS one", "PLoS One", None, "1932-6203", "101285081", "United States",
             "10.1371/journal.pone"),
    _Journal("BMJ (Clinical research ed.)", "BMJ", "0959-8138", "1756-1833", "8900488", "England",
             "10.1136/bmj"),
    _Journal("Scientific reports", "Sci Rep", None, "2045-2322", "101563288", "England",
             "10.1038/s41598"),
    _Journal("Nucleic acids research", "Nucleic Acids Res", "0305-1048", "1362-4962", "0411011",
             "England", "10.1093/nar"),
    _Journal("eLife", "Elife", None, "2050-084X", "101579614", "England", "10.7554/eLife"),
    _Journal("BMC public health", "BMC Public Health", None, "1471-2458", "100968562", "England",
             "10.1186/s12889"),
    _Journal("Frontiers in pharmacology", "Front Pharmacol", "1663-9812", None, "101548923",
             "Switzerland", "10.3389/fphar"),
    _Journal("Tidsskrift for den Norske laegeforening : tidsskrift for praktisk medicin, ny raekke",
             "Tidsskr Nor Laegeforen", "0029-2001", "0807-7096", "0413423", "Norway",
             "10.4045/tidsskr", "nor"),
    _Journal("Deutsche medizinische Wochenschrift (1946)", "Dtsch Med Wochenschr", "0012-0472",
             "1439-4413", "0006723", "Germany", "10.1055/a", "ger"),
    _Journal("Revista medica de Chile", "Rev Med Chil", "0034-9887", "0717-6163", "0404312",
             "Chile", "10.4067/s0034-98872024", "spa"),
    _Journal("Presse medicale (Paris, France : 1983)", "Presse Med", "0755-4982", "2213-0276",
             "8302490", "France", "10.1016/j.lpm", "fre"),
)  # fmt: skip

_FAMILY = (
    "Smith", "Nguyen", "García-López", "Müller", "Øverland", "Kowalczyk", "Śliwińska", "Chen",
    "Wang", "Okafor", "Rossi", "Dubois", "O'Brien", "Ó Briain", "Çelik", "Kovačević",
    "Håkansson", "Yamamoto", "Silva", "Fernández", "Novák", "Ivanova", "Patel", "Kim", "Lindqvist",
    "Papadopoulos", "van der Berg", "Bianchi", "Dvořák", "Schäfer", "Nowak", "Ahmed", "Johansen",
    "Ferreira", "Moreau", "Li", "Zhang", "Tanaka", "Abubakar", "Sørensen",
)  # fmt: skip
_GIVEN = (
    "Anna", "James", "María José", "Jürgen", "Ingrid", "Piotr", "Zoë", "Wei", "Chinwe", "Luca",
    "Élodie", "Seán", "Ayşe", "Nikola", "Sven", "Hiroshi", "João", "Lucía", "Tomáš", "Olga",
    "Priya", "Min-jun", "Karin", "Eleni", "Pieter", "Giulia", "Jiří", "Sabine", "Agnieszka",
    "Fatima", "Lars", "Beatriz", "Camille", "Xiaoming", "Yuki", "Ngozi", "Mette", "David", "Sarah",
)  # fmt: skip
_INSTITUTIONS = (
    "University College Cork, Cork, Ireland",
    "Karolinska Institutet, Stockholm, Sweden",
    "Universität Zürich, Zürich, Switzerland",
    "Université de Montréal, Montréal, QC, Canada",
    "Universidade de São Paulo, São Paulo, Brazil",
    "University of Oslo, Oslo, Norway",
    "Charité - Universitätsmedizin Berlin, Berlin, Germany",
    "Peking University, Beijing, China",
    "University of Lagos, Lagos, Nigeria",
    "Johns Hopkins Bloomberg School of Public Health, Baltimore, MD, USA",
    "Institut Pasteur, Paris, France",
    "Kyoto University, Kyoto, Japan",
    "Universidad de Chile, Santiago, Chile",
    "Aarhus University Hospital, Aarhus, Denmark",
    "Uniwersytet Jagielloński, Kraków, Poland",
)
_DEPARTMENTS = (
    "Department of Epidemiology",
    "Department of Medicine",
    "Department of Microbiology",
    "Institute of Clinical Pharmacology",
    "Department of Psychiatry",
    "Centre for Global Health",
    "Department of Biochemistry",
    "Division of Infectious Diseases",
)
_COLLECTIVES = (
    "COVID-19 Genomics UK (COG-UK) Consortium",
    "GBD 2021 Diseases and Injuries Collaborators",
    "ESC Scientific Document Group",
    "Nordic Microbiome Study Group",
    "PRISMA-Child Investigators",
)
_EXPOSURES = (
    "physical activity", "metformin", "vitamin D supplementation", "air pollution",
    "Mediterranean diet", "sleep duration", "statin therapy", "antibiotic exposure",
    "remote monitoring", "school-based vaccination",
)  # fmt: skip
_OUTCOMES = (
    "type 2 diabetes", "depressive symptoms", "cardiovascular mortality", "asthma exacerbations",
    "cognitive decline", "hospital readmission", "antimicrobial resistance", "preterm birth",
    "chronic kidney disease", "post-operative delirium",
)  # fmt: skip
_POPULATIONS = (
    "older adults", "children", "pregnant women", "patients with heart failure",
    "primary care patients", "adolescents", "nursing home residents", "adults with obesity",
)  # fmt: skip
_DESIGNS = (
    "randomized controlled trial", "prospective cohort study", "systematic review and "
    "meta-analysis", "cross-sectional study", "nationwide register study", "case-control study",
)  # fmt: skip
_ORGANISMS = (
    "Escherichia coli", "Staphylococcus aureus", "Lactobacillus rhamnosus", "Plasmodium falciparum",
    "Mycobacterium tuberculosis", "Candida auris", "Bacteroides fragilis",
)  # fmt: skip
_TITLE_TEMPLATES = (
    "Effect of {exposure} on {outcome} in {population}: a {design}.",
    "Association between {exposure} and {outcome} among {population}.",
    "{Exposure} and risk of {outcome}: a {design}.",
    "Role of <i>{organism}</i> in {outcome}.",
    "CD4<sup>+</sup> T cell responses to <i>{organism}</i> in {population}.",
    "Ca<sup>2+</sup> signalling links {exposure} to {outcome}.",
    "Long-term outcomes of {exposure} for {outcome}.",
    "H<sub>2</sub>O<sub>2</sub> production by <i>{organism}</i> and {outcome}.",
)
_SENTENCES = (
    "We studied {population} followed for a median of {n} months.",
    "{Exposure} was assessed at baseline and every {m} months.",
    "The primary outcome was {outcome}.",
    "Of {n2} participants, {n3} developed {outcome}.",
    "The adjusted hazard ratio was {hr} (95% CI {lo}-{hi}).",
    "Findings were consistent across sensitivity analyses.",
    "{Exposure} was associated with a lower risk of {outcome}.",
    "These results support further trials in {population}.",
)
_VERNACULAR = {
    "nor": "Fysisk aktivitet og risiko for {outcome} hos eldre – en kohortstudie",
    "ger": "Körperliche Aktivität und Risiko für {outcome} bei älteren Menschen",
    "spa": "Actividad física y riesgo de {outcome} en adultos mayores",
    "fre": "Activité physique et risque de {outcome} chez les personnes âgées",
}
_MESH = (
    ("D006801", "Humans"), ("D000818", "Animals"), ("D051379", "Mice"), ("D005260", "Female"),
    ("D008297", "Male"), ("D000328", "Adult"), ("D008875", "Middle Aged"), ("D000368", "Aged"),
    ("D002648", "Child"), ("D003924", "Diabetes Mellitus, Type 2"), ("D003863", "Depression"),
    ("D006973", "Hypertension"), ("D000069196", "Gastrointestinal Microbiome"),
    ("D000900", "Anti-Bacterial Agents"), ("D004926", "Escherichia coli"),
    ("D015331", "Cohort Studies"), ("D012307", "Risk Factors"), ("D008687", "Metformin"),
    ("D014807", "Vitamin D"), ("D001249", "Asthma"), ("D000086382", "COVID-19"),
)  # fmt: skip
_QUALIFIERS = (
    ("Q000453", "epidemiology"), ("Q000188", "drug therapy"), ("Q000235", "genetics"),
    ("Q000502", "physiology"), ("Q000378", "metabolism"), ("Q000627", "therapeutic use"),
    ("Q000175", "diagnosis"), ("Q000523", "psychology"), ("Q000382", "microbiology"),
)  # fmt: skip
_CHEMICALS = (
    ("657-24-9", "D008687", "Metformin"),
    ("1406-16-2", "D014807", "Vitamin D"),
    ("0", "D000900", "Anti-Bacterial Agents"),
    ("50-56-6", "D010121", "Oxytocin"),
)
_GRANT_AGENCIES = (
    ("Wellcome Trust", "WT_", "United Kingdom"),
    ("NIH HHS", "NH", "United States"),
    ("Medical Research Council", "MRC_", "United Kingdom"),
    ("Deutsche Forschungsgemeinschaft", None, "Germany"),
)
_PUB_TYPE_UI = {
    "Journal Article": "D016428",
    "Review": "D016454",
    "Randomized Controlled Trial": "D016449",
    "Systematic Review": "D000078182",
    "Meta-Analysis": "D017418",
    "Case Reports": "D002363",
    "Comment": "D016420",
    "Letter": "D016422",
    "Editorial": "D016421",
    "Published Erratum": "D016425",
    "Retraction of Publication": "D016441",
    "Retracted Publication": "D016440",
    "Observational Study": "D064888",
    "Research Support, Non-U.S. Gov't": "D013485",
}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SEASON_START = {"Winter": 1, "Spring": 3, "Summer": 6, "Fall": 9}
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _ascii_xml(text: str) -> bytes:
    """NCBI's serialisation: non-ASCII characters as lower-case hexadecimal char refs."""
    return _NON_ASCII.sub(lambda m: f"&#x{ord(m.group()):x};", text).encode("ascii")


def _orcid(rng: random.Random) -> str:
    """A random ORCID iD with a valid ISO 7064 MOD 11-2 check character."""
    block = rng.choice(("0000-0001", "0000-0002", "0000-0003", "0009-0005"))
    base = block.replace("-", "") + f"{rng.randrange(10**8):08d}"
    # The 16th character is the check itself, over the first 15.
    return f"{block}-{base[8:12]}-{base[12:15]}{orcid_check_character(base[:15])}"


def _initials(given: str) -> str:
    return "".join(part[0] for part in re.split(r"[\s-]+", given) if part).upper()


def _medline_pages(first: int, last: int) -> str:
    """MEDLINE's abbreviated page range: 113-125 is "113-25"."""
    low, high = str(first), str(last)
    if len(low) != len(high):
        return f"{low}-{high}"
    common = 0
    while common < len(low) - 1 and low[common] == high[common]:
        common += 1
    return f"{low}-{high[common:]}"


def _ymd(tag: str, day: dt.date, attrs: str = "") -> str:
    return (
        f"<{tag}{attrs}><Year>{day.year}</Year><Month>{day.month:02d}</Month>"
        f"<Day>{day.day:02d}</Day></{tag}>"
    )


# ---------------------------------------------------------------------------------------------
# Demo corpus
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Spec:
    """A demo record before rendering: links between records are decided on specs first."""

    pmid: int
    entrez: dt.date
    modified: dt.date
    pub: dt.date
    journal: _Journal
    language: str
    pub_types: list[str]
    medline: bool
    has_abstract: bool
    links: list[tuple[str, int]] = field(default_factory=list)  # (RefType, PMID)
    title: str | None = None


def demo_corpus(seed: int = 20240101) -> list[CorpusRecord]:
    """~400 rich records, entrez dates spread over 2024-01-01..2026-10-31, PMIDs rising with
    the entrez date, modification dates at or after it. Deterministic for a given seed.

    Features (each in several records): real-looking journals with print/electronic/linking
    ISSNs; authors with one to three affiliations, some ORCIDs, EqualContrib, a collective
    name with an InvestigatorList; structured (Label/NlmCategory) and plain abstracts, some
    without; `<i>`, `<sup>`, `<sub>` in titles; non-English articles with VernacularTitle and
    OtherAbstract; PubDate as Year/Month/Day, Year/Month, Season and MedlineDate; MEDLINE
    records with MeSH headings and qualifiers, chemicals, completed dates; keywords; grants;
    ArticleIdList with doi, pmc, pii; erratum, retraction and comment pairs linked both ways
    (CommentsCorrections); reference lists with PMIDs/DOIs/PMCIDs; non-ASCII names."""
    rng = random.Random(seed)
    specs = _demo_specs(rng, 400)
    _link_pairs(rng, specs)
    return [_render_demo(rng, spec, specs) for spec in specs]


def _demo_specs(rng: random.Random, count: int) -> list[_Spec]:
    span = (DEMO_LAST_DAY - DEMO_FIRST_DAY).days
    days = sorted(rng.randrange(span + 1) for _ in range(count))
    specs: list[_Spec] = []
    last_pmid = 38_150_000
    for offset in days:
        entrez = DEMO_FIRST_DAY + dt.timedelta(days=offset)
        # PubMed assigns ~4,000 PMIDs a day: keep PMIDs rising with the entrez date.
        pmid = max(last_pmid + 1, 38_150_000 + offset * 4_100 + rng.randrange(4_000))
        last_pmid = pmid
        modified = entrez if rng.random() < 0.2 else entrez + dt.timedelta(rng.randrange(1, 400))
        modified = min(modified, DEMO_LAST_DAY)
        pub = entrez + dt.timedelta(days=rng.randrange(-60, 90))
        journal = rng.choice(_JOURNALS)
        language = journal.language if rng.random() < 0.8 else "eng"
        kind = rng.random()
        if kind < 0.12:
            pub_types = ["Journal Article", "Review"]
        elif kind < 0.2:
            pub_types = ["Journal Article", "Randomized Controlled Trial"]
        elif kind < 0.25:
            pub_types = ["Journal Article", "Systematic Review", "Meta-Analysis"]
        elif kind < 0.3:
            pub_types = ["Case Reports", "Journal Article"]
        elif kind < 0.34:
            pub_types = ["Letter"]
        elif kind < 0.37:
            pub_types = ["Editorial"]
        else:
            pub_types = ["Journal Article"]
        if rng.random() < 0.3:
            pub_types.append("Research Support, Non-U.S. Gov't")
        medline = rng.random() < 0.6 and (modified - entrez).days > 20
        has_abstract = pub_types[0] not in ("Letter", "Editorial") and rng.random() < 0.85
        specs.append(
            _Spec(pmid, entrez, modified, pub, journal, language, pub_types, medline, has_abstract)
        )
    return specs


def _link_pairs(rng: random.Random, specs: list[_Spec]) -> None:
    """Turn some later records into errata, retraction notices and comments of earlier ones,
    linked both ways as PubMed does; the target's modification date moves to the link's day."""
    pairs = (
        ("Published Erratum", "ErratumFor", "ErratumIn", 10),
        ("Retraction of Publication", "RetractionOf", "RetractionIn", 3),
        ("Comment", "CommentOn", "CommentIn", 8),
    )
    candidates = list(range(40, len(specs)))
    rng.shuffle(candidates)
    linked: set[int] = set()
    for pub_type, forward, backward, count in pairs:
        for _ in range(count):
            index = candidates.pop()
            while index in linked:
                index = candidates.pop()
            notice = specs[index]
            targets = [i for i in range(index - 5) if i not in linked]
            target = specs[rng.choice(targets)]
            linked.update({index, specs.index(target)})
            notice.pub_types = [pub_type] if pub_type != "Comment" else ["Comment", "Letter"]
            notice.has_abstract = False
            notice.medline = False
            notice.links.append((forward, target.pmid))
            target.links.append((backward, notice.pmid))
            if pub_type == "Retraction of Publication":
                target.pub_types.append("Retracted Publication")
            target.modified = max(target.modified, notice.entrez)


def _title(rng: random.Random) -> str:
    exposure = rng.choice(_EXPOSURES)
    return rng.choice(_TITLE_TEMPLATES).format(
        exposure=exposure,
        Exposure=exposure[0].upper() + exposure[1:],
        outcome=rng.choice(_OUTCOMES),
        population=rng.choice(_POPULATIONS),
        design=rng.choice(_DESIGNS),
        organism=rng.choice(_ORGANISMS),
    )


def _sentence(rng: random.Random) -> str:
    exposure = rng.choice(_EXPOSURES)
    low = round(rng.uniform(0.5, 0.9), 2)
    return rng.choice(_SENTENCES).format(
        population=rng.choice(_POPULATIONS),
        Exposure=exposure[0].upper() + exposure[1:],
        outcome=rng.choice(_OUTCOMES),
        n=rng.randrange(6, 120),
        m=rng.choice((3, 6, 12)),
        n2=rng.randrange(200, 90_000),
        n3=rng.randrange(10, 200),
        hr=round(low + 0.08, 2),
        lo=low,
        hi=round(low + 0.17, 2),
    )


def _pub_date_xml(rng: random.Random, pub: dt.date) -> tuple[str, dt.date]:
    """A PubDate in one of PubMed's shapes, and the date it starts on."""
    shape = rng.random()
    if shape < 0.06:
        season = rng.choice(tuple(_SEASON_START))
        return (
            f"<PubDate><Year>{pub.year}</Year><Season>{season}</Season></PubDate>",
            dt.date(pub.year, _SEASON_START[season], 1),
        )
    if shape < 0.12 and pub.month < 12:
        text = f"{pub.year} {_MONTHS[pub.month - 1]}-{_MONTHS[pub.month]}"
        return f"<PubDate><MedlineDate>{text}</MedlineDate></PubDate>", pub.replace(day=1)
    if shape < 0.35:
        return (
            f"<PubDate><Year>{pub.year}</Year><Month>{_MONTHS[pub.month - 1]}</Month></PubDate>",
            pub.replace(day=1),
        )
    return (
        f"<PubDate><Year>{pub.year}</Year><Month>{_MONTHS[pub.month - 1]}</Month>"
        f"<Day>{pub.day:02d}</Day></PubDate>",
        pub,
    )


def _authors_xml(rng: random.Random, count: int, collective: str | None) -> str:
    parts = ['<AuthorList CompleteYN="Y">']
    equal = rng.random() < 0.15
    for position in range(count):
        family, given = rng.choice(_FAMILY), rng.choice(_GIVEN)
        attrs = ' ValidYN="Y"' + (' EqualContrib="Y"' if equal and position < 2 else "")
        parts.append(
            f"<Author{attrs}><LastName>{escape(family)}</LastName><ForeName>{given}</ForeName>"
            f"<Initials>{_initials(given)}</Initials>"
        )
        if rng.random() < 0.35:
            parts.append(f'<Identifier Source="ORCID">{_orcid(rng)}</Identifier>')
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            affiliation = f"{rng.choice(_DEPARTMENTS)}, {rng.choice(_INSTITUTIONS)}."
            parts.append(
                f"<AffiliationInfo><Affiliation>{affiliation}</Affiliation></AffiliationInfo>"
            )
        parts.append("</Author>")
    if collective:
        parts.append(
            f'<Author ValidYN="Y"><CollectiveName>{escape(collective)}</CollectiveName></Author>'
        )
    parts.append("</AuthorList>")
    return "".join(parts)


def _abstract_xml(rng: random.Random, year: int) -> str:
    parts = ["<Abstract>"]
    if rng.random() < 0.5:
        for label in ("BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS"):
            text = " ".join(_sentence(rng) for _ in range(rng.randrange(1, 4)))
            parts.append(
                f'<AbstractText Label="{label}" NlmCategory="{label}">{escape(text)}</AbstractText>'
            )
    else:
        text = " ".join(_sentence(rng) for _ in range(rng.randrange(3, 8)))
        parts.append(f"<AbstractText>{escape(text)}</AbstractText>")
    if rng.random() < 0.4:
        parts.append(f"<CopyrightInformation>© {year} The Author(s).</CopyrightInformation>")
    parts.append("</Abstract>")
    return "".join(parts)


def _doi(rng: random.Random, journal: _Journal, year: int) -> str:
    return f"{journal.doi_prefix}.{year}.{rng.randrange(10_000, 99_999)}".lower()


def _references_xml(rng: random.Random, earlier: Sequence[_Spec]) -> str:
    parts = ["<ReferenceList>"]
    for _ in range(rng.randrange(2, 12)):
        family, given = rng.choice(_FAMILY), rng.choice(_GIVEN)
        year = rng.randrange(1995, 2024)
        journal = rng.choice(_JOURNALS)
        title = re.sub(r"<[^>]+>", "", _title(rng))
        citation = (
            f"{family} {_initials(given)}, et al. {title} {journal.iso}. {year};"
            f"{rng.randrange(1, 400)}:{rng.randrange(1, 900)}-{rng.randrange(901, 999)}."
        )
        parts.append(f"<Reference><Citation>{escape(citation)}</Citation>")
        ids = []
        if rng.random() < 0.6:
            ids.append(f'<ArticleId IdType="doi">{_doi(rng, journal, year)}</ArticleId>')
        if earlier and rng.random() < 0.2:
            ids.append(f'<ArticleId IdType="pubmed">{rng.choice(earlier).pmid}</ArticleId>')
        elif rng.random() < 0.6:
            ids.append(
                f'<ArticleId IdType="pubmed">{rng.randrange(8_000_000, 38_000_000)}</ArticleId>'
            )
        if rng.random() < 0.2:
            ids.append(
                f'<ArticleId IdType="pmc">PMC{rng.randrange(1_000_000, 10_000_000)}</ArticleId>'
            )
        if ids:
            parts.append("<ArticleIdList>" + "".join(ids) + "</ArticleIdList>")
        parts.append("</Reference>")
    parts.append("</ReferenceList>")
    return "".join(parts)


def _render_demo(rng: random.Random, spec: _Spec, specs: Sequence[_Spec]) -> CorpusRecord:
    journal = spec.journal
    year = spec.pub.year
    pub_date_xml, pub_start = _pub_date_xml(rng, spec.pub)
    doi = _doi(rng, journal, year)
    if "Published Erratum" in spec.pub_types:
        title = "Correction to: " + _title(rng)
    elif "Retraction of Publication" in spec.pub_types:
        title = "Retraction notice to: " + _title(rng)
    else:
        title = _title(rng)
    english_title = title if spec.language == "eng" else f"[{title.rstrip('.')}]."
    status = (
        "MEDLINE"
        if spec.medline
        else rng.choice(("PubMed-not-MEDLINE", "In-Data-Review", "Publisher"))
    )
    out: list[str] = [
        f'<PubmedArticle><MedlineCitation Status="{status}" Owner="NLM"'
        + (' IndexingMethod="Automated"' if spec.medline and rng.random() < 0.5 else "")
        + f'><PMID Version="1">{spec.pmid}</PMID>'
    ]
    if spec.medline:
        out.append(_ymd("DateCompleted", spec.entrez + dt.timedelta(days=rng.randrange(2, 20))))
    out.append(_ymd("DateRevised", spec.modified))
    electronic = journal.issn_electronic is not None and (
        journal.issn_print is None or rng.random() < 0.5
    )
    issn = journal.issn_electronic if electronic else journal.issn_print
    out.append(
        f'<Article PubModel="{"Print-Electronic" if journal.issn_print else "Electronic"}">'
        f'<Journal><ISSN IssnType="{"Electronic" if electronic else "Print"}">{issn}</ISSN>'
        f'<JournalIssue CitedMedium="{"Internet" if electronic else "Print"}">'
        f"<Volume>{year - 1900 + rng.randrange(0, 30)}</Volume>"
        f"<Issue>{rng.randrange(1, 13)}</Issue>"
        f"{pub_date_xml}</JournalIssue><Title>{escape(journal.title)}</Title>"
        f"<ISOAbbreviation>{escape(journal.iso)}</ISOAbbreviation></Journal>"
        f"<ArticleTitle>{english_title}</ArticleTitle>"
    )
    if journal.issn_print:
        first = rng.randrange(1, 2000)
        last = first + rng.randrange(1, 15)
        out.append(
            f"<Pagination><StartPage>{first}</StartPage><EndPage>{last}</EndPage>"
            f"<MedlinePgn>{_medline_pages(first, last)}</MedlinePgn></Pagination>"
        )
    else:
        elocation = f"e{rng.randrange(100_000, 999_999)}"
        out.append(
            f"<Pagination><StartPage>{elocation}</StartPage><MedlinePgn>{elocation}</MedlinePgn></Pagination>"
            f'<ELocationID EIdType="pii" ValidYN="Y">{elocation}</ELocationID>'
        )
    out.append(f'<ELocationID EIdType="doi" ValidYN="Y">{doi}</ELocationID>')
    if spec.has_abstract:
        out.append(_abstract_xml(rng, year))
    collective = rng.choice(_COLLECTIVES) if rng.random() < 0.06 else None
    out.append(_authors_xml(rng, rng.randrange(1, 9), collective))
    out.append(f"<Language>{spec.language}</Language>")
    if rng.random() < 0.25:
        out.append('<GrantList CompleteYN="Y">')
        for _ in range(rng.randrange(1, 4)):
            agency, acronym, country = rng.choice(_GRANT_AGENCIES)
            grant_id = f"{acronym or 'DFG'}{rng.randrange(100_000, 999_999)}"
            out.append(
                f"<Grant><GrantID>{grant_id}</GrantID>"
                + (f"<Acronym>{acronym}</Acronym>" if acronym else "")
                + f"<Agency>{agency}</Agency><Country>{country}</Country></Grant>"
            )
        out.append("</GrantList>")
    out.append("<PublicationTypeList>")
    for pub_type in spec.pub_types:
        out.append(f'<PublicationType UI="{_PUB_TYPE_UI[pub_type]}">{pub_type}</PublicationType>')
    out.append("</PublicationTypeList>")
    if spec.language in _VERNACULAR:
        out.append(
            f"<VernacularTitle>{_VERNACULAR[spec.language].format(outcome=rng.choice(_OUTCOMES))}"
            "</VernacularTitle>"
        )
    if electronic:
        out.append(
            _ymd(
                "ArticleDate",
                spec.entrez - dt.timedelta(days=rng.randrange(0, 5)),
                ' DateType="Electronic"',
            )
        )
    out.append("</Article>")
    linking = journal.issn_print or journal.issn_electronic
    out.append(
        f"<MedlineJournalInfo><Country>{journal.country}</Country>"
        f"<MedlineTA>{escape(journal.iso)}</MedlineTA><NlmUniqueID>{journal.nlm_id}</NlmUniqueID>"
        f"<ISSNLinking>{linking}</ISSNLinking></MedlineJournalInfo>"
    )
    if spec.medline and rng.random() < 0.4:
        out.append("<ChemicalList>")
        for registry, ui, name in rng.sample(_CHEMICALS, rng.randrange(1, 3)):
            out.append(
                f"<Chemical><RegistryNumber>{registry}</RegistryNumber>"
                f'<NameOfSubstance UI="{ui}">{name}</NameOfSubstance></Chemical>'
            )
        out.append("</ChemicalList>")
    if spec.medline:
        out.append("<CitationSubset>IM</CitationSubset>")
    if spec.links:
        by_pmid = {other.pmid: other for other in specs}
        out.append("<CommentsCorrectionsList>")
        for ref_type, pmid in spec.links:
            other = by_pmid[pmid]
            source = (
                f"{other.journal.iso}. {other.pub.year} {_MONTHS[other.pub.month - 1]};"
                f"{rng.randrange(1, 200)}:{rng.randrange(1, 999)}"
            )
            out.append(
                f'<CommentsCorrections RefType="{ref_type}"><RefSource>{escape(source)}</RefSource>'
                f'<PMID Version="1">{pmid}</PMID></CommentsCorrections>'
            )
        out.append("</CommentsCorrectionsList>")
    if spec.medline:
        out.append("<MeshHeadingList>")
        for ui, term in rng.sample(_MESH, rng.randrange(3, 9)):
            major = "Y" if rng.random() < 0.2 else "N"
            out.append(
                f'<MeshHeading><DescriptorName UI="{ui}" MajorTopicYN="{major}">'
                f"{escape(term)}</DescriptorName>"
            )
            for q_ui, q_term in rng.sample(_QUALIFIERS, rng.choice((0, 0, 1, 2))):
                q_major = "Y" if rng.random() < 0.3 else "N"
                out.append(
                    f'<QualifierName UI="{q_ui}" MajorTopicYN="{q_major}">{q_term}</QualifierName>'
                )
            out.append("</MeshHeading>")
        out.append("</MeshHeadingList>")
    vernacular = _VERNACULAR.get(spec.language, "{outcome}")
    if spec.language != "eng" and spec.has_abstract and rng.random() < 0.7:
        out.append(
            f'<OtherAbstract Type="Publisher" Language="{spec.language}"><AbstractText>'
            f"{escape(vernacular.format(outcome=rng.choice(_OUTCOMES)))}."
            "</AbstractText></OtherAbstract>"
        )
    if rng.random() < 0.5:
        out.append('<KeywordList Owner="NOTNLM">')
        for keyword in rng.sample(_EXPOSURES + _OUTCOMES, rng.randrange(2, 6)):
            out.append(f'<Keyword MajorTopicYN="N">{keyword}</Keyword>')
        out.append("</KeywordList>")
    if rng.random() < 0.3:
        out.append("<CoiStatement>The authors declare no competing interests.</CoiStatement>")
    if collective and rng.random() < 0.8:
        out.append("<InvestigatorList>")
        for _ in range(rng.randrange(2, 6)):
            family, given = rng.choice(_FAMILY), rng.choice(_GIVEN)
            out.append(
                f'<Investigator ValidYN="Y"><LastName>{escape(family)}</LastName>'
                f"<ForeName>{given}</ForeName><Initials>{_initials(given)}</Initials></Investigator>"
            )
        out.append("</InvestigatorList>")
    out.append("</MedlineCitation><PubmedData><History>")
    received = spec.entrez - dt.timedelta(days=rng.randrange(60, 300))
    out.append(_ymd("PubMedPubDate", received, ' PubStatus="received"'))
    out.append(
        _ymd(
            "PubMedPubDate",
            received + dt.timedelta(days=rng.randrange(20, 50)),
            ' PubStatus="accepted"',
        )
    )
    hour, minute = rng.randrange(24), rng.randrange(60)
    for status_name in ("medline", "pubmed", "entrez"):
        day = (
            spec.entrez
            if status_name != "medline"
            else spec.entrez + dt.timedelta(days=rng.randrange(0, 3))
        )
        out.append(
            f'<PubMedPubDate PubStatus="{status_name}"><Year>{day.year}</Year>'
            f"<Month>{day.month}</Month>"
            f"<Day>{day.day}</Day><Hour>{hour}</Hour><Minute>{minute}</Minute></PubMedPubDate>"
        )
    out.append("</History>")
    publication_status = (
        "epublish" if not journal.issn_print else rng.choice(("ppublish", "aheadofprint"))
    )
    out.append(f"<PublicationStatus>{publication_status}</PublicationStatus><ArticleIdList>")
    out.append(f'<ArticleId IdType="pubmed">{spec.pmid}</ArticleId>')
    if rng.random() < 0.4:
        out.append(f'<ArticleId IdType="pmc">PMC{10_700_000 + spec.pmid % 900_000}</ArticleId>')
    out.append(f'<ArticleId IdType="doi">{doi}</ArticleId>')
    if journal.issn_print and rng.random() < 0.5:
        out.append(f'<ArticleId IdType="pii">S{rng.randrange(10**9, 10**10)}</ArticleId>')
    out.append("</ArticleIdList>")
    if spec.has_abstract and rng.random() < 0.7:
        earlier = [other for other in specs if other.pmid < spec.pmid][-50:]
        out.append(_references_xml(rng, earlier))
    out.append("</PubmedData></PubmedArticle>")
    return CorpusRecord(
        pmid=spec.pmid,
        entrez_date=spec.entrez,
        modified_date=spec.modified,
        pub_date=pub_start,
        xml=_ascii_xml("".join(out)),
        has_abstract=spec.has_abstract,
        language=spec.language,
        publication_types=tuple(spec.pub_types),
        medline=spec.medline,
    )


# ---------------------------------------------------------------------------------------------
# Synthetic corpus (fast, for volume tests)
# ---------------------------------------------------------------------------------------------

_SYNTHETIC_LANGUAGES = ("ger", "fre", "spa", "nor", "jpn", "chi")
_SYNTHETIC_OTHER_TYPES = ("Review", "Letter", "Editorial", "Comment", "Case Reports")


def synthetic_corpus(
    n: int,
    *,
    start_pmid: int = 40_000_001,
    day: dt.date = dt.date(2025, 6, 2),
    same_day_share: float = 0.875,
    spread_days: int = 6,
    seed: int = 12_000,
) -> list[CorpusRecord]:
    """`n` plainer records (title, journal, 1-3 authors, an abstract in ~25%) with consecutive
    PMIDs from `start_pmid`. About `same_day_share` of them were entered and modified on `day`,
    the rest on the `spread_days` days after it, so a large `n` forces a client to split by
    date *and*, within that one day, by term. Independent flags divide the day: ~25% have an
    abstract, ~80% are English, ~85% Journal Articles, ~60% MEDLINE."""
    rng = random.Random(seed)
    records: list[CorpusRecord] = []
    journals = _JOURNALS[:10]
    for index in range(n):
        pmid = start_pmid + index
        offset = 0 if rng.random() < same_day_share else rng.randrange(1, spread_days + 1)
        entered = day + dt.timedelta(days=offset)
        has_abstract = rng.random() < 0.25
        language = "eng" if rng.random() < 0.8 else rng.choice(_SYNTHETIC_LANGUAGES)
        if rng.random() < 0.85:
            pub_types: tuple[str, ...] = ("Journal Article",)
        else:
            pub_types = (rng.choice(_SYNTHETIC_OTHER_TYPES),)
        medline = rng.random() < 0.6
        journal = journals[index % len(journals)]
        pub = entered - dt.timedelta(days=rng.randrange(0, 40))
        title = (
            f"{rng.choice(_EXPOSURES).capitalize()} and {rng.choice(_OUTCOMES)} in "
            f"{rng.choice(_POPULATIONS)}: record {pmid}."
        )
        abstract = (
            f"<Abstract><AbstractText>Synthetic abstract of record {pmid} about "
            f"{rng.choice(_OUTCOMES)}.</AbstractText></Abstract>"
            if has_abstract
            else ""
        )
        authors = "".join(
            f'<Author ValidYN="Y"><LastName>{rng.choice(_FAMILY)}</LastName>'
            f"<ForeName>{rng.choice(_GIVEN)}</ForeName><Initials>A</Initials></Author>"
            for _ in range(rng.randrange(1, 4))
        )
        type_xml = "".join(
            f'<PublicationType UI="{_PUB_TYPE_UI[t]}">{t}</PublicationType>' for t in pub_types
        )
        status = "MEDLINE" if medline else "PubMed-not-MEDLINE"
        xml = (
            f'<PubmedArticle><MedlineCitation Status="{status}" Owner="NLM">'
            f'<PMID Version="1">{pmid}</PMID>'
            f'{_ymd("DateRevised", entered)}<Article PubModel="Electronic"><Journal>'
            f'<ISSN IssnType="Electronic">{journal.issn_electronic or journal.issn_print}</ISSN>'
            f'<JournalIssue CitedMedium="Internet"><Volume>{pub.year - 2000}</Volume>'
            f"<PubDate><Year>{pub.year}</Year><Month>{_MONTHS[pub.month - 1]}</Month>"
            f"<Day>{pub.day:02d}</Day></PubDate>"
            f"</JournalIssue><Title>{escape(journal.title)}</Title><ISOAbbreviation>{journal.iso}</ISOAbbreviation>"
            f"</Journal><ArticleTitle>{title}</ArticleTitle>"
            f'<ELocationID EIdType="doi" ValidYN="Y">10.5555/synthetic.{pmid}</ELocationID>'
            f"{abstract}"
            f'<AuthorList CompleteYN="Y">{authors}</AuthorList><Language>{language}</Language>'
            f"<PublicationTypeList>{type_xml}</PublicationTypeList></Article>"
            f"<MedlineJournalInfo><Country>{journal.country}</Country><MedlineTA>{journal.iso}</MedlineTA>"
            f"<NlmUniqueID>{journal.nlm_id}</NlmUniqueID></MedlineJournalInfo></MedlineCitation>"
            f'<PubmedData><History><PubMedPubDate PubStatus="entrez"><Year>{entered.year}</Year>'
            f"<Month>{entered.month}</Month><Day>{entered.day}</Day></PubMedPubDate></History>"
            "<PublicationStatus>epublish</PublicationStatus><ArticleIdList>"
            f'<ArticleId IdType="pubmed">{pmid}</ArticleId>'
            f'<ArticleId IdType="doi">10.5555/synthetic.{pmid}</ArticleId></ArticleIdList>'
            "</PubmedData></PubmedArticle>"
        )
        records.append(
            CorpusRecord(
                pmid=pmid,
                entrez_date=entered,
                modified_date=entered,
                pub_date=pub,
                xml=_ascii_xml(xml),
                has_abstract=has_abstract,
                language=language,
                publication_types=pub_types,
                medline=medline,
            )
        )
    return records
