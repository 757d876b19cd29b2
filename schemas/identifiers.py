"""One normal form per identifier scheme (DOI, PMID, PMCID, ORCID, ISBN, ISSN), for every source.

Every parser (PubMed, Crossref, OAI-PMH) stores identifiers through these functions, so the
same identifier read from two sources is the same string, and a later step can match works
across sources by comparing values. Each function is pure, takes the text a source gives
(`str | None`) and returns the normal form, or None when the text is not an identifier of that
scheme (blank, wrong shape, wrong check digit). What to do with a declared identifier that
does not normalise (drop it, keep it as "other") is the caller's choice, not these functions'.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = [
    "NORMALISERS",
    "doi_key",
    "normalise_doi",
    "normalise_isbn",
    "normalise_issn",
    "normalise_orcid",
    "normalise_pmcid",
    "normalise_pmid",
    "orcid_check_character",
]

# Resolver prefixes in front of a DOI. The URL forms are percent-encoded (a DOI's "<", ";",
# "#" must be in a URL), the others are the DOI as written ("doi:10.…", "DOI 10.…",
# "info:doi/10.…" from OAI-PMH repositories).
_DOI_URL = re.compile(r"^(?:https?://)?(?:www\.|dx\.)?doi\.org/", re.IGNORECASE)
_DOI_LABEL = re.compile(r"^(?:doi:\s*|doi\s+|info:doi/)", re.IGNORECASE)
# 10.<registrant>(.<sub-registrant>)*/<suffix>: the DOI syntax (ANSI/NISO Z39.84). The suffix
# may hold any printable character, SICI DOIs carry `<>;()#`, so it is only required to be
# non-empty and free of whitespace (a DOI with a space is a copy/paste accident, and a value
# in a list of several identifiers "10.1/a 10.1/b" is not one DOI).
_DOI = re.compile(r"10\.[0-9]+(?:\.[0-9]+)*/\S+")
# An ORCID iD: 16 characters in four groups, the last a check digit (0-9 or X), in front of
# it anything (a resolver URL, "orcid:", "ORCID: ") but a digit (a longer number is no iD).
_ORCID = re.compile(r"(?<![0-9X])([0-9]{4})[- ]?([0-9]{4})[- ]?([0-9]{4})[- ]?([0-9]{3}[0-9X])/?$")
_ISBN_LABEL = re.compile(r"^isbn(?:-1[03])?:?\s*", re.IGNORECASE)
_ISBN_CHARS = re.compile(r"[0-9X -]+")
_ISSN = re.compile(r"(?:issn:?\s*)?([0-9]{4})[- ]?([0-9]{3}[0-9X])", re.IGNORECASE)
_PMID_LABEL = re.compile(r"^pmid:?\s*", re.IGNORECASE)
# "PMC" + digits, optionally a version ".2" (PubMed lists some as "PMC6134338.4").
_PMCID = re.compile(r"(?:PMC(?:ID)?:?\s*)?(PMC)?([0-9]+)(?:\.[0-9]+)?")


def normalise_doi(value: str | None) -> str | None:
    """The DOI in `value`, bare ("10.1000/xyz") and lower-case; None when it holds no DOI.

    Trimmed; a resolver prefix ("https://doi.org/", "http://dx.doi.org/", "doi.org/",
    "doi:", "DOI ", "info:doi/") removed; the rest must be `10.<digits>(.<digits>)*/<suffix>`
    with a non-empty suffix without whitespace. A resolver URL is percent-decoded (its "%28"
    is the DOI's "("); a DOI written bare is not, its "%" is a character of the DOI.

    DOIs are case-insensitive, and every source stored them lower-cased before this module
    existed (Crossref's `source_id` is this value), so lower case is also the stored form:
    the same DOI from PubMed, Crossref and a repository is one string. `doi_key` is the key
    for matching, which equals this today.
    """
    if value is None:
        return None
    text = _DOI_LABEL.sub("", value.strip(), count=1)
    url = _DOI_URL.match(text)
    if url:
        text = unquote(text[url.end() :]).strip()
    if not _DOI.fullmatch(text):
        return None
    return text.lower()


def doi_key(value: str | None) -> str | None:
    """The key two DOIs match on: the normal DOI, lower-cased (DOIs are case-insensitive).

    Use this, not the stored value, when comparing DOIs across sources, so that matching stays
    right whatever case the stored form keeps."""
    doi = normalise_doi(value)
    return doi.lower() if doi is not None else None


def normalise_pmid(value: str | None) -> str | None:
    """A PubMed id as its decimal digits without leading zeros ("123"), from "123", " 00123",
    "PMID: 123"; None unless it is a positive integer in ASCII digits."""
    if value is None:
        return None
    text = _PMID_LABEL.sub("", value.strip(), count=1)
    # isdigit() alone is true of "²" and other digits int() refuses or reads differently.
    if not text.isascii() or not text.isdigit():
        return None
    return _positive_digits(text)


def normalise_pmcid(value: str | None) -> str | None:
    """A PubMed Central id "PMC" + digits ("PMC1234567"), from "PMC1234567", "pmc1234567",
    "1234567" (PubMed's IdType="pmc" without the prefix), "PMCID: PMC1234567"; None for
    anything else (zero, other text).

    A version suffix is dropped ("PMC6134338.4" → "PMC6134338"): the id names the article,
    whose versions PMC serves under the same id, and the versioned form would never match the
    same article listed elsewhere without one."""
    if value is None:
        return None
    match = _PMCID.fullmatch(value.strip().upper())
    if match is None:
        return None
    digits = _positive_digits(match.group(2))
    return f"PMC{digits}" if digits is not None else None


# More digits than any PubMed or PMC id will have (both are under 10 digits today).
_MAX_ID_DIGITS = 19


def _positive_digits(text: str) -> str | None:
    """ASCII digits without leading zeros; None for zero or an implausible length (and never
    `int()`: 5,000 digits are past its limit and raise)."""
    digits = text.lstrip("0")
    return digits if digits and len(digits) <= _MAX_ID_DIGITS else None


def normalise_orcid(value: str | None) -> str | None:
    """An ORCID iD in its 16-character form "0000-0002-1825-0097", from the iD with or without
    hyphens, its URL "https://orcid.org/0000-0002-1825-0097", "ORCID: …"; None when the text
    ends in no 16-character iD or its check digit (ISO 7064 11,2) is wrong.

    The check digit is verified: an iD with a wrong one is a typo that points at nobody (or at
    someone else), and it would never match the same person's iD from another source."""
    if value is None:
        return None
    text = value.strip().upper()
    match = _ORCID.search(text)
    if match is None:
        return None
    digits = "".join(match.groups())
    if orcid_check_character(digits[:15]) != digits[15]:
        return None
    return "-".join(match.groups())


def orcid_check_character(digits: str) -> str:
    """ISO 7064 MOD 11-2 check character of the first 15 digits of an ORCID iD."""
    total = 0
    for digit in digits:
        total = (total + int(digit)) * 2
    result = (12 - total % 11) % 11
    return "X" if result == 10 else str(result)


def normalise_isbn(value: str | None) -> str | None:
    """An ISBN as its 10 or 13 characters without hyphens or spaces, X upper-case
    ("9780306406157", "080442957X"); None unless the check digit is right.

    Accepted around it: "ISBN ", "ISBN-13: ", and Crossref's "http://id.crossref.org/isbn/…".
    An ISBN-10 stays an ISBN-10 (not converted to 13 digits): that is how every source stored
    it, and the book's own registration shows it that way."""
    if value is None:
        return None
    text = value.strip()
    if "/" in text:  # a URL whose last path segment is the ISBN
        text = text.rstrip("/").rsplit("/", 1)[-1]
    text = _ISBN_LABEL.sub("", text, count=1).upper()
    if not _ISBN_CHARS.fullmatch(text):
        return None
    digits = text.replace("-", "").replace(" ", "")
    if len(digits) == 10 and digits[:9].isdigit():
        total = sum((10 - i) * int(c) for i, c in enumerate(digits[:9]))
        check = 10 if digits[9] == "X" else int(digits[9])
        return digits if (total + check) % 11 == 0 else None
    if len(digits) == 13 and digits.isdigit():
        total = sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(digits[:12]))
        return digits if (10 - total % 10) % 10 == int(digits[12]) else None
    return None


def normalise_issn(value: str | None) -> str | None:
    """An ISSN as "1234-567X" (hyphen, X upper-case), from "1234-567x", "1234567X",
    "ISSN 1234-567X"; None unless the check digit (mod 11) is right."""
    if value is None:
        return None
    match = _ISSN.fullmatch(value.strip())
    if match is None:
        return None
    digits = (match.group(1) + match.group(2)).upper()
    total = sum((8 - i) * int(c) for i, c in enumerate(digits[:7]))
    check = (11 - total % 11) % 11
    if digits[7] != ("X" if check == 10 else str(check)):
        return None
    return f"{digits[:4]}-{digits[4:]}"


# Each scheme's normal form by its name, for a parser that reads the scheme from the source.
NORMALISERS = {
    "doi": normalise_doi,
    "isbn": normalise_isbn,
    "issn": normalise_issn,
    "orcid": normalise_orcid,
    "pmcid": normalise_pmcid,
    "pmid": normalise_pmid,
}
