"""Array literals (network.pgarray) read back by PostgreSQL as exactly the values written."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from network.store import pgarray

# PostgreSQL text cannot hold NUL (the edge refuses control characters anyway) and protobuf strings are UTF-8
# (no lone surrogates); everything else must survive.
CET = timezone(timedelta(hours=1))
texts = st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=40)


@pytest.fixture(scope="module")
def cursor(engine):
    connection = engine.raw_connection()
    try:
        yield connection.driver_connection.cursor()
    finally:
        connection.close()


def read_back(cursor, kind: str, values: list):
    cursor.execute(f"SELECT CAST(%(a)s AS {kind}[])", {"a": pgarray.literal(values)})
    return cursor.fetchone()[0]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), texts), max_size=8))
def test_text_round_trips(cursor, values):
    assert read_back(cursor, "text", values) == values


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(min_value=-2**63, max_value=2**63 - 1)), max_size=8))
def test_bigint_round_trips(cursor, values):
    assert read_back(cursor, "bigint", values) == values


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.binary(max_size=40)), max_size=6))
def test_bytea_round_trips(cursor, values):
    assert [None if v is None else bytes(v) for v in read_back(cursor, "bytea", values)] == values


def test_timestamps_and_uuids_round_trip(cursor):
    moments = [datetime(2026, 11, 23, 12, 30, 15, 123456, tzinfo=timezone.utc), None]
    assert read_back(cursor, "timestamptz", moments) == moments
    ids = [uuid.uuid4(), None]
    assert [None if v is None else uuid.UUID(str(v)) for v in read_back(cursor, "uuid", ids)] == ids


def test_repeated_timestamps_and_uuids_are_each_read_back_as_written(cursor):
    # a column of one type encodes each distinct value once (pgarray.once_each): every element keeps its own
    first, second = datetime(2026, 11, 23, 12, 30, 15, 123456, tzinfo=timezone.utc), datetime(2026, 1, 1, tzinfo=CET)
    moments = [first, second, first, first.astimezone(CET), second]  # the same instant in another zone too
    assert read_back(cursor, "timestamptz", moments) == moments
    a, b = uuid.uuid4(), uuid.uuid4()
    ids = [a, b, a, a, b]
    assert [uuid.UUID(str(v)) for v in read_back(cursor, "uuid", ids)] == ids
    with pytest.raises(ValueError):
        pgarray.literal([first, datetime(2026, 1, 1), first])  # a naive one among aware ones is still refused


def test_values_without_a_safe_spelling_are_refused():
    with pytest.raises(TypeError):
        pgarray.literal([True])  # a bool is an int to Python, never a point count
    with pytest.raises(TypeError):
        pgarray.literal([1.5])  # no floats anywhere near the ledger
    with pytest.raises(ValueError):
        pgarray.literal([datetime(2026, 1, 1)])  # naive timestamps are ambiguous
