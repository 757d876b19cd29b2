"""The works of a Crossref public-data-file part (`{"items": [work, work, …]}`), one at a time.

A part holds 5,000 works; with their references that is tens to hundreds of MB of JSON, which
`json.loads` would hold whole (several times its size in Python objects) and which the
document cap would refuse. Here each work is decoded as soon as its text has arrived, with the
standard library's decoder (`raw_decode` at an offset, no copy), and the text before it is
dropped: memory holds a piece of the file and one work. One work must fit under the document
cap (`BIBLIODUCK_MAX_DOCUMENT_BYTES`); the file, under the file cap.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import IO, Any

from connectors.payload import PayloadTooLargeError, max_document_bytes, read_document
from schemas.errors import MalformedPayloadError

# The opening of a part: `{"items": [`, after optional whitespace and a byte-order mark.
ITEMS_OPENING = re.compile(rb'(?:\xef\xbb\xbf)?\s*\{\s*"items"\s*:\s*\[')
# As many bytes as `ITEMS_OPENING` may need to match, for a peek at the start of a stream.
OPENING_PEEK = 256

_PIECE = 1 << 20
_WHITESPACE = re.compile(r"[ \t\n\r]*")
# How close to the end of the text read so far a decode error must be to mean "this work has
# not fully arrived yet" (a cut `true`, number or `\u` escape) rather than broken JSON; an
# unterminated string may start anywhere before it.
_CUT_MARGIN = 16
_END_MARGIN = 5  # `false` cut to `fals` fails 4 characters before the end
_SURROGATE = re.compile("[\ud800-\udfff]")


class ItemsReader:
    """Yields `(work, suspect)` for each element of the `items` array of a stream positioned
    just after its `[`; `suspect` says the work's text held surrogates (bytes that are not
    UTF-8, kept by `surrogateescape`, or lone surrogate escapes) or NaN/Infinity, for the
    caller to look for them. The members after the array must complete a JSON object."""

    def __init__(self, stream: IO[bytes], origin: str) -> None:
        self.stream = stream
        self.origin = origin
        self.text = ""
        self.position = 0
        self.ended = False
        self.constants: list[str] = []
        self.decoder = json.JSONDecoder(parse_constant=self._constant)
        self.utf8 = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        self.limit = max_document_bytes()

    def _constant(self, name: str) -> float:
        self.constants.append(name)  # NaN, Infinity, -Infinity: Python's extension, not JSON
        return float(name)

    def __iter__(self) -> Iterator[tuple[Any, bool]]:
        index = 0
        if self._next_character() == "]":
            self.position += 1
        else:
            while True:
                yield self._work(index)
                index += 1
                separator = self._next_character()
                self.position += 1
                if separator == "]":
                    break
                if separator != ",":
                    self._broken(f"expected ',' or ']' after work {index - 1}, found {separator!r}")
        self._check_the_rest()

    def _work(self, index: int) -> tuple[Any, bool]:
        self._next_character()
        while True:
            start = self.position  # reading more may drop decoded text and move it
            try:
                work, end = self.decoder.raw_decode(self.text, start)
                break
            except json.JSONDecodeError as problem:
                # At the end of the file only the last few characters can be a cut word.
                margin = _END_MARGIN if self.ended else _CUT_MARGIN
                cut = problem.pos >= len(self.text) - margin or problem.msg.startswith(
                    "Unterminated string"
                )
                if cut and self.ended:
                    self._broken(f"the file ends inside work {index} (truncated?)")
                if not cut:
                    self._broken(f"work {index} is not JSON ({problem.msg})")
                if len(self.text) - start > self.limit:
                    raise PayloadTooLargeError(
                        f"{self.origin}: work {index} is more than {self.limit:,} bytes of JSON "
                        "(the cap, BIBLIODUCK_MAX_DOCUMENT_BYTES); refused"
                    ) from None
                self._read_more()
        if not isinstance(work, dict):
            self._broken(f"work {index} is a JSON {type(work).__name__}, not a work object")
        suspect = bool(self.constants) or _SURROGATE.search(self.text, start, end) is not None
        self.constants.clear()
        self.position = end
        return work, suspect

    def _next_character(self) -> str:
        """The next character that is not whitespace, not consumed; refuses a cut file, and
        whitespace past the document cap (a gzip bomb of spaces after the opening)."""
        skipped = 0
        while True:
            matched = _WHITESPACE.match(self.text, self.position)
            if matched is not None:
                skipped += matched.end() - self.position
                self.position = matched.end()
            if self.position < len(self.text):
                return self.text[self.position]
            if self.ended:
                self._broken("the file ends inside the items list (truncated?)")
            if skipped > self.limit:
                raise PayloadTooLargeError(
                    f"{self.origin}: more than {self.limit:,} bytes of whitespace between two "
                    "works (the cap, BIBLIODUCK_MAX_DOCUMENT_BYTES); refused as a gzip bomb"
                )
            self._read_more()

    def _read_more(self) -> None:
        if self.position > _PIECE:  # drop what is decoded: memory holds a piece and a work
            self.text = self.text[self.position :]
            self.position = 0
        piece = self.stream.read(_PIECE)
        self.ended = not piece
        self.text += self.utf8.decode(piece, final=self.ended)

    def _check_the_rest(self) -> None:
        """The members after the array (the part ends `]}`) must complete the object."""
        rest = self.text[self.position :] + read_document(self.stream, self.origin).decode(
            "utf-8", errors="surrogateescape"
        )
        try:
            whole = json.loads('{"items":[]' + rest)
        except json.JSONDecodeError as problem:
            self._broken(f"after the items list: {problem.msg}")
        if not isinstance(whole, dict):
            self._broken("after the items list: not the end of a JSON object")

    def _broken(self, what: str) -> Any:
        raise MalformedPayloadError(f"{self.origin}: not Crossref JSON: {what}")
