"""The OAI-PMH response envelope: safe parsing of a response body, the root and `<error>` checks,
and the verb-level content (headers, resumption token, Identify, formats, sets). Pure functions.

Safe by construction: no DTD is loaded, no entity resolved, nothing fetched; broken XML raises
`MalformedPayloadError` naming the origin, line and column, and so does an HTML page or any
XML that is not an OAI-PMH response: never an empty harvest.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from connectors.oaipmh.errors import error_for_code
from connectors.oaipmh.values import parse_number
from schemas.errors import MalformedPayloadError

__all__ = [
    "OAI_NS",
    "MetadataFormat",
    "OaiHeader",
    "OaiSet",
    "RepositoryInfo",
    "ResumptionToken",
    "check_errors",
    "parse_header",
    "parse_identify",
    "parse_metadata_formats",
    "parse_response",
    "parse_sets",
    "record_headers",
    "resumption_token",
    "verb_element",
]

Element = etree._Element

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
_O = f"{{{OAI_NS}}}"
ROOT_TAG = f"{_O}OAI-PMH"


def safe_parser() -> etree.XMLParser:
    """An XML parser that resolves no entity and loads no DTD or network resource."""
    # A new parser per call: lxml parsers are not thread-safe, clients may be shared.
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        remove_comments=True,
        huge_tree=False,
    )


@dataclass(frozen=True, slots=True)
class OaiHeader:
    """A record header: identifier, datestamp (as given), setSpecs in order, deleted flag."""

    identifier: str
    datestamp: str
    set_specs: tuple[str, ...] = ()
    deleted: bool = False

    @property
    def key(self) -> tuple[str, str]:
        """identifier + datestamp: what makes one version of one record (de-duplication)."""
        return (self.identifier, self.datestamp)


@dataclass(frozen=True, slots=True)
class ResumptionToken:
    """A `<resumptionToken>`: `value` None when empty (the list is complete)."""

    value: str | None
    cursor: int | None = None
    complete_list_size: int | None = None
    expiration_date: str | None = None


@dataclass(frozen=True, slots=True)
class RepositoryInfo:
    """What Identify says. `granularity` is "YYYY-MM-DD" or "YYYY-MM-DDThh:mm:ssZ";
    `deleted_record` is no, transient or persistent."""

    repository_name: str | None
    base_url: str | None
    protocol_version: str | None
    admin_emails: tuple[str, ...]
    earliest_datestamp: str | None
    deleted_record: str | None
    granularity: str | None
    compression: tuple[str, ...] = ()

    @property
    def seconds_granularity(self) -> bool:
        """Whether from/until may carry a time of day."""
        return (self.granularity or "").endswith("ssZ")


@dataclass(frozen=True, slots=True)
class MetadataFormat:
    """One ListMetadataFormats entry."""

    prefix: str
    schema: str | None
    namespace: str | None


@dataclass(frozen=True, slots=True)
class OaiSet:
    """One ListSets entry (the setDescription stays out: it is free-form XML)."""

    spec: str
    name: str | None


# --- the envelope ----------------------------------------------------------------------------


def parse_response(
    body: bytes,
    *,
    source: str,
    request: str,
    status: int | None = 200,
    content_type: str | None = None,
) -> Element:
    """The `<OAI-PMH>` root of a response body, after raising for what it is not.

    Raises:
        MalformedPayloadError: not well-formed XML, an HTML page, or XML whose root is not the
            OAI-PMH element.
        OaiProtocolError: the response carries an OAI `<error>` (the subclass of its code).
    """
    origin = f"{source}: {request}"
    if looks_like_html(body, content_type):
        raise MalformedPayloadError(
            f"{origin} answered an HTML page ({content_type or 'no Content-Type'}), not "
            "OAI-PMH XML: check that the base URL is the OAI-PMH endpoint itself (Pure: "
            "…/ws/oai, DSpace: …/oai/request, Zenodo: …/oai2d)"
        )
    if not body.strip():
        raise MalformedPayloadError(f"{origin} answered an empty body, not OAI-PMH XML")
    if body[:1].isspace():
        # Stray blank lines before the XML declaration (a classic of PHP repositories) make
        # libxml2 refuse the whole document; they carry nothing.
        body = body.lstrip()
    try:
        root = etree.fromstring(body, safe_parser())
    except etree.XMLSyntaxError as error:
        line, column = error.position or (0, 0)
        raise MalformedPayloadError(
            f"{origin}: not well-formed XML at line {line}, column {column}: {error.msg}"
        ) from None
    if root.tag != ROOT_TAG:
        raise MalformedPayloadError(
            f"{origin}: the root element is <{etree.QName(root).localname}> "
            f"({etree.QName(root).namespace or 'no namespace'}), not an OAI-PMH response"
        )
    check_errors(root, source=source, request=request, status=status)
    return root


def check_errors(root: Element, *, source: str, request: str, status: int | None) -> None:
    """Raise the exception of the first `<error>` of a response (all codes are named)."""
    errors = root.findall(f"{_O}error")
    if not errors:
        return
    first = errors[0]
    message = _text(first)
    if len(errors) > 1:
        others = "; ".join(f"{e.get('code')}: {_text(e) or ''}".rstrip(": ") for e in errors[1:])
        message = f"{message or ''} (also: {others})".strip()
    raise error_for_code(first.get("code"), message, source=source, request=request, status=status)


def looks_like_html(body: bytes, content_type: str | None) -> bool:
    head = body[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return True
    return bool(content_type and "html" in content_type.lower() and not head.startswith(b"<?xml"))


def _text(element: Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def verb_element(root: Element, verb: str, *, source: str, request: str) -> Element:
    """The `<ListRecords>` (etc.) element of a response; MalformedPayloadError when missing."""
    element = root.find(f"{_O}{verb}")
    if element is None:
        raise MalformedPayloadError(
            f"{source}: {request}: the OAI-PMH response has no <{verb}> element and no <error>"
        )
    return element


# --- list content ----------------------------------------------------------------------------


def parse_header(header: Element, *, source: str = "OAI-PMH") -> OaiHeader:
    """An `OaiHeader` from a `<header>`; MalformedPayloadError without identifier/datestamp."""
    identifier = _text(header.find(f"{_O}identifier"))
    datestamp = _text(header.find(f"{_O}datestamp"))
    if identifier is None or datestamp is None:
        raise MalformedPayloadError(
            f"{source}: a record header at line {header.sourceline} lacks "
            f"{'an identifier' if identifier is None else 'a datestamp'}"
        )
    specs = tuple(
        text for spec in header.iterchildren(f"{_O}setSpec") if (text := _text(spec)) is not None
    )
    return OaiHeader(identifier, datestamp, specs, header.get("status") == "deleted")


def record_headers(container: Element, *, source: str = "OAI-PMH") -> list[OaiHeader]:
    """The headers of a ListRecords/GetRecord (`record/header`) or ListIdentifiers (`header`)
    element, in document order."""
    headers = []
    for child in container:
        if child.tag == f"{_O}record":
            header = child.find(f"{_O}header")
            if header is None:
                raise MalformedPayloadError(
                    f"{source}: a <record> at line {child.sourceline} has no <header>"
                )
            headers.append(parse_header(header, source=source))
        elif child.tag == f"{_O}header":
            headers.append(parse_header(child, source=source))
    return headers


def resumption_token(container: Element) -> ResumptionToken | None:
    """The list's `<resumptionToken>`, None when there is none (the list is complete)."""
    element = container.find(f"{_O}resumptionToken")
    if element is None:
        return None
    return ResumptionToken(
        value=_text(element),
        cursor=_int(element.get("cursor")),
        complete_list_size=_int(element.get("completeListSize")),
        expiration_date=element.get("expirationDate") or None,
    )


def _int(value: str | None) -> int | None:
    return parse_number(value)


def parse_identify(root: Element, *, source: str, request: str) -> RepositoryInfo:
    """`RepositoryInfo` from an Identify response."""
    identify = verb_element(root, "Identify", source=source, request=request)

    def all_of(tag: str) -> tuple[str, ...]:
        return tuple(t for e in identify.iterchildren(f"{_O}{tag}") if (t := _text(e)))

    return RepositoryInfo(
        repository_name=_text(identify.find(f"{_O}repositoryName")),
        base_url=_text(identify.find(f"{_O}baseURL")),
        protocol_version=_text(identify.find(f"{_O}protocolVersion")),
        admin_emails=all_of("adminEmail"),
        earliest_datestamp=_text(identify.find(f"{_O}earliestDatestamp")),
        deleted_record=_text(identify.find(f"{_O}deletedRecord")),
        granularity=_text(identify.find(f"{_O}granularity")),
        compression=all_of("compression"),
    )


def parse_metadata_formats(root: Element, *, source: str, request: str) -> list[MetadataFormat]:
    """The formats of a ListMetadataFormats response, in order."""
    container = verb_element(root, "ListMetadataFormats", source=source, request=request)
    formats = []
    for element in container.iterchildren(f"{_O}metadataFormat"):
        prefix = _text(element.find(f"{_O}metadataPrefix"))
        if prefix is None:
            continue
        formats.append(
            MetadataFormat(
                prefix=prefix,
                schema=_text(element.find(f"{_O}schema")),
                namespace=_text(element.find(f"{_O}metadataNamespace")),
            )
        )
    return formats


def parse_sets(container: Element) -> list[OaiSet]:
    """The sets of a `<ListSets>` element, in order."""
    sets = []
    for element in container.iterchildren(f"{_O}set"):
        spec = _text(element.find(f"{_O}setSpec"))
        if spec is not None:
            sets.append(OaiSet(spec, _text(element.find(f"{_O}setName"))))
    return sets
