"""Expiry policies per issuer (fixed, calendar, inactivity) in the ledger, with an injected clock: the day before
and the day of expiry for each policy, activity anywhere resetting inactivity, breakage per issuer, warnings ahead
of expiry. The pure date rules are tested in tests/test_expiry_rules.py."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from network import admin
from network.core import expiry
from network.core.results import EarnItem, SpendRefs
from network.errors import DomainError
from network.store import expiry as store_expiry
from network.store.contracts import ContractBook
from network.store.events import read_events
from network.store.ledger import Ledger
from test_transfers import Clock


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


# --- the SQL form agrees with the pure rule -----------------------------------------------------------------

def test_sql_month_arithmetic_is_the_pure_rules(engine):
    starts = [utc(2024, 1, 31, 10), utc(2025, 1, 31, 23, 30), utc(2024, 2, 29), utc(2025, 3, 31, 0, 0, 1),
              utc(2025, 12, 31, 23, 59, 59), utc(2025, 8, 31, 12)]
    with engine.connect() as conn:
        conn.execute(text("SET TIME ZONE 'America/New_York'"))  # the session's zone must not matter
        for start in starts:
            for months in (1, 2, 6, 12, 13, 24):
                sql = conn.execute(text("SELECT ((CAST(:t AS timestamptz) AT TIME ZONE 'UTC') "
                                        "+ make_interval(months => :n)) AT TIME ZONE 'UTC'"),
                                   {"t": start, "n": months}).scalar_one()
                assert sql == expiry.add_months(start, months), (start, months)
        conn.rollback()


# --- contracts ----------------------------------------------------------------------------------------------

def test_a_contract_carries_its_expiry_policy(engine, make_partner):
    shop = make_partner("pol", expiry_policy="inactivity", expiry_months=18)
    terms = ContractBook(engine).terms(shop.partner_id, datetime.now(timezone.utc) + timedelta(seconds=1))
    assert (terms.expiry_policy, terms.expiry_months, terms.expiry_days) == ("inactivity", 18, 0)


@pytest.mark.parametrize("draft, field", [
    (dict(expiry_policy="weekly", expiry_months=1), "expiry_policy"),
    (dict(expiry_policy="inactivity", expiry_months=0), "expiry_months"),
    (dict(expiry_policy="calendar", expiry_days=30, expiry_months=1), "expiry_days"),
    (dict(expiry_days=30, expiry_months=1), "expiry_months"),
])
def test_a_bad_expiry_policy_is_refused_and_writes_nothing(engine, make_partner, draft, field):
    shop = make_partner("polbad")
    with pytest.raises(DomainError) as caught, engine.begin() as conn:
        admin.set_contract(conn, "test", shop.partner_id, admin.ContractDraft(**draft))
    assert caught.value.reason == "INVALID_ARGUMENT" and caught.value.field_violations[0][0] == field
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM contracts WHERE partner_id = :p"),
                            {"p": shop.partner_id}).scalar_one() == 1


# --- the ledger honours each policy -------------------------------------------------------------------------

@pytest.fixture
def clocked(engine):
    clock = Clock(utc(2031, 1, 1))
    return Ledger(engine, ContractBook(engine), point_value_minor=1, network_currency="EUR", shards=16,
                  clock=clock), clock


def _member(ledger: Ledger, conn, partner_id: str) -> str:
    return ledger.enroll_member(conn, partner_id, "", "")[0].member_id


def _earn(ledger: Ledger, conn, partner_id: str, member: str, points: int) -> None:
    decision = ledger.earn_batch(conn, [(partner_id, EarnItem(uuid.uuid4().hex, member, None, None, points))])[0]
    assert not isinstance(decision, DomainError), decision


def _available(ledger: Ledger, conn, member: str) -> int:
    return ledger.member_balance(conn, uuid.UUID(member)).available


def _breakage(conn, partner_id: str) -> int:
    return conn.execute(text("SELECT coalesce(sum(points), 0) FROM postings WHERE account = 'breakage' "
                             "AND owner = :p"), {"p": partner_id}).scalar_one()


def _lot_state(conn, member: str, issuer: str) -> str:
    return conn.execute(text("SELECT state FROM lots WHERE member_id = :m AND issuer_id = :i"),
                        {"m": uuid.UUID(member), "i": issuer}).scalar_one()


@pytest.mark.usefixtures("verified_ledger")
def test_fixed_months_and_calendar_expire_the_day_of_not_the_day_before(engine, make_partner, clocked):
    ledger, clock = clocked
    monthly = make_partner("fixm", expiry_months=1)
    daily = make_partner("fixd", expiry_days=28)
    yearly = make_partner("cal", expiry_policy="calendar", expiry_months=2)
    clock.now = utc(2031, 1, 31, 10)
    with engine.begin() as conn:
        member = _member(ledger, conn, monthly.partner_id)
        _earn(ledger, conn, monthly.partner_id, member, 40)
        _earn(ledger, conn, yearly.partner_id, member, 60)
        _earn(ledger, conn, daily.partner_id, member, 7)
        assert _available(ledger, conn, member) == 107
    clock.now = utc(2031, 2, 27, 10)  # the day before the monthly and daily lots' expiry (28 February 10:00)
    with engine.begin() as conn:
        ledger.expire_lots(conn)
        assert _lot_state(conn, member, monthly.partner_id) == "active" and _available(ledger, conn, member) == 107
    clock.now = utc(2031, 2, 28, 10)  # the day of
    with engine.begin() as conn:
        assert _available(ledger, conn, member) == 60  # past their expiry: no longer spendable, even unswept
        ledger.expire_lots(conn)
        assert _lot_state(conn, member, monthly.partner_id) == "expired"
        assert _lot_state(conn, member, daily.partner_id) == "expired"
        assert (_breakage(conn, monthly.partner_id), _breakage(conn, daily.partner_id),
                _breakage(conn, yearly.partner_id)) == (40, 7, 0)
    clock.now = utc(2032, 2, 29, 23, 59)  # earned in 2031, calendar + 2 months: spendable to the end of February 2032
    with engine.begin() as conn:
        ledger.expire_lots(conn)
        assert _lot_state(conn, member, yearly.partner_id) == "active" and _available(ledger, conn, member) == 60
    clock.now = utc(2032, 3, 1)
    with engine.begin() as conn:
        ledger.expire_lots(conn)
        assert _lot_state(conn, member, yearly.partner_id) == "expired" and _available(ledger, conn, member) == 0
        assert _breakage(conn, yearly.partner_id) == 60


@pytest.mark.usefixtures("verified_ledger")
def test_inactivity_expiry_is_reset_by_an_earn_or_a_spend_anywhere(engine, make_partner, clocked):
    ledger, clock = clocked
    airline = make_partner("inact", expiry_policy="inactivity", expiry_months=1)
    grocer = make_partner("groc")  # its own points never expire
    clock.now = utc(2032, 1, 31, 10)
    with engine.begin() as conn:
        idle, earner, spender = (_member(ledger, conn, airline.partner_id) for _ in range(3))
        for member in (idle, earner, spender):
            _earn(ledger, conn, airline.partner_id, member, 100)
        assert store_expiry.last_activity(conn, idle) == clock.now
    clock.now = utc(2032, 2, 28, 10)  # the last day before the airline points expire (29 February 10:00)
    with engine.begin() as conn:
        _earn(ledger, conn, grocer.partner_id, earner, 5)  # an earn elsewhere, on the last day
        ledger.redeem(conn, grocer.partner_id, spender, 10, SpendRefs(), None)  # a spend elsewhere (airline points)
        ledger.expire_lots(conn)
        assert [_lot_state(conn, m, airline.partner_id) for m in (idle, earner, spender)] == ["active"] * 3
    clock.now = utc(2032, 2, 29, 10)  # the day of the idle member's expiry
    with engine.begin() as conn:
        assert _available(ledger, conn, idle) == 0
        with pytest.raises(DomainError) as caught:
            ledger.redeem(conn, grocer.partner_id, idle, 1, SpendRefs(), None)
        assert caught.value.reason == "INSUFFICIENT_POINTS"
    with engine.begin() as conn:
        ledger.expire_lots(conn)
        assert _lot_state(conn, idle, airline.partner_id) == "expired"
        assert [_lot_state(conn, m, airline.partner_id) for m in (earner, spender)] == ["active"] * 2
        assert _available(ledger, conn, earner) == 105 and _available(ledger, conn, spender) == 90
        assert _breakage(conn, airline.partner_id) == 100 and _breakage(conn, grocer.partner_id) == 0
    clock.now = utc(2032, 3, 28, 9, 59, 59)  # a month after the last activity (28 February 10:00), less a second
    with engine.begin() as conn:
        ledger.expire_lots(conn)
        assert [_lot_state(conn, m, airline.partner_id) for m in (earner, spender)] == ["active"] * 2
    clock.now = utc(2032, 3, 28, 10)
    with engine.begin() as conn:
        ledger.expire_lots(conn)
        assert [_lot_state(conn, m, airline.partner_id) for m in (earner, spender)] == ["expired"] * 2
        assert _breakage(conn, airline.partner_id) == 100 + 100 + 90  # the airline's breakage, not the grocer's
        assert _available(ledger, conn, earner) == 5  # the grocer's points do not expire


@pytest.mark.usefixtures("verified_ledger")
def test_last_activity_never_moves_back_and_holds_and_returns_are_not_activity(engine, make_partner, clocked):
    ledger, clock = clocked
    shop = make_partner("act", expiry_policy="inactivity", expiry_months=6)
    clock.now = utc(2034, 5, 1, 12)
    with engine.begin() as conn:
        member = _member(ledger, conn, shop.partner_id)
        assert store_expiry.last_activity(conn, member) is None  # enrolling is not activity
        _earn(ledger, conn, shop.partner_id, member, 100)
    clock.now = utc(2034, 5, 3, 12)
    with engine.begin() as conn:
        hold = ledger.authorize(conn, shop.partner_id, member, 10, SpendRefs(), 600, None)  # a hold is not a spend
        ledger.void(conn, shop.partner_id, hold.hold_id, "void-1")
        assert store_expiry.last_activity(conn, member) == utc(2034, 5, 1, 12)
        hold = ledger.authorize(conn, shop.partner_id, member, 10, SpendRefs(), 600, None)
        ledger.capture(conn, shop.partner_id, hold.hold_id, 10, None)  # a capture is
        assert store_expiry.last_activity(conn, member) == utc(2034, 5, 3, 12)
    clock.now = utc(2034, 5, 2, 12)  # another process whose clock is behind: the activity stays at the latest
    with engine.begin() as conn:
        _earn(ledger, conn, shop.partner_id, member, 5)
        assert store_expiry.last_activity(conn, member) == utc(2034, 5, 3, 12)
    clock.now = utc(2034, 5, 4, 12)
    with engine.begin() as conn:
        tx = conn.execute(text("SELECT tx_id FROM journal WHERE member_id = :m AND kind = 'earn' ORDER BY created_at "
                               "DESC LIMIT 1"), {"m": uuid.UUID(member)}).scalar_one()
        ledger.reverse(conn, shop.partner_id, str(tx), 0, "return", None)  # a return is not activity
        assert store_expiry.last_activity(conn, member) == utc(2034, 5, 3, 12)
        assert store_expiry.expiring_points(conn, member, 200, clock.now) == [
            store_expiry.ExpiringPoints(shop.partner_id, 90, utc(2034, 11, 3, 12))]


# --- warnings ahead of expiry -------------------------------------------------------------------------------

def _warnings(conn, partner_id: str) -> list[dict]:
    return [e.detail for e in read_events(conn, partner_id, 0, 500) if e.type == "points.expiring"]


@pytest.mark.usefixtures("verified_ledger")
def test_warnings_once_per_lot_and_expiry_then_again_when_activity_moves_it(engine, make_partner, clocked):
    ledger, clock = clocked
    lead = timedelta(days=30)
    fixed = make_partner("wfix", expiry_days=100)
    idle = make_partner("wina", expiry_policy="inactivity", expiry_months=3)
    clock.now = utc(2033, 1, 10, 12)
    with engine.begin() as conn:
        member = _member(ledger, conn, fixed.partner_id)
        _earn(ledger, conn, fixed.partner_id, member, 70)  # expires 2033-04-20 12:00
        _earn(ledger, conn, idle.partner_id, member, 30)  # expires 2033-04-10 12:00 unless the member is active
    clock.now = utc(2033, 3, 11, 12) - timedelta(seconds=1)  # just before the inactivity lot's warning window
    with engine.begin() as conn:
        ledger.warn_expiring(conn, lead)
        assert _warnings(conn, idle.partner_id) == [] and _warnings(conn, fixed.partner_id) == []
        assert store_expiry.expiring_points(conn, member, 30, clock.now) == []
    clock.now = utc(2033, 3, 11, 12)
    with engine.begin() as conn:
        ledger.warn_expiring(conn, lead)
        ledger.warn_expiring(conn, lead)  # a re-run warns nobody twice
        [warning] = _warnings(conn, idle.partner_id)
        assert warning["member_id"] == member and warning["points"] == 30
        assert datetime.fromisoformat(warning["expires_at"]) == utc(2033, 4, 10, 12)
        assert _warnings(conn, fixed.partner_id) == []
        assert store_expiry.expiring_points(conn, member, 30, clock.now) == [
            store_expiry.ExpiringPoints(idle.partner_id, 30, utc(2033, 4, 10, 12))]
    clock.now = utc(2033, 3, 21, 12)  # the fixed lot's window opens; the member redeems at the fixed partner
    with engine.begin() as conn:
        ledger.redeem(conn, fixed.partner_id, member, 20, SpendRefs(), None)  # takes the soonest: the idle lot
        ledger.warn_expiring(conn, lead)
        ledger.warn_expiring(conn, lead)
        [fixed_warning] = _warnings(conn, fixed.partner_id)
        assert fixed_warning["points"] == 70 and len(_warnings(conn, idle.partner_id)) == 1
        assert store_expiry.expiring_points(conn, member, 30, clock.now) == [
            store_expiry.ExpiringPoints(fixed.partner_id, 70, utc(2033, 4, 20, 12))]
        assert store_expiry.expiring_points(conn, member, 100, clock.now) == [
            store_expiry.ExpiringPoints(fixed.partner_id, 70, utc(2033, 4, 20, 12)),
            store_expiry.ExpiringPoints(idle.partner_id, 10, utc(2033, 6, 21, 12))]
    clock.now = utc(2033, 5, 22, 12)  # the idle lot's new expiry (21 June) is within 30 days: a second warning
    with engine.begin() as conn:
        ledger.warn_expiring(conn, lead)
        warnings = _warnings(conn, idle.partner_id)
        assert [(w["points"], datetime.fromisoformat(w["expires_at"])) for w in warnings] == [
            (30, utc(2033, 4, 10, 12)), (10, utc(2033, 6, 21, 12))]


def test_expiring_points_refuses_a_negative_window(engine):
    with pytest.raises(DomainError) as caught, engine.connect() as conn:
        store_expiry.expiring_points(conn, uuid.uuid4(), -1, utc(2030, 1, 1))
    assert caught.value.reason == "INVALID_ARGUMENT"
