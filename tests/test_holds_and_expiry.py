"""Time-driven ledger rules with an injected clock: holds lapse, pending lots activate, lots expire."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from network.store.contracts import ContractBook
from network.errors import DomainError
from network.core.results import EarnItem, SpendRefs
from network.store.ledger import Ledger

pytestmark = pytest.mark.usefixtures("verified_ledger")


class Clock:
    def __init__(self):
        self.now = datetime.now(timezone.utc) + timedelta(seconds=5)

    def __call__(self):
        return self.now


@pytest.fixture
def clocked(engine):
    clock = Clock()
    return Ledger(engine, ContractBook(engine), point_value_minor=1, network_currency="EUR", shards=16,
                  clock=clock), clock


def _member_with_a_hold(engine, ledger, partner_id: str):
    """A new member with 100 points, 80 of them held for 60 s by the partner: (member id, the hold)."""
    with engine.begin() as conn:
        member = ledger.enroll_member(conn, partner_id, "", "")[0].member_id
        ledger.earn_batch(conn, [(partner_id, EarnItem("e1", member, None, None, 100))])
        return member, ledger.authorize(conn, partner_id, member, 80, SpendRefs(), 60, None)


def test_uncaptured_hold_lapses_and_gives_points_back(engine, make_partner, clocked):
    ledger, clock = clocked
    shop = make_partner("lapse")
    member, hold = _member_with_a_hold(engine, ledger, shop.partner_id)
    clock.now += timedelta(seconds=61)
    with pytest.raises(DomainError) as caught, engine.begin() as conn:
        ledger.capture(conn, shop.partner_id, hold.hold_id, 0, None)
    assert caught.value.reason == "HOLD_EXPIRED"
    with engine.begin() as conn:  # the next spend releases the lapsed hold first: all 100 points are there
        assert ledger.redeem(conn, shop.partner_id, member, 100, SpendRefs(), None).points == 100
        assert ledger.member_balance(conn, uuid.UUID(member)).held == 0


@pytest.mark.parametrize("request_id", [None, ""])
def test_a_void_without_the_partners_request_id_is_refused_and_writes_nothing(engine, make_partner, clocked,
                                                                              request_id):
    """The journal tells a partner's void from a lapse by its request id alone: a void without one would be
    recorded as a lapse while the hold says voided (ledger verify's hold-state check), so it is refused first."""
    ledger, _ = clocked
    shop = make_partner("voidid")
    member, hold = _member_with_a_hold(engine, ledger, shop.partner_id)
    with pytest.raises(ValueError, match="request id"), engine.begin() as conn:
        ledger.void(conn, shop.partner_id, hold.hold_id, request_id)
    with engine.begin() as conn:
        assert ledger.member_balance(conn, uuid.UUID(member)).held == 80  # still held: nothing was written
        assert ledger.void(conn, shop.partner_id, hold.hold_id, "void-1").released_points == 80


def test_pending_lots_activate_and_lots_expire_into_breakage(engine, make_partner, clocked):
    ledger, clock = clocked
    shop = make_partner("expiry", return_window_seconds=3600, expiry_days=10)
    with engine.begin() as conn:
        member = ledger.enroll_member(conn, shop.partner_id, "", "")[0].member_id
        ledger.earn_batch(conn, [(shop.partner_id, EarnItem("e1", member, None, None, 70))])
        assert ledger.member_balance(conn, uuid.UUID(member)).pending == 70
    clock.now += timedelta(hours=2)
    with engine.begin() as conn:
        ledger.activate_due_lots(conn)
        assert ledger.member_balance(conn, uuid.UUID(member)).available == 70
        ledger.redeem(conn, shop.partner_id, member, 20, SpendRefs(), None)
    clock.now += timedelta(days=11)
    with engine.begin() as conn:
        assert ledger.member_balance(conn, uuid.UUID(member)).available == 0  # past expiry: not spendable
        assert ledger.expire_lots(conn) >= 1
        assert ledger.expire_lots(conn) == 0  # safe to run twice
        breakage = conn.exec_driver_sql(
            "SELECT coalesce(sum(points), 0) FROM postings WHERE account = 'breakage' AND owner = %(p)s",
            {"p": shop.partner_id}).scalar_one()
    assert breakage == 50
