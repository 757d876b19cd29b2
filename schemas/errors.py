"""One error hierarchy for the whole project: transient (retry), fatal (stop, tell a person),
invalid record (quarantine and go on). Messages name the source and the record or request."""

from __future__ import annotations

from typing import Any


class BiblioduckError(Exception):
    """Base of every error the project raises on purpose."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross process boundaries (bulk files are prepared in worker processes).
        # Pickle rebuilds an exception by calling its class with `args` (the message alone
        # here), which fails for subclasses whose __init__ takes other arguments: the caller
        # then saw a TypeError instead of, say, the md5 mismatch. Rebuild without __init__.
        return (_rebuild_error, (type(self), self.args, self.__dict__))


def _rebuild_error(
    cls: type[BiblioduckError], args: tuple[Any, ...], state: dict[str, Any]
) -> BiblioduckError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class TransientError(BiblioduckError):
    """Worth retrying later: 429, 5xx, timeouts, dropped connections, truncated bodies."""


class FatalError(BiblioduckError):
    """Retrying will not help: bad credentials, other 4xx, bad configuration. Fail fast."""


class UsageError(FatalError):
    """The command was asked something it cannot do (no such file, an unknown format): the
    command line exits with 2, before any work starts."""


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
