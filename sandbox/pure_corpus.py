"""The sandbox's Pure-like research portal: the seed record (a review article as an Elsevier Pure
portal shows it, its facts written here as data) among a few dozen generated research outputs,
some of them deleted, served over OAI-PMH as Pure does it (`/ws/oai`, `oai_dc`, `mods` and
`oai_cerif_openaire`) by `sandbox.oaipmh.pure_repository()`. This module is the corpus only: it
builds `sandbox.oai_records` items and imports no server.

What is real and what is not: the seed's facts are copied from ../shared/seed (title, authors,
abstract, type, peer review, Scopus citations, language, pages, journal, issue, state, date,
ASJC areas; the portal page lists no fingerprint concepts, so none are made up); everything
else is generated (seeded, identical on every run) and invented: people, journals (valid ISSN
check digits, not real ISSNs), DOIs under the 10.5555 test prefix, portal host
pure.sandbox.example. The formats follow Pure's documented mappings (OpenAIRE-style oai_dc;
MODS v3 with the Pure type URI in genre, peer review and status in notes, the journal in
relatedItem[@type="host"]); the portal-only facts Pure's MODS lacks are put in MODS's own
extension points, the citation count in an `<extension>` of the namespace `PORTAL_NS`, which
is this project's, not Pure's.

`oai_cerif_openaire` is the OpenAIRE Guidelines for CRIS Managers 1.1 CERIF XML
(`render_cerif`): it carries what the profile has elements for (title, ordered authors with
ORCID and affiliations, abstract, the journal or containing book/proceedings, volume, issue,
start and end page, date, BCP 47 language code, COAR type, DOI, portal URL, publisher,
keywords, licence, COAR access right) plus peer review and publication status as CERIF
Semantics `<Status>` classes. It has no place for the Scopus citation count, ASJC areas,
fingerprint concepts, the language's display name ("English (US)"), Pure's own output-type
hierarchy, a page count, the owning organisation, or the state "E-pub ahead of print": those
are left out, not bent into other elements. MODS remains the format with every portal fact.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from xml.sax.saxutils import escape, quoteattr

from sandbox.oai_records import OaiFormat, OaiItem

__all__ = [
    "PORTAL_HOST",
    "PORTAL_NS",
    "SEED_DATESTAMP",
    "SEED_IDENTIFIER",
    "SEED_OUTPUT",
    "PureOutput",
    "PurePerson",
    "generated_outputs",
    "pure_items",
    "render_cerif",
    "render_mods",
    "render_oai_dc",
    "set_names",
]

PORTAL_HOST = "pure.sandbox.example"
PORTAL_NS = "urn:x-biblioduck:pure-portal:1"
IDENTIFIER_PREFIX = f"oai:{PORTAL_HOST}:publications/"
TYPE_ROOT = "/dk/atira/pure/researchoutput/researchoutputtypes/"
MODS_NS = "http://www.loc.gov/mods/v3"
CERIF_NS = "https://www.openaire.eu/cerif-profile/1.1/"
CORPUS_SEED = 19940401

FORMATS = (
    OaiFormat(
        "oai_dc",
        "http://www.openarchives.org/OAI/2.0/oai_dc.xsd",
        "http://www.openarchives.org/OAI/2.0/oai_dc/",
    ),
    OaiFormat("mods", "http://www.loc.gov/standards/mods/v3/mods-3-8.xsd", MODS_NS),
    OaiFormat(
        "oai_cerif_openaire",
        "https://www.openaire.eu/schema/cris/1.1.1/openaire-cerif-profile.xsd",
        CERIF_NS,
    ),
)


@dataclass(frozen=True, slots=True)
class PurePerson:
    """A contributor as Pure records one: given and family names, ORCID, affiliations, role."""

    given: str | None
    family: str
    orcid: str | None = None
    affiliations: tuple[str, ...] = ()
    role: str = "author"


@dataclass(frozen=True, slots=True)
class PureOutput:
    """One research output with the facts a Pure portal page shows.

    `type_uri` is Pure's research-output type; `status` Pure's publicationStatus token;
    `date_issued` W3CDTF as precise as known ("1994-04"); `language` is (display name,
    RFC 3066 code, ISO 639-3 code for oai_dc); `asjc` (code, label) pairs; `citations` the
    Scopus count as of `citations_as_of`."""

    uuid: str
    title: str
    persons: tuple[PurePerson, ...]
    type_uri: str
    status: str
    date_issued: str
    language: tuple[str, str, str]
    peer_reviewed: bool | None = None
    subtitle: str | None = None
    abstract: str | None = None
    host_title: str | None = None
    issn: str | None = None
    volume: str | None = None
    issue: str | None = None
    pages: str | None = None
    page_count: int | None = None
    publisher: str | None = None
    doi: str | None = None
    keywords: tuple[str, ...] = ()
    asjc: tuple[tuple[str, str], ...] = ()
    fingerprints: tuple[str, ...] = ()
    citations: int | None = None
    citations_as_of: str | None = None
    open_access: bool = False
    license_url: str | None = None
    organisation: str | None = None

    @property
    def identifier(self) -> str:
        """The OAI identifier (Pure's form: oai:<host>:publications/<uuid>)."""
        return f"{IDENTIFIER_PREFIX}{self.uuid}"

    @property
    def portal_url(self) -> str:
        """The portal page, with Pure's slug of the title."""
        slug = "".join(c if c.isalnum() else "-" for c in self.title.lower())
        slug = "-".join(part for part in slug.split("-") if part)
        return f"https://{PORTAL_HOST}/en/publications/{slug}"


# ---------------------------------------------------------------------------------------------
# The seed record (../shared/seed/000_d97e390f4f84cdba.txt)
# ---------------------------------------------------------------------------------------------

_SEED_ABSTRACT = (
    "The interleukins function as intercellular hormones, and have the capacity to alter "
    "the activity of a target cell population. Immunotherapy with interleukin-2 (IL-2) "
    "constitutes a new treatment strategy for malignancies otherwise not responsive to "
    "traditional cytotoxic chemotherapy. In advanced renal cell carcinoma, studies using "
    "high dose bolus IL-2 alone have resulted in mean objective response rates of "
    "approximately 15% (0 to 27%). Durable responses in some patients have translated into "
    "increased survival. With advanced melanoma, high dose bolus IL-2 therapy alone "
    "produces response rates ranging from 21 to 24%, although other studies using lower "
    "doses, different drug preparations or different schedules have resulted in lower "
    "response rates. Studies are now under way using IL-2 in combination with interferons, "
    "cytotoxic chemotherapy, monoclonal antibodies and tumour infiltrating lymphocytes in "
    "an attempt to enhance the biological activity of IL-2. Another promising use of IL-2 "
    "therapy is in the treatment of acute leukaemia. Several small studies have shown "
    "benefit of IL-2 given to patients in early relapse, leading to normalisation of bone "
    "marrow and prolonged remissions in some patients. IL-2 is currently being investigated "
    "as a post-transplant adjuvant strategy in patients undergoing bone marrow "
    "transplantation for haematological malignancies. Newly characterised interleukins such "
    "as IL-4 and IL-6 have demonstrated preclinical antitumour and immunoenhancing "
    "properties, resulting in their recent introduction into clinical trials. Additionally, "
    "IL-6 has demonstrated thrombopoietic enhancing activity in early clinical trials and "
    "has a potential application in ameliorating thrombocytopenia associated with "
    "myeloablative chemotherapy. In summary, these interleukins have proven to be effective "
    "additions to treatment strategies in oncology."
)

SEED_DATESTAMP = "2025-03-14T09:26:53Z"
SEED_OUTPUT = PureOutput(
    uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, "seed:000_d97e390f4f84cdba")),
    title="Interleukins in Cancer Therapy: Rationale and Current Status",
    persons=(
        PurePerson("Leslie", "Oleksowicz"),
        PurePerson("Joseph", "Sparano"),
        PurePerson("Kevin", "O’Boyle"),
        PurePerson("Usha", "Venkatraj"),
        PurePerson("Peter H.", "Wiernik"),
        PurePerson("Janice P.", "Dutcher"),
    ),
    type_uri=TYPE_ROOT + "contributiontojournal/systematicreview",
    peer_reviewed=True,
    status="published",
    date_issued="1994-04",
    language=("English (US)", "en-US", "eng"),
    abstract=_SEED_ABSTRACT,
    host_title="Clinical Immunotherapeutics",
    issue="4",
    pages="271-281",
    page_count=11,
    asjc=(("2723", "Immunology and Allergy"), ("2736", "Pharmacology (medical)")),
    citations=4,
    # The portal page does not say when Scopus counted: the sandbox dates it to the version.
    citations_as_of=SEED_DATESTAMP[:10],
)
SEED_IDENTIFIER = SEED_OUTPUT.identifier


# ---------------------------------------------------------------------------------------------
# Generated outputs
# ---------------------------------------------------------------------------------------------


def _issn(seven: str) -> str:
    total = sum(int(d) * (8 - i) for i, d in enumerate(seven))
    check = (11 - total % 11) % 11
    return f"{seven[:4]}-{seven[4:]}{'X' if check == 10 else check}"


def _orcid(rng: random.Random) -> str:
    digits = "000" + "".join(str(rng.randrange(10)) for _ in range(12))
    total = 0
    for digit in digits:
        total = (total + int(digit)) * 2
    check = (12 - total % 11) % 11
    full = digits + ("X" if check == 10 else str(check))
    return "-".join(full[i : i + 4] for i in range(0, 16, 4))


@dataclass(frozen=True, slots=True)
class _Domain:
    journals: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]  # title, issn, asjc
    topics: tuple[str, ...]
    contexts: tuple[str, ...]
    fingerprints: tuple[str, ...]
    keywords: tuple[str, ...]
    findings: tuple[str, ...]


_DOMAINS = (
    _Domain(
        journals=(
            (
                "Journal of Translational Immunology",
                _issn("1357246"),
                (("2723", "Immunology and Allergy"), ("2730", "Oncology")),
            ),
            (
                "Clinical Oncology Reports",
                _issn("2468135"),
                (("2730", "Oncology"), ("1306", "Cancer Research")),
            ),
        ),
        topics=(
            "Interleukin-6 signalling",
            "Adoptive T-cell transfer",
            "Cytokine release",
            "Dendritic cell vaccines",
            "Low-dose interleukin-2",
        ),
        contexts=(
            "in metastatic melanoma",
            "after allogeneic bone marrow transplantation",
            "in renal cell carcinoma",
            "in acute myeloid leukaemia",
        ),
        fingerprints=(
            "Interleukin-2",
            "Neoplasms",
            "Melanoma",
            "T-Lymphocytes",
            "Immunotherapy",
            "Cytokines",
            "Renal Cell Carcinoma",
            "Interferons",
        ),
        keywords=("immunotherapy", "cytokines", "clinical trial", "toxicity"),
        findings=(
            "Responses were durable in a minority of patients.",
            "Toxicity was manageable with dose reduction.",
            "Survival did not differ between the arms.",
        ),
    ),
    _Domain(
        journals=(
            (
                "European Journal of Population Health",
                _issn("1122334"),
                (
                    ("2739", "Public Health, Environmental and Occupational Health"),
                    ("2713", "Epidemiology"),
                ),
            ),
        ),
        topics=("Vaccination coverage", "Cardiovascular mortality", "Childhood obesity"),
        contexts=("in rural districts", "among older adults", "during economic recession"),
        fingerprints=("Cohort Studies", "Mortality", "Risk Factors", "Vaccination", "Incidence"),
        keywords=("epidemiology", "cohort", "public health"),
        findings=(
            "Incidence fell by a third over the decade.",
            "The association persisted after adjustment for income.",
        ),
    ),
    _Domain(
        journals=(
            (
                "Applied Network Science Letters",
                _issn("2233445"),
                (("1705", "Computer Networks and Communications"), ("1712", "Software")),
            ),
            (
                "Journal of Machine Reasoning",
                _issn("3344556"),
                (("1702", "Artificial Intelligence"),),
            ),
        ),
        topics=("Graph neural networks", "Congestion control", "Program synthesis"),
        contexts=("for sparse sensor networks", "at data-centre scale", "under adversarial load"),
        fingerprints=("Neural Networks", "Graph Theory", "Routing Protocols", "Benchmarking"),
        keywords=("machine learning", "networks", "benchmark"),
        findings=(
            "Latency dropped by 18% on the standard benchmark.",
            "The method scales linearly with the number of nodes.",
        ),
    ),
    _Domain(
        journals=(
            (
                "Review of Education and Society",
                _issn("4455667"),
                (("3304", "Education"), ("3312", "Sociology and Political Science")),
            ),
            (
                "Journal of Applied Economic Policy",
                _issn("5566778"),
                (("2002", "Economics and Econometrics"),),
            ),
        ),
        topics=("School tracking", "Minimum wages", "Student loans"),
        contexts=("in the Netherlands", "across European regions", "after the 2008 crisis"),
        fingerprints=("Students", "Inequality", "Higher Education", "Labour Market", "Taxation"),
        keywords=("inequality", "policy evaluation", "panel data"),
        findings=(
            "Effects were concentrated among low-income households.",
            "The reform narrowed the gap by a fifth.",
        ),
    ),
)

# Pure type sub-path, weight, whether peer reviewed (None: no note), the host kind.
_TYPES = (
    ("contributiontojournal/article", 40, True, "journal"),
    ("contributiontojournal/systematicreview", 14, True, "journal"),
    ("contributiontojournal/letter", 6, False, "journal"),
    ("contributiontojournal/editorial", 5, False, "journal"),
    ("contributiontoconference/paper", 12, True, "conference"),
    ("contributiontobookanthology/chapter", 10, None, "book"),
    ("bookanthology/book", 6, None, None),
    ("thesis/doc", 7, None, None),
)
_GIVEN = (
    "Anna", "Bram", "Chiara", "Daan", "Émilie", "Farah", "Gustav", "Hana", "Ines", "Jonas",
    "Kwame", "Lotte", "Mateus", "Noor", "Oksana", "Pieter", "Qian", "Rosa", "Søren", "Thandiwe",
)  # fmt: skip
_FAMILY = (
    "de Vries", "Jansen", "Okafor", "Bianchi", "Nowak", "Haddad", "Lindqvist", "Tanaka",
    "D’Angelo", "Müller", "van der Berg", "Kowalczyk", "Ó Briain", "Santos", "Yilmaz", "Peeters",
)  # fmt: skip
_AFFILIATIONS = (
    "Department of Oncology, Sandbox University",
    "Department of Immunology, Sandbox University Medical Centre",
    "School of Public Health, Sandbox University",
    "Institute for Computing Sciences, Sandbox University",
    "Faculty of Social Sciences, Sandbox University",
    "Sandbox Institute of Technology",
)
_ORGANISATIONS = (
    "Department of Oncology",
    "School of Public Health",
    "Institute for Computing Sciences",
    "Faculty of Social Sciences",
)
_LANGUAGES = (
    (("English", "en", "eng"), 14),
    (("English (US)", "en-US", "eng"), 4),
    (("Dutch", "nl", "nld"), 1),
    (("German", "de", "deu"), 1),
)
_STATES = (("published", 85), ("inpress", 8), ("epub_ahead_of_print", 7))
_SUBTITLES = ("a randomised trial", "a systematic review", "lessons from two decades", None, None)
_LICENCE = "https://creativecommons.org/licenses/by/4.0/"
_FIRST_STAMP = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
_STAMP_SECONDS = int((dt.datetime(2026, 10, 31, tzinfo=dt.UTC) - _FIRST_STAMP).total_seconds())


def _stamp(rng: random.Random) -> str:
    moment = _FIRST_STAMP + dt.timedelta(seconds=rng.randrange(_STAMP_SECONDS))
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _date_issued(rng: random.Random, year: int) -> str:
    shape = rng.random()
    month = rng.randrange(1, 13)
    if shape < 0.2:
        return str(year)
    if shape < 0.6:
        return f"{year}-{month:02d}"
    return f"{year}-{month:02d}-{rng.randrange(1, 29):02d}"


def _one_output(rng: random.Random, number: int, stamp: str) -> PureOutput:
    domain = rng.choice(_DOMAINS)
    subpath, _weight, peer_reviewed, host = rng.choices(_TYPES, [t[1] for t in _TYPES])[0]
    status = rng.choices([s for s, _ in _STATES], [w for _, w in _STATES])[0]
    year = rng.randrange(2024, 2027) if status != "published" else rng.randrange(1988, 2027)
    persons = tuple(
        PurePerson(
            rng.choice(_GIVEN),
            rng.choice(_FAMILY),
            _orcid(rng) if rng.random() < 0.35 else None,
            tuple(rng.sample(_AFFILIATIONS, rng.randrange(0, 3))),
        )
        for _ in range(1 if subpath == "thesis/doc" else rng.randrange(1, 8))
    )
    topic, context = rng.choice(domain.topics), rng.choice(domain.contexts)
    sentences = [
        f"{topic} {context} is poorly understood.",
        f"We studied {topic.lower()} {context} using data from {rng.randrange(40, 4000)} cases.",
        rng.choice(domain.findings),
        "These results inform the design of future studies.",
    ]
    output = PureOutput(
        uuid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        title=f"{topic} {context}",
        subtitle=rng.choice(_SUBTITLES) if host == "journal" else None,
        persons=persons,
        type_uri=TYPE_ROOT + subpath,
        peer_reviewed=peer_reviewed,
        status=status,
        date_issued=_date_issued(rng, year),
        language=rng.choices([lang for lang, _ in _LANGUAGES], [w for _, w in _LANGUAGES])[0],
        abstract=" ".join(sentences) if rng.random() < 0.9 else None,
        keywords=tuple(rng.sample(domain.keywords, rng.randrange(0, 3))),
        fingerprints=tuple(rng.sample(domain.fingerprints, rng.randrange(3, 5))),
        organisation=rng.choice(_ORGANISATIONS),
        open_access=rng.random() < 0.4,
    )
    if output.open_access:
        output = replace(output, license_url=_LICENCE)
    if host == "journal":
        journal, issn, asjc = rng.choice(domain.journals)
        first = rng.randrange(1, 900)
        last = first + rng.randrange(0, 20)
        output = replace(
            output,
            host_title=journal,
            issn=issn,
            volume=str(rng.randrange(1, 60)),
            issue=str(rng.randrange(1, 13)) if rng.random() < 0.8 else None,
            pages=f"{first}-{last}",
            page_count=last - first + 1,
            asjc=asjc,
        )
    elif host == "conference":
        first = rng.randrange(1, 400)
        output = replace(
            output,
            host_title=f"Proceedings of the Sandbox Conference {year}",
            pages=f"{first}-{first + 9}",
            page_count=10,
            publisher="Sandbox Academic Press",
        )
    elif host == "book":
        output = replace(
            output,
            host_title=f"Handbook of {topic}",
            publisher="Sandbox Academic Press",
            page_count=rng.randrange(12, 40),
        )
    else:
        output = replace(output, publisher="Sandbox University", page_count=rng.randrange(120, 320))
    if host in ("journal", "conference"):
        if rng.random() < 0.7:
            output = replace(output, doi=f"10.5555/sbx.{year}.{number:04d}")
        output = replace(output, citations=rng.randrange(0, 300), citations_as_of=stamp[:10])
    return output


def generated_outputs(count: int = 47, *, seed: int = CORPUS_SEED) -> list[tuple[PureOutput, str]]:
    """`count` invented research outputs with their datestamps (deterministic)."""
    rng = random.Random(seed)
    outputs = []
    for number in range(1, count + 1):
        stamp = _stamp(rng)
        outputs.append((_one_output(rng, number, stamp), stamp))
    return outputs


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------

_EU_REPO_TYPES = {
    "contributiontojournal/article": "article",
    "contributiontojournal/systematicreview": "review",
    "contributiontojournal/letter": "contributionToPeriodical",
    "contributiontojournal/editorial": "contributionToPeriodical",
    "contributiontoconference/paper": "conferenceObject",
    "contributiontobookanthology/chapter": "bookPart",
    "bookanthology/book": "book",
    "thesis/doc": "doctoralThesis",
}


def _element(tag: str, text: str | None, **attributes: str) -> str:
    """`<tag a="…">text</tag>`, or "" when text is None (an attribute `xlink_href` is
    written xlink:href)."""
    if text is None:
        return ""
    rendered = "".join(
        f" {key.replace('_', ':', 1)}={quoteattr(v)}" for key, v in attributes.items()
    )
    return f"<{tag}{rendered}>{escape(text)}</{tag}>"


def _full_title(output: PureOutput) -> str:
    return f"{output.title}: {output.subtitle}" if output.subtitle else output.title


def render_oai_dc(output: PureOutput) -> bytes:
    """The output as Pure's OpenAIRE-style oai_dc (creators "Family, Given", the title and
    subtitle joined by a colon, info:eu-repo type and access right, ISO 639-3 language)."""
    parts = [_element("dc:title", _full_title(output))]
    parts += [
        _element("dc:creator", f"{p.family}, {p.given}" if p.given else p.family)
        for p in output.persons
        if p.role == "author"
    ]
    parts += [_element("dc:subject", keyword) for keyword in output.keywords]
    parts.append(_element("dc:description", output.abstract))
    parts.append(_element("dc:publisher", output.publisher))
    parts.append(_element("dc:date", output.date_issued))
    subpath = output.type_uri.removeprefix(TYPE_ROOT)
    parts.append(_element("dc:type", f"info:eu-repo/semantics/{_EU_REPO_TYPES[subpath]}"))
    parts.append(_element("dc:identifier", output.portal_url))
    if output.doi:
        parts.append(_element("dc:identifier", f"https://doi.org/{output.doi}"))
    parts.append(_element("dc:language", output.language[2]))
    if output.host_title:
        source = output.host_title
        details = [
            f"vol. {output.volume}" if output.volume else None,
            f"no. {output.issue}" if output.issue else None,
            f"pp. {output.pages}" if output.pages else None,
        ]
        parts.append(_element("dc:source", ", ".join([source] + [d for d in details if d])))
    access = "openAccess" if output.open_access else "restrictedAccess"
    parts.append(_element("dc:rights", f"info:eu-repo/semantics/{access}"))
    parts.append(_element("dc:rights", output.license_url))
    return (
        '<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://www.openarchives.org/OAI/2.0/oai_dc/ '
        'http://www.openarchives.org/OAI/2.0/oai_dc.xsd">' + "".join(parts) + "</oai_dc:dc>"
    ).encode()


def _mods_name(person: PurePerson) -> str:
    parts = [
        _element("namePart", person.given, type="given"),
        _element("namePart", person.family, type="family"),
    ]
    parts += [_element("affiliation", affiliation) for affiliation in person.affiliations]
    parts.append(_element("nameIdentifier", person.orcid, type="orcid"))
    parts.append(
        "<role>" + _element("roleTerm", person.role, type="text", authority="pure/role") + "</role>"
    )
    return '<name type="personal">' + "".join(parts) + "</name>"


def render_mods(output: PureOutput) -> bytes:
    """The output as Pure's MODS v3 (see the module docstring for what is Pure's and what the
    portal adds)."""
    title = _element("title", output.title) + _element("subTitle", output.subtitle)
    parts = [f"<titleInfo>{title}</titleInfo>"]
    parts += [_mods_name(person) for person in output.persons]
    if output.organisation:
        parts.append(
            '<name type="corporate">'
            + _element("namePart", output.organisation)
            + "<role>"
            + _element("roleTerm", "pbl", type="code", authority="marcrelator")
            + "</role></name>"
        )
    parts.append("<typeOfResource>text</typeOfResource>")
    parts.append(_element("genre", output.type_uri, type="publicationType"))
    origin = _element("dateIssued", output.date_issued, encoding="w3cdtf")
    origin += _element("publisher", output.publisher)
    parts.append(f"<originInfo>{origin}</originInfo>")
    display, code, _iso = output.language
    parts.append(
        "<language>"
        + _element("languageTerm", display, type="text")
        + _element("languageTerm", code, type="code", authority="rfc3066")
        + "</language>"
    )
    if output.page_count is not None:
        parts.append(
            f"<physicalDescription><extent>{output.page_count}</extent></physicalDescription>"
        )
    parts.append(_element("abstract", output.abstract, type="content", lang="eng"))
    if output.peer_reviewed is not None:
        review = "Peer reviewed" if output.peer_reviewed else "Not peer reviewed"
        parts.append(_element("note", review, type="peerreview status"))
    parts.append(_element("note", output.status, type="publicationStatus"))
    parts += [f"<subject>{_element('topic', keyword)}</subject>" for keyword in output.keywords]
    if output.fingerprints:
        topics = "".join(_element("topic", concept) for concept in output.fingerprints)
        parts.append(f'<subject authority="fingerprint">{topics}</subject>')
    parts += [
        _element("classification", code, authority="asjc", displayLabel=label)
        for code, label in output.asjc
    ]
    if output.host_title:
        details = ""
        for kind, value in (("volume", output.volume), ("issue", output.issue)):
            if value is not None:
                details += f'<detail type="{kind}">{_element("number", value)}</detail>'
        if output.pages is not None:
            details += f'<detail type="citation">{_element("caption", output.pages)}</detail>'
        host = f"<titleInfo>{_element('title', output.host_title)}</titleInfo>"
        host += _element("identifier", output.issn, type="issn")
        host += f"<part>{details}</part>" if details else ""
        parts.append(f'<relatedItem type="host">{host}</relatedItem>')
    parts.append(_element("identifier", f"PURE UUID: {output.uuid}", type="local"))
    if output.doi:
        parts.append(_element("identifier", f"https://doi.org/{output.doi}", type="doi"))
    parts.append(f"<location>{_element('url', output.portal_url)}</location>")
    if output.license_url:
        parts.append(
            _element(
                "accessCondition",
                "CC BY",
                type="use and reproduction",
                xlink_href=output.license_url,
            )
        )
    if output.citations is not None:
        metric = _element(
            "metric",
            str(output.citations),
            name="citations",
            provider="scopus",
            asOf=output.citations_as_of or "",
        )
        parts.append(f'<extension><metrics xmlns="{PORTAL_NS}">{metric}</metrics></extension>')
    return (
        f'<mods xmlns="{MODS_NS}" xmlns:xlink="http://www.w3.org/1999/xlink" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" version="3.8" '
        f'xsi:schemaLocation="{MODS_NS} http://www.loc.gov/standards/mods/v3/mods-3-8.xsd">'
        + "".join(parts)
        + "</mods>"
    ).encode()


# Pure type sub-path → COAR resource type (the profile's COAR_Publication_Types vocabulary).
_COAR_TYPES = {
    "contributiontojournal/article": "c_6501",  # journal article
    "contributiontojournal/systematicreview": "c_dcae04bc",  # review article
    "contributiontojournal/letter": "c_545b",  # letter to the editor
    "contributiontojournal/editorial": "c_b239",  # editorial
    "contributiontoconference/paper": "c_5794",  # conference paper
    "contributiontobookanthology/chapter": "c_3248",  # book part
    "bookanthology/book": "c_2f33",  # book
    "thesis/doc": "c_db06",  # doctoral thesis
}
# The host as CERIF links it: a journal is a publishing channel (PublishedIn), proceedings and
# books are containing publications (PartOf); each with its own COAR type.
_CERIF_HOSTS = {
    "contributiontojournal": ("PublishedIn", "c_0640"),  # journal
    "contributiontoconference": ("PartOf", "c_f744"),  # conference proceedings
    "contributiontobookanthology": ("PartOf", "c_2f33"),  # book
}
_COAR_TYPES_NS = "https://www.openaire.eu/cerif-profile/vocab/COAR_Publication_Types"
_PEER_REVIEWS = "https://w3id.org/cerif/vocab/PeerReviews"
_PUBLICATION_STATUSES = "https://w3id.org/cerif/vocab/PublicationStatuses"
# Pure's status token → the CERIF "Publication Statuses" term; Pure's e-pub ahead of print has
# no CERIF term and gets no Status.
_CERIF_STATES = {
    "published": "Published",
    "inpress": "InPress",
    "submitted": "SubmittedForConsideration",
    "unpublished": "Unpublished",
    "inprep": "InPreparation",
}
_LICENCE_SCHEME = "https://creativecommons.org/licenses/"


def _coar_type(code: str) -> str:
    return f'<Type xmlns="{_COAR_TYPES_NS}">http://purl.org/coar/resource_type/{code}</Type>'


def _cerif_author(person: PurePerson) -> str:
    display = f"{person.given} {person.family}" if person.given else person.family
    name = _element("FamilyNames", person.family) + _element("FirstNames", person.given)
    orcid = _element("ORCID", f"https://orcid.org/{person.orcid}" if person.orcid else None)
    affiliations = ""
    for affiliation in person.affiliations:
        # "Department of Oncology, Sandbox University": the unit, part of the university.
        unit, _comma, parent = affiliation.partition(", ")
        part_of = (
            f"<PartOf><OrgUnit>{_element('Name', parent, xml_lang='en')}</OrgUnit></PartOf>"
            if parent
            else ""
        )
        affiliations += (
            f"<Affiliation><OrgUnit>{_element('Name', unit, xml_lang='en')}{part_of}"
            "</OrgUnit></Affiliation>"
        )
    tag = "Editor" if person.role == "editor" else "Author"
    return (
        f"<{tag}>{_element('DisplayName', display)}"
        f"<Person><PersonName>{name}</PersonName>{orcid}</Person>{affiliations}</{tag}>"
    )


def render_cerif(output: PureOutput) -> bytes:
    """The output as OpenAIRE CERIF XML 1.1 (`<Publication>`, elements in the schema's order;
    see the module docstring for what it cannot carry). The texts are English whatever the
    output's language, so they are tagged xml:lang="en"."""
    subpath = output.type_uri.removeprefix(TYPE_ROOT)
    parts = [_coar_type(_COAR_TYPES[subpath]), _element("Language", output.language[1])]
    parts.append(_element("Title", output.title, xml_lang="en"))
    parts.append(_element("Subtitle", output.subtitle, xml_lang="en"))
    link, host_type = _CERIF_HOSTS.get(subpath.partition("/")[0], (None, None))
    if output.host_title and link and host_type:
        host = _coar_type(host_type) + _element("Title", output.host_title, xml_lang="en")
        host += _element("ISSN", output.issn)
        parts.append(f"<{link}><Publication>{host}</Publication></{link}>")
    parts.append(_element("PublicationDate", output.date_issued))
    parts.append(_element("Volume", output.volume))
    parts.append(_element("Issue", output.issue))
    if output.pages:
        start, _dash, end = output.pages.partition("-")
        parts.append(_element("StartPage", start) + _element("EndPage", end or None))
    parts.append(_element("DOI", output.doi))
    parts.append(_element("URL", output.portal_url))
    for role, container in (("author", "Authors"), ("editor", "Editors")):
        people = "".join(_cerif_author(p) for p in output.persons if p.role == role)
        parts.append(f"<{container}>{people}</{container}>" if people else "")
    if output.publisher:
        name = _element("Name", output.publisher, xml_lang="en")
        parts.append(f"<Publishers><Publisher><OrgUnit>{name}</OrgUnit></Publisher></Publishers>")
    parts.append(_element("License", output.license_url, scheme=_LICENCE_SCHEME))
    parts += [_element("Keyword", keyword, xml_lang="en") for keyword in output.keywords]
    parts.append(_element("Abstract", output.abstract, xml_lang="en"))
    if output.peer_reviewed is not None:
        term = "Yes" if output.peer_reviewed else "No"
        parts.append(_element("Status", f"{_PEER_REVIEWS}#{term}", scheme=_PEER_REVIEWS))
    state = _CERIF_STATES.get(output.status)
    if state is not None:
        value = f"{_PUBLICATION_STATUSES}#{state}"
        parts.append(_element("Status", value, scheme=_PUBLICATION_STATUSES))
    access = "c_abf2" if output.open_access else "c_16ec"  # open / restricted access
    parts.append(
        f'<Access xmlns="http://purl.org/coar/access_right">'
        f"http://purl.org/coar/access_right/{access}</Access>"
    )
    return (
        f'<Publication xmlns="{CERIF_NS}" id={quoteattr(output.uuid)}>'
        + "".join(parts)
        + "</Publication>"
    ).encode()


# ---------------------------------------------------------------------------------------------
# The repository
# ---------------------------------------------------------------------------------------------


def _sets_of(output: PureOutput) -> tuple[str, ...]:
    specs = ["publications:all", f"publications:year{output.date_issued[:4]}"]
    if output.open_access:
        specs.append("publications:withFiles")
    return tuple(specs)


def _item(output: PureOutput, stamp: str) -> OaiItem:
    return OaiItem(
        identifier=output.identifier,
        datestamp=stamp,
        set_specs=_sets_of(output),
        metadata={
            "oai_dc": render_oai_dc(output),
            "mods": render_mods(output),
            "oai_cerif_openaire": render_cerif(output),
        },
    )


def pure_items(count: int = 47, *, deleted: int = 5) -> list[OaiItem]:
    """The seed record and `count` generated outputs, `deleted` of which are deleted (their
    header stays, with the datestamp of the deletion), in no particular order."""
    rng = random.Random(CORPUS_SEED + 1)
    generated = generated_outputs(count)
    gone = set(rng.sample(range(len(generated)), deleted))
    items = [_item(SEED_OUTPUT, SEED_DATESTAMP)]
    for index, (output, stamp) in enumerate(generated):
        item = _item(output, stamp)
        if index in gone:
            later = max(stamp, _stamp(rng))
            item = OaiItem(item.identifier, later, item.set_specs, True, {})
        items.append(item)
    return items


def set_names(items: Sequence[OaiItem]) -> list[tuple[str, str]]:
    """The portal's sets (setSpec, setName): all outputs, those with files, one per year."""
    years = sorted(
        {s for item in items for s in item.set_specs if s.startswith("publications:year")}
    )
    return [
        ("publications:all", "All research outputs"),
        ("publications:withFiles", "Research outputs with files"),
        *((spec, f"Research outputs published in {spec[-4:]}") for spec in years),
    ]
