"""Self-service over signed gRPC: GetTrafficReport (NetworkService) and GetPartnerPosition (SettlementService, on the
same listener), each for the caller only. The figures are checked against the ledger: a partner's report holds its
own transactions only; the open cycle's accrued obligations equal what the next cycle then clears for the partner."""

from __future__ import annotations

import time
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Iterator

import pytest
from sqlalchemy import text

from network import admin
from network.core.results import EarnItem, SpendRefs
from network.server import start_server
from network.store.contracts import ContractBook
from network.store.ledger import Ledger
from network.store.traffic import traffic
from partners.client import PartnerClient
from partners.errors import InvalidArgument
from settlement import cycles, store
from settlement.domain.statements import statement_lines
from settlement.grpc_service import registration
from settlement.position import LEDGER_START, accrued_obligations


@pytest.fixture(scope="module")
def self_service_target(engine, settings, network_signer) -> Iterator[str]:
    running = start_server(engine, settings, address="127.0.0.1:0", signer=network_signer,
                           extra_services=[registration(engine, settings)])
    yield f"127.0.0.1:{running.port}"
    running.stop(0)


def _client(partner, target: str) -> PartnerClient:
    return PartnerClient(target, partner.key_id, partner.private_key)


def _after_the_last_cycle(engine) -> None:
    """Wait until now is past every cycle's period_end (settlement tests end cycles a moment in the future)."""
    with engine.connect() as conn:
        last = conn.execute(text("SELECT max(period_end) FROM cycles")).scalar_one()
    if last is not None:
        wait = (last - datetime.now(timezone.utc)).total_seconds()
        if wait > 0:
            time.sleep(wait + 0.01)


def _journal_days(engine, partner_id: str) -> list[date]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text(
            "SELECT DISTINCT (created_at AT TIME ZONE 'UTC')::date FROM journal WHERE partner_id = :p ORDER BY 1"),
            {"p": partner_id})]


def test_traffic_report_holds_the_caller_s_own_traffic_per_day_and_store(engine, make_partner, self_service_target,
                                                                        verified_ledger):
    p, q = make_partner("tr"), make_partner("tr")
    with _client(p, self_service_target) as pc, _client(q, self_service_target) as qc:
        member = pc.enroll_member(customer_ref="c-1").member.member_id
        qc.enroll_member(card_number=pc.find_member(member_id=member).member.card_number)
        pc.earn(member, amount_minor=1250, store_id="s1")           # 12 points at 1 point per major unit
        returned = pc.earn(member, points=500, store_id="s1")       # spent after the 12 (oldest lot first)
        pc.earn(member, points=40, store_id="s2")
        qc.earn(member, points=900, store_id="s1")                  # q's traffic: never in p's report
        pc.redeem(member, 100, basket_minor=5000, store_id="s2")
        hold = pc.authorize_redemption(member, 30, store_id="s1", basket_minor=800)
        pc.capture_redemption(hold.hold_id, 20)                     # reported under the hold's store s1
        pc.reverse(returned.transaction_id, 2)
        qc.redeem(member, 50, store_id="s2")
        [day] = _journal_days(engine, p.partner_id)
        rows = list(pc.traffic_report(day.isoformat(), day.isoformat()))
        q_rows = list(qc.traffic_report(day.isoformat(), day.isoformat()))
        empty = list(pc.traffic_report((day - timedelta(days=1)).isoformat(), (day - timedelta(days=1)).isoformat()))
        pages = list(pc.traffic_report_pages(day.isoformat(), day.isoformat(), page_size=1))

    got = {(r.date, r.store_id): (r.earn_count, r.earned_points, r.purchase_amount_minor, r.redemption_count,
                                  r.redeemed_points, r.redeemed_value_minor, r.basket_amount_minor, r.reversal_count,
                                  r.reversed_points) for r in rows}
    today = day.isoformat()
    assert got == {
        (today, ""): (0, 0, 0, 0, 0, 0, 0, 1, 2),            # the reversal names no store
        (today, "s1"): (2, 512, 1250, 1, 20, 20, 800, 0, 0),
        (today, "s2"): (1, 40, 0, 1, 100, 100, 5000, 0, 0),
    }
    assert {(r.store_id, r.earn_count, r.earned_points, r.redemption_count, r.redeemed_points) for r in q_rows} == {
        ("s1", 1, 900, 0, 0), ("s2", 0, 0, 1, 50)}
    assert empty == []
    assert [[(r.date, r.store_id) for r in page.rows] for page in pages] == [[(today, "")], [(today, "s1")],
                                                                              [(today, "s2")]]
    # the report's totals are the ledger's: the partner's earn rows and its redeemer postings
    with engine.connect() as conn:
        earned = conn.execute(text("SELECT sum(points) FROM journal WHERE partner_id = :p AND kind = 'earn'"),
                              {"p": p.partner_id}).scalar_one()
        redeemed = conn.execute(text("SELECT sum(points) FROM postings WHERE account = 'redeemer' AND owner = :p"),
                                {"p": p.partner_id}).scalar_one()
    assert sum(r.earned_points for r in rows) == earned
    assert sum(r.redeemed_points for r in rows) == redeemed


def test_traffic_report_refuses_a_range_it_does_not_serve(make_partner, self_service_target):
    p = make_partner("tr")
    with _client(p, self_service_target) as client:
        assert list(client.traffic_report("2026-01-01", "2026-04-02")) == []  # 92 days: served
        for start, end, field in (("2026-01-01", "2026-04-03", "end_date"),     # 93 days
                                  ("2026-01-02", "2026-01-01", "end_date"),
                                  ("2026-1-01", "2026-01-02", "start_date"),
                                  ("2026-02-30", "2026-03-02", "start_date"),
                                  ("2026-01-01", "", "end_date")):
            with pytest.raises(InvalidArgument) as refused:
                list(client.traffic_report(start, end))
            assert [f for f, _ in refused.value.field_violations] == [field]


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_traffic_report_splits_days_at_utc_midnight(engine, settings, make_partner):
    p = make_partner("tr")
    midnight = datetime.combine(date.today() + timedelta(days=400), datetime.min.time(), timezone.utc)
    clock = Clock(midnight - timedelta(microseconds=1))
    ledger = Ledger(engine, ContractBook(engine), point_value_minor=Decimal(1), network_currency="EUR",
                    shards=settings.ledger_shards, clock=clock)
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            member, _ = ledger.enroll_member(conn, p.partner_id, "m-" + uuid.uuid4().hex[:8], "")
            ledger.earn_batch(conn, [(p.partner_id, EarnItem(uuid.uuid4().hex, member.member_id, None, None, 7,
                                                             store_id="s"))])
            clock.now = midnight
            ledger.earn_batch(conn, [(p.partner_id, EarnItem(uuid.uuid4().hex, member.member_id, None, None, 11,
                                                             store_id="s"))])
            ledger.redeem(conn, p.partner_id, member.member_id, 3, SpendRefs(store_id="s"), None)
            rows = traffic(conn, p.partner_id, midnight - timedelta(days=1), midnight + timedelta(days=1), 10)
            assert [(r.day, r.earned_points, r.redeemed_points) for r in rows] == [
                ((midnight - timedelta(days=1)).date(), 7, 0), (midnight.date(), 11, 3)]
            assert traffic(conn, p.partner_id, midnight, midnight + timedelta(days=1), 10)[0].earned_points == 11
        finally:
            transaction.rollback()


def test_position_shows_the_caller_s_liability_exposure_terms_and_accrued_obligations(
        engine, settings, make_partner, self_service_target, verified_ledger):
    p = make_partner("pos", settlement_model="issuer_pays", clearing_fee_bps=100, credit_limit_minor=10_000,
                     collateral_minor=2_000)
    q = make_partner("pos", settlement_model="issuer_pays", clearing_fee_bps=250)
    upcoming_from = datetime.now(timezone.utc) + timedelta(days=3)
    with engine.begin() as conn:
        admin.set_contract(conn, "test", p.partner_id, admin.ContractDraft(
            settlement_model="issuer_pays", clearing_fee_bps=150, credit_limit_minor=20_000, collateral_minor=2_000),
            effective_from=upcoming_from)
    _after_the_last_cycle(engine)
    with _client(p, self_service_target) as pc, _client(q, self_service_target) as qc:
        member = pc.enroll_member(customer_ref="c-1").member.member_id
        qc.enroll_member(card_number=pc.find_member(member_id=member).member.card_number)
        pc.earn(member, points=1_000)
        qc.redeem(member, 300)              # p's points redeemed at q: p pays q 300, q pays the network 7.5 -> 8
        pc.redeem(member, 200)              # p's own points at p: fee 2
        qc.earn(member, points=400)
        position = pc.get_partner_position()
        q_position = qc.get_partner_position()

    assert position.partner_id == p.partner_id and position.currency == settings.network_currency
    assert (position.outstanding_points, position.liability_minor, position.collateral_minor,
            position.exposure_minor) == (500, 500, 2_000, -1_500)
    assert (position.credit_limit_minor, position.credit_headroom_minor) == (10_000, 11_500)
    assert not q_position.HasField("credit_limit_minor") and not q_position.HasField("credit_headroom_minor")
    assert (q_position.outstanding_points, q_position.liability_minor) == (400, 400)
    assert (position.terms_in_force.version, position.terms_in_force.clearing_fee_bps) == (1, 100)
    assert [(t.version, t.clearing_fee_bps, t.credit_limit_minor) for t in position.upcoming_terms] == [(2, 150, 20_000)]
    assert position.upcoming_terms[0].effective_from.ToDatetime(timezone.utc) == upcoming_from.replace(
        microsecond=upcoming_from.microsecond)

    def lines(response):
        return sorted((ln.cause, ln.counterparty, ln.issuer_id, ln.redeemer_id, ln.points, ln.amount_minor)
                      for ln in response.accrued.lines)
    assert lines(position) == [("redemption_clearing", q.partner_id, p.partner_id, q.partner_id, 300, -300),
                               ("redemption_fee", "network", p.partner_id, p.partner_id, 200, -2)]
    assert lines(q_position) == [("redemption_clearing", p.partner_id, p.partner_id, q.partner_id, 300, 300),
                                 ("redemption_fee", "network", p.partner_id, q.partner_id, 300, -8)]
    assert (position.accrued.receivable_minor, position.accrued.payable_minor, position.accrued.net_minor) == (
        0, -302, -302)
    assert (q_position.accrued.net_minor) == 292

    # the next cycle, over the open period up to the position's instant, clears exactly those lines for p and q
    start = position.accrued.period_start.ToDatetime(timezone.utc) if position.accrued.HasField("period_start") \
        else LEDGER_START
    end = max(position.accrued.period_end.ToDatetime(timezone.utc), q_position.accrued.period_end.ToDatetime(
        timezone.utc))
    assert q_position.accrued.period_start == position.accrued.period_start
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            cycle_id = "cyc-position-" + uuid.uuid4().hex[:8]
            cycles.open_cycle(conn, cycle_id, start, end, cycle_id, settings.network_currency)
            cycles.cut_off(conn, cycle_id)
            cycles.clear(conn, cycle_id, settings.point_value_minor)
            cleared = list(store.clearing.load_obligations(conn, cycle_id))
        finally:
            transaction.rollback()
    for partner, response in ((p, position), (q, q_position)):
        assert sorted((ln.cause, ln.counterparty, ln.issuer_id, ln.redeemer_id, ln.points, ln.amount_minor)
                      for ln in statement_lines(partner.partner_id, cleared)) == lines(response)


def test_accrued_obligations_start_exactly_at_the_last_cycle_s_end(engine, settings, make_partner):
    """Events before the last cycle's period_end were cleared by it; one at period_end is the open cycle's."""
    p = make_partner("pos", settlement_model="issuer_pays", clearing_fee_bps=0)
    q = make_partner("pos", settlement_model="issuer_pays", clearing_fee_bps=0)
    base = datetime.now(timezone.utc) + timedelta(days=400)
    clock = Clock(base)
    ledger = Ledger(engine, ContractBook(engine), point_value_minor=Decimal(1), network_currency="EUR",
                    shards=settings.ledger_shards, clock=clock)
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            member, _ = ledger.enroll_member(conn, p.partner_id, "m-" + uuid.uuid4().hex[:8], "")
            ledger.earn_batch(conn, [(p.partner_id, EarnItem(uuid.uuid4().hex, member.member_id, None, None, 100))])
            cycle_end = base + timedelta(hours=2)
            clock.now = cycle_end - timedelta(microseconds=1)
            ledger.redeem(conn, q.partner_id, member.member_id, 7, SpendRefs(), None)     # the closed cycle's
            start = store.cycles.last_period_end(conn) or LEDGER_START
            cycle_id = "cyc-accrued-" + uuid.uuid4().hex[:8]
            cycles.open_cycle(conn, cycle_id, start, cycle_end, cycle_id, "EUR")
            clock.now = cycle_end
            ledger.redeem(conn, q.partner_id, member.member_id, 11, SpendRefs(), None)    # the open cycle's
            accrued = accrued_obligations(conn, p.partner_id, cycle_end + timedelta(hours=1), Decimal(1), "EUR")
            assert accrued.period_start == cycle_end
            assert [(ln.cause, ln.counterparty, ln.points, ln.amount_minor) for ln in accrued.lines] == [
                ("redemption_clearing", q.partner_id, 11, -11)]
            assert accrued.totals.net_minor == -11
            # up to an instant before the open cycle's first event: nothing accrued yet
            assert accrued_obligations(conn, p.partner_id, cycle_end, Decimal(1), "EUR").lines == ()
        finally:
            transaction.rollback()
