"""PostgreSQL array literals for the set-based statements of the hot path.

`INSERT ... SELECT FROM unnest(CAST(%(col)s AS type[]), ...)` takes one parameter per column. Passed as a Python
list, the driver spells it `ARRAY['a', 'b', ...]`, one SQL expression per element that PostgreSQL must parse,
analyse and cast; passed as one array literal string ('{"a","b"}') it is a single constant that the type's
input function reads. Measured here on 500-row journal inserts: half the PostgreSQL CPU and half the Python.

Elements: None -> NULL; int -> digits; str -> double-quoted with backslash and double quote escaped; bytes ->
"\\x<hex>" (bytea hex input); datetime -> ISO 8601 (aware datetimes keep their offset); UUID -> its text.
Strings must not contain NUL (PostgreSQL text cannot); the edge refuses them before they get here.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Callable, Iterable, NamedTuple, Sequence


def _text(value: str) -> str:
    if "\\" in value or '"' in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + value + '"'


def _bytes(value) -> str:
    return '"\\\\x' + bytes(value).hex() + '"'


def _timestamp(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime: the ledger stores aware timestamps only")
    return '"' + value.isoformat() + '"'


_ENCODE = {type(None): lambda _: "NULL", int: int.__str__, str: _text, bytes: _bytes, bytearray: _bytes,
           memoryview: _bytes, datetime: _timestamp, uuid.UUID: lambda value: '"' + str(value) + '"'}


def once_each(encode: Callable[[Any], str], values: list) -> dict:
    """`encode` of each distinct value, by value. Equal instants given in other zones share one text (one
    timestamptz to PostgreSQL); a naive datetime is never equal to an aware one, so it is still refused."""
    return {value: encode(value) for value in set(values)}


def _element(value) -> str:
    encode = _ENCODE.get(type(value))  # exact types: a bool (an int subclass) is refused, not written as 1/0
    if encode is None:
        raise TypeError(f"no array literal for {type(value).__name__}")
    return encode(value)


def literal(values: Iterable) -> str:
    """One-dimensional PostgreSQL array literal of `values`."""
    values = values if isinstance(values, list) else list(values)
    kinds = set(map(type, values))
    if kinds == {int}:
        return "{" + ",".join(map(str, values)) + "}"
    if kinds == {str}:  # the common case: no quote or backslash inside any element, so none needs escaping
        body = '","'.join(values)
        if "\\" not in body and body.count('"') == 2 * (len(values) - 1):
            return '{"' + body + '"}'
    if len(kinds) == 1:  # one type: its encoder once, not looked up per element
        (kind,) = kinds
        encode = _ENCODE.get(kind)
        if kind is datetime or kind is uuid.UUID:  # mostly repeated in a group (its instants, its members)
            return "{" + ",".join(map(once_each(encode, values).__getitem__, values)) + "}"
        if encode is not None:
            return "{" + ",".join(map(encode, values)) + "}"
    return "{" + ",".join([_element(v) for v in values]) + "}"


def columns(row_type: type[NamedTuple], rows: Sequence[NamedTuple], prefix: str = "") -> dict[str, str]:
    """Named rows as one array literal per column, keyed by `prefix` + field name (the statement's parameters)."""
    return {prefix + name: literal([row[i] for row in rows]) for i, name in enumerate(row_type._fields)}


def tokens(value: str) -> list[str]:
    """The elements of an array literal of plain tokens (no quotes, commas or backslashes inside an element),
    as written by `literal`: e.g. the `kind` column of a journal insert."""
    inner = value[1:-1]
    return [part.strip('"') for part in inner.split(",")] if inner else []
