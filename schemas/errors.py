"""One error hierarchy for the whole project: transient (retry), fatal (stop, tell a person),
invalid record (quarantine and go on). Messages name the source and the record or request."""

from __future__ import annotations


class BiblioduckError(Exception):
    """Base of every error the project raises on purpose."""


class TransientError(BiblioduckError):
    """Worth retrying later: 429, 5xx, timeouts, dropped connections, truncated bodies."""


class FatalError(BiblioduckError):
    """Retrying will not help: bad credentials, other 4xx, bad configuration. Fail fast."""


class MalformedPayloadError(FatalError):
    """A response or file is not what it claims to be (broken XML, HTML instead of XML).

    Never recovered into silence: the message names the source, where, and what lxml said."""


class InvalidRecordError(BiblioduckError):
    """One record cannot be used; it is quarantined and the batch goes on."""

    def __init__(self, source: str, source_id: str | None, reason: str) -> None:
        super().__init__(f"{source} record {source_id or '<no id>'}: {reason}")
        self.source = source
        self.source_id = source_id
        self.reason = reason


class WarehouseBusyError(FatalError):
    """Another process holds the warehouse for writing."""
