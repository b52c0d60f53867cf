"""The cut-off goes by commit order, so each ledger transaction settles in exactly one cycle
whatever its commit delay; `coalition ledger verify` finds a transaction dated inside a cleared period that its
cycle does not hold."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import Engine, text
from uuid_utils.compat import uuid7

from network.core import ledger as rules
from network.core.results import SpendRefs
from network.store.contracts import ContractBook
from network.store.journal import PendingTransaction, write_transactions
from network.store.ledger import Ledger
from settlement import cycles
from settlement.verify import check_cycles_complete
from settlement_helpers import earn, enroll, period_start, wait_for


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _after(moment: datetime) -> None:
    while datetime.now(timezone.utc) <= moment:
        time.sleep(0.05)


def _clocked_ledger(engine: Engine, settings, now: datetime) -> tuple[Ledger, Clock]:
    clock = Clock(now)
    return Ledger(engine, ContractBook(engine), point_value_minor=Decimal(1), network_currency="EUR",
                  shards=settings.ledger_shards, clock=clock), clock


def _settle(engine: Engine, start: datetime, end: datetime) -> str:
    cycle_id = cycles.cycle_id_for(start)
    with engine.begin() as conn:
        cycles.open_cycle(conn, cycle_id, start, end, cycle_id, "EUR")
        cycles.cut_off(conn, cycle_id)
    with engine.begin() as conn:
        cycles.clear(conn, cycle_id, Decimal(1))
    return cycle_id


def _cleared_points(engine: Engine, cycle_id: str, issuer: str, redeemer: str) -> int | None:
    with engine.connect() as conn:
        return conn.execute(text("SELECT points FROM clearing_matrix WHERE cycle_id = :c AND issuer_id = :i "
                                 "AND redeemer_id = :r"), {"c": cycle_id, "i": issuer, "r": redeemer}).scalar()


def _waiting(engine: Engine, sql: str) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(text(sql)).scalar())


REDEMPTION_WAITS_ON_ROW_LOCK = ("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                "AND query LIKE 'SELECT shard FROM members WHERE member_id%FOR UPDATE'")
CUT_OFF_WAITS = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"


def test_a_redemption_held_up_by_a_row_lock_across_the_cut_off_settles_exactly_once(engine, make_partner, settings,
                                                                                     verified_ledger):
    issuer, shop = make_partner("cut-i"), make_partner("cut-r")
    start = period_start(engine)
    end = start + timedelta(seconds=1)
    ledger, clock = _clocked_ledger(engine, settings, start)
    member = enroll(engine, ledger, issuer.partner_id)
    earn(engine, ledger, issuer.partner_id, member, 100)
    _after(end)  # the period is over: its cycle may be cut off
    clock.now = end - timedelta(milliseconds=1)  # the redemption's ledger time: inside the period

    outcome: dict[str, object] = {}
    locker = engine.connect()
    held = locker.begin()
    locker.execute(text("SELECT 1 FROM members WHERE member_id = :m FOR UPDATE"), {"m": member})

    def redemption() -> None:
        try:
            with engine.begin() as conn:
                outcome["redeemed"] = ledger.redeem(conn, shop.partner_id, member, 10, SpendRefs(), uuid.uuid4().hex)
        except Exception as exc:  # reported below
            outcome["redeem_error"] = exc

    def settlement() -> None:
        try:
            outcome["cycle"] = _settle(engine, start, end)
        except Exception as exc:  # reported below
            outcome["settle_error"] = exc

    redeeming = threading.Thread(target=redemption)
    redeeming.start()
    try:
        wait_for(lambda: _waiting(engine, REDEMPTION_WAITS_ON_ROW_LOCK), timeout=30, what="the redemption to wait")
        settling = threading.Thread(target=settlement)
        settling.start()
        # the cut-off waits for the redemption in flight (before the fix it went on and cleared without it)
        wait_for(lambda: not settling.is_alive() or _waiting(engine, CUT_OFF_WAITS), timeout=30,
                 what="the cut-off to finish or wait")
    finally:
        held.rollback()
        locker.close()
    redeeming.join(60)
    settling.join(60)
    assert "redeem_error" not in outcome and "settle_error" not in outcome, outcome
    redeemed, cycle_id = outcome["redeemed"], outcome["cycle"]
    with engine.connect() as conn:
        dated = conn.execute(text("SELECT created_at FROM journal WHERE tx_id = :t"),
                             {"t": redeemed.transaction_id}).scalar_one()
    assert start <= dated < end  # dated inside the period, committed after the cut-off began
    assert _cleared_points(engine, cycle_id, issuer.partner_id, shop.partner_id) == 10

    _after(end + timedelta(seconds=1))
    following = _settle(engine, end, end + timedelta(seconds=1))  # the next period does not clear it again
    assert _cleared_points(engine, following, issuer.partner_id, shop.partner_id) is None
    with engine.connect() as conn:
        assert check_cycles_complete(conn).ok


def test_a_transaction_starting_after_the_cut_off_is_dated_at_its_end(engine, make_partner, settings, verified_ledger):
    shop = make_partner("cut-late")
    start = period_start(engine)
    end = start + timedelta(seconds=1)
    ledger, clock = _clocked_ledger(engine, settings, start)
    member = enroll(engine, ledger, shop.partner_id)
    _after(end)
    _settle(engine, start, end)
    clock.now = end - timedelta(milliseconds=1)  # a clock that lags the cut-off
    transaction_id = earn(engine, ledger, shop.partner_id, member, 5)
    with engine.connect() as conn:
        dated = conn.execute(text("SELECT created_at FROM journal WHERE tx_id = :t"), {"t": transaction_id}).scalar_one()
    assert dated >= end


def test_verify_finds_a_transaction_dated_in_a_cleared_period_missing_from_its_cycle(engine, make_partner, settings,
                                                                                      verified_ledger):
    shop = make_partner("cut-verify")
    start = period_start(engine)
    end = start + timedelta(seconds=1)
    ledger, _ = _clocked_ledger(engine, settings, start)
    member = enroll(engine, ledger, shop.partner_id)
    earned = earn(engine, ledger, shop.partner_id, member, 40)
    _after(end)
    cycle_id = _settle(engine, start, end)
    with engine.connect() as conn, conn.begin() as transaction:
        try:
            assert check_cycles_complete(conn).ok
            shard, lot_id = conn.execute(text("SELECT m.shard, l.lot_id::text FROM members m JOIN lots l USING "
                                              "(member_id) WHERE l.earn_tx_id = :t"), {"t": earned}).one()
            # a transaction dated inside the cleared period, written past the ledger-time lock
            write_transactions(conn, [PendingTransaction(
                uuid7(), "adjust", shop.partner_id, member, shard, 0,
                rules.earn_postings(member, shop.partner_id, lot_id, 0), end - timedelta(milliseconds=1))])
            check = check_cycles_complete(conn)
        finally:
            transaction.rollback()
    assert not check.ok
    [example] = [e for e in check.examples if cycle_id in e]
    assert "cleared 1 transactions" in example and "the journal now holds 2" in example
