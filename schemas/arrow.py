"""The Arrow schema derived from the canonical record dataclasses, and fast conversion of
records to Arrow rows. Nothing here is written by hand per field: add a field to
`schemas.record` and it flows into Arrow and DuckDB."""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
import typing
from collections.abc import Iterable
from functools import cache
from typing import Any

import pyarrow as pa

from schemas.record import Record

# Fields that are not columns: the raw payload is stored apart, by content hash.
NOT_COLUMNS = frozenset({"raw"})

_SCALARS: dict[Any, pa.DataType] = {
    str: pa.string(),
    int: pa.int64(),
    bool: pa.bool_(),
    float: pa.float64(),
    bytes: pa.binary(),
    dt.date: pa.date32(),
    dt.datetime: pa.timestamp("us", tz="UTC"),
}


def _arrow_type(hint: Any) -> pa.DataType:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return _arrow_type(inner)
    if origin is list:
        (inner,) = typing.get_args(hint)
        return pa.list_(_arrow_type(inner))
    if dataclasses.is_dataclass(hint):
        return pa.struct(_fields(hint))
    return _SCALARS[hint]


def _fields(cls: Any) -> list[pa.Field]:
    hints = typing.get_type_hints(cls)
    return [
        pa.field(f.name, _arrow_type(hints[f.name]))
        for f in dataclasses.fields(cls)
        if f.name not in NOT_COLUMNS
    ]


@cache
def record_schema() -> pa.Schema:
    """Arrow schema of one `Record` row (without the raw payload)."""
    return pa.schema(_fields(Record))


def _plain(value: Any) -> Any:
    # dataclasses.asdict deep-copies; this walks slots directly (3-4x faster on 30k records).
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {name: _plain(getattr(value, name)) for name in value.__dataclass_fields__}
    return value


_COLUMN_NAMES = tuple(f.name for f in dataclasses.fields(Record) if f.name not in NOT_COLUMNS)


def record_row(record: Record) -> dict[str, Any]:
    """One record as a plain dict of its columns."""
    return {name: _plain(getattr(record, name)) for name in _COLUMN_NAMES}


def records_table(records: Iterable[Record]) -> pa.Table:
    """Records as an Arrow table with `record_schema()`."""
    return pa.Table.from_pylist([record_row(r) for r in records], schema=record_schema())
