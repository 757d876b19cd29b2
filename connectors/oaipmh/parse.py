"""OAI-PMH ListRecords/GetRecord responses → canonical `Record`s and `Deletion`s. Pure functions:
bytes in, records out; the metadata format is recognised by its XML namespace (prefixes are
the repository's own names), and each has its own module: `dublin_core` (oai_dc), `datacite`,
`mods` (Pure).

For every record: `source` "oai", `source_id` the OAI identifier and the metadataPrefix it was
disseminated in, `<identifier>#<metadataPrefix>` (`oai_source_id`), `source_version` the header
datestamp as given (sortable text), `endpoint` the repository's base URL (the caller's, else the
response's `<request>` element), `identifiers` start with ("oai", identifier), `raw` is the
`<record>` element's own XML (header and metadata). A `<header status="deleted">` is a
`Deletion` of that format's record whatever else the record holds (Zenodo keeps the metadata of
deleted records).

Why the format is in the key: one item of a repository is disseminated in several formats
(oai_dc, datacite, mods…), each a record of its own with its own fields; keyed by identifier
alone they replaced each other, and a deletion harvested in one format deleted the other's.
The plain identifier stays in `identifiers` as ("oai", identifier): that is where the two
formats of one item meet again (one work). Why `#` and the key in `source_id` (not a column):
every table keyed by (source, source_id) keeps its key; OAI-PMH 2.0 (section 2.4) requires an
identifier to be an absolute URI (RFC 2396), which has no `#` (the fragment delimiter is not
part of it), and a metadataPrefix (section 3.4) is made of URI unreserved characters only, so
the last `#` always splits the two (`split_source_id`), even for a repository whose identifiers
break the rule; and `#` sorts below letters and digits, so the formats of one item sort
together, in identifier order.

The format is the harvest's metadataPrefix, else the response's `<request metadataPrefix=…>`
(a GetRecord or a first ListRecords request echoes its arguments). A page asked for with a
resumptionToken echoes only the token: saved as a file and imported on its own, its format is
the conventional prefix of its records' metadata namespace (`CONVENTIONAL_PREFIXES`).
"""

from __future__ import annotations

import copy
import io
from collections.abc import Collection, Iterator
from typing import IO

from lxml import etree

from connectors.oaipmh.cerif import CERIF_NAMESPACES, fill_from_cerif
from connectors.oaipmh.datacite import DATACITE_NAMESPACES, fill_from_datacite
from connectors.oaipmh.dublin_core import OAI_DC_NS, fill_from_oai_dc
from connectors.oaipmh.envelope import (
    OAI_NS,
    ROOT_TAG,
    check_errors,
    looks_like_html,
    parse_header,
    parse_response,
    safe_parser,
)
from connectors.oaipmh.errors import NoRecordsMatch, UnsupportedMetadataError
from connectors.oaipmh.mods import MODS_NS, fill_from_mods
from connectors.payload import (
    PayloadTooLargeError,
    Source,
    max_document_bytes,
    open_payload,
)
from schemas.errors import MalformedPayloadError
from schemas.record import Deletion, Identifier, Record

__all__ = [
    "CONVENTIONAL_PREFIXES",
    "FORMAT_SEPARATOR",
    "SOURCE",
    "metadata_namespace",
    "oai_source_id",
    "parse_record",
    "parse_records",
    "parse_stored_record",
    "records_from_response",
    "split_source_id",
]

Element = etree._Element

SOURCE = "oai"
_O = f"{{{OAI_NS}}}"
_OAI_DATACITE_NS = "http://schema.datacite.org/oai/oai-1.1/"
_LIST_VERBS = ("ListRecords", "GetRecord")
_VERB_TAGS = frozenset(f"{_O}{verb}" for verb in _LIST_VERBS)

FORMAT_SEPARATOR = "#"
# The prefix most repositories give each format a parser reads (Zenodo, DSpace, Pure,
# OpenAIRE's CERIF guidelines): the format of a record whose response does not name it.
CONVENTIONAL_PREFIXES: dict[str, str] = {
    OAI_DC_NS: "oai_dc",
    _OAI_DATACITE_NS: "oai_datacite",
    **{namespace: "datacite" for namespace in sorted(DATACITE_NAMESPACES)},
    MODS_NS: "mods",
    **{namespace: "oai_cerif_openaire" for namespace in sorted(CERIF_NAMESPACES)},
}


def oai_source_id(identifier: str, metadata_prefix: str) -> str:
    """The `source_id` of an item's record in one metadata format (see the module docstring)."""
    return f"{identifier}{FORMAT_SEPARATOR}{metadata_prefix}"


def split_source_id(source_id: str) -> tuple[str, str | None]:
    """(OAI identifier, metadataPrefix) of a `source_id`; the prefix is None for an id without
    a format (one stored before schema 5, or not an OAI record's)."""
    identifier, separator, prefix = source_id.rpartition(FORMAT_SEPARATOR)
    if not separator or not identifier or not prefix:
        return source_id, None
    return identifier, prefix


def metadata_namespace(record: Element) -> str | None:
    """The namespace of a `<record>`'s metadata (the outer element: an oai_datacite wrapper's
    own); None when it has none (a deleted header, often)."""
    payload = _first_element(record.find(f"{_O}metadata"))
    return None if payload is None else etree.QName(payload).namespace


def _request_prefix(request: Element | None) -> str | None:
    """The metadataPrefix a response's `<request>` element echoes, if any."""
    if request is None:
        return None
    return (request.get("metadataPrefix") or "").strip() or None


def parse_records(
    body: bytes,
    *,
    origin: str,
    endpoint: str | None = None,
    skip: Collection[tuple[str, str]] = (),
    metadata_prefix: str | None = None,
) -> list[Record | Deletion]:
    """Every record of a ListRecords or GetRecord response, in document order.

    `origin` names the payload in messages (a file name, or the request). `endpoint` is the
    base URL to store with each record (default: the response's `<request>` text);
    `metadata_prefix` the format the records were asked in (default: the `<request>`'s, else
    the conventional prefix of their metadata). Records whose (identifier, datestamp) is in
    `skip` are left out (a list restarted after an expired token lists some again). A
    `noRecordsMatch` error is an empty list.

    Raises:
        MalformedPayloadError: broken XML, HTML, not an OAI-PMH response, a header without
            identifier or datestamp, or records whose format nothing tells (no prefix given or
            echoed, and no metadata).
        OaiProtocolError: any other OAI error in the response.
        UnsupportedMetadataError: a record's metadata is in a format without a parser.
    """
    try:
        root = parse_response(body, source=origin, request="response")
    except NoRecordsMatch:
        return []
    return records_from_response(
        root, origin=origin, endpoint=endpoint, skip=skip, metadata_prefix=metadata_prefix
    )


def records_from_response(
    root: Element,
    *,
    origin: str,
    endpoint: str | None = None,
    skip: Collection[tuple[str, str]] = (),
    metadata_prefix: str | None = None,
) -> list[Record | Deletion]:
    """`parse_records` for an already parsed and checked `<OAI-PMH>` root."""
    request = root.find(f"{_O}request")
    if endpoint is None:
        endpoint = request.text.strip() if request is not None and request.text else None
    elements = [
        element
        for verb in _LIST_VERBS
        if (container := root.find(f"{_O}{verb}")) is not None
        for element in container.iterchildren(f"{_O}record")
    ]
    prefix = metadata_prefix or _request_prefix(request)
    if prefix is None:
        # One response is one format: the first record that shows its metadata tells it.
        namespaces = (metadata_namespace(element) for element in elements)
        prefix = next((CONVENTIONAL_PREFIXES.get(ns) for ns in namespaces if ns), None)
    records: list[Record | Deletion] = []
    for element in elements:
        parsed = parse_record(
            element, endpoint=endpoint, metadata_prefix=prefix, origin=origin, skip=skip
        )
        if parsed is not None:
            records.append(parsed)
    return records


def parse_stored_record(
    raw: bytes, *, endpoint: str | None, origin: str, source_id: str | None = None
) -> Record | Deletion:
    """A record again from its stored payload (`Record.raw`: one `<record>` element's XML), in
    the format of the `source_id` it is stored under (the payload does not say its prefix;
    without one, the conventional prefix of its metadata namespace)."""
    try:
        element = etree.fromstring(raw, safe_parser())
    except etree.XMLSyntaxError as error:
        raise MalformedPayloadError(f"{origin}: not well-formed XML: {error.msg}") from None
    if element.tag != f"{_O}record":
        raise MalformedPayloadError(f"{origin}: not an OAI-PMH <record>")
    prefix = None if source_id is None else split_source_id(source_id)[1]
    parsed = parse_record(element, endpoint=endpoint, metadata_prefix=prefix, origin=origin)
    if parsed is None:  # only for keys in `skip`, and none is given
        raise MalformedPayloadError(f"{origin}: the stored record was skipped")
    return parsed


def parse_record(
    element: Element,
    *,
    endpoint: str | None,
    metadata_prefix: str | None,
    origin: str = "OAI-PMH",
    skip: Collection[tuple[str, str]] = (),
) -> Record | Deletion | None:
    """A `Record` or `Deletion` from one `<record>` element disseminated as `metadata_prefix`
    (None: the conventional prefix of its metadata namespace); None when its key is in
    `skip`."""
    header_element = element.find(f"{_O}header")
    if header_element is None:
        raise MalformedPayloadError(
            f"{origin}: a <record> at line {element.sourceline} has no <header>"
        )
    header = parse_header(header_element, source=origin)
    if header.key in skip:
        return None
    prefix = metadata_prefix or _conventional_prefix(element, origin, header.identifier)
    if header.deleted:
        where = endpoint or origin
        return Deletion(
            source=SOURCE,
            source_id=oai_source_id(header.identifier, prefix),
            reason=f"OAI-PMH deleted record (datestamp {header.datestamp}, {prefix}) at {where}",
        )
    record = Record(
        source=SOURCE,
        source_id=oai_source_id(header.identifier, prefix),
        source_version=header.datestamp,
        endpoint=endpoint,
        identifiers=[Identifier("oai", header.identifier)],
        raw=etree.tostring(element, with_tail=False),
    )
    metadata = element.find(f"{_O}metadata")
    payload = _first_element(metadata)
    if payload is None:
        return record  # nothing to read: validation quarantines it (no title)
    namespace = etree.QName(payload).namespace
    if namespace == _OAI_DATACITE_NS:
        payload = _datacite_resource(payload, origin, header.identifier)
        namespace = etree.QName(payload).namespace
    if namespace == OAI_DC_NS:
        fill_from_oai_dc(record, payload)
    elif namespace in DATACITE_NAMESPACES:
        fill_from_datacite(record, payload)
    elif namespace == MODS_NS:
        fill_from_mods(record, payload)
    elif namespace in CERIF_NAMESPACES:
        fill_from_cerif(record, payload)
    else:
        raise UnsupportedMetadataError(
            f"{origin}: record {header.identifier} has metadata <{etree.QName(payload).localname}>"
            f" in namespace {namespace or '(none)'}, which no parser reads; harvest one of "
            "oai_dc, datacite (or oai_datacite), mods or oai_cerif_openaire instead"
        )
    return record


def _conventional_prefix(element: Element, origin: str, identifier: str) -> str:
    """The format of a record no prefix was given for, from its metadata's namespace."""
    namespace = metadata_namespace(element)
    if namespace is None:
        raise MalformedPayloadError(
            f"{origin}: record {identifier} has no metadata and its metadataPrefix is not known "
            "(the response's <request> names none, as for a page asked for with a "
            "resumptionToken); harvest the repository, or import the list from its first page"
        )
    prefix = CONVENTIONAL_PREFIXES.get(namespace)
    if prefix is None:
        raise UnsupportedMetadataError(
            f"{origin}: record {identifier} has metadata in namespace {namespace}, which no "
            "parser reads; harvest one of oai_dc, datacite (or oai_datacite), mods or "
            "oai_cerif_openaire instead"
        )
    return prefix


def _first_element(parent: Element | None) -> Element | None:
    if parent is None:
        return None
    for child in parent:
        if isinstance(child.tag, str):
            return child
    return None


def _datacite_resource(wrapper: Element, origin: str, identifier: str) -> Element:
    """The DataCite `<resource>` inside an `oai_datacite` wrapper (`payload/resource`)."""
    for candidate in wrapper.iter():
        if (
            isinstance(candidate.tag, str)
            and etree.QName(candidate).localname == "resource"
            and etree.QName(candidate).namespace in DATACITE_NAMESPACES
        ):
            return candidate
    raise UnsupportedMetadataError(
        f"{origin}: record {identifier}: an oai_datacite wrapper without a DataCite <resource>"
    )


def iter_oai_records(source: Source, *, origin: str) -> Iterator[Record | Deletion]:
    """The records and deletions of a saved ListRecords/GetRecord response (gzip detected),
    as `parse_records` reads them, but streamed: a harvest saved as one file may hold any
    number of records, and memory holds one (`endpoint` from the `<request>` element)."""
    with open_payload(source, origin) as stream:
        head = stream.peek(512)[:512]
        if looks_like_html(head, None):
            raise MalformedPayloadError(
                f"{origin}: response answered an HTML page, not OAI-PMH XML"
            )
        _skip_blank_lines(stream, origin)
        if not stream.peek(1):
            raise MalformedPayloadError(
                f"{origin}: response answered an empty body, not OAI-PMH XML"
            )
        yield from _streamed_records(stream, origin)


def _skip_blank_lines(stream: io.BufferedReader, origin: str) -> None:
    """Stray blank lines before the XML declaration (a classic of PHP repositories) make
    libxml2 refuse the whole document; they carry nothing. Past the document cap they are a
    gzip bomb of whitespace."""
    skipped = 0
    while chunk := stream.peek(1 << 16):
        blank = len(chunk) - len(chunk.lstrip())
        if blank == 0:
            return
        stream.read(blank)
        skipped += blank
        if skipped > max_document_bytes():
            raise PayloadTooLargeError(
                f"{origin}: more than {max_document_bytes():,} bytes of whitespace before the "
                "XML (the cap, BIBLIODUCK_MAX_DOCUMENT_BYTES); refused as a gzip bomb"
            )


def _streamed_records(stream: IO[bytes], origin: str) -> Iterator[Record | Deletion]:
    events = etree.iterparse(
        stream,
        events=("start", "end"),
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        remove_comments=True,
        huge_tree=False,
    )
    endpoint = prefix = None
    # Records without metadata met before the format is known (no prefix in <request>):
    # held until a record with metadata tells it. Deleted headers: a few hundred bytes each.
    held: list[Element] = []
    root: Element | None = None
    try:
        for event, element in events:
            if root is None:
                root = element
                if root.tag != ROOT_TAG:
                    raise MalformedPayloadError(
                        f"{origin}: response: the root element is "
                        f"<{etree.QName(root).localname}> "
                        f"({etree.QName(root).namespace or 'no namespace'}), not an OAI-PMH "
                        "response"
                    )
                continue
            if event != "end":
                continue
            if element is root:  # errors come before any list, but are read as a whole
                try:
                    check_errors(root, source=origin, request="response", status=200)
                except NoRecordsMatch:
                    return
                for record in held:  # no record told the format: raises, naming the first
                    parse_record(record, endpoint=endpoint, metadata_prefix=None, origin=origin)
                return
            parent = element.getparent()
            if element.tag == f"{_O}error":
                continue  # kept for check_errors
            if element.tag == f"{_O}request" and parent is root:
                endpoint = element.text.strip() if element.text else None
                prefix = _request_prefix(element)
            elif element.tag == f"{_O}record" and parent is not None and parent.tag in _VERB_TAGS:
                namespace = None if prefix is not None else metadata_namespace(element)
                if prefix is None and namespace is None:
                    held.append(copy.deepcopy(element))
                else:
                    # One response is one format: the first record's tells the others'
                    # (an unknown namespace leaves it None, and parse_record says why).
                    prefix = prefix or CONVENTIONAL_PREFIXES.get(namespace or "")
                    parsed = parse_record(
                        element, endpoint=endpoint, metadata_prefix=prefix, origin=origin
                    )
                    if parsed is not None:
                        for record in held:
                            earlier = parse_record(
                                record, endpoint=endpoint, metadata_prefix=prefix, origin=origin
                            )
                            if earlier is not None:
                                yield earlier
                        held.clear()
                        yield parsed
            if parent is not None and (parent is root or parent.tag in _VERB_TAGS):
                # Done with it: a record, a token, or anything else on these two levels.
                element.clear(keep_tail=True)
                while element.getprevious() is not None:
                    del parent[0]
    except etree.XMLSyntaxError as error:
        line, column = error.position or (0, 0)
        raise MalformedPayloadError(
            f"{origin}: response: not well-formed XML at line {line}, column {column}: {error.msg}"
        ) from None
