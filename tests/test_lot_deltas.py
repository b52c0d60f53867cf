"""network.store.journal.apply_lot_deltas moves each lot with its member named (router-executable on Citus), and
refuses a lot it cannot find with that member: a ledger inconsistency fails the transaction, nothing moved."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from network.core.ledger import HOLD, MEMBER, Posting
from network.store.journal import apply_lot_deltas


def lot_of(conn, member_id: str) -> tuple[str, int, int]:
    row = conn.execute(text("SELECT lot_id::text, remaining, held FROM lots WHERE member_id = :m"),
                       {"m": member_id}).one()
    return row.lot_id, row.remaining, row.held


@pytest.fixture
def earned(make_partner, engine):
    shop = make_partner("deltas", return_window_seconds=0)
    with shop.client() as network:
        member = network.enroll_member().member.member_id
        network.earn(member, points=40)
    return member


@pytest.fixture
def rolled_back(engine):
    """A connection in a transaction rolled back afterwards: moving a lot without its postings would otherwise
    leave the session's ledger failing verify for every later test."""
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            yield conn
        finally:
            transaction.rollback()


def test_a_lots_member_and_hold_postings_move_it(rolled_back, earned):
    lot_id, remaining, held = lot_of(rolled_back, earned)
    apply_lot_deltas(rolled_back, [Posting(MEMBER, earned, lot_id, -15), Posting(HOLD, earned, lot_id, 15)])
    assert lot_of(rolled_back, earned) == (lot_id, remaining - 15, held + 15)
    apply_lot_deltas(rolled_back, [Posting("issuer", "deltas-partner", lot_id, 5)])  # no lot moves: nothing refused
    assert lot_of(rolled_back, earned) == (lot_id, remaining - 15, held + 15)


@pytest.mark.parametrize("wrong", ["the lot named with another member", "a lot that does not exist"])
def test_a_lot_not_found_with_its_member_fails_and_moves_nothing(engine, earned, wrong):
    with engine.connect() as conn:
        lot_id, remaining, held = lot_of(conn, earned)
    bad = Posting(MEMBER, str(uuid.uuid4()), lot_id, -1) if wrong.startswith("the lot") else \
        Posting(MEMBER, earned, str(uuid.uuid4()), -1)
    with pytest.raises(RuntimeError, match="ledger inconsistency: 1 lots to move, 0 found"):
        with engine.begin() as conn:
            apply_lot_deltas(conn, [bad])
    with pytest.raises(RuntimeError, match="ledger inconsistency: 2 lots to move, 1 found"):
        with engine.begin() as conn:  # with a lot that is found: the transaction fails whole
            apply_lot_deltas(conn, [Posting(MEMBER, earned, lot_id, -5), bad] if wrong.startswith("a lot") else
                             [Posting(MEMBER, earned, lot_id, -5), Posting(MEMBER, bad.owner, str(uuid.uuid4()), -1)])
    with engine.connect() as conn:
        assert lot_of(conn, earned) == (lot_id, remaining, held)
