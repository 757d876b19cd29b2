"""The Arrow schema derived from the canonical record dataclasses, and fast conversion of
records to Arrow rows. Nothing here is written by hand per field: add a field to
`schemas.record` and it flows into Arrow and DuckDB."""

from __future__ import annotations

import dataclasses
import datetime as dt
import operator
import types
import typing
from collections.abc import Iterable
from functools import cache
from types import ModuleType
from typing import Any

import pyarrow as pa

from schemas.record import Record

# Fields that are not columns: the raw payload is stored apart, by content hash; what parsing
# could not keep is read by validation (quarantine reasons, warning counts), not stored.
NOT_COLUMNS = frozenset({"raw", "unreadable", "dropped", "unknown"})

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


def _unwrap_optional(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return inner
    return hint


@cache
def _converter(cls: Any) -> Any:
    """A function turning one `cls` instance into a tuple of plain values in field order
    (pyarrow reads tuples as structs), generated once per dataclass: a generic recursive walk
    (dataclasses.asdict, or hasattr checks on every value) cost ~280 µs per PubMed record."""
    hints = typing.get_type_hints(cls)
    namespace: dict[str, Any] = {}
    parts = []
    for number, f in enumerate(dataclasses.fields(cls)):
        if f.name in NOT_COLUMNS:
            continue
        hint = _unwrap_optional(hints[f.name])
        value = f"o.{f.name}"
        if typing.get_origin(hint) is list and dataclasses.is_dataclass(typing.get_args(hint)[0]):
            namespace[f"c{number}"] = _converter(typing.get_args(hint)[0])
            value = f"[c{number}(v) for v in o.{f.name}]"
        elif dataclasses.is_dataclass(hint):
            nested: Any = hint
            namespace[f"c{number}"] = _converter(nested)
            value = f"(None if o.{f.name} is None else c{number}(o.{f.name}))"
        parts.append(value)
    source = "def convert(o):\n    return (" + ", ".join(parts) + ",)\n"
    exec(source, namespace)  # noqa: S102 - code generated from our own dataclass fields
    return namespace["convert"]


@cache
def _column_readers() -> list[tuple[pa.Field, Any]]:
    """Per column of `record_schema()`: a function from a list of records to its values."""
    hints = typing.get_type_hints(Record)
    readers = []
    for column in record_schema():
        hint = _unwrap_optional(hints[column.name])
        read = operator.attrgetter(column.name)
        if typing.get_origin(hint) is list and dataclasses.is_dataclass(typing.get_args(hint)[0]):
            convert = _converter(typing.get_args(hint)[0])

            def reader(records: list[Record], read: Any = read, convert: Any = convert) -> list:
                return [[convert(v) for v in read(r)] for r in records]
        elif dataclasses.is_dataclass(hint):
            nested: Any = hint
            convert = _converter(nested)

            def reader(records: list[Record], read: Any = read, convert: Any = convert) -> list:
                return [None if (v := read(r)) is None else convert(v) for r in records]
        else:

            def reader(records: list[Record], read: Any = read, convert: Any = None) -> list:
                return list(map(read, records))

        readers.append((column, reader))
    return readers


def _plan(hint: Any) -> tuple[Any, ...]:
    """What the compiled builder builds for a field of type `hint`: ("list", type, item
    plan), ("struct", type, dataclass, [(field name, plan), …]) or ("scalar", type)."""
    hint = _unwrap_optional(hint)
    if typing.get_origin(hint) is list:
        (inner,) = typing.get_args(hint)
        return ("list", _arrow_type(hint), _plan(inner))
    if dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        fields = [
            (f.name, _plan(hints[f.name]))
            for f in dataclasses.fields(hint)
            if f.name not in NOT_COLUMNS
        ]
        return ("struct", _arrow_type(hint), hint, fields)
    return ("scalar", _arrow_type(hint))


@cache
def _compiled_plan() -> tuple[ModuleType, tuple[Any, ...]] | None:
    """The compiled builder and the plan of a `Record` row, or None where it is not built
    (`make install` builds it) or cannot build every column."""
    try:
        import schemas._arrow_fast as compiled
    except ModuleNotFoundError as error:
        if error.name == "schemas._arrow_fast":
            return None
        raise
    plan = _plan(Record)
    try:
        compiled.check_plan(plan)
    except NotImplementedError:
        return None
    return compiled, plan


def records_table(records: Iterable[Record]) -> pa.Table:
    """Records as an Arrow table with `record_schema()`: written into Arrow buffers by the
    compiled builder (`schemas/_arrow_fast.pyx`, 2.5-3x faster), or by pyarrow
    (`records_table_python`) where that is not built or a value is not of its field's type."""
    rows = list(records)
    compiled = _compiled_plan()
    if compiled is not None:
        module, plan = compiled
        try:
            arrays = module.columns(plan, rows)
        except module.Unsupported:
            pass  # pyarrow converts what it can, and names what it cannot
        else:
            return pa.Table.from_arrays(arrays, schema=record_schema())
    return records_table_python(rows)


def records_table_python(records: Iterable[Record]) -> pa.Table:
    """`records_table` through pyarrow's conversion of Python objects (the reference), built
    column by column from tuples (twice as fast as `Table.from_pylist` over one dict per
    record)."""
    rows = list(records)
    arrays = [pa.array(reader(rows), type=column.type) for column, reader in _column_readers()]
    return pa.Table.from_arrays(arrays, schema=record_schema())
