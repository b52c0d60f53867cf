"""Clearing SQL against the real ledger: contract versions effective at each event, a reversal priced as the event it
reverses, breakage on expiry, the clearing matrix and conservation. Runs in one transaction that is rolled back
(the ledger's clock is moved into the future, so the events are dated after every committed cycle)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import text

from network import admin
from network.store.contracts import ContractBook
from network.core.results import EarnItem, SpendRefs
from network.store.ledger import Ledger
from settlement import cycles
from settlement.domain.obligations import MissingContract


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_clearing_prices_each_event_under_the_contract_in_force(engine, settings, make_partner):
    now = datetime.now(timezone.utc)
    p = make_partner("p", settlement_model="issuer_pays", clearing_fee_bps=100, breakage_share_bps=5000, expiry_days=1)
    q = make_partner("q", settlement_model="issuer_pays", clearing_fee_bps=0)
    with engine.begin() as conn:
        admin.set_contract(conn, "test", q.partner_id, admin.ContractDraft(settlement_model="issuer_pays",
                                                                           clearing_fee_bps=300),
                           effective_from=now + timedelta(days=1))
    clock = Clock(now + timedelta(hours=2))
    ledger = Ledger(engine, ContractBook(engine), point_value_minor=Decimal(1), network_currency="EUR",
                    shards=settings.ledger_shards, clock=clock)
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            member, _ = ledger.enroll_member(conn, p.partner_id, "m-" + uuid.uuid4().hex[:8], "")
            ledger.earn_batch(conn, [(p.partner_id, EarnItem(uuid.uuid4().hex, member.member_id, None, None, 1000))])
            first = ledger.redeem(conn, q.partner_id, member.member_id, 300, SpendRefs(), None)  # q's fee: 0 bps
            clock.now = now + timedelta(days=1, hours=1)
            ledger.redeem(conn, q.partner_id, member.member_id, 200, SpendRefs(), None)  # q's v2: 300 bps -> 6
            ledger.reverse(conn, q.partner_id, first.transaction_id, 100, "return", None)  # priced as v1: fee 0
            clock.now = now + timedelta(days=3)
            assert ledger.expire_lots(conn) >= 1  # 600 points of p expire: breakage share 50% -> 300

            cycle_id = "cyc-test-" + uuid.uuid4().hex[:8]
            cycles.open_cycle(conn, cycle_id, now + timedelta(hours=1), now + timedelta(days=4), cycle_id, "EUR")
            cycles.cut_off(conn, cycle_id)
            summary = cycles.clear(conn, cycle_id, Decimal(1))
            assert cycles.clear(conn, cycle_id, Decimal(1)) == summary  # clearing twice changes nothing
            netting = cycles.net_cycle(conn, cycle_id)
            ours = {p.partner_id, q.partner_id}
            lines = {(r.cause, r.payer, r.payee, r.redeemer_contract_id): (r.points, r.amount_minor)
                     for r in conn.execute(text("SELECT cause, payer, payee, redeemer_contract_id, points, amount_minor "
                                                "FROM obligations WHERE cycle_id = :c"), {"c": cycle_id})
                     if r.payer in ours or r.payee in ours}
            q_v1, q_v2 = sorted({key[3] for key in lines if key[3] is not None})
            assert lines == {
                ("redemption_clearing", p.partner_id, q.partner_id, q_v1): (300, 300),
                ("redemption_clearing", p.partner_id, q.partner_id, q_v2): (200, 200),
                ("redemption_fee", q.partner_id, "network", q_v2): (200, 6),
                ("redemption_clearing_reversal", p.partner_id, q.partner_id, q_v1): (-100, -100),
                ("breakage_share", p.partner_id, "network", None): (600, 300),
            }
            matrix = conn.execute(text("SELECT points, amount_minor FROM clearing_matrix WHERE cycle_id = :c AND "
                                       "issuer_id = :p AND redeemer_id = :q"),
                                  {"c": cycle_id, "p": p.partner_id, "q": q.partner_id}).one()
            assert tuple(matrix) == (400, 400)
            net = {r.partner_id: r.net_minor for r in conn.execute(text(
                "SELECT partner_id, net_minor FROM net_positions WHERE cycle_id = :c"), {"c": cycle_id})}
            assert (net[p.partner_id], net[q.partner_id]) == (-700, 394)
            assert netting.conserved and netting.residual_minor == 0
        finally:
            transaction.rollback()


def test_clearing_refuses_events_no_contract_version_prices(engine, settings, make_partner):
    now = datetime.now(timezone.utc)
    p = make_partner("p", settlement_model="issuer_pays")
    q = make_partner("q", settlement_model="issuer_pays")
    clock = Clock(now + timedelta(days=10, hours=2))
    ledger = Ledger(engine, ContractBook(engine), point_value_minor=Decimal(1), network_currency="EUR",
                    shards=settings.ledger_shards, clock=clock)
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            member, _ = ledger.enroll_member(conn, p.partner_id, "m-" + uuid.uuid4().hex[:8], "")
            ledger.earn_batch(conn, [(p.partner_id, EarnItem(uuid.uuid4().hex, member.member_id, None, None, 1000))])
            ledger.redeem(conn, q.partner_id, member.member_id, 300, SpendRefs(), None)
            ledger.redeem(conn, q.partner_id, member.member_id, 200, SpendRefs(), None)
            conn.execute(text("UPDATE contracts SET effective_from = :t WHERE partner_id = :q"),  # q's only version
                         {"t": now + timedelta(days=20), "q": q.partner_id})                     # starts later
            cycle_id = "cyc-test-" + uuid.uuid4().hex[:8]
            cycles.open_cycle(conn, cycle_id, now + timedelta(days=10), now + timedelta(days=11), cycle_id, "EUR")
            cycles.cut_off(conn, cycle_id)
            message = (f"500 redemption points of issuer {p.partner_id} (redeemer {q.partner_id}) "
                       "have no contract in force")
            with pytest.raises(MissingContract, match=f"^{re.escape(message)}$"):
                cycles.clear(conn, cycle_id, Decimal(1))
        finally:
            transaction.rollback()
