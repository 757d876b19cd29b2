"""OAI-PMH ListRecords/GetRecord responses → canonical `Record`s and `Deletion`s. Pure functions:
bytes in, records out; the metadata format is recognised by its XML namespace (prefixes are
the repository's own names), and each has its own module: `dublin_core` (oai_dc), `datacite`,
`mods` (Pure).

For every record: `source` "oai", `source_id` the OAI identifier, `source_version` the header
datestamp as given (sortable text), `endpoint` the repository's base URL (the caller's, else the
response's `<request>` element), `identifiers` start with ("oai", identifier), `raw` is the
`<record>` element's own XML (header and metadata). A `<header status="deleted">` is a
`Deletion` whatever else the record holds (Zenodo keeps the metadata of deleted records).
"""

from __future__ import annotations

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

__all__ = ["SOURCE", "parse_record", "parse_records", "records_from_response"]

Element = etree._Element

SOURCE = "oai"
_O = f"{{{OAI_NS}}}"
_OAI_DATACITE_NS = "http://schema.datacite.org/oai/oai-1.1/"
_LIST_VERBS = ("ListRecords", "GetRecord")
_VERB_TAGS = frozenset(f"{_O}{verb}" for verb in _LIST_VERBS)


def parse_records(
    body: bytes,
    *,
    origin: str,
    endpoint: str | None = None,
    skip: Collection[tuple[str, str]] = (),
) -> list[Record | Deletion]:
    """Every record of a ListRecords or GetRecord response, in document order.

    `origin` names the payload in messages (a file name, or the request). `endpoint` is the
    base URL to store with each record (default: the response's `<request>` text). Records
    whose (identifier, datestamp) is in `skip` are left out (a list restarted after an
    expired token lists some again). A `noRecordsMatch` error is an empty list.

    Raises:
        MalformedPayloadError: broken XML, HTML, not an OAI-PMH response, or a header without
            identifier or datestamp.
        OaiProtocolError: any other OAI error in the response.
        UnsupportedMetadataError: a record's metadata is in a format without a parser.
    """
    try:
        root = parse_response(body, source=origin, request="response")
    except NoRecordsMatch:
        return []
    return records_from_response(root, origin=origin, endpoint=endpoint, skip=skip)


def records_from_response(
    root: Element,
    *,
    origin: str,
    endpoint: str | None = None,
    skip: Collection[tuple[str, str]] = (),
) -> list[Record | Deletion]:
    """`parse_records` for an already parsed and checked `<OAI-PMH>` root."""
    if endpoint is None:
        request = root.find(f"{_O}request")
        endpoint = request.text.strip() if request is not None and request.text else None
    records: list[Record | Deletion] = []
    for verb in _LIST_VERBS:
        container = root.find(f"{_O}{verb}")
        if container is None:
            continue
        for element in container.iterchildren(f"{_O}record"):
            parsed = parse_record(element, endpoint=endpoint, origin=origin, skip=skip)
            if parsed is not None:
                records.append(parsed)
    return records


def parse_stored_record(raw: bytes, *, endpoint: str | None, origin: str) -> Record | Deletion:
    """A record again from its stored payload (`Record.raw`: one `<record>` element's XML)."""
    try:
        element = etree.fromstring(raw, safe_parser())
    except etree.XMLSyntaxError as error:
        raise MalformedPayloadError(f"{origin}: not well-formed XML: {error.msg}") from None
    if element.tag != f"{_O}record":
        raise MalformedPayloadError(f"{origin}: not an OAI-PMH <record>")
    parsed = parse_record(element, endpoint=endpoint, origin=origin)
    if parsed is None:  # only for keys in `skip`, and none is given
        raise MalformedPayloadError(f"{origin}: the stored record was skipped")
    return parsed


def parse_record(
    element: Element,
    *,
    endpoint: str | None,
    origin: str = "OAI-PMH",
    skip: Collection[tuple[str, str]] = (),
) -> Record | Deletion | None:
    """A `Record` or `Deletion` from one `<record>` element; None when its key is in `skip`."""
    header_element = element.find(f"{_O}header")
    if header_element is None:
        raise MalformedPayloadError(
            f"{origin}: a <record> at line {element.sourceline} has no <header>"
        )
    header = parse_header(header_element, source=origin)
    if header.key in skip:
        return None
    if header.deleted:
        where = endpoint or origin
        return Deletion(
            source=SOURCE,
            source_id=header.identifier,
            reason=f"OAI-PMH deleted record (datestamp {header.datestamp}) at {where}",
        )
    record = Record(
        source=SOURCE,
        source_id=header.identifier,
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
    endpoint: str | None = None
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
                return
            parent = element.getparent()
            if element.tag == f"{_O}error":
                continue  # kept for check_errors
            if element.tag == f"{_O}request" and parent is root:
                endpoint = element.text.strip() if element.text else None
            elif element.tag == f"{_O}record" and parent is not None and parent.tag in _VERB_TAGS:
                parsed = parse_record(element, endpoint=endpoint, origin=origin)
                if parsed is not None:
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
