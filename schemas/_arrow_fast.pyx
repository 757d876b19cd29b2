# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled `records_table`: the Arrow columns of a list of slots dataclasses (`Record`s),
written straight into Arrow buffers.

`schemas.arrow.records_table_python` turns each record into tuples in Python, then asks
pyarrow to convert those objects: ~23 µs per PubMed record of 1980, ~38 per recent one (7.9
and 15.3 here). Here each value is read from its slot and appended
to the column's own buffers (offsets, UTF-8 bytes, validity bits), and pyarrow only wraps
them (`Array.from_buffers`).

What it builds is driven by a plan that `schemas.arrow` derives from the dataclasses (the
same walk that derives the schema), so no field is named here. Values must be of the exact
type their field declares (str, bytes, int, bool, datetime.date, list, the field's own
dataclass) or None: anything else raises `Unsupported`, and the caller converts the records
with pyarrow instead, which gives its own result or error for them. Equal tables on every
real record are checked by tests/test_arrow_compiled.py.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.datetime cimport (
    PyDate_CheckExact,
    PyDateTime_GET_DAY,
    PyDateTime_GET_MONTH,
    PyDateTime_GET_YEAR,
    import_datetime,
)
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.object cimport PyObject, PyTypeObject
from libc.stdint cimport int32_t, int64_t, uint8_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy

import types

import pyarrow as pa

import_datetime()

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object unicode, Py_ssize_t* size) except NULL
    bint PyUnicode_CheckExact(object o)
    bint PyBytes_CheckExact(object o)
    bint PyList_CheckExact(object o)
    bint PyLong_CheckExact(object o)
    long long PyLong_AsLongLong(object o) except? -1
    PyTypeObject* Py_TYPE(object o)
    ctypedef struct PyMemberDef:
        int type
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member

cdef enum:
    _T_OBJECT_EX = 16  # Py_T_OBJECT_EX: what __slots__ members are
    _MAX_OFFSET = 2147483647  # string and list offsets are int32 (pa.string, pa.list_)


class Unsupported(Exception):
    """A value this module does not convert: convert the records with pyarrow instead."""


cdef class _Buffer:
    """A growable byte buffer, handed to pyarrow as one bytes object when finished."""

    cdef char* data
    cdef Py_ssize_t size
    cdef Py_ssize_t capacity

    def __dealloc__(self):
        free(self.data)

    cdef int reserve(self, Py_ssize_t extra) except -1:
        cdef Py_ssize_t wanted = self.size + extra
        cdef Py_ssize_t capacity
        cdef char* grown
        if wanted <= self.capacity:
            return 0
        capacity = max(wanted, self.capacity * 2, 256)
        grown = <char*>realloc(self.data, capacity)
        if grown == NULL:
            raise MemoryError()
        self.data = grown
        self.capacity = capacity
        return 0

    cdef inline int put(self, const void* source, Py_ssize_t count) except -1:
        if self.size + count > self.capacity:
            self.reserve(count)
        memcpy(self.data + self.size, source, count)
        self.size += count
        return 0

    cdef object arrow(self):
        return pa.py_buffer(PyBytes_FromStringAndSize(self.data, self.size))


cdef class _Column:
    """One Arrow array being built: its length and validity bits (nulls counted)."""

    cdef object type
    cdef Py_ssize_t length
    cdef Py_ssize_t null_count
    cdef _Buffer validity

    def __cinit__(self, *args):
        self.validity = _Buffer()

    cdef int mark(self, bint valid) except -1:
        """Record the next value's validity."""
        cdef Py_ssize_t index = self.length
        cdef uint8_t zero = 0
        if index % 8 == 0:
            self.validity.put(&zero, 1)
        if valid:
            self.validity.data[index >> 3] |= <char>(1 << (index & 7))
        else:
            self.null_count += 1
        self.length += 1
        return 0

    cdef object validity_buffer(self):
        return None if self.null_count == 0 else self.validity.arrow()

    cdef int append(self, object value) except -1:
        raise NotImplementedError

    cdef object finish(self):
        raise NotImplementedError


cdef class _Offsets(_Column):
    """A column of variable-size values: int32 offsets into its data (text, or list items)."""

    cdef _Buffer offsets

    def __cinit__(self, *args):
        cdef int32_t zero = 0
        self.offsets = _Buffer()
        self.offsets.put(&zero, 4)

    cdef int close_value(self, Py_ssize_t end) except -1:
        """Note where the value just appended ends in the data."""
        cdef int32_t offset
        if end > _MAX_OFFSET:
            raise Unsupported(f"{self.type}: past 2**31 bytes or items in one column")
        offset = <int32_t>end
        self.offsets.put(&offset, 4)
        return 0


cdef class _Strings(_Offsets):
    """pa.string (str values) or pa.binary (bytes values)."""

    cdef _Buffer data
    cdef bint binary

    def __init__(self, arrow_type, bint binary):
        self.type = arrow_type
        self.binary = binary
        self.data = _Buffer()

    cdef int append(self, object value) except -1:
        cdef const char* utf8
        cdef Py_ssize_t size
        if value is None:
            self.mark(False)
        elif not self.binary and PyUnicode_CheckExact(value):
            utf8 = PyUnicode_AsUTF8AndSize(value, &size)  # raises on lone surrogates
            self.data.put(utf8, size)
            self.mark(True)
        elif self.binary and PyBytes_CheckExact(value):
            self.data.put(PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value))
            self.mark(True)
        else:
            raise Unsupported(f"{type(value).__name__} for {self.type}")
        return self.close_value(self.data.size)

    cdef object finish(self):
        return pa.Array.from_buffers(
            self.type,
            self.length,
            [self.validity_buffer(), self.offsets.arrow(), self.data.arrow()],
            self.null_count,
        )


cdef class _Values(_Column):
    """A column of one data buffer beside its validity: int64, date32, bool (bits)."""

    cdef _Buffer data

    def __init__(self, arrow_type):
        self.type = arrow_type
        self.data = _Buffer()

    cdef object finish(self):
        return pa.Array.from_buffers(
            self.type, self.length, [self.validity_buffer(), self.data.arrow()], self.null_count
        )


cdef class _Int64s(_Values):
    cdef int append(self, object value) except -1:
        cdef int64_t number = 0
        if value is None:
            self.mark(False)
        elif PyLong_CheckExact(value):
            number = PyLong_AsLongLong(value)  # OverflowError past 64 bits
            self.mark(True)
        else:
            raise Unsupported(f"{type(value).__name__} for {self.type}")
        self.data.put(&number, 8)
        return 0


cdef inline int32_t _days_from_civil(int year, int month, int day):
    """Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm)."""
    cdef int era, yoe, doy, doe
    if month <= 2:
        year -= 1
    era = (year if year >= 0 else year - 399) // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return <int32_t>(era * 146097 + doe - 719468)


cdef class _Dates(_Values):
    """pa.date32 from datetime.date (exactly: a datetime is not a date here)."""

    cdef int append(self, object value) except -1:
        cdef int32_t days = 0
        if value is None:
            self.mark(False)
        elif PyDate_CheckExact(value):
            days = _days_from_civil(
                PyDateTime_GET_YEAR(value), PyDateTime_GET_MONTH(value), PyDateTime_GET_DAY(value)
            )
            self.mark(True)
        else:
            raise Unsupported(f"{type(value).__name__} for {self.type}")
        self.data.put(&days, 4)
        return 0


cdef class _Bools(_Values):
    """pa.bool_: the data buffer holds the values' bits."""

    cdef int append(self, object value) except -1:
        cdef Py_ssize_t index = self.length
        cdef uint8_t zero = 0
        if index % 8 == 0:
            self.data.put(&zero, 1)
        if value is None:
            self.mark(False)
        elif value is True:
            self.data.data[index >> 3] |= <char>(1 << (index & 7))
            self.mark(True)
        elif value is False:
            self.mark(True)
        else:
            raise Unsupported(f"{type(value).__name__} for {self.type}")
        return 0


cdef class _Lists(_Offsets):
    cdef _Column items
    # A list of dataclasses is never None (lists are empty, never None, by the records'
    # convention): records_table_python refuses it. A list of scalars may be null.
    cdef bint of_structs

    def __init__(self, arrow_type, _Column items):
        self.type = arrow_type
        self.items = items
        self.of_structs = isinstance(items, _Structs)

    cdef int append(self, object value) except -1:
        cdef Py_ssize_t index, count
        if value is None and not self.of_structs:
            self.mark(False)
        elif PyList_CheckExact(value):
            count = PyList_GET_SIZE(value)
            for index in range(count):
                self.items.append(<object>PyList_GET_ITEM(value, index))
            self.mark(True)
        else:
            raise Unsupported(f"{type(value).__name__} for {self.type}")
        return self.close_value(self.items.length)

    cdef object finish(self):
        return pa.Array.from_buffers(
            self.type,
            self.length,
            [self.validity_buffer(), self.offsets.arrow()],
            self.null_count,
            children=[self.items.finish()],
        )


cdef class _Structs(_Column):
    """pa.struct from instances of one slots dataclass, a child column per field."""

    cdef PyTypeObject* cls_type
    cdef object cls  # keeps cls_type alive
    cdef list fields  # the child columns, in field order
    cdef Py_ssize_t* offsets  # of each field's slot in an instance
    # Whether None is a null here, as records_table_python has it: for a field whose value is
    # a dataclass, not for an item of a list of them nor for a row.
    cdef bint nullable

    def __init__(self, arrow_type, cls, list names, list fields, bint nullable):
        cdef Py_ssize_t index
        self.type = arrow_type
        self.nullable = nullable
        self.cls = cls
        self.cls_type = <PyTypeObject*>cls
        self.fields = fields
        self.offsets = <Py_ssize_t*>malloc(max(len(names), 1) * sizeof(Py_ssize_t))
        if self.offsets == NULL:
            raise MemoryError()
        for index, name in enumerate(names):
            self.offsets[index] = _slot_offset(cls, name)

    def __dealloc__(self):
        free(self.offsets)

    cdef int append(self, object value) except -1:
        cdef Py_ssize_t index
        cdef PyObject* slot
        cdef _Column field
        if value is None and self.nullable:
            for field in self.fields:
                field.append(None)
            self.mark(False)
            return 0
        if Py_TYPE(value) != self.cls_type:
            raise Unsupported(f"{type(value).__name__} for {self.cls.__name__}")
        for index in range(len(self.fields)):
            slot = (<PyObject**>((<char*><PyObject*>value) + self.offsets[index]))[0]
            if slot == NULL:
                raise Unsupported(f"an unset field of {self.cls.__name__}")
            field = <_Column>self.fields[index]
            field.append(<object>slot)
        self.mark(True)
        return 0

    cdef object finish(self):
        return pa.Array.from_buffers(
            self.type,
            self.length,
            [self.validity_buffer()],
            self.null_count,
            children=[(<_Column>field).finish() for field in self.fields],
        )


cdef Py_ssize_t _slot_offset(cls, str name) except -1:
    descriptor = cls.__dict__.get(name)
    if type(descriptor) is not types.MemberDescriptorType:
        raise NotImplementedError(f"{cls.__name__}.{name} is not a slot")
    if (<PyMemberDescrObject*>descriptor).d_member.type != _T_OBJECT_EX:
        raise NotImplementedError(f"{cls.__name__}.{name} is not an object slot")
    return (<PyMemberDescrObject*>descriptor).d_member.offset


cdef _Column _column(plan, bint nullable):
    """A column builder from a plan: ("list", type, item plan), ("struct", type, dataclass,
    [(field name, plan), …]) or ("scalar", type); `nullable`: whether a struct takes None.
    NotImplementedError for types not built here."""
    kind = plan[0]
    arrow_type = plan[1]
    if kind == "list":
        return _Lists(arrow_type, _column(plan[2], False))
    if kind == "struct":
        return _Structs(
            arrow_type,
            plan[2],
            [name for name, _ in plan[3]],
            [_column(p, True) for _, p in plan[3]],
            nullable,
        )
    if arrow_type == pa.string():
        return _Strings(arrow_type, False)
    if arrow_type == pa.binary():
        return _Strings(arrow_type, True)
    if arrow_type == pa.int64():
        return _Int64s(arrow_type)
    if arrow_type == pa.bool_():
        return _Bools(arrow_type)
    if arrow_type == pa.date32():
        return _Dates(arrow_type)
    raise NotImplementedError(f"no compiled builder for {arrow_type}")


def check_plan(plan):
    """Raise NotImplementedError if a struct plan (see `columns`) has a type not built here."""
    _column(plan, False)


def columns(plan, list rows):
    """The Arrow arrays, one per field, of `rows` (instances of the plan's dataclass) under a
    struct plan ("struct", type, dataclass, [(field name, plan), …]). Raises `Unsupported`
    for a value of another type than its field declares."""
    cdef _Structs table = <_Structs>_column(plan, False)
    cdef object row
    try:
        for row in rows:
            table.append(row)
    except (OverflowError, UnicodeError) as error:  # an int past 64 bits, a lone surrogate
        raise Unsupported(str(error)) from error
    return [(<_Column>field).finish() for field in table.fields]
