# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled `PubmedArticle` → `Record`: the same mapping as
`connectors.pubmed.parse.parse_pubmed_article_python`, field for field, reading libxml2's
C tree directly through lxml's public Cython API instead of creating lxml proxies.

Text semantics copy lxml's exactly:

- `.text` is lxml's own `textOf` (the text and CDATA nodes before the first child node);
- `text_of` / `mixed_text_of` use `.text` when the element has no child node in lxml's sense
  (element, comment, PI, entity reference), else every descendant text and CDATA node in
  document order, an unresolved entity reference as "&name;" (what `itertext` yields);
- `.get(name)` reads an attribute's single text node; anything else (entity references in
  the value, DTD defaults when the document has a DTD) asks lxml.

Rare or awkward cases call back into the pure-Python functions on a proxy of the node:
a title with child nodes (`inner_xml` needs serialisation), a date or PubDate with a child
that is not an element. Pure string logic is shared, not copied: page ranges, ORCIDs, the
identifiers that need it, abstract joining and the date rules are the Python functions of
`fields` and `dates` (their caches included). Names are compared with strcmp against C
constants (never cached by pointer: libxml2's name dictionary belongs to one parser). No
state is kept between calls but bounded caches of immutable values, so it is thread-safe
under the GIL like the Python parser.

It also writes a record's own XML (`raw_xml`, the payload) from the same C tree, byte for
byte what lxml's `tostring` gives, or hands over to lxml where it cannot be sure.

The rule for changing the mapping (one rule, for everyone):

1. Change the Python reference first (`parse.parse_pubmed_article_python`, `fields`, `dates`)
   and its tests; run them with the compiled parser off (`BIBLIODUCK_PURE_PARSER=1`).
2. Run tests/test_pubmed_compiled.py: it compares both parsers on every fixture, both full
   files (~50,000 records) and the edge cases, and each failure names every field that
   differs ("title: compiled 'x' != python 'y'"): those are the fields to port here.
3. Port them, rebuild (`make install` does: its stamp depends on this file), and run it
   again until it passes. Never change only this file: the Python reference is
   the specification, and the only parser where compiling is not possible.
"""

from lxml.includes.etreepublic cimport _Document, _Element
cimport lxml.includes.etreepublic as cetree
from lxml.includes cimport tree
from lxml.includes.tree cimport xmlNode, xmlAttr, xmlNs
from libc.string cimport strcmp, strlen, memcpy
from libc.stdlib cimport malloc, free, realloc
from cpython.unicode cimport PyUnicode_DecodeUTF8
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_INCREF, Py_XDECREF

import dataclasses
import types

from connectors.pubmed import dates as _dates
from connectors.pubmed import vocabulary as _vocabulary
from connectors.pubmed.fields import (
    inner_xml as _py_inner_xml,
    join_abstract as _join_abstract,
    normalise_identifier as _normalise_identifier,
    split_page_range as _split_page_range,
)
from schemas.identifiers import (
    normalise_doi as _normalise_doi,
    normalise_orcid as _normalise_orcid,
    normalise_pmcid as _normalise_pmcid,
    normalise_pmid as _normalise_pmid,
)
from schemas.record import (
    AbstractSection,
    Author,
    DateEntry,
    Grant,
    Identifier,
    Link,
    Record,
    Reference,
    Subject,
    SubjectQualifier,
)

cetree.import_lxml__etree()


# --- building the dataclasses ----------------------------------------------------------------
# The `schemas.record` classes are slots dataclasses; calling them runs their generated Python
# `__init__`, which costs several times what storing their fields does. They are built
# here as `__init__` would build them: allocated, then every slot stored, at the offsets their
# member descriptors give. The layouts are checked at import (field names and order, slots, no
# custom `__new__`/`__post_init__`): a schema change that breaks them fails the import with an
# ImportError (`parse` then warns and uses the pure-Python parser; the tests fail under CI).

cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        int type
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member
    object _generic_alloc "PyType_GenericAlloc"(PyTypeObject* type, Py_ssize_t nitems)

cdef enum:
    _MAX_FIELDS = 64
    _T_OBJECT_EX = 16  # Py_T_OBJECT_EX: what __slots__ members are


cdef class _Layout:
    cdef object cls
    cdef PyTypeObject* type
    cdef Py_ssize_t n
    cdef Py_ssize_t offsets[_MAX_FIELDS]
    cdef list defaults  # per field: None (positional), (False, value) or (True, factory)
    # For `_with_defaults`: per field, 0 = the value, 1 = a new list, 2 = call the factory.
    cdef int default_kinds[_MAX_FIELDS]
    cdef PyObject* default_values[_MAX_FIELDS]  # borrowed from `defaults`

    def __init__(self, cls, expected):
        names = tuple(field.name for field in dataclasses.fields(cls))
        if expected is not None and names != expected:
            raise ImportError(f"{cls.__name__} fields changed: {names}; update _fast.pyx")
        if cls.__new__ is not object.__new__ or hasattr(cls, "__post_init__"):
            raise ImportError(f"{cls.__name__} is not a plain dataclass; update _fast.pyx")
        if len(names) > _MAX_FIELDS:
            raise ImportError(f"{cls.__name__} has too many fields")
        self.cls = cls
        self.type = <PyTypeObject*>cls
        self.n = len(names)
        self.defaults = []
        for index, field in enumerate(dataclasses.fields(cls)):
            descriptor = cls.__dict__.get(field.name)
            if type(descriptor) is not types.MemberDescriptorType:
                raise ImportError(f"{cls.__name__}.{field.name} is not a slot")
            if (<PyMemberDescrObject*>descriptor).d_member.type != _T_OBJECT_EX:
                raise ImportError(f"{cls.__name__}.{field.name} is not an object slot")
            self.offsets[index] = (<PyMemberDescrObject*>descriptor).d_member.offset
            if field.default is not dataclasses.MISSING:
                self.defaults.append((False, field.default))
            elif field.default_factory is not dataclasses.MISSING:
                self.defaults.append((True, field.default_factory))
            else:
                self.defaults.append(None)

    def prepare_defaults(self):
        """Fill the C arrays `_with_defaults` reads (every field must have a default)."""
        for index, default in enumerate(self.defaults):
            if default is None:
                raise ImportError(f"{self.cls.__name__}: field {index} has no default")
            is_factory, value = default
            self.default_kinds[index] = (2 if value is not list else 1) if is_factory else 0
            self.default_values[index] = <PyObject*>value

    def offset(self, name):
        for index, field in enumerate(dataclasses.fields(self.cls)):
            if field.name == name:
                return self.offsets[index]
        raise ImportError(f"{self.cls.__name__} has no field {name}")


cdef inline void _store(object obj, Py_ssize_t offset, object value):
    cdef PyObject** slot = <PyObject**>((<char*><PyObject*>obj) + offset)
    Py_INCREF(value)
    Py_XDECREF(slot[0])
    slot[0] = <PyObject*>value


cdef inline object _alloc(_Layout layout):
    return _generic_alloc(layout.type, 0)


cdef object _with_defaults(_Layout layout):
    """A new instance with every field at its default (all fields must have one)."""
    cdef object obj = _alloc(layout)
    cdef Py_ssize_t index
    cdef int kind
    for index in range(layout.n):
        kind = layout.default_kinds[index]
        if kind == 0:
            _store(obj, layout.offsets[index], <object>layout.default_values[index])
        elif kind == 1:
            _store(obj, layout.offsets[index], [])
        else:
            _store(obj, layout.offsets[index], (<object>layout.default_values[index])())
    return obj


cdef object _new2(_Layout layout, a, b):
    cdef object obj = _alloc(layout)
    _store(obj, layout.offsets[0], a)
    _store(obj, layout.offsets[1], b)
    return obj


cdef object _new3(_Layout layout, a, b, c):
    cdef object obj = _alloc(layout)
    _store(obj, layout.offsets[0], a)
    _store(obj, layout.offsets[1], b)
    _store(obj, layout.offsets[2], c)
    return obj


cdef object _new4(_Layout layout, a, b, c, d):
    cdef object obj = _alloc(layout)
    _store(obj, layout.offsets[0], a)
    _store(obj, layout.offsets[1], b)
    _store(obj, layout.offsets[2], c)
    _store(obj, layout.offsets[3], d)
    return obj


cdef object _new5(_Layout layout, a, b, c, d, e):
    cdef object obj = _alloc(layout)
    _store(obj, layout.offsets[0], a)
    _store(obj, layout.offsets[1], b)
    _store(obj, layout.offsets[2], c)
    _store(obj, layout.offsets[3], d)
    _store(obj, layout.offsets[4], e)
    return obj


cdef _Layout _IDENTIFIER = _Layout(Identifier, ("scheme", "value"))
cdef _Layout _AUTHOR = _Layout(
    Author,
    (
        "position",
        "name",
        "family",
        "given",
        "initials",
        "suffix",
        "collective",
        "orcid",
        "affiliations",
        "equal_contrib",
        "role",
        "corresponding",
        "profile_url",
    ),
)
cdef _Layout _ABSTRACT_SECTION = _Layout(
    AbstractSection, ("text", "label", "category", "kind", "language")
)
cdef _Layout _SUBJECT_QUALIFIER = _Layout(SubjectQualifier, ("term", "code", "major"))
cdef _Layout _SUBJECT = _Layout(Subject, ("scheme", "term", "code", "major", "qualifiers"))
cdef _Layout _DATE_ENTRY = _Layout(DateEntry, ("kind", "date", "precision", "raw"))
cdef _Layout _LINK = _Layout(Link, ("relation", "target_scheme", "target_id", "citation"))
cdef _Layout _REFERENCE = _Layout(Reference, ("position", "citation", "identifiers"))
cdef _Layout _GRANT = _Layout(Grant, ("grant_id", "acronym", "agency", "country"))
cdef _Layout _RECORD = _Layout(Record, None)
# source and source_id have no default: stored by the parser after `_with_defaults`.
_RECORD.defaults[0] = (False, None)
_RECORD.defaults[1] = (False, None)
_RECORD.prepare_defaults()
cdef Py_ssize_t _RECORD_SOURCE = _RECORD.offset("source")
cdef Py_ssize_t _RECORD_RAW = _RECORD.offset("raw")

cdef object _date_entry_from_parts = _dates.date_entry_from_parts
cdef object _pub_date_from_parts = _dates.pub_date_from_parts
cdef object _py_parse_date_entry = _dates.parse_date_entry
cdef object _py_parse_pub_date = _dates.parse_pub_date
cdef dict _DAY_CACHE = _dates._DAY_CACHE
cdef dict _PUB_DATE_CACHE = _dates._PUB_DATE_CACHE

cdef str SOURCE = "pubmed"



# --- nodes -----------------------------------------------------------------------------------


cdef inline bint _is_node(xmlNode* c) noexcept nogil:
    """lxml's `_isElement`: what `len(element)` and `for child in element` count."""
    return (
        c.type == tree.XML_ELEMENT_NODE
        or c.type == tree.XML_COMMENT_NODE
        or c.type == tree.XML_ENTITY_REF_NODE
        or c.type == tree.XML_PI_NODE
    )


cdef inline bint _named(xmlNode* c, const char* name) noexcept nogil:
    """An element without namespace called `name` (lxml's tag == "name")."""
    return c.type == tree.XML_ELEMENT_NODE and c.ns is NULL and _eq(c, name)


cdef inline bint _plain(xmlNode* c) noexcept nogil:
    """An element without namespace (its name can be compared as lxml's tag)."""
    return c.type == tree.XML_ELEMENT_NODE and c.ns is NULL


cdef inline bint _eq(xmlNode* c, const char* name) noexcept nogil:
    return c.name[0] == name[0] and strcmp(<const char*>c.name, name) == 0


cdef inline bint _has_child_node(xmlNode* c) noexcept nogil:
    cdef xmlNode* child = c.children
    while child is not NULL:
        if _is_node(child):
            return True
        child = child.next
    return False


cdef inline _Element _proxy(_Document doc, xmlNode* c):
    """An lxml proxy of `c` (a node of `doc`), for the Python fallbacks."""
    return cetree.elementFactory(doc, c)


# --- text ------------------------------------------------------------------------------------


cdef inline object _text(xmlNode* c):
    """lxml's `element.text`."""
    cdef xmlNode* child = c.children
    if child is not NULL and child.next is NULL and child.type == tree.XML_TEXT_NODE:
        return PyUnicode_DecodeUTF8(
            <const char*>child.content, strlen(<const char*>child.content), NULL
        )
    return cetree.textOf(c)


cdef Py_ssize_t _all_text_size(xmlNode* c) noexcept nogil:
    cdef Py_ssize_t size = 0
    cdef xmlNode* child = c.children
    while child is not NULL:
        if child.type == tree.XML_TEXT_NODE or child.type == tree.XML_CDATA_SECTION_NODE:
            if child.content is not NULL:
                size += strlen(<const char*>child.content)
        elif child.type == tree.XML_ELEMENT_NODE:
            size += _all_text_size(child)
        elif child.type == tree.XML_ENTITY_REF_NODE:
            size += strlen(<const char*>child.name) + 2
        child = child.next
    return size


cdef char* _all_text_copy(xmlNode* c, char* out) noexcept nogil:
    cdef size_t n
    cdef xmlNode* child = c.children
    while child is not NULL:
        if child.type == tree.XML_TEXT_NODE or child.type == tree.XML_CDATA_SECTION_NODE:
            if child.content is not NULL:
                n = strlen(<const char*>child.content)
                memcpy(out, child.content, n)
                out += n
        elif child.type == tree.XML_ELEMENT_NODE:
            out = _all_text_copy(child, out)
        elif child.type == tree.XML_ENTITY_REF_NODE:
            out[0] = c'&'
            out += 1
            n = strlen(<const char*>child.name)
            memcpy(out, child.name, n)
            out += n
            out[0] = c';'
            out += 1
        child = child.next
    return out


cdef inline bint _ascii_space(unsigned char ch) noexcept nogil:
    """What str.isspace() says of an ASCII character."""
    return ch == 32 or 9 <= ch <= 13 or 28 <= ch <= 31


cdef object _decode_stripped(const char* text, Py_ssize_t size):
    """str.strip() of the UTF-8 `text`, None when blank: ASCII whitespace is trimmed before
    decoding; when a non-ASCII character is then at either end, Python's strip finishes."""
    cdef Py_ssize_t start = 0, end = size
    cdef object result
    while start < end and _ascii_space(<unsigned char>text[start]):
        start += 1
    while end > start and _ascii_space(<unsigned char>text[end - 1]):
        end -= 1
    if start == end:
        return None
    result = PyUnicode_DecodeUTF8(text + start, end - start, NULL)
    if <unsigned char>text[start] >= 0x80 or <unsigned char>text[end - 1] >= 0x80:
        result = result.strip()
        return result if result else None
    return result


cdef object _all_text_stripped(xmlNode* c):
    cdef Py_ssize_t size = _all_text_size(c)
    cdef char* buffer
    if size == 0:
        return None
    buffer = <char*>malloc(size)
    if buffer is NULL:
        raise MemoryError()
    try:
        _all_text_copy(c, buffer)
        return _decode_stripped(buffer, size)
    finally:
        free(buffer)


cdef object _text_of(xmlNode* c):
    """`fields.text_of` (and `mixed_text_of`, the same function): stripped, blank → None."""
    cdef xmlNode* child
    if c is NULL:
        return None
    if c.type != tree.XML_ELEMENT_NODE:
        return _special_text_of(c)
    child = c.children
    if child is NULL:
        return None
    if child.next is NULL and child.type == tree.XML_TEXT_NODE:
        return _decode_stripped(<const char*>child.content, strlen(<const char*>child.content))
    if _has_child_node(c):
        return _all_text_stripped(c)
    return _strip(cetree.textOf(c))


cdef object _special_text_of(xmlNode* c):
    """`text_of` of a comment, PI or entity reference (a child that `for child in element`
    yields): lxml's `.text` of those is the content, or "&name;" for an entity reference."""
    if c.type == tree.XML_ENTITY_REF_NODE:
        return "&" + PyUnicode_DecodeUTF8(
            <const char*>c.name, strlen(<const char*>c.name), NULL
        ) + ";"
    if c.content is NULL:
        return None
    return _decode_stripped(<const char*>c.content, strlen(<const char*>c.content))


cdef inline object _strip(object text):
    if text is None:
        return None
    text = text.strip()
    return text if text else None


cdef inline object _stripped_text(xmlNode* c):
    """`.text`, stripped; None when missing or blank."""
    cdef xmlNode* child = c.children
    if child is not NULL and child.next is NULL and child.type == tree.XML_TEXT_NODE:
        return _decode_stripped(<const char*>child.content, strlen(<const char*>child.content))
    return _strip(cetree.textOf(c))


# --- attributes ------------------------------------------------------------------------------


cdef object _get(xmlNode* c, const char* name):
    """lxml's `element.get(name)` for a name without namespace."""
    cdef xmlAttr* attr = c.properties
    cdef xmlNode* value
    while attr is not NULL:
        if attr.ns is NULL and strcmp(<const char*>attr.name, name) == 0:
            value = attr.children
            if value is NULL:
                return ""
            if value.next is NULL and value.type == tree.XML_TEXT_NODE:
                return PyUnicode_DecodeUTF8(
                    <const char*>value.content, strlen(<const char*>value.content), NULL
                )
            break
        attr = attr.next
    if attr is NULL and c.doc is not NULL and (
        (c.doc.intSubset is NULL or c.doc.intSubset.attributes is NULL)
        and (c.doc.extSubset is NULL or c.doc.extSubset.attributes is NULL)
    ):
        return None  # no attribute declared in any DTD: no default either
    # Entity references in the value, or a DTD that may give a default: as lxml does it.
    return cetree.attributeValueFromNsName(c, NULL, <const unsigned char*>name)


cdef inline object _attribute(xmlNode* c, const char* name):
    """`fields.attribute`: stripped, blank → None."""
    cdef object value = _get(c, name)
    if value is None:
        return None
    value = value.strip()
    return value if value else None


cdef inline object _get_or_none(xmlNode* c, const char* name):
    """`element.get(name) or None`."""
    cdef object value = _get(c, name)
    return value if value else None


cdef bint _get_is(xmlNode* c, const char* name, const char* expected) except -1:
    """`element.get(name) == expected`."""
    cdef xmlAttr* attr = c.properties
    cdef xmlNode* value
    while attr is not NULL:
        if attr.ns is NULL and strcmp(<const char*>attr.name, name) == 0:
            value = attr.children
            if value is not NULL and value.next is NULL and value.type == tree.XML_TEXT_NODE:
                return strcmp(<const char*>value.content, expected) == 0
            break
        attr = attr.next
    return _get(c, name) == PyUnicode_DecodeUTF8(expected, strlen(expected), NULL)


# --- drift: names the DTD does not know ------------------------------------------------------
# `parse.note_unknown`, for the children of the elements whose children are dispatched on:
# the vocabulary of `connectors.pubmed.vocabulary` as sorted C string arrays, searched with
# strcmp. A child the parser handles is known by construction, so only the children it skips
# are searched; attributes are looked at only when an element has any.


cdef struct _Names:
    const char** names  # sorted bytewise
    Py_ssize_t n


cdef list _NAME_BYTES = []  # owns the bytes the arrays point into


cdef _Names _names_of(object names) except *:
    cdef _Names result
    cdef list ordered = sorted(name.encode() for name in names)
    result.n = len(ordered)
    result.names = <const char**>malloc(max(1, result.n) * sizeof(const char*))
    if result.names is NULL:
        raise MemoryError()
    for index, name in enumerate(ordered):
        _NAME_BYTES.append(name)
        result.names[index] = <const char*>(<bytes>name)
    return result


cdef Py_ssize_t _find(const _Names* names, const char* name) noexcept nogil:
    """The index of `name` in `names`, or -1."""
    cdef Py_ssize_t low = 0, high = names.n, middle
    cdef int order
    while low < high:
        middle = (low + high) // 2
        order = strcmp(names.names[middle], name)
        if order == 0:
            return middle
        if order < 0:
            low = middle + 1
        else:
            high = middle
    return -1


cdef _Names _K_ARTICLE_SET = _names_of(_vocabulary.KNOWN_CHILDREN["PubmedArticle"])
cdef _Names _K_CITATION = _names_of(_vocabulary.KNOWN_CHILDREN["MedlineCitation"])
cdef _Names _K_ARTICLE = _names_of(_vocabulary.KNOWN_CHILDREN["Article"])
cdef _Names _K_JOURNAL = _names_of(_vocabulary.KNOWN_CHILDREN["Journal"])
cdef _Names _K_JOURNAL_ISSUE = _names_of(_vocabulary.KNOWN_CHILDREN["JournalIssue"])
cdef _Names _K_JOURNAL_INFO = _names_of(_vocabulary.KNOWN_CHILDREN["MedlineJournalInfo"])
cdef _Names _K_PUBMED_DATA = _names_of(_vocabulary.KNOWN_CHILDREN["PubmedData"])
# Elements with attributes, and per element (same order) the attributes it may have.
cdef _Names _ATTRIBUTE_OWNERS = _names_of(_vocabulary.KNOWN_ATTRIBUTES)
cdef _Names* _ATTRIBUTES = <_Names*>malloc(max(1, _ATTRIBUTE_OWNERS.n) * sizeof(_Names))
for _index in range(_ATTRIBUTE_OWNERS.n):
    _ATTRIBUTES[_index] = _names_of(
        _vocabulary.KNOWN_ATTRIBUTES[(<bytes>_ATTRIBUTE_OWNERS.names[_index]).decode()]
    )
cdef object _unknown_element = _vocabulary.unknown_element
cdef object _unknown_attribute = _vocabulary.unknown_attribute


cdef inline str _utf8(const char* text):
    return PyUnicode_DecodeUTF8(text, strlen(text), NULL)


cdef str _lxml_name(xmlNs* ns, const char* name):
    """A name as lxml gives it: "{uri}name" in a namespace."""
    if ns is NULL or ns.href is NULL:
        return _utf8(name)
    return "{" + _utf8(<const char*>ns.href) + "}" + _utf8(name)


cdef void _note_namespaced(object record, str parent, xmlNode* c) except *:
    """A child in a namespace: never one the DTD knows."""
    record.unknown.append(_unknown_element(parent, _lxml_name(c.ns, <const char*>c.name)))


cdef bint _note_skipped(object record, str parent, const _Names* known, xmlNode* c) except -1:
    """A child the parser skips: named in `record.unknown` unless `known`; True if known."""
    if _find(known, <const char*>c.name) >= 0:
        return True
    record.unknown.append(_unknown_element(parent, _utf8(<const char*>c.name)))
    return False


cdef void _note_attributes(object record, xmlNode* c) except *:
    """Each attribute of a known element that the DTD does not give it."""
    cdef Py_ssize_t owner = _find(&_ATTRIBUTE_OWNERS, <const char*>c.name)
    cdef xmlAttr* attr = c.properties
    while attr is not NULL:
        if attr.ns is not NULL or owner < 0 or _find(&_ATTRIBUTES[owner], <const char*>attr.name) < 0:
            record.unknown.append(
                _unknown_attribute(
                    _utf8(<const char*>c.name), _lxml_name(attr.ns, <const char*>attr.name)
                )
            )
        attr = attr.next


# --- dates -----------------------------------------------------------------------------------


# Date elements repeat heavily within a file: their readings are cached by a signature of
# their children (a tag class and the stripped text of each non-blank child), which determines
# the result of `parse_date_entry` completely. Bounded like the caches of `dates`.
cdef dict _DATE_CACHE = {}
cdef enum:
    _DATE_KEY_MAX = 200
    _DATE_CACHE_SIZE = 4096


cdef object _date_entry(_Document doc, str kind, xmlNode* element):
    """`dates.parse_date_entry`."""
    cdef char key[_DATE_KEY_MAX]
    cdef Py_ssize_t size = 0, start, end
    cdef const unsigned char* content
    cdef xmlNode* child = element.children
    cdef xmlNode* text_node
    cdef bint simple = True
    cdef char tag
    cdef object key_object = None, cached, entry
    while child is not NULL:
        if child.type == tree.XML_ELEMENT_NODE:
            text_node = child.children
            if text_node is NULL:
                pass  # no text: skipped
            elif text_node.next is NULL and text_node.type == tree.XML_TEXT_NODE:
                content = <const unsigned char*>text_node.content
                start = 0
                end = strlen(<const char*>content)
                while start < end and _ascii_space(content[start]):
                    start += 1
                while end > start and _ascii_space(content[end - 1]):
                    end -= 1
                if start < end:
                    if content[start] >= 0x80 or content[end - 1] >= 0x80:
                        simple = False  # Python's strip decides there
                        break
                    if size + (end - start) + 2 > _DATE_KEY_MAX:
                        simple = False
                        break
                    tag = c'o'
                    if child.ns is NULL:
                        if _eq(child, b"Year"):
                            tag = c'Y'
                        elif _eq(child, b"Month"):
                            tag = c'M'
                        elif _eq(child, b"Day"):
                            tag = c'D'
                        elif _eq(child, b"Season"):
                            tag = c'S'
                    key[size] = tag
                    memcpy(key + size + 1, content + start, end - start)
                    size += end - start + 1
                    key[size] = 0
                    size += 1
            else:
                simple = False
                break
        elif _is_node(child):
            return _py_parse_date_entry(kind, _proxy(doc, element))
        child = child.next
    if simple:
        key_object = PyBytes_FromStringAndSize(key, size)
        cached = _DATE_CACHE.get(key_object)
        if cached is not None:
            return _new4(
                _DATE_ENTRY, kind, (<tuple>cached)[0], (<tuple>cached)[1], (<tuple>cached)[2]
            )
    entry = _date_entry_read(doc, kind, element)
    if key_object is not None:
        if len(_DATE_CACHE) >= _DATE_CACHE_SIZE:
            _DATE_CACHE.clear()
        _DATE_CACHE[key_object] = (entry.date, entry.precision, entry.raw)
    return entry


cdef object _date_entry_read(_Document doc, str kind, xmlNode* element):
    cdef xmlNode* child = element.children
    cdef object text
    cdef object year = None, month = None, day = None, season = None, date
    cdef list raw_parts = []
    while child is not NULL:
        if child.type == tree.XML_ELEMENT_NODE:
            text = _stripped_text(child)
            if text is not None:
                raw_parts.append(text)
                if child.ns is NULL:
                    if _eq(child, b"Year"):
                        year = text
                    elif _eq(child, b"Month"):
                        month = text
                    elif _eq(child, b"Day"):
                        day = text
                    elif _eq(child, b"Season"):
                        season = text
        elif _is_node(child):
            return _py_parse_date_entry(kind, _proxy(doc, element))
        child = child.next
    raw = " ".join(raw_parts) if raw_parts else None
    if day is not None and month is not None and year is not None:
        date = _DAY_CACHE.get((year, month, day))
        if date is not None:
            return _new4(_DATE_ENTRY, kind, date, "day", raw)
    return _date_entry_from_parts(kind, year, month, day, season, raw)


cdef tuple _pub_date(_Document doc, xmlNode* pub_date):
    """`dates.parse_pub_date`."""
    cdef xmlNode* child = pub_date.children
    cdef list parts = []
    cdef object text, tag, result
    while child is not NULL:
        if child.type == tree.XML_ELEMENT_NODE:
            text = _stripped_text(child)
            if text is not None:
                if child.ns is not NULL:
                    tag = cetree.namespacedName(child)
                elif _eq(child, b"Year"):
                    tag = "Year"
                elif _eq(child, b"Month"):
                    tag = "Month"
                elif _eq(child, b"Day"):
                    tag = "Day"
                elif _eq(child, b"Season"):
                    tag = "Season"
                elif _eq(child, b"MedlineDate"):
                    tag = "MedlineDate"
                else:
                    tag = cetree.namespacedName(child)
                parts.append((tag, text))
        elif _is_node(child):
            return _py_parse_pub_date(_proxy(doc, pub_date))
        child = child.next
    key = tuple(parts)
    result = _PUB_DATE_CACHE.get(key)
    if result is None:
        result = _pub_date_from_parts(key)
    return result


# --- titles, abstracts, pages ----------------------------------------------------------------


cdef tuple _title(_Document doc, xmlNode* title):
    """`fields.parse_title`: (plain text, inner XML)."""
    cdef object text = _text_of(title)
    if text is None:
        return None, None
    if _has_child_node(title):
        return text, _py_inner_xml(_proxy(doc, title))
    # No child node: the inner XML is the text, escaped as html.escape(quote=False) does.
    markup = text
    if "&" in markup:
        markup = markup.replace("&", "&amp;")
    if "<" in markup:
        markup = markup.replace("<", "&lt;")
    if ">" in markup:
        markup = markup.replace(">", "&gt;")
    return text, markup


cdef list _abstract(xmlNode* abstract, str kind, object language):
    """`fields.parse_abstract`."""
    cdef list sections = []
    cdef xmlNode* child = abstract.children
    cdef object text
    while child is not NULL:
        if _named(child, b"AbstractText"):
            text = _text_of(child)
            if text is not None:
                sections.append(
                    _new5(
                        _ABSTRACT_SECTION,
                        text,
                        _attribute(child, b"Label"),
                        _attribute(child, b"NlmCategory"),
                        kind,
                        language,
                    )
                )
        child = child.next
    return sections


cdef tuple _pagination(xmlNode* pagination):
    """`fields.parse_pagination`."""
    cdef object medline_pgn = None, start = None, end = None
    cdef xmlNode* child = pagination.children
    while child is not NULL:
        if _plain(child):
            if _eq(child, b"MedlinePgn"):
                medline_pgn = _text_of(child)
            elif _eq(child, b"StartPage"):
                start = _text_of(child)
            elif _eq(child, b"EndPage"):
                end = _text_of(child)
        child = child.next
    if start is not None:
        pages = medline_pgn or (f"{start}-{end}" if end is not None else start)
        return pages, start, end
    if medline_pgn is None:
        return None, None, None
    first, last = _split_page_range(medline_pgn)
    return medline_pgn, first, last


# --- people ----------------------------------------------------------------------------------


cdef class _People:
    """The person `_read_people` is filling (flushed to an `Author` when the next one opens)."""

    cdef list into
    cdef str role
    cdef bint open
    cdef object family, given, initials, suffix, collective, orcid, equal
    cdef list affiliations

    def __cinit__(self, list into, str role):
        self.into = into
        self.role = role
        self.open = False

    cdef start(self, object equal):
        self.open = True
        self.family = self.given = self.initials = self.suffix = None
        self.collective = self.orcid = None
        self.equal = equal
        self.affiliations = []

    cdef flush(self):
        cdef object author
        cdef Py_ssize_t* at
        if not self.open:
            return
        self.open = False
        if self.collective is not None:
            name = self.collective
        elif self.given is not None and self.family is not None:
            name = f"{self.given} {self.family}"
        else:
            name = self.family or self.given
        author = _alloc(_AUTHOR)
        at = _AUTHOR.offsets
        _store(author, at[0], len(self.into) + 1)
        _store(author, at[1], name)
        _store(author, at[2], self.family)
        _store(author, at[3], self.given)
        _store(author, at[4], self.initials)
        _store(author, at[5], self.suffix)
        _store(author, at[6], self.collective)
        _store(author, at[7], self.orcid)
        _store(author, at[8], self.affiliations)
        _store(author, at[9], None if self.equal is None else self.equal == "Y")
        _store(author, at[10], self.role)
        _store(author, at[11], None)  # PubMed marks no corresponding author
        _store(author, at[12], None)
        self.into.append(author)


cdef void _people_walk(xmlNode* node, const char* person_tag, _People people,
                       bint* in_affiliations) except *:
    """`fields._read_people`'s iter(person_tag, *_PERSON_PARTS) over the subtree below node."""
    cdef xmlNode* c = node.children
    cdef object source
    while c is not NULL:
        if c.type == tree.XML_ELEMENT_NODE:
            if c.ns is NULL:
                if _eq(c, person_tag):
                    people.flush()
                    people.start(_get(c, b"EqualContrib"))
                    in_affiliations[0] = False
                elif people.open:
                    if _eq(c, b"LastName"):
                        people.family = _text_of(c)
                    elif _eq(c, b"ForeName") or _eq(c, b"FirstName"):
                        people.given = _text_of(c)
                    elif _eq(c, b"Initials"):
                        people.initials = _text_of(c)
                    elif _eq(c, b"Affiliation"):
                        affiliation = _text_of(c)
                        if affiliation is not None:
                            people.affiliations.append(affiliation)
                    elif _eq(c, b"AffiliationInfo"):
                        in_affiliations[0] = True
                    elif _eq(c, b"Identifier"):
                        if not in_affiliations[0] and people.orcid is None:
                            source = _get(c, b"Source") or ""
                            if source.upper() == "ORCID":
                                people.orcid = _normalise_orcid(_text(c))
                    elif _eq(c, b"Suffix"):
                        people.suffix = _text_of(c)
                    elif _eq(c, b"CollectiveName"):
                        people.collective = _text_of(c)
            if c.children is not NULL:
                _people_walk(c, person_tag, people, in_affiliations)
        c = c.next


cdef void _read_people(xmlNode* people_list, const char* person_tag, _People people) except *:
    cdef bint in_affiliations = False
    _people_walk(people_list, person_tag, people, &in_affiliations)
    people.flush()


cdef list _author_lists(list author_lists):
    """`fields.parse_author_lists`."""
    cdef list authors = [], editors = []
    cdef _People author_people = _People(authors, "author")
    cdef _People editor_people = _People(editors, "editor")
    cdef xmlNode* c
    for address in author_lists:
        c = <xmlNode*><size_t>address
        if (_get(c, b"Type") or "").lower() == "editors":
            _read_people(c, b"Author", editor_people)
        else:
            _read_people(c, b"Author", author_people)
    return authors + editors


cdef list _investigators(list investigator_lists):
    """`fields.parse_investigators`."""
    cdef list investigators = []
    cdef _People people = _People(investigators, "investigator")
    for address in investigator_lists:
        _read_people(<xmlNode*><size_t>address, b"Investigator", people)
    return investigators


# --- subjects --------------------------------------------------------------------------------


cdef void _mesh_walk(xmlNode* node, list subjects, list heading) except *:
    """`fields.parse_mesh_headings`; heading[0] is the open heading (or None)."""
    cdef xmlNode* c = node.children
    while c is not NULL:
        if c.type == tree.XML_ELEMENT_NODE:
            if c.ns is NULL:
                if _eq(c, b"DescriptorName"):
                    term = _stripped_text(c)
                    heading[0] = None
                    if term is not None:
                        subject = _new5(
                            _SUBJECT,
                            "mesh",
                            term,
                            _get_or_none(c, b"UI"),
                            _get_is(c, b"MajorTopicYN", b"Y"),
                            [],
                        )
                        heading[0] = subject
                        subjects.append(subject)
                elif _eq(c, b"QualifierName"):
                    if heading[0] is not None:
                        term = _stripped_text(c)
                        if term is not None:
                            (<object>heading[0]).qualifiers.append(
                                _new3(
                                    _SUBJECT_QUALIFIER,
                                    term,
                                    _get_or_none(c, b"UI"),
                                    _get_is(c, b"MajorTopicYN", b"Y"),
                                )
                            )
            if c.children is not NULL:
                _mesh_walk(c, subjects, heading)
        c = c.next


cdef void _chemical_walk(xmlNode* node, list subjects, list registry) except *:
    """`fields.parse_chemicals`; registry[0] is the pending RegistryNumber text."""
    cdef xmlNode* c = node.children
    while c is not NULL:
        if c.type == tree.XML_ELEMENT_NODE:
            if c.ns is NULL:
                if _eq(c, b"RegistryNumber"):
                    registry[0] = _text_of(c)
                elif _eq(c, b"NameOfSubstance"):
                    term = _text_of(c)
                    if term is not None:
                        number = registry[0]
                        code = number if number is not None and number != "0" else _get(c, b"UI")
                        subjects.append(_new5(_SUBJECT, "chemical", term, code or None, None, []))
                    registry[0] = None
            if c.children is not NULL:
                _chemical_walk(c, subjects, registry)
        c = c.next


cdef list _children_subjects(xmlNode* parent, const char* tag, str scheme):
    """`fields.parse_supplementary_concepts` ("SupplMeshName") and `fields.parse_keywords`."""
    cdef list subjects = []
    cdef xmlNode* c = parent.children
    cdef bint keyword = tag[0] == c'K'
    while c is not NULL:
        if _named(c, tag):
            term = _text_of(c)
            if term is not None:
                if keyword:
                    subjects.append(
                        _new5(_SUBJECT, scheme, term, None, _get_is(c, b"MajorTopicYN", b"Y"), [])
                    )
                else:
                    subjects.append(_new5(_SUBJECT, scheme, term, _get_or_none(c, b"UI"), None, []))
        c = c.next
    return subjects


# --- grants, links, references, identifiers --------------------------------------------------


cdef list _grants(xmlNode* grant_list):
    cdef list grants = []
    cdef xmlNode* element = grant_list.children
    cdef xmlNode* c
    while element is not NULL:
        if _named(element, b"Grant"):
            grant_id = acronym = agency = country = None
            c = element.children
            while c is not NULL:
                if _plain(c):
                    if _eq(c, b"GrantID"):
                        grant_id = _text_of(c)
                    elif _eq(c, b"Acronym"):
                        acronym = _text_of(c)
                    elif _eq(c, b"Agency"):
                        agency = _text_of(c)
                    elif _eq(c, b"Country"):
                        country = _text_of(c)
                c = c.next
            grants.append(_new4(_GRANT, grant_id, acronym, agency, country))
        element = element.next
    return grants


cdef list _comments_corrections(xmlNode* comments_list):
    cdef list links = []
    cdef xmlNode* comment = comments_list.children
    cdef xmlNode* c
    while comment is not NULL:
        if _named(comment, b"CommentsCorrections"):
            relation = _get(comment, b"RefType") or "unknown"
            citation = target_id = target_scheme = None
            c = comment.children
            while c is not NULL:
                if _plain(c):
                    if _eq(c, b"RefSource"):
                        citation = _text_of(c)
                    elif _eq(c, b"PMID"):
                        target_id = _text_of(c)
                        target_scheme = "pmid" if target_id is not None else None
                c = c.next
            links.append(_new4(_LINK, relation, target_scheme, target_id, citation))
        comment = comment.next
    return links


cdef class _References:
    """`fields.parse_references`' state: the Reference being filled is built when closed."""

    cdef list references
    cdef bint open
    cdef object citation
    cdef list identifiers

    def __cinit__(self):
        self.references = []
        self.open = False

    cdef flush(self):
        if self.open:
            self.open = False
            self.references.append(
                _new3(_REFERENCE, len(self.references) + 1, self.citation, self.identifiers)
            )


cdef void _reference_walk(xmlNode* node, _References state) except *:
    """`fields.parse_references`' iter("Reference", "Citation", "ArticleId") below node."""
    cdef xmlNode* c = node.children
    while c is not NULL:
        if c.type == tree.XML_ELEMENT_NODE:
            if c.ns is NULL:
                if _eq(c, b"Reference"):
                    state.flush()
                    state.open = True
                    state.citation = None
                    state.identifiers = []
                elif state.open:
                    if _eq(c, b"Citation"):
                        state.citation = _text_of(c)
                    elif _eq(c, b"ArticleId"):
                        identifier = _identifier(_id_type(c, b"IdType"), _text(c))
                        if identifier is not None:
                            state.identifiers.append(identifier)
            if c.children is not NULL:
                _reference_walk(c, state)
        c = c.next


cdef object _id_type(xmlNode* c, const char* name):
    """`element.get(name)` for IdType/EIdType, the common values without decoding."""
    cdef xmlAttr* attr = c.properties
    cdef xmlNode* value
    cdef const char* content
    while attr is not NULL:
        if attr.ns is NULL and strcmp(<const char*>attr.name, name) == 0:
            value = attr.children
            if value is not NULL and value.next is NULL and value.type == tree.XML_TEXT_NODE:
                content = <const char*>value.content
                if strcmp(content, b"pubmed") == 0:
                    return "pubmed"
                if strcmp(content, b"doi") == 0:
                    return "doi"
                if strcmp(content, b"pmc") == 0:
                    return "pmc"
            break
        attr = attr.next
    return _get(c, name)


cdef inline object _identifier(object scheme, object value):
    """`fields.normalise_identifier`, with the common schemes short-cut: the same
    `schemas.identifiers` functions, called directly; a value they refuse (blank, or kept as
    "other") takes the general path."""
    if value is None:
        return None
    cdef object normal
    if scheme is None or scheme == "pubmed":
        normal = _normalise_pmid(value)
        if normal is not None:
            return _new2(_IDENTIFIER, "pmid", normal)
    elif scheme == "doi":
        normal = _normalise_doi(value)
        if normal is not None:
            return _new2(_IDENTIFIER, "doi", normal)
    elif scheme == "pmc":
        normal = _normalise_pmcid(value)
        if normal is not None:
            return _new2(_IDENTIFIER, "pmcid", normal)
    return _normalise_identifier(scheme, value)


cdef list _identifiers(object pmid, list id_lists, list elocations):
    """`fields.parse_identifiers` (no `more`: that is for books)."""
    cdef list identifiers = []
    cdef set seen = set()
    cdef xmlNode* c
    cdef xmlNode* id_list
    cdef list candidates = []
    for address in id_lists:
        id_list = <xmlNode*><size_t>address
        c = id_list.children
        while c is not NULL:
            if _named(c, b"ArticleId"):
                candidates.append((_id_type(c, b"IdType"), _text(c)))
            c = c.next
    for address in elocations:
        c = <xmlNode*><size_t>address
        candidates.append((_id_type(c, b"EIdType"), _text(c)))
    for scheme, value in candidates:
        identifier = _identifier(scheme, value)
        if identifier is None:
            continue
        key = (identifier.scheme, identifier.value)
        if key not in seen:
            seen.add(key)
            identifiers.append(identifier)
    if pmid is not None and ("pmid", pmid) not in seen:
        identifiers.insert(0, _new2(_IDENTIFIER, "pmid", pmid))
    return identifiers


cdef object _elocation(list elocations):
    """`fields.parse_elocation`."""
    cdef xmlNode* c
    first = None
    for address in elocations:
        c = <xmlNode*><size_t>address
        value = _text_of(c)
        if value is None:
            continue
        if _get(c, b"EIdType") == "pii":
            return value
        if first is None:
            first = value
    return first


cdef inline object _first_of_scheme(list identifiers, str scheme):
    for identifier in identifiers:
        if identifier.scheme == scheme:
            return identifier.value
    return None


cdef str _source_version(xmlNode* pmid_element, list dates):
    """`parse.source_version`."""
    version = 0
    if pmid_element is not NULL:
        attribute = _get(pmid_element, b"Version")
        if attribute is None:
            version = 1
        elif (digits := attribute.strip()).isascii() and digits.isdigit() and len(digits) <= 9:
            # As `parse.source_version`: "²" or 5,000 digits (beyond `int()`) is no version.
            version = int(digits)
    revised = "0000-00-00"
    for entry in dates:
        if entry.kind == "last_revised" and entry.date is not None and entry.precision == "day":
            revised = entry.date.isoformat()
    return f"{version:04d}:{revised}"


# --- the record ------------------------------------------------------------------------------


cdef void _fill_journal(_Document doc, object record, xmlNode* journal) except *:
    cdef xmlNode* child = journal.children
    cdef xmlNode* part
    cdef bint known
    while child is not NULL:
        if _plain(child):
            known = True
            if _eq(child, b"JournalIssue"):
                part = child.children
                while part is not NULL:
                    if _plain(part):
                        known = True
                        if _eq(part, b"Volume"):
                            record.volume = _text_of(part)
                        elif _eq(part, b"Issue"):
                            record.issue = _text_of(part)
                        elif _eq(part, b"PubDate"):
                            (
                                record.pub_date,
                                record.pub_date_precision,
                                record.pub_date_raw,
                                record.pub_year,
                            ) = _pub_date(doc, part)
                        else:
                            known = _note_skipped(record, "JournalIssue", &_K_JOURNAL_ISSUE, part)
                        if known and part.properties is not NULL:
                            _note_attributes(record, part)
                    elif part.type == tree.XML_ELEMENT_NODE:
                        _note_namespaced(record, "JournalIssue", part)
                    part = part.next
                known = True
            elif _eq(child, b"Title"):
                record.journal = _text_of(child)
            elif _eq(child, b"ISOAbbreviation"):
                record.journal_abbrev = _text_of(child)
            elif _eq(child, b"ISSN"):
                issn_type = _get(child, b"IssnType")
                if issn_type == "Print":
                    record.issn_print = _text_of(child)
                elif issn_type == "Electronic":
                    record.issn_electronic = _text_of(child)
            else:
                known = _note_skipped(record, "Journal", &_K_JOURNAL, child)
            if known and child.properties is not NULL:
                _note_attributes(record, child)
        elif child.type == tree.XML_ELEMENT_NODE:
            _note_namespaced(record, "Journal", child)
        child = child.next


cdef list _fill_from_article(_Document doc, object record, xmlNode* article, list dates):
    """`parse._fill_from_article`: returns the ELocationID node addresses."""
    cdef list elocations = []
    cdef list author_lists = []
    cdef list languages = []
    cdef xmlNode* child = article.children
    cdef xmlNode* c
    cdef bint known
    while child is not NULL:
        if _plain(child):
            known = True
            if _eq(child, b"Journal"):
                _fill_journal(doc, record, child)
            elif _eq(child, b"ArticleTitle"):
                record.title, record.title_markup = _title(doc, child)
            elif _eq(child, b"Pagination"):
                record.pages, record.first_page, record.last_page = _pagination(child)
            elif _eq(child, b"ELocationID"):
                elocations.append(<size_t>child)
            elif _eq(child, b"Abstract"):
                sections = _abstract(child, "abstract", None)
                record.abstract_sections = sections
                record.abstract = _join_abstract(sections)
            elif _eq(child, b"AuthorList"):
                author_lists.append(<size_t>child)
            elif _eq(child, b"Language"):
                language = _text_of(child)
                if language is not None:
                    languages.append(language)
            elif _eq(child, b"PublicationTypeList"):
                types = []
                c = child.children
                while c is not NULL:
                    if _is_node(c):
                        text = _text_of(c)
                        if text is not None:
                            types.append(text)
                    c = c.next
                record.publication_types = types
            elif _eq(child, b"GrantList"):
                record.grants = _grants(child)
            elif _eq(child, b"VernacularTitle"):
                record.vernacular_title = _text_of(child)
            elif _eq(child, b"ArticleDate"):
                dates.append(_date_entry(doc, "article_date", child))
            else:
                known = _note_skipped(record, "Article", &_K_ARTICLE, child)
            if known and child.properties is not NULL:
                _note_attributes(record, child)
        elif child.type == tree.XML_ELEMENT_NODE:
            _note_namespaced(record, "Article", child)
        child = child.next
    if languages:
        record.languages = languages
    if author_lists:
        record.authors = _author_lists(author_lists)
    record.elocation = _elocation(elocations)
    return elocations


# --- the record's own XML -------------------------------------------------------------------
# `parse.raw_xml` is `etree.tostring(element, encoding="unicode", with_tail=False)` encoded to
# ASCII with decimal character references: the payload every PubMed record keeps, and whose
# BLAKE2b is its version's identity. lxml takes 40-60 us per record for it (a shallow copy of
# the node to carry its ancestors' namespaces, libxml2's serialiser, a decode and an encode).
# The tree's elements, attributes, text and entity references are written here directly in
# the same form, in one pass over the C nodes: what libxml2 escapes in text (< > & and CR) and
# in attribute values (also " LF TAB), non-ASCII characters as &#N;. Anything else (namespaces,
# CDATA, comments and PIs the parser kept, non-ASCII in an attribute value, malformed UTF-8)
# returns None and the caller asks lxml, so the bytes are always tostring's.
# tests/test_pubmed_compiled.py checks byte equality on every real record we hold.

cdef struct _Out:
    char* data
    Py_ssize_t size
    Py_ssize_t capacity


cdef int _reserve(_Out* out, Py_ssize_t extra) except -1:
    cdef Py_ssize_t capacity = out.capacity
    cdef char* grown
    if out.size + extra <= capacity:
        return 0
    while out.size + extra > capacity:
        capacity *= 2
    grown = <char*>realloc(out.data, capacity)
    if grown is NULL:
        raise MemoryError()
    out.data = grown
    out.capacity = capacity
    return 0


cdef inline int _put(_Out* out, const char* text, Py_ssize_t length) except -1:
    if out.size + length > out.capacity:
        _reserve(out, length)
    memcpy(out.data + out.size, text, length)
    out.size += length
    return 0


# Bytes written as they are: printable ASCII but < > & (and " in attribute values), LF and
# TAB in text (escaped in attribute values); not NUL, which ends the text.
cdef bint _VERBATIM_TEXT[256]
cdef bint _VERBATIM_ATTRIBUTE[256]
for _byte in range(256):
    _VERBATIM_ATTRIBUTE[_byte] = 32 <= _byte < 128 and _byte not in b'<>&"'
    _VERBATIM_TEXT[_byte] = _VERBATIM_ATTRIBUTE[_byte] or _byte in b'"\t\n'


cdef int _put_escaped(_Out* out, const unsigned char* text, bint in_attribute) except -1:
    """`text` escaped as libxml2 writes it; 0 when it cannot be written here (non-ASCII in
    an attribute value, malformed UTF-8), else 1."""
    cdef Py_ssize_t i = 0
    cdef unsigned char c
    cdef unsigned int code
    cdef int extra, k
    cdef char digits[12]
    cdef int count
    cdef Py_ssize_t run
    cdef bint* verbatim = _VERBATIM_TEXT
    if in_attribute:
        verbatim = _VERBATIM_ATTRIBUTE
    if text is NULL:
        return 1
    while True:
        # Copy the run of bytes written as they are in one go (most of any text).
        run = i
        while verbatim[text[run]]:
            run += 1
        if run > i:
            _put(out, <const char*>text + i, run - i)
            i = run
        c = text[i]
        if c == 0:
            return 1
        # Room for the longest thing one step writes: "&#1114111;" (10 bytes).
        if out.size + 12 > out.capacity:
            _reserve(out, 12)
        if c < 0x80:
            if c == b"<":
                memcpy(out.data + out.size, b"&lt;", 4)
                out.size += 4
            elif c == b">":
                memcpy(out.data + out.size, b"&gt;", 4)
                out.size += 4
            elif c == b"&":
                memcpy(out.data + out.size, b"&amp;", 5)
                out.size += 5
            elif c == 13:
                memcpy(out.data + out.size, b"&#13;", 5)
                out.size += 5
            elif in_attribute and c == b'"':
                memcpy(out.data + out.size, b"&quot;", 6)
                out.size += 6
            elif in_attribute and c == 10:
                memcpy(out.data + out.size, b"&#10;", 5)
                out.size += 5
            elif in_attribute and c == 9:
                memcpy(out.data + out.size, b"&#9;", 4)
                out.size += 4
            else:
                out.data[out.size] = <char>c
                out.size += 1
            i += 1
            continue
        if in_attribute:
            return 0
        if 0xC2 <= c <= 0xDF:
            code = c & 0x1F
            extra = 1
        elif 0xE0 <= c <= 0xEF:
            code = c & 0x0F
            extra = 2
        elif 0xF0 <= c <= 0xF4:
            code = c & 0x07
            extra = 3
        else:
            return 0
        for k in range(1, extra + 1):
            if text[i + k] & 0xC0 != 0x80:  # also stops at the terminating NUL
                return 0
            code = (code << 6) | (text[i + k] & 0x3F)
        i += extra + 1
        count = 0
        while True:
            digits[count] = <char>(48 + code % 10)
            count += 1
            code //= 10
            if code == 0:
                break
        out.data[out.size] = b"&"
        out.data[out.size + 1] = b"#"
        out.size += 2
        while count > 0:
            count -= 1
            out.data[out.size] = digits[count]
            out.size += 1
        out.data[out.size] = b";"
        out.size += 1


cdef int _put_element(_Out* out, xmlNode* element) except -1:
    """`element` as libxml2 serialises it (no formatting); 0 when something in it cannot be
    written here, else 1."""
    cdef xmlAttr* attribute
    cdef xmlNode* value
    cdef xmlNode* child
    cdef Py_ssize_t name_length = strlen(<const char*>element.name)
    if element.ns is not NULL or element.nsDef is not NULL:
        return 0
    _put(out, b"<", 1)
    _put(out, <const char*>element.name, name_length)
    attribute = element.properties
    while attribute is not NULL:
        if attribute.ns is not NULL:
            return 0
        _put(out, b" ", 1)
        _put(out, <const char*>attribute.name, strlen(<const char*>attribute.name))
        _put(out, b'="', 2)
        value = attribute.children
        while value is not NULL:
            if value.type != tree.XML_TEXT_NODE:
                return 0
            if not _put_escaped(out, <const unsigned char*>value.content, True):
                return 0
            value = value.next
        _put(out, b'"', 1)
        attribute = attribute.next
    child = element.children
    if child is NULL:
        _put(out, b"/>", 2)
        return 1
    _put(out, b">", 1)
    while child is not NULL:
        if child.type == tree.XML_ELEMENT_NODE:
            if not _put_element(out, child):
                return 0
        elif child.type == tree.XML_TEXT_NODE:
            # A "textnoenc" node is written unescaped by libxml2; the parser never makes one.
            if strcmp(<const char*>child.name, b"text") != 0:
                return 0
            if not _put_escaped(out, <const unsigned char*>child.content, False):
                return 0
        elif child.type == tree.XML_ENTITY_REF_NODE:
            _put(out, b"&", 1)
            _put(out, <const char*>child.name, strlen(<const char*>child.name))
            _put(out, b";", 1)
        else:
            return 0
        child = child.next
    _put(out, b"</", 2)
    _put(out, <const char*>element.name, name_length)
    _put(out, b">", 1)
    return 1


def raw_xml(_Element element not None):
    """`parse.raw_xml(element)`'s bytes, or None when lxml must write them (see above)."""
    cdef _Out out
    cdef int written
    if element._c_node.type != tree.XML_ELEMENT_NODE:
        return None  # a comment or PI proxy (lxml's are _Element subclasses)
    out.capacity = 16384
    out.size = 0
    out.data = <char*>malloc(out.capacity)
    if out.data is NULL:
        raise MemoryError()
    try:
        written = _put_element(&out, element._c_node)
        if not written:
            return None
        return PyBytes_FromStringAndSize(out.data, out.size)
    finally:
        free(out.data)


def parse_pubmed_article(_Element article not None, bytes raw):
    """A `Record` from one `PubmedArticle`; `raw` is `parse.raw_xml(article)`."""
    return _parse(article._doc, article._c_node, raw)


cdef object _parse(_Document doc, xmlNode* article, bytes raw):
    cdef object record = _with_defaults(_RECORD)
    _store(record, _RECORD_SOURCE, SOURCE)
    _store(record, _RECORD_RAW, raw)
    cdef xmlNode* citation = NULL
    cdef xmlNode* pubmed_data = NULL
    cdef xmlNode* child = article.children
    cdef xmlNode* info
    cdef xmlNode* pmid_element = NULL
    cdef xmlNode* article_element = NULL
    cdef list dates = []
    cdef list mesh = [], chemicals = [], supplementary = [], keywords = []
    cdef list other_abstracts = []
    cdef list investigator_lists = []
    cdef list elocations = [], id_lists = [], reference_lists = []
    cdef _References reference_state
    cdef bint known

    while child is not NULL:
        if _plain(child):
            known = True
            if _eq(child, b"MedlineCitation"):
                citation = child
            elif _eq(child, b"PubmedData"):
                pubmed_data = child
            else:
                known = _note_skipped(record, "PubmedArticle", &_K_ARTICLE_SET, child)
            if known and child.properties is not NULL:
                _note_attributes(record, child)
        elif child.type == tree.XML_ELEMENT_NODE:
            _note_namespaced(record, "PubmedArticle", child)
        child = child.next
    if citation is NULL:
        return record
    record.record_status = _get_or_none(citation, b"Status")

    child = citation.children
    while child is not NULL:
        if _plain(child):
            known = True
            if _eq(child, b"PMID"):
                pmid_element = child
            elif _eq(child, b"Article"):
                article_element = child
            elif _eq(child, b"MedlineJournalInfo"):
                info = child.children
                while info is not NULL:
                    if _plain(info):
                        known = True
                        if _eq(info, b"NlmUniqueID"):
                            record.nlm_unique_id = _text_of(info)
                        elif _eq(info, b"ISSNLinking"):
                            record.issn_linking = _text_of(info)
                        else:
                            known = _note_skipped(
                                record, "MedlineJournalInfo", &_K_JOURNAL_INFO, info
                            )
                        if known and info.properties is not NULL:
                            _note_attributes(record, info)
                    elif info.type == tree.XML_ELEMENT_NODE:
                        _note_namespaced(record, "MedlineJournalInfo", info)
                    info = info.next
                known = True
            elif _eq(child, b"MeshHeadingList"):
                mesh = []
                _mesh_walk(child, mesh, [None])
            elif _eq(child, b"ChemicalList"):
                chemicals = []
                _chemical_walk(child, chemicals, [None])
            elif _eq(child, b"SupplMeshList"):
                supplementary = _children_subjects(
                    child, b"SupplMeshName", "supplementary_concept"
                )
            elif _eq(child, b"KeywordList"):
                keywords.extend(_children_subjects(child, b"Keyword", "keyword"))
            elif _eq(child, b"CommentsCorrectionsList"):
                record.links = _comments_corrections(child)
            elif _eq(child, b"OtherAbstract"):
                other_abstracts.extend(
                    _abstract(
                        child,
                        _attribute(child, b"Type") or "other",
                        _attribute(child, b"Language") or "eng",
                    )
                )
            elif _eq(child, b"InvestigatorList"):
                investigator_lists.append(<size_t>child)
            elif _eq(child, b"DateCreated"):
                dates.append(_date_entry(doc, "created", child))
            elif _eq(child, b"DateCompleted"):
                dates.append(_date_entry(doc, "completed", child))
            elif _eq(child, b"DateRevised"):
                dates.append(_date_entry(doc, "last_revised", child))
            else:
                known = _note_skipped(record, "MedlineCitation", &_K_CITATION, child)
            if known and child.properties is not NULL:
                _note_attributes(record, child)
        elif child.type == tree.XML_ELEMENT_NODE:
            _note_namespaced(record, "MedlineCitation", child)
        child = child.next

    pmid = _text_of(pmid_element)
    record.source_id = pmid
    record.pmid = pmid
    record.source_version = _source_version(pmid_element, dates)
    if article_element is not NULL:
        elocations = _fill_from_article(doc, record, article_element, dates)
    if other_abstracts:
        record.abstract_sections.extend(other_abstracts)
    if investigator_lists:
        record.authors.extend(_investigators(investigator_lists))
    record.subjects = mesh + chemicals + supplementary + keywords
    record.issn = record.issn_linking or record.issn_print or record.issn_electronic

    if pubmed_data is not NULL:
        child = pubmed_data.children
        while child is not NULL:
            if _plain(child):
                known = True
                if _eq(child, b"ArticleIdList"):
                    id_lists.append(<size_t>child)
                elif _eq(child, b"History"):
                    info = child.children
                    while info is not NULL:
                        if _named(info, b"PubMedPubDate"):
                            dates.append(
                                _date_entry(doc, _get(info, b"PubStatus") or "unknown", info)
                            )
                        info = info.next
                elif _eq(child, b"PublicationStatus"):
                    record.publication_state = _text_of(child)
                elif _eq(child, b"ReferenceList"):
                    reference_lists.append(<size_t>child)
                else:
                    known = _note_skipped(record, "PubmedData", &_K_PUBMED_DATA, child)
                if known and child.properties is not NULL:
                    _note_attributes(record, child)
            elif child.type == tree.XML_ELEMENT_NODE:
                _note_namespaced(record, "PubmedData", child)
            child = child.next
        if reference_lists:
            reference_state = _References()
            for address in reference_lists:
                _reference_walk(<xmlNode*><size_t>address, reference_state)
            reference_state.flush()
            record.references = reference_state.references
    record.dates = dates
    identifiers = _identifiers(record.pmid, id_lists, elocations)
    record.identifiers = identifiers
    record.doi = _first_of_scheme(identifiers, "doi")
    record.pmcid = _first_of_scheme(identifiers, "pmcid")
    if record.pmid is None:
        record.pmid = _first_of_scheme(identifiers, "pmid")
    return record
