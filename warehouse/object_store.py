"""A lake's data in S3-compatible object storage (`s3://bucket/prefix/`): DuckDB's httpfs
extension, and its credentials from the standard AWS environment variables, given to DuckDB as
a TEMPORARY secret of the connection (held in memory, gone when the connection closes).

The keys travel only as statement parameters: never in SQL text (DuckDB repeats a statement's
text in its parse errors), a location, a log line, a run's parameters or the catalog.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import duckdb

from schemas.errors import FatalError, UsageError
from warehouse.extensions import load_extensions

# What DuckDB reads from object storage with: the URL schemes its httpfs S3 client takes.
REMOTE_SCHEMES = ("s3://", "s3a://", "s3n://", "r2://", "gcs://", "gs://")
# A non-AWS endpoint (MinIO, moto, Ceph, …): `host:port` or a URL; the AWS CLI's own variable
# is read first, ours is for when that one must point elsewhere.
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "BIBLIODUCK_S3_ENDPOINT")
S3_ACCESS_NAME = "biblioduck_lake_s3"  # the DuckDB secret's name


def is_remote(data_path: str | None) -> bool:
    """Whether a lake's data path is in object storage rather than a local folder."""
    return bool(data_path) and str(data_path).lower().startswith(REMOTE_SCHEMES)


def _endpoint() -> tuple[str, bool] | None:
    """The configured endpoint as DuckDB takes it (`host:port`) and whether it speaks TLS."""
    for name in ENDPOINT_VARIABLES:
        value = os.environ.get(name, "").strip()
        if not value:
            continue
        if "://" not in value:
            return value.rstrip("/"), True
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
            raise UsageError(
                f"{name} is an S3 endpoint: http(s)://host[:port] or host:port, "
                f"not {parts.scheme}://{parts.hostname or ''}…"
            )
        return parts.netloc, parts.scheme == "https"
    return None


def reach_object_store(con: duckdb.DuckDBPyConnection) -> None:
    """Load httpfs (from its pinned package) and, when `AWS_ACCESS_KEY_ID` is set, the S3
    secret built from the environment. Without keys, DuckDB reads public buckets only."""
    load_extensions(con, "httpfs")
    key_id = os.environ.get("AWS_ACCESS_KEY_ID")
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not key_id:
        return
    if not secret:
        raise UsageError("AWS_ACCESS_KEY_ID is set without AWS_SECRET_ACCESS_KEY")
    options = ["TYPE s3", "KEY_ID ?", "SECRET ?"]
    values: list[object] = [key_id, secret]
    token = os.environ.get("AWS_SESSION_TOKEN")
    if token:
        options.append("SESSION_TOKEN ?")
        values.append(token)
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        options.append("REGION ?")
        values.append(region)
    endpoint = _endpoint()
    if endpoint is not None:
        # Other stores than AWS take bucket names in the path (`host/bucket/key`), not as a
        # host name of their own: a loopback server has no DNS name per bucket.
        options += ["ENDPOINT ?", "URL_STYLE 'path'", "USE_SSL ?"]
        values += [endpoint[0], endpoint[1]]
    try:
        con.execute(
            f"CREATE OR REPLACE TEMPORARY SECRET {S3_ACCESS_NAME} ({', '.join(options)})", values
        )
    except duckdb.Error as exc:
        # The statement holds no key; DuckDB's message is about the options, and is scrubbed
        # of the secret values all the same.
        message = str(exc)
        for value in (secret, token):
            if value:
                message = message.replace(value, "<redacted>")
        raise FatalError(
            f"cannot set up the S3 credentials for the lake's data: {message}"
        ) from None
