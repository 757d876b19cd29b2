"""OAI-PMH errors as exceptions: one class per error code of the protocol (section 3.6), all
under `OaiProtocolError`, whatever HTTP status carried them (the spec says 200; Zenodo sends 422).

`NoRecordsMatch` never reaches the callers of the list methods (an empty result is not a
failure); `BadResumptionToken` is handled inside the list generators (the list restarts from its
watermark) unless the client is told otherwise, in which case it carries `resume_from`.
"""

from __future__ import annotations

from schemas.errors import FatalError

__all__ = [
    "BadArgument",
    "BadResumptionToken",
    "BadVerb",
    "CannotDisseminateFormat",
    "IdDoesNotExist",
    "NoMetadataFormats",
    "NoRecordsMatch",
    "NoSetHierarchy",
    "OaiProtocolError",
    "UnsupportedMetadataError",
    "error_for_code",
]


class OaiProtocolError(FatalError):
    """The repository answered with an OAI-PMH `<error>`. Retrying the same request will not
    help (hence fatal); `code` is the OAI error code, `oai_message` the repository's text,
    `request` the (redacted) request and `status` the HTTP status it came with."""

    code = "unknown"
    advice = "Check the request's arguments against the repository's Identify answer."

    def __init__(
        self,
        oai_message: str | None,
        *,
        source: str,
        request: str,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        if code is not None:
            self.code = code
        self.oai_message = oai_message
        self.source = source
        self.request = request
        self.status = status
        said = f": {oai_message}" if oai_message else ""
        http = f" (HTTP {status})" if status is not None and status != 200 else ""
        super().__init__(
            f"{source}: {request} answered OAI-PMH error {self.code}{said}{http}. {self.advice}"
        )


class BadArgument(OaiProtocolError):
    """An illegal or missing argument, or a bad value (Zenodo: unknown metadataPrefix)."""

    code = "badArgument"
    advice = "Check metadataPrefix, from/until (and their granularity) and set."


class BadResumptionToken(OaiProtocolError):
    """The resumption token is invalid or expired. `resume_from` is the inclusive datestamp a
    new list request can start from without missing a record (None: from the beginning)."""

    code = "badResumptionToken"
    advice = "Restart the list from its watermark (the last datestamp seen, inclusive)."
    resume_from: str | None = None


class BadVerb(OaiProtocolError):
    """The verb is missing, illegal or repeated."""

    code = "badVerb"
    advice = "Is the base URL an OAI-PMH endpoint?"


class CannotDisseminateFormat(OaiProtocolError):
    """The repository (or this item) does not offer the metadata format asked for."""

    code = "cannotDisseminateFormat"
    advice = "Ask ListMetadataFormats which metadataPrefix values the repository offers."


class IdDoesNotExist(OaiProtocolError):
    """The identifier is unknown or illegal in this repository."""

    code = "idDoesNotExist"
    advice = "Check the OAI identifier (it includes the repository's prefix, e.g. oai:host:)."


class NoMetadataFormats(OaiProtocolError):
    """No metadata format is available for this item."""

    code = "noMetadataFormats"


class NoRecordsMatch(OaiProtocolError):
    """The combination of from, until, set and metadataPrefix selects nothing: an empty list."""

    code = "noRecordsMatch"
    advice = "Nothing to harvest (not a failure)."


class NoSetHierarchy(OaiProtocolError):
    """The repository does not support sets."""

    code = "noSetHierarchy"
    advice = "Harvest without set=."


class UnsupportedMetadataError(FatalError):
    """A record's metadata is in a format no parser here reads (by XML namespace)."""


_BY_CODE: dict[str, type[OaiProtocolError]] = {
    cls.code: cls
    for cls in (
        BadArgument,
        BadResumptionToken,
        BadVerb,
        CannotDisseminateFormat,
        IdDoesNotExist,
        NoMetadataFormats,
        NoRecordsMatch,
        NoSetHierarchy,
    )
}


def error_for_code(
    code: str | None, message: str | None, *, source: str, request: str, status: int | None
) -> OaiProtocolError:
    """The exception for an OAI `<error code=…>`; an unknown code gives `OaiProtocolError` with
    that code (repositories do invent their own)."""
    cls = _BY_CODE.get(code or "")
    if cls is None:
        return OaiProtocolError(
            message, source=source, request=request, status=status, code=code or "unknown"
        )
    return cls(message, source=source, request=request, status=status)
