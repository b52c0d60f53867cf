"""The console's reads of the loyalty programme: the tier ladder with its members, campaigns with their budget
burn, bonus points given per day, and bonus cost per funder (set-based queries, one frame each)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pandas as pd
from sqlalchemy import Connection, text

from network.core.ledger import money_for_points
from network.store.campaigns import list_campaigns


def campaign_burn(conn: Connection) -> pd.DataFrame:
    """Every campaign with its budget, points given and what is left (burn: the share of the budget spent)."""
    return pd.DataFrame([{
        "campaign": r.campaign_id, "name": r.name, "kind": r.kind, "status": r.status, "priority": r.priority,
        "exclusive": r.exclusive, "funders": r.funders, "budget_points": r.budget_points,
        "budget_left": r.budget_left, "given_points": r.awarded_points,
        "burn_pct": None if not r.budget_points else round(100 * (r.budget_points - r.budget_left) / r.budget_points, 1),
    } for r in list_campaigns(conn)], columns=["campaign", "name", "kind", "status", "priority", "exclusive",
                                               "funders", "budget_points", "budget_left", "given_points", "burn_pct"])


def bonus_by_day(conn: Connection, since: datetime) -> pd.DataFrame:
    """Bonus points given per UTC day and campaign since `since` (the budget burn chart)."""
    rows = conn.execute(text(
        "SELECT (created_at AT TIME ZONE 'UTC')::date AS day, campaign_id, sum(points)::bigint AS points "
        "FROM earn_components WHERE campaign_id IS NOT NULL AND created_at >= :s GROUP BY 1, 2 ORDER BY 1, 2"),
        {"s": since}).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=["day", "campaign", "points"])


_COST = """WITH bonus AS (SELECT funder_id, sum(points) AS given FROM earn_components WHERE kind <> 'base'
                        GROUP BY funder_id),
     bonus_lots AS (SELECT DISTINCT funder_id, lot_id FROM earn_components WHERE kind <> 'base'),
     left_over AS (SELECT b.funder_id, sum(l.remaining + l.held) AS outstanding FROM bonus_lots b
                   JOIN lots l ON l.lot_id = b.lot_id GROUP BY b.funder_id),
     redeemed AS (SELECT b.funder_id, sum(p.points) AS redeemed FROM bonus_lots b
                  JOIN postings p ON p.lot_id = b.lot_id AND p.account = 'redeemer' GROUP BY b.funder_id)
SELECT b.funder_id, coalesce(pa.name, b.funder_id) AS name, b.given, coalesce(o.outstanding, 0) AS outstanding,
       coalesce(r.redeemed, 0) AS redeemed
  FROM bonus b LEFT JOIN left_over o USING (funder_id) LEFT JOIN redeemed r USING (funder_id)
  LEFT JOIN partners pa ON pa.partner_id = b.funder_id ORDER BY b.given DESC, b.funder_id"""


def bonus_cost_by_funder(conn: Connection, point_value_minor: Decimal) -> pd.DataFrame:
    """Per funder: bonus points given (tier, campaigns, lifecycle), still outstanding, redeemed (net of reversals),
    and the value of the redeemed ones at the point value: what an issuer_pays funder has paid or owes for them."""
    rows = conn.execute(text(_COST)).all()
    return pd.DataFrame([{"funder": r.funder_id, "name": r.name, "given_points": int(r.given),
                          "outstanding_points": int(r.outstanding), "redeemed_points": int(r.redeemed),
                          "redeemed_value_minor": money_for_points(int(r.redeemed), point_value_minor)}
                         for r in rows], columns=["funder", "name", "given_points", "outstanding_points",
                                                  "redeemed_points", "redeemed_value_minor"])


def tier_counts(conn: Connection) -> pd.DataFrame:
    """The ladder with the members holding each tier."""
    rows = conn.execute(text(
        "SELECT t.name, t.rank, t.threshold_points, t.multiplier_bps, t.cap_multiplier_bps, "
        "(SELECT count(*) FROM member_status s WHERE s.tier = t.name) AS members FROM tiers t ORDER BY t.rank")).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=["tier", "rank", "threshold_points", "multiplier_bps",
                                                           "cap_multiplier_bps", "members"])
