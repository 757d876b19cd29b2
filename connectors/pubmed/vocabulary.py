"""What PubMed XML may hold, for drift: the child elements and attributes each element of
NLM's PubMed DTD allows. A name outside it is drift (NLM revises the DTD every year), counted
per record in `Record.unknown` by the parsers at the places they already dispatch on names.

`CHILDREN` and `ATTRIBUTES` are pubmed_250101.dtd's own vocabulary (MathML's inner elements
left out: they only appear inside text, where names are not dispatched), as `vocabulary_of_dtd`
reads it;
tests/test_drift.py checks they still equal the DTD Biopython ships. `EARLIER` adds what older
DTDs had and the parser still reads, so records of older baseline files are not drift.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHILDREN: dict[str, frozenset[str]] = {
    "Abstract": frozenset({"AbstractText", "CopyrightInformation"}),
    "AbstractText": frozenset({"DispFormula", "b", "i", "math", "sub", "sup", "u"}),
    "AccessionNumberList": frozenset({"AccessionNumber"}),
    "Affiliation": frozenset({"b", "i", "sub", "sup", "u"}),
    "AffiliationInfo": frozenset({"Affiliation", "Identifier"}),
    "Article": frozenset(
        {
            "Abstract",
            "ArticleDate",
            "ArticleTitle",
            "AuthorList",
            "DataBankList",
            "ELocationID",
            "GrantList",
            "Journal",
            "Language",
            "Pagination",
            "PublicationTypeList",
            "VernacularTitle",
        }
    ),
    "ArticleDate": frozenset({"Day", "Month", "Year"}),
    "ArticleIdList": frozenset({"ArticleId"}),
    "ArticleTitle": frozenset({"b", "i", "math", "sub", "sup", "u"}),
    "Author": frozenset(
        {
            "AffiliationInfo",
            "CollectiveName",
            "ForeName",
            "Identifier",
            "Initials",
            "LastName",
            "Suffix",
        }
    ),
    "AuthorList": frozenset({"Author"}),
    "BeginningDate": frozenset({"Day", "Month", "Season", "Year"}),
    "Book": frozenset(
        {
            "AuthorList",
            "BeginningDate",
            "BookTitle",
            "CollectionTitle",
            "ELocationID",
            "Edition",
            "EndingDate",
            "InvestigatorList",
            "Isbn",
            "Medium",
            "PubDate",
            "Publisher",
            "ReportNumber",
            "Volume",
            "VolumeTitle",
        }
    ),
    "BookDocument": frozenset(
        {
            "Abstract",
            "ArticleIdList",
            "ArticleTitle",
            "AuthorList",
            "Book",
            "ContributionDate",
            "DateRevised",
            "GrantList",
            "InvestigatorList",
            "ItemList",
            "KeywordList",
            "Language",
            "LocationLabel",
            "PMID",
            "Pagination",
            "PublicationType",
            "ReferenceList",
            "Sections",
            "VernacularTitle",
        }
    ),
    "BookDocumentSet": frozenset({"BookDocument", "DeleteDocument"}),
    "BookTitle": frozenset({"b", "i", "math", "sub", "sup", "u"}),
    "Chemical": frozenset({"NameOfSubstance", "RegistryNumber"}),
    "ChemicalList": frozenset({"Chemical"}),
    "Citation": frozenset({"b", "i", "math", "sub", "sup", "u"}),
    "CoiStatement": frozenset({"b", "i", "sub", "sup", "u"}),
    "CollectionTitle": frozenset({"b", "i", "math", "sub", "sup", "u"}),
    "CollectiveName": frozenset({"b", "i", "sub", "sup", "u"}),
    "CommentsCorrections": frozenset({"Note", "PMID", "RefSource"}),
    "CommentsCorrectionsList": frozenset({"CommentsCorrections"}),
    "ContributionDate": frozenset({"Day", "Month", "Season", "Year"}),
    "DataBank": frozenset({"AccessionNumberList", "DataBankName"}),
    "DataBankList": frozenset({"DataBank"}),
    "DateCompleted": frozenset({"Day", "Month", "Year"}),
    "DateRevised": frozenset({"Day", "Month", "Year"}),
    "DeleteCitation": frozenset({"PMID"}),
    "DeleteDocument": frozenset({"PMID"}),
    "DispFormula": frozenset({"math"}),
    "EndingDate": frozenset({"Day", "Month", "Season", "Year"}),
    "GeneSymbolList": frozenset({"GeneSymbol"}),
    "Grant": frozenset({"Acronym", "Agency", "Country", "GrantID"}),
    "GrantList": frozenset({"Grant"}),
    "History": frozenset({"PubMedPubDate"}),
    "Investigator": frozenset(
        {"AffiliationInfo", "ForeName", "Identifier", "Initials", "LastName", "Suffix"}
    ),
    "InvestigatorList": frozenset({"Investigator"}),
    "ItemList": frozenset({"Item"}),
    "Journal": frozenset({"ISOAbbreviation", "ISSN", "JournalIssue", "Title"}),
    "JournalIssue": frozenset({"Issue", "PubDate", "Volume"}),
    "Keyword": frozenset({"b", "i", "math", "sub", "sup", "u"}),
    "KeywordList": frozenset({"Keyword"}),
    "MedlineCitation": frozenset(
        {
            "Article",
            "ChemicalList",
            "CitationSubset",
            "CoiStatement",
            "CommentsCorrectionsList",
            "DateCompleted",
            "DateRevised",
            "GeneSymbolList",
            "GeneralNote",
            "InvestigatorList",
            "KeywordList",
            "MedlineJournalInfo",
            "MeshHeadingList",
            "NumberOfReferences",
            "OtherAbstract",
            "OtherID",
            "PMID",
            "PersonalNameSubjectList",
            "SpaceFlightMission",
            "SupplMeshList",
        }
    ),
    "MedlineJournalInfo": frozenset({"Country", "ISSNLinking", "MedlineTA", "NlmUniqueID"}),
    "MeshHeading": frozenset({"DescriptorName", "QualifierName"}),
    "MeshHeadingList": frozenset({"MeshHeading"}),
    "Object": frozenset({"Param"}),
    "ObjectList": frozenset({"Object"}),
    "OtherAbstract": frozenset({"AbstractText", "CopyrightInformation"}),
    "Pagination": frozenset({"EndPage", "MedlinePgn", "StartPage"}),
    "Param": frozenset({"b", "i", "sub", "sup", "u"}),
    "PersonalNameSubject": frozenset({"ForeName", "Initials", "LastName", "Suffix"}),
    "PersonalNameSubjectList": frozenset({"PersonalNameSubject"}),
    "PubDate": frozenset({"Day", "MedlineDate", "Month", "Season", "Year"}),
    "PubMedPubDate": frozenset({"Day", "Hour", "Minute", "Month", "Second", "Year"}),
    "PublicationTypeList": frozenset({"PublicationType"}),
    "Publisher": frozenset({"PublisherLocation", "PublisherName"}),
    "PublisherName": frozenset({"b", "i", "sub", "sup", "u"}),
    "PubmedArticle": frozenset({"MedlineCitation", "PubmedData"}),
    "PubmedArticleSet": frozenset({"DeleteCitation", "PubmedArticle", "PubmedBookArticle"}),
    "PubmedBookArticle": frozenset({"BookDocument", "PubmedBookData"}),
    "PubmedBookArticleSet": frozenset({"PubmedBookArticle"}),
    "PubmedBookData": frozenset({"ArticleIdList", "History", "ObjectList", "PublicationStatus"}),
    "PubmedData": frozenset(
        {"ArticleIdList", "History", "ObjectList", "PublicationStatus", "ReferenceList"}
    ),
    "Reference": frozenset({"ArticleIdList", "Citation"}),
    "ReferenceList": frozenset({"Reference", "ReferenceList", "Title"}),
    "Section": frozenset({"LocationLabel", "Section", "SectionTitle"}),
    "SectionTitle": frozenset({"b", "i", "sub", "sup", "u"}),
    "Sections": frozenset({"Section"}),
    "Suffix": frozenset({"b", "i", "sub", "sup", "u"}),
    "SupplMeshList": frozenset({"SupplMeshName"}),
    "VernacularTitle": frozenset({"b", "i", "math", "sub", "sup", "u"}),
    "VolumeTitle": frozenset({"b", "i", "sub", "sup", "u"}),
    "b": frozenset({"b", "i", "sub", "sup", "u"}),
    "i": frozenset({"b", "i", "sub", "sup", "u"}),
    "sub": frozenset({"b", "i", "sub", "sup", "u"}),
    "sup": frozenset({"b", "i", "sub", "sup", "u"}),
    "u": frozenset({"b", "i", "sub", "sup", "u"}),
}
ATTRIBUTES: dict[str, frozenset[str]] = {
    "AbstractText": frozenset({"Label", "NlmCategory"}),
    "Article": frozenset({"PubModel"}),
    "ArticleDate": frozenset({"DateType"}),
    "ArticleId": frozenset({"IdType"}),
    "ArticleTitle": frozenset({"book", "part", "sec"}),
    "Author": frozenset({"EqualContrib", "ValidYN"}),
    "AuthorList": frozenset({"CompleteYN", "Type"}),
    "BookTitle": frozenset({"book", "part", "sec"}),
    "CollectionTitle": frozenset({"book", "part", "sec"}),
    "CollectiveName": frozenset({"Investigators"}),
    "CommentsCorrections": frozenset({"RefType"}),
    "DataBankList": frozenset({"CompleteYN"}),
    "DescriptorName": frozenset({"AutoHM", "MajorTopicYN", "Type", "UI"}),
    "ELocationID": frozenset({"EIdType", "ValidYN"}),
    "GeneralNote": frozenset({"Owner"}),
    "GrantList": frozenset({"CompleteYN"}),
    "ISSN": frozenset({"IssnType"}),
    "Identifier": frozenset({"Source"}),
    "Investigator": frozenset({"ValidYN"}),
    "InvestigatorList": frozenset({"ID"}),
    "ItemList": frozenset({"ListType"}),
    "JournalIssue": frozenset({"CitedMedium"}),
    "Keyword": frozenset({"MajorTopicYN"}),
    "KeywordList": frozenset({"Owner"}),
    "LocationLabel": frozenset({"Type"}),
    "MedlineCitation": frozenset({"IndexingMethod", "Owner", "Status", "VersionDate", "VersionID"}),
    "NameOfSubstance": frozenset({"UI"}),
    "Object": frozenset({"Type"}),
    "OtherAbstract": frozenset({"Language", "Type"}),
    "OtherID": frozenset({"Source"}),
    "PMID": frozenset({"Version"}),
    "Param": frozenset({"Name"}),
    "PubMedPubDate": frozenset({"PubStatus"}),
    "PublicationType": frozenset({"UI"}),
    "QualifierName": frozenset({"AutoHM", "MajorTopicYN", "UI"}),
    "SectionTitle": frozenset({"book", "part", "sec"}),
    "SupplMeshName": frozenset({"Type", "UI"}),
    "URL": frozenset({"Type", "lang"}),
}

# Names of earlier DTDs that real files still carry and the parser reads (DateCreated: until
# pubmed_180101; baseline files of those years hold it).
EARLIER: dict[str, frozenset[str]] = {
    "MedlineCitation": frozenset({"DateCreated"}),
}

KNOWN_CHILDREN: dict[str, frozenset[str]] = {
    name: CHILDREN.get(name, frozenset()) | EARLIER.get(name, frozenset())
    for name in CHILDREN.keys() | EARLIER.keys()
}
KNOWN_ATTRIBUTES = ATTRIBUTES

# The elements whose children the parser dispatches on by name: where drift is looked for.
DISPATCHED = (
    "PubmedArticle",
    "MedlineCitation",
    "Article",
    "Journal",
    "JournalIssue",
    "MedlineJournalInfo",
    "PubmedData",
)


def unknown_element(parent: str, tag: str) -> str:
    """The drift name of an element the DTD does not allow in `parent`."""
    return f"element {parent}/{tag}"


def unknown_attribute(element: str, name: str) -> str:
    """The drift name of an attribute the DTD does not give `element`."""
    return f"attribute {element}/@{name}"


def vocabulary_of_dtd(
    path: str | Path,
) -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    """(children, attributes) per element of a PubMed DTD, MathML left out: how `CHILDREN`
    and `ATTRIBUTES` were made, and how a test compares them with a newer DTD."""
    from lxml import etree

    dtd: Any = etree.DTD(str(path))  # lxml-stubs lack the DTD's declarations
    children: dict[str, frozenset[str]] = {}
    attributes: dict[str, frozenset[str]] = {}
    for element in dtd.iterelements():
        if element.prefix:
            continue
        names: set[str] = set()
        pending = [element.content]
        while pending:
            content = pending.pop()
            if content is None:
                continue
            if content.type == "element" and content.name:
                names.add(content.name)
            pending += [content.left, content.right]
        if names:
            children[element.name] = frozenset(names)
        declared = {a.name for a in element.iterattributes() if not a.prefix}
        if declared:
            attributes[element.name] = frozenset(declared)
    return children, attributes
