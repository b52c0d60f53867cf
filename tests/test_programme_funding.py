"""Funding that settles: every bonus point is a lot whose issuer is its funder (the partner, the network as an issuer,
or each co-funder by share), and the settlement that exists charges the funder when the points are redeemed.

One cycle with campaigns of every funding kind: earns with bonuses, a redemption elsewhere, the reversal of a
bonused earn (its bonuses follow in proportion); conservation to the minor unit. Runs in one transaction that is
rolled back (the ledger's clock is moved into the future, so the events are dated after every committed cycle)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import text

from network.core.campaigns import NETWORK_ISSUER, Campaign, Conditions, Effects, Funder, Tier
from network.core.results import EarnItem, SpendRefs
from network.store.campaigns import Programme, ensure_network_issuer
from network.store.contracts import ContractBook
from network.store.ledger import Ledger
from settlement import cycles


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class FixedProgramme:
    """A ProgrammeBook stand-in holding campaigns that need no database row (no budget, no cap)."""

    def __init__(self, programme: Programme):
        self.programme = programme

    def current(self) -> Programme:
        return self.programme


def test_bonuses_of_every_funding_kind_settle_and_conserve_money(engine, settings, make_partner):
    now = datetime.now(timezone.utc)
    p = make_partner("fp", settlement_model="issuer_pays", clearing_fee_bps=100)
    q = make_partner("fq", settlement_model="issuer_pays")
    r = make_partner("fr", settlement_model="prefunded", issue_price_minor_per_point=Decimal("0.8"),
                     redemption_rate_minor_per_point=Decimal("0.9"))
    at_p = Conditions(partners=(p.partner_id,))
    programme = Programme((
        Campaign("own-double", "p doubles", (Funder(p.partner_id, 10_000),), at_p, Effects(multiplier_bps=10_000)),
        Campaign("network-50", "network gift", (Funder(NETWORK_ISSUER, 10_000),), at_p, Effects(fixed_points=50)),
        Campaign("co-100", "co-funded", (Funder(p.partner_id, 3_333), Funder(r.partner_id, 6_667)), at_p,
                 Effects(fixed_points=100)),
    ))
    clock = Clock(now + timedelta(days=30, hours=2))
    ledger = Ledger(engine, ContractBook(engine), point_value_minor=Decimal(1), network_currency="EUR",
                    shards=settings.ledger_shards, clock=clock, programme=FixedProgramme(programme))
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            ensure_network_issuer(conn, "EUR")
            member, _ = ledger.enroll_member(conn, p.partner_id, "m-" + uuid.uuid4().hex[:8], "")
            [first] = ledger.earn_batch(conn, [(p.partner_id, EarnItem(uuid.uuid4().hex, member.member_id, 100_000,
                                                                       "EUR", None))])
            # base 1000 (p) + 100 split 3333/6667: 33.33 -> 33 (p), 66.67 -> 67 (r) + 50 (network) + double 1000 (p),
            # campaigns of equal priority in campaign id order
            assert [(c.kind, c.funder, c.points, c.campaign_id) for c in first.components] == [
                ("base", p.partner_id, 1000, ""), ("campaign", p.partner_id, 33, "co-100"),
                ("campaign", r.partner_id, 67, "co-100"), ("campaign", NETWORK_ISSUER, 50, "network-50"),
                ("campaign", p.partner_id, 1000, "own-double")]
            assert first.points == 1000 and first.total_points == 2150
            [second] = ledger.earn_batch(conn, [(p.partner_id, EarnItem(uuid.uuid4().hex, member.member_id, 40_000,
                                                                        "EUR", None))])
            assert [(c.funder, c.points) for c in second.components] == [
                (p.partner_id, 400), (p.partner_id, 33), (r.partner_id, 67), (NETWORK_ISSUER, 50), (p.partner_id, 400)]
            lots = {row.issuer_id: row.points for row in conn.execute(text(
                "SELECT issuer_id, sum(points) AS points FROM lots WHERE member_id = :m GROUP BY issuer_id"),
                {"m": member.member_id})}
            assert lots == {p.partner_id: 1000 + 1033 + 400 + 433, NETWORK_ISSUER: 100, r.partner_id: 134}
            # q redeems the first earn's lots in lot order (base, p's bonus 1033, r's 67) and 40 of the network's 50
            redeemed = ledger.redeem(conn, q.partner_id, member.member_id, 2140, SpendRefs(), None)
            spent = {row.issuer_id: int(row.points) for row in conn.execute(text(
                "SELECT l.issuer_id, sum(p.points) AS points FROM postings p JOIN lots l USING (lot_id) "
                "WHERE p.tx_id = :t AND p.account = 'redeemer' GROUP BY l.issuer_id"),
                {"t": redeemed.transaction_id})}
            assert spent == {p.partner_id: 2033, NETWORK_ISSUER: 40, r.partner_id: 67}
            # half of the second earn is returned: its bonuses follow in proportion (433 -> 216, 50 -> 25, 67 -> 33)
            reversal = ledger.reverse(conn, p.partner_id, second.transaction_id, 200, "return", None)
            assert reversal.points == 200
            taken = {row.owner: int(row.points) for row in conn.execute(text(
                "SELECT owner, sum(points) AS points FROM postings WHERE tx_id = :t AND account = 'issuer' "
                "GROUP BY owner"), {"t": reversal.transaction_id})}
            assert taken == {p.partner_id: 200 + 216, NETWORK_ISSUER: 25, r.partner_id: 33}
            # the rest of it: every bonus lot of the earn goes back in full and is marked reversed
            ledger.reverse(conn, p.partner_id, second.transaction_id, 0, "return", None)
            states = {row.state for row in conn.execute(text(
                "SELECT l.state FROM lots l JOIN journal j ON j.tx_id = l.earn_tx_id "
                "WHERE j.tx_id = :t OR j.related_id = :t"), {"t": second.transaction_id})}
            assert states == {"reversed"}
            cycle_id = "cyc-fund-" + uuid.uuid4().hex[:8]
            cycles.open_cycle(conn, cycle_id, now + timedelta(days=30), now + timedelta(days=31), cycle_id, "EUR")
            cycles.cut_off(conn, cycle_id)
            cycles.clear(conn, cycle_id, Decimal(1))
            netting = cycles.net_cycle(conn, cycle_id)
            assert netting.conserved and netting.residual_minor == 0
            lines = {(row.cause, row.payer, row.payee): (int(row.points), int(row.amount_minor)) for row in conn.execute(
                text("SELECT cause, payer, payee, sum(points) AS points, sum(amount_minor) AS amount_minor "
                     "FROM obligations WHERE cycle_id = :c AND (payer = ANY(:ours) OR payee = ANY(:ours)) "
                     "GROUP BY cause, payer, payee"),
                {"c": cycle_id, "ours": [p.partner_id, q.partner_id, r.partner_id]})}
            assert lines == {
                ("redemption_clearing", p.partner_id, q.partner_id): (2033, 2033),
                # the network as an issuer pays for its bonus points like any issuer_pays partner
                ("redemption_clearing", NETWORK_ISSUER, q.partner_id): (40, 40),
                # the prefunded co-funder paid for its points at issue (0.80 each), the network reimburses q (at the point value: q sets no redemption rate)
                ("prefund_issue", r.partner_id, NETWORK_ISSUER): (134, 107),
                ("prefund_issue_reversal", r.partner_id, NETWORK_ISSUER): (-67, -54),
                ("prefund_reimburse", NETWORK_ISSUER, q.partner_id): (67, 67),
            }
            net = {row.partner_id: row.net_minor for row in conn.execute(text(
                "SELECT partner_id, net_minor FROM net_positions WHERE cycle_id = :c"), {"c": cycle_id})}
            assert (net[p.partner_id], net[q.partner_id], net[r.partner_id]) == (-2033, 2033 + 40 + 67, -(107 - 54))
            assert NETWORK_ISSUER not in net  # the network's own issue is paid out of its revenue
        finally:
            transaction.rollback()


def test_the_tier_multiplier_is_a_network_funded_lot_and_the_crossing_earn_is_priced_at_the_tier_held(
        engine, settings, make_partner):
    shop = make_partner("ft", earn_points_per_major=1)
    ladder = (Tier("Member", 0, 0), Tier("Silver", 1, 1_000, 15_000))
    ledger = Ledger(engine, ContractBook(engine), point_value_minor=Decimal(1), network_currency="EUR",
                    shards=settings.ledger_shards, clock=Clock(datetime.now(timezone.utc)),
                    programme=FixedProgramme(Programme((), ladder)))
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            ensure_network_issuer(conn, "EUR")
            member, _ = ledger.enroll_member(conn, shop.partner_id, "m-" + uuid.uuid4().hex[:8], "")

            def earn(amount_minor: int):
                [result] = ledger.earn_batch(conn, [(shop.partner_id, EarnItem(uuid.uuid4().hex, member.member_id,
                                                                               amount_minor, "EUR", None))])
                return result
            crossing = earn(100_000)  # 1000 points: reaches Silver, priced as Member (x1)
            assert (crossing.tier, crossing.total_points) == ("Silver", 1000)
            silver = earn(10_100)  # 101 points x 1.5: floor(50.5) = 50 more, funded by the network
            assert [(c.kind, c.funder, c.points) for c in silver.components] == [
                ("base", shop.partner_id, 101), ("tier", NETWORK_ISSUER, 50)]
            issuer = conn.execute(text("SELECT l.issuer_id FROM lots l JOIN journal j ON j.tx_id = l.earn_tx_id "
                                       "WHERE j.related_id = :t"), {"t": silver.transaction_id}).scalar_one()
            assert issuer == NETWORK_ISSUER
        finally:
            transaction.rollback()
