"""Transferred points settle to their original issuer, and donations settle as redemptions at the charity: earn at A
for member 1, transfer to member 2, member 2 redeems at B and donates to charity C; the cycle over that period makes
A pay B and C exactly, conserves money, and C's signed statement shows the donation. Runs in one transaction that is
rolled back (the clock is moved past every committed cycle)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import text

from network import admin
from network.core.results import EarnItem, SpendRefs
from network.store.contracts import ContractBook
from network.store.ledger import Ledger
from network.store.transfers import donate_points, transfer_points
from settlement import cycles
from settlement.verify import check_cycle_conservation


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_transferred_points_settle_to_their_original_issuer(engine, settings, make_partner, network_signer):
    now = datetime.now(timezone.utc)
    a = make_partner("issuer-a", settlement_model="issuer_pays", clearing_fee_bps=0)
    b = make_partner("redeemer-b", settlement_model="issuer_pays", clearing_fee_bps=200)
    c = make_partner("charity-c", settlement_model="issuer_pays", clearing_fee_bps=0)
    clock = Clock(now + timedelta(days=30, hours=2))
    ledger = Ledger(engine, ContractBook(engine), point_value_minor=Decimal(1), network_currency="EUR",
                    shards=settings.ledger_shards, clock=clock)
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            admin.set_charity(conn, "test", c.partner_id)
            first, _ = ledger.enroll_member(conn, a.partner_id, "m1-" + uuid.uuid4().hex[:8], "")
            second, _ = ledger.enroll_member(conn, b.partner_id, "m2-" + uuid.uuid4().hex[:8], "")
            ledger.earn_batch(conn, [(a.partner_id, EarnItem(uuid.uuid4().hex, first.member_id, None, None, 1000))])
            clock.now += timedelta(minutes=1)
            transfer_points(conn, first.member_id, second.member_id, 600, "to-m2", clock.now, settings=settings)
            clock.now += timedelta(minutes=1)
            ledger.redeem(conn, b.partner_id, second.member_id, 400, SpendRefs(), None)
            donate_points(conn, second.member_id, c.partner_id, 150, "gift", clock.now, settings=settings)

            cycle_id = "cyc-transfer-" + uuid.uuid4().hex[:8]
            cycles.open_cycle(conn, cycle_id, now + timedelta(days=30), now + timedelta(days=31), cycle_id, "EUR")
            cycles.cut_off(conn, cycle_id)
            cycles.clear(conn, cycle_id, Decimal(1))
            netting = cycles.net_cycle(conn, cycle_id)
            ours = {a.partner_id, b.partner_id, c.partner_id}
            lines = sorted((r.cause, r.payer, r.payee, r.points, r.amount_minor) for r in conn.execute(text(
                "SELECT cause, payer, payee, points, amount_minor FROM obligations WHERE cycle_id = :c"),
                {"c": cycle_id}) if r.payer in ours or r.payee in ours)
            assert lines == sorted([("redemption_clearing", a.partner_id, b.partner_id, 400, 400),
                                    ("redemption_clearing", a.partner_id, c.partner_id, 150, 150),
                                    ("redemption_fee", b.partner_id, "network", 400, 8)])
            net = {r.partner_id: r.net_minor for r in conn.execute(text(
                "SELECT partner_id, net_minor FROM net_positions WHERE cycle_id = :c"), {"c": cycle_id})}
            assert (net[a.partner_id], net[b.partner_id], net[c.partner_id]) == (-550, 392, 150)
            assert netting.conserved and netting.residual_minor == 0
            assert check_cycle_conservation(conn).ok

            cycles.issue_statements(conn, cycle_id, clock.now + timedelta(days=5), network_signer)
            statement = conn.execute(text("SELECT lines, net_minor FROM statements WHERE cycle_id = :c AND "
                                          "partner_id = :p"), {"c": cycle_id, "p": c.partner_id}).one()
            assert statement.net_minor == 150
            [line] = statement.lines
            assert (line["cause"], line["counterparty"], line["issuer_id"], line["redeemer_id"], line["points"]) == (
                "redemption_clearing", a.partner_id, a.partner_id, c.partner_id, 150)
        finally:
            transaction.rollback()
