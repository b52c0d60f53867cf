"""A spend reads only the first ALLOCATION_WINDOW candidate lots, in consumption order computed in SQL, when their
spendable points cover it (network.store.ledger.Ledger._allocate). The allocation must be exactly
network.core.ledger.allocate's over ALL the member's spendable lots, whatever the lots: equal and missing expiry
dates, created_at ties, pending lots inside and past their return window, lots past their expiry not yet swept,
empty lots, and spends the window covers exactly, just fails to cover, or that exceed the balance (refused with the
whole balance named). Small windows put those boundaries inside a few lots."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from network.core import ledger as core_ledger
from network.core import rules
from network.errors import DomainError
from network.settings import Settings
from network.store.ledger import build_ledger

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
ISSUER = "alloc-window"  # no contract: no inactivity policy, a lot's expiry is its own column

lots_strategy = st.lists(st.tuples(
    st.sampled_from(["active", "active", "pending"]),
    st.integers(0, 12),  # remaining (0: not a candidate)
    st.integers(-2, 2),  # available_at, hours from NOW (a pending lot at or before NOW is due: activated)
    st.sampled_from([None, -1, 0, 1, 1, 2]),  # expires_at, hours from NOW (None: never; at or before NOW: expired)
    st.integers(-3, 0),  # created_at, hours from NOW: few values, many ties
), max_size=14)


@pytest.fixture(scope="module")
def ledger(engine):
    return build_ledger(engine, Settings())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lots=lots_strategy, points=st.integers(1, 24), window=st.integers(1, 4))
def test_the_window_allocates_what_all_the_lots_would(engine, ledger, lots, points, window):
    member_id = uuid.uuid4()
    made = [rules.Lot(str(uuid.uuid4()), ISSUER, state, remaining, NOW + available * HOUR,
                      None if expires is None else NOW + expires * HOUR, NOW + created * HOUR)
            for state, remaining, available, expires, created in lots]
    try:
        expected = core_ledger.allocate(rules.spendable_lots(made, NOW), points)
    except core_ledger.NotEnoughPoints as short:
        expected = ("INSUFFICIENT_POINTS", str(short.available))
    with engine.connect() as conn:
        with conn.begin() as transaction:
            for lot in made:
                conn.execute(text(
                    "INSERT INTO lots (lot_id, member_id, issuer_id, earn_tx_id, points, remaining, held, state, "
                    "available_at, expires_at, created_at) VALUES (:l, :m, :i, :t, :r, :r, 0, :s, :a, :e, :c)"),
                    {"l": lot.lot_id, "m": member_id, "i": ISSUER, "t": uuid.uuid4(), "r": lot.remaining,
                     "s": lot.state, "a": lot.available_at, "e": lot.expires_at, "c": lot.created_at})
            try:
                got = ledger._allocate(conn, member_id, points, NOW, window=window)
            except DomainError as refused:
                got = (refused.reason, refused.metadata["available"])
            transaction.rollback()
    assert got == expected



def _candidate_reads(engine, ledger, count: int, points: int, window: int) -> tuple[object, int]:
    """(allocation, or the refusal's reason and named balance; how many times the candidate lots were read) for a
    member with `count` active lots of one point each."""
    from sqlalchemy import event

    member_id = uuid.uuid4()
    reads = []
    with engine.connect() as conn:
        with conn.begin() as transaction:
            for i in range(count):
                conn.execute(text(
                    "INSERT INTO lots (lot_id, member_id, issuer_id, earn_tx_id, points, remaining, held, state, "
                    "available_at, expires_at, created_at) VALUES (:l, :m, :i, :t, 1, 1, 0, 'active', :a, NULL, :c)"),
                    {"l": uuid.uuid4(), "m": member_id, "i": ISSUER, "t": uuid.uuid4(), "a": NOW - HOUR,
                     "c": NOW - (count - i) * HOUR})
            def listener(_conn, _cursor, statement, *_) -> None:
                if "l.remaining > 0" in statement:  # the candidate lots' read
                    reads.append(statement)
            event.listen(conn, "before_cursor_execute", listener)
            try:
                got = len(ledger._allocate(conn, member_id, points, NOW, window=window))
            except DomainError as refused:
                got = (refused.reason, refused.metadata["available"])
            event.remove(conn, "before_cursor_execute", listener)
            transaction.rollback()
    return got, len(reads)


@pytest.mark.parametrize(("lots", "reads"), [(3, 1), (4, 2), (5, 2)])
def test_a_refused_spend_reads_the_candidates_again_only_when_the_window_was_full(engine, ledger, lots, reads):
    assert _candidate_reads(engine, ledger, lots, points=10, window=4) == (("INSUFFICIENT_POINTS", str(lots)), reads)


def test_a_full_window_that_does_not_cover_the_spend_reads_on_and_spends_the_lot_beyond_it(engine, ledger):
    assert _candidate_reads(engine, ledger, 5, points=5, window=4) == (5, 2)  # five lots allocated, the fifth too
    assert _candidate_reads(engine, ledger, 5, points=4, window=4) == (4, 1)  # covered by the window: read once
