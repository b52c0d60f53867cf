"""Lifecycle bonuses as campaign kinds (network.core.campaigns.KINDS): sign-up (a member's first enrolment in the
network, awarded in the enrolment's transaction), referral (referrer and referee, once the referee has made a
first purchase) and anniversary (each year on the UTC day the member joined; a member who joined on 29 February is
rewarded on 28 February in a common year): the last two by the `award_lifecycle_bonuses` housekeeping task, every
minute.

Each award is once per campaign, member and occasion whatever the retries or restarts: the lifecycle_awards row
(primary key campaign, member, occasion) is inserted first, ON CONFLICT DO NOTHING, and only the transaction that
inserted it writes the bonus. A bonus is an earn transaction and lot per funder (its issuer), like an earn's
bonuses; a campaign's budget is claimed as on the earn path (network.store.campaigns.Claims).
"""

from __future__ import annotations

import calendar
import uuid
from datetime import date, datetime, timedelta, timezone
from typing import Callable, Sequence

import uuid_utils
from sqlalchemy import Connection, text

from network import errors
from network.core import campaigns as core
from network.core import ledger, rules
from network.core.campaigns import Campaign, Component
from network.store import pgarray
from network.store.campaigns import Claims, claim_writes
from network.store.earn_plan import INSERT_COMPONENTS, INSERT_LOTS, ComponentRow, LotRow
from network.store.journal import PendingTransaction

SIGNUP, REFEREE, REFERRER, ANNIVERSARY = "signup", "referee", "referrer", "anniversary"


def _execute(conn: Connection) -> Callable[[str, dict], list]:
    def execute(sql: str, params: dict) -> list:
        result = conn.exec_driver_sql(sql, params)
        return list(result) if result.returns_rows else []
    return execute


def award(conn: Connection, contracts, write: Callable[[Connection, Sequence[PendingTransaction]], None],
          campaign: Campaign, member_id: str, shard: int, occasion: str, now: datetime) -> list[Component]:
    """Give `campaign`'s fixed points to the member once for `occasion` (nothing when given before, or when its
    budget is spent); the lines given. `write` chains the transactions (Ledger._write)."""
    tx_id = str(uuid_utils.uuid7())
    claimed = conn.execute(text(
        "INSERT INTO lifecycle_awards (campaign_id, member_id, occasion, tx_id, created_at) VALUES (:c, :m, :o, :t, :n) "
        "ON CONFLICT DO NOTHING RETURNING tx_id"),
        {"c": campaign.campaign_id, "m": member_id, "o": occasion, "t": tx_id, "n": now}).first()
    if claimed is None:
        return []
    points = campaign.effects.fixed_points
    writes = []
    if campaign.claims:
        claims = Claims(_execute(conn))
        request = core.ClaimRequest(campaign.campaign_id, member_id, core.period_of(campaign, now), points,
                                    campaign.budget_points is not None, campaign.effects.cap_points)
        grants = core.grant_claims([request], claims.read([request]))
        points = grants[0].points
        writes = claim_writes(grants)
    if points <= 0:  # the budget is spent: no award, and the occasion may be rewarded by another campaign
        conn.execute(text("DELETE FROM lifecycle_awards WHERE campaign_id = :c AND member_id = :m AND occasion = :o"),
                     {"c": campaign.campaign_id, "m": member_id, "o": occasion})
        return []
    parts = core.components(campaign, points)
    txs, lots = [], []
    for i, part in enumerate(parts):
        bonus_tx, lot_id = (tx_id if i == 0 else str(uuid_utils.uuid7())), str(uuid_utils.uuid7())
        try:
            lot = rules.new_lot(contracts.terms(part.funder, now), now)
        except errors.DomainError:  # a funder without a contract in force: an active lot that does not expire
            lot = rules.NewLot("active", now, None)
        txs.append(PendingTransaction(bonus_tx, "earn", part.funder, member_id, shard, part.points,
                                      ledger.earn_postings(member_id, part.funder, lot_id, part.points), now,
                                      receipt_ref=f"{campaign.kind}:{campaign.campaign_id}"[:64],
                                      lot=ledger.LotTerms(lot_id, member_id, part.funder, part.points,
                                                          lot.available_at, lot.expires_at, now)))
        lots.append(LotRow(lot_id, member_id, part.funder, bonus_tx, part.points, lot.state, lot.available_at,
                           lot.expires_at))
    write(conn, txs)
    conn.exec_driver_sql(INSERT_LOTS, {**pgarray.columns(LotRow, lots), "now": now})
    kind = campaign.kind
    conn.exec_driver_sql(INSERT_COMPONENTS, {**pgarray.columns(ComponentRow, [
        ComponentRow(tx_id, line, kind, campaign.campaign_id, part.funder, lot.lot_id, member_id, part.points)
        for line, (part, lot) in enumerate(zip(parts, lots))]), "now": now})
    for sql, params in writes:
        conn.exec_driver_sql(sql, params)
    return [Component(kind, p.funder, p.points, p.campaign_id) for p in parts]


def record_referral(conn: Connection, referee_id: uuid.UUID, referrer_card: str, now: datetime) -> None:
    """Who referred a new member (by card); a card no member holds, or the member's own, is refused."""
    row = conn.execute(text("SELECT member_id FROM members WHERE card_number = :c"), {"c": referrer_card}).first()
    if row is None or row.member_id == referee_id:
        raise errors.invalid("referrer_card", "no other member holds this card")
    conn.execute(text("INSERT INTO referrals (referee_id, referrer_id, created_at) VALUES (:e, :r, :t) "
                      "ON CONFLICT DO NOTHING"), {"e": referee_id, "r": row.member_id, "t": now})


# Referrals whose referee has purchased (qualifying points in some month) and is not yet rewarded by every active
# referral campaign.
_DUE_REFERRALS = """SELECT r.referee_id::text AS referee_id, me.shard AS referee_shard, r.referrer_id::text AS referrer_id,
       mr.shard AS referrer_shard
  FROM referrals r JOIN members me ON me.member_id = r.referee_id JOIN members mr ON mr.member_id = r.referrer_id
 WHERE EXISTS (SELECT 1 FROM member_qualifying q WHERE q.member_id = r.referee_id AND q.points > 0)
   AND (SELECT count(*) FROM lifecycle_awards a WHERE a.member_id = r.referee_id AND a.occasion = 'referee'
          AND a.campaign_id = ANY(:campaigns)) < :n
 ORDER BY r.created_at LIMIT :limit"""


def award_referrals(conn: Connection, contracts, write, campaigns: Sequence[Campaign], now: datetime,
                    limit: int = 500) -> int:
    """Reward the referee and the referrer of each referral due, once per referral campaign; the awards made."""
    if not campaigns:
        return 0
    awarded = 0
    for r in conn.execute(text(_DUE_REFERRALS), {"campaigns": [c.campaign_id for c in campaigns],
                                                 "n": len(campaigns), "limit": limit}).all():
        for campaign in campaigns:
            awarded += bool(award(conn, contracts, write, campaign, r.referee_id, r.referee_shard, REFEREE, now))
            awarded += bool(award(conn, contracts, write, campaign, r.referrer_id, r.referrer_shard,
                                  f"{REFERRER}:{r.referee_id}", now))
    return awarded


def anniversary_days(today: date, first_year: int) -> list[tuple[datetime, datetime]]:
    """The UTC days [start, end) of earlier years whose joiners have their anniversary `today` (29 February's
    joiners on 28 February of a common year)."""
    days = []
    for year in range(first_year, today.year):
        try:
            day = date(year, today.month, today.day)
        except ValueError:  # 29 February of a common year: nobody joined then
            continue
        days.append(day)
        if (today.month, today.day) == (2, 28) and calendar.isleap(year) and not calendar.isleap(today.year):
            days.append(date(year, 2, 29))
    return [(datetime(d.year, d.month, d.day, tzinfo=timezone.utc),
             datetime(d.year, d.month, d.day, tzinfo=timezone.utc) + timedelta(days=1)) for d in days]


def award_anniversaries(conn: Connection, contracts, write, campaigns: Sequence[Campaign], now: datetime,
                        limit: int = 500) -> int:
    """Reward the members whose joining day it is (an earlier year), once per campaign and year; the awards made."""
    if not campaigns:
        return 0
    first = conn.execute(text("SELECT min(created_at) FROM members")).scalar_one()
    if first is None:
        return 0
    occasion = f"{ANNIVERSARY}:{now.year}"
    awarded = 0
    for start, end in anniversary_days(now.astimezone(timezone.utc).date(), first.astimezone(timezone.utc).year):
        rows = conn.execute(text(
            "SELECT m.member_id::text AS member_id, m.shard FROM members m WHERE m.created_at >= :s AND m.created_at < :e "
            "AND (SELECT count(*) FROM lifecycle_awards a WHERE a.member_id = m.member_id AND a.occasion = :o "
            "AND a.campaign_id = ANY(:c)) < :n ORDER BY m.created_at LIMIT :limit"),
            {"s": start, "e": end, "o": occasion, "c": [c.campaign_id for c in campaigns], "n": len(campaigns),
             "limit": limit}).all()
        for r in rows:
            for campaign in campaigns:
                awarded += bool(award(conn, contracts, write, campaign, r.member_id, r.shard, occasion, now))
    return awarded
