"""`PoliteSession.download`, the one resumable download to a file: `Range` resume, the shared
retry policy (progress restarts the failure count), capped and redacted error bodies, and
secret-free messages. NLM's use of it (md5 sidecars, `.part` files) is in test_pubmed_files_*."""

from __future__ import annotations

import random
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from connectors.http import FatalHttpError, PoliteSession, TransientHttpError
from sandbox.server import serve

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

SECRET = "5ec2e75ec2e75ec2e75ec2e75ec2e7aa"
BODY = bytes(range(256)) * 400  # 102,400 bytes, every byte value


@dataclass
class Answer:
    """How the server answers one request for /file."""

    status: int = 0  # 0: serve the file (206 for a Range, 200 otherwise)
    cut_after: int | None = None  # send only this many body bytes, then close
    ignore_range: bool = False
    retry_after: str | None = None
    body: bytes = b""  # for a status answer
    partial: int | None = None  # answer a Range with only this many bytes of the rest


@dataclass
class FileApp:
    """Serves `BODY` at /file with `Range` support, answering `script` in order."""

    script: list[Answer] = field(default_factory=list)
    seen: list[tuple[str | None, int]] = field(default_factory=list)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        answer = self.script.pop(0) if self.script else Answer()
        asked = environ.get("HTTP_RANGE")
        if answer.status:
            headers = [("Content-Length", str(len(answer.body)))]
            if answer.retry_after is not None:
                headers.append(("Retry-After", answer.retry_after))
            self.seen.append((asked, answer.status))
            start_response(f"{answer.status} Status", headers)
            return [answer.body]
        start = 0
        if asked and not answer.ignore_range:
            start = int(asked.removeprefix("bytes=").rstrip("-"))
            if start >= len(BODY):
                self.seen.append((asked, 416))
                start_response(
                    "416 Range Not Satisfiable",
                    [("Content-Range", f"bytes */{len(BODY)}"), ("Content-Length", "0")],
                )
                return [b""]
        end = len(BODY) if answer.partial is None else min(len(BODY), start + answer.partial)
        piece = BODY[start:end]
        headers = [("Content-Length", str(len(piece)))]
        if start or (asked and not answer.ignore_range):
            headers.append(("Content-Range", f"bytes {start}-{end - 1}/{len(BODY)}"))
            status = 206
        else:
            status = 200
        self.seen.append((asked, status))
        start_response(f"{status} {'Partial Content' if status == 206 else 'OK'}", headers)
        return self._cut(piece, answer.cut_after)

    @staticmethod
    def _cut(piece: bytes, cut_after: int | None) -> Iterator[bytes]:
        # werkzeug closes the connection after each response: fewer bytes than announced.
        yield piece if cut_after is None else piece[:cut_after]


def _session(**overrides: object) -> PoliteSession:
    options: dict[str, object] = {
        "source": "Test files",
        "requests_per_second": 1000,
        "max_attempts": 3,
        "backoff_base": 0.0,
        "backoff_cap": 5.0,
        "rng": random.Random(1),
        "secrets": [SECRET],
    }
    options.update(overrides)
    return PoliteSession(**options)  # type: ignore[arg-type]


def _download(app: FileApp, dest: Path, **options: object) -> Path:
    with serve(app) as base, _session() as session:
        return session.download(f"{base}/file?api_key={SECRET}", dest, **options)  # type: ignore[arg-type]


def test_a_whole_file_arrives_byte_for_byte(tmp_path: Path) -> None:
    app = FileApp()
    dest = _download(app, tmp_path / "f.bin")
    assert dest.read_bytes() == BODY
    assert app.seen == [(None, 200)]


def test_a_dropped_body_resumes_with_range(tmp_path: Path) -> None:
    app = FileApp([Answer(cut_after=30_000), Answer(cut_after=30_000)])
    dest = _download(app, tmp_path / "f.bin")
    assert dest.read_bytes() == BODY
    assert app.seen == [(None, 200), ("bytes=30000-", 206), ("bytes=60000-", 206)]


def test_bytes_already_in_the_file_are_resumed_from(tmp_path: Path) -> None:
    dest = tmp_path / "f.bin"
    dest.write_bytes(BODY[:1000])
    app = FileApp()
    _download(app, dest)
    assert dest.read_bytes() == BODY
    assert app.seen == [("bytes=1000-", 206)]


def test_a_complete_file_is_recognised_by_the_416(tmp_path: Path) -> None:
    dest = tmp_path / "f.bin"
    dest.write_bytes(BODY)
    app = FileApp()
    _download(app, dest)
    assert dest.read_bytes() == BODY
    assert app.seen == [(f"bytes={len(BODY)}-", 416)]


def test_a_server_ignoring_range_rewrites_from_zero(tmp_path: Path) -> None:
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"x" * 500)
    app = FileApp([Answer(ignore_range=True)])
    _download(app, dest)
    assert dest.read_bytes() == BODY
    assert app.seen == [("bytes=500-", 200)]


def test_partial_answers_by_the_server_are_continued(tmp_path: Path) -> None:
    dest = tmp_path / "f.bin"
    dest.write_bytes(BODY[:10])
    app = FileApp([Answer(partial=40_000), Answer(partial=40_000)])
    _download(app, dest)
    assert dest.read_bytes() == BODY
    assert [asked for asked, _ in app.seen] == ["bytes=10-", "bytes=40010-", "bytes=80010-"]


def test_transient_statuses_are_retried_honouring_retry_after(tmp_path: Path) -> None:
    app = FileApp([Answer(status=503, retry_after="0"), Answer(status=429), Answer()])
    dest = _download(app, tmp_path / "f.bin")
    assert dest.read_bytes() == BODY
    assert [status for _, status in app.seen] == [503, 429, 200]


def test_progress_restarts_the_failure_count_up_to_a_total_cap(tmp_path: Path) -> None:
    # 3 attempts in a row without progress end a download; each of these moves 1,000 bytes,
    # so only the cap of 4 x max_attempts in all stops it, keeping what arrived.
    app = FileApp([Answer(cut_after=1000) for _ in range(20)])
    dest = tmp_path / "f.bin"
    with pytest.raises(TransientHttpError) as exhausted:
        _download(app, dest)
    assert exhausted.value.attempts == 12
    assert dest.stat().st_size == 12_000
    message = str(exhausted.value)
    assert message.startswith("Test files: download of file from http://127.0.0.1:")
    assert "failed after 12 attempt(s): the body broke off after 1000 of" in message
    assert f"The 12000 bytes received so far are kept in {dest}; running the download" in message
    assert SECRET not in "".join(traceback.format_exception(exhausted.value))


def test_a_refusal_is_fatal_at_once_with_a_capped_redacted_body(tmp_path: Path) -> None:
    body = b'{"error":"forbidden","api_key":"' + SECRET.encode() + b'"}' + b" " * 200_000
    app = FileApp([Answer(status=403, body=body)])
    with pytest.raises(FatalHttpError) as refused:
        _download(app, tmp_path / "f.bin")
    error = refused.value
    assert error.status == 403 and len(app.seen) == 1
    # The first 64 KiB, then the secret masked (which shortens it).
    assert error.body is not None and 60_000 < len(error.body) <= 64 * 1024
    assert error.body.startswith(b'{"error":"forbidden","api_key":"***"}')
    assert str(error).startswith("Test files: GET http://127.0.0.1:")
    assert "api_key=***" in str(error) and "was refused: HTTP 403" in str(error)
    assert SECRET not in "".join(traceback.format_exception(error))
    assert not (tmp_path / "f.bin").exists()


def test_an_announced_size_other_than_expected_is_fatal(tmp_path: Path) -> None:
    app = FileApp()
    with pytest.raises(FatalHttpError, match=r"announces a 102400-byte file, not the 99 bytes"):
        _download(app, tmp_path / "f.bin", expected_size=99)
    assert len(app.seen) == 1


def test_the_expected_size_completes_a_file(tmp_path: Path) -> None:
    dest = tmp_path / "f.bin"
    dest.write_bytes(BODY)
    app = FileApp()
    _download(app, dest, expected_size=len(BODY))
    assert dest.read_bytes() == BODY
