"""Lot expiry in SQL: each lot's expiry under its issuer's policy (network.core.expiry), the lots the expiry run
takes, the warnings sent ahead of expiry, and the member's expiring points (a read model for a member portal).

A lot with an expires_at of its own (fixed and calendar policies) expires then. A lot without one that was earned
under an inactivity contract (the version in force at the lot's creation, CONTRACT_VERSIONS) expires
expiry_months after the member's last activity (member_activity, moved by every earn, redemption and capture:
network.store.journal.activity_writes): LOT_EXPIRY computes it when read, so activity anywhere extends the lot
without rewriting it. The month arithmetic is done on UTC wall time, like network.core.expiry.add_months.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Connection, text

from network import errors
from network.core import events
from network.store.contracts import CONTRACT_VERSIONS
from network.store.events import EventRow, append_events

# Joined onto `lots l`: v is the inactivity contract version the lot was earned under (NULL for every other lot),
# a the member's last activity (only looked up for those lots).
LOT_EXPIRY_JOINS = f"""LEFT JOIN ({CONTRACT_VERSIONS}) v ON l.expires_at IS NULL AND v.partner_id = l.issuer_id
      AND v.expiry_policy = 'inactivity' AND l.created_at >= v.effective_from AND l.created_at < v.effective_to
    LEFT JOIN member_activity a ON v.partner_id IS NOT NULL AND a.member_id = l.member_id"""
# The lot's expiry (NULL: never): network.core.expiry.effective_expiry in SQL.
LOT_EXPIRY = ("CASE WHEN v.partner_id IS NULL THEN l.expires_at ELSE "
              "((greatest(coalesce(a.last_activity_at, l.created_at), l.created_at) AT TIME ZONE 'UTC') "
              "+ make_interval(months => v.expiry_months)) AT TIME ZONE 'UTC' END")
LIVE_LOTS = "l.state IN ('pending', 'active')"

# The lots past their expiry at :now, in two parts so the fixed ones still use ix_lots_active_expiry.
_DUE = (f"SELECT l.lot_id FROM lots l WHERE {LIVE_LOTS} AND l.expires_at <= :now "
        f"UNION ALL SELECT l.lot_id FROM lots l {LOT_EXPIRY_JOINS} "
        f"WHERE {LIVE_LOTS} AND l.expires_at IS NULL AND v.partner_id IS NOT NULL AND {LOT_EXPIRY} <= :now")
EXPIRED_LOTS = text(
    "SELECT l.lot_id, l.member_id, l.issuer_id, l.remaining, m.shard FROM lots l JOIN members m USING (member_id) "
    f"WHERE {LIVE_LOTS} AND l.held = 0 AND l.lot_id IN ({_DUE}) "
    "ORDER BY l.member_id LIMIT :limit FOR UPDATE OF l SKIP LOCKED")


class ExpiringLot(NamedTuple):
    lot_id: uuid.UUID
    member_id: uuid.UUID
    issuer_id: str
    points: int
    expires_at: datetime


# Lots with points left whose expiry falls in (:now, :until] (network.core.expiry.warning_due, with until = now + lead)
# and that were not yet warned about for that expiry.
_WARN = text(f"""WITH due AS (
    SELECT l.lot_id, l.member_id, l.issuer_id, l.remaining AS points, {LOT_EXPIRY} AS expires_at
      FROM lots l {LOT_EXPIRY_JOINS}
     WHERE {LIVE_LOTS} AND l.remaining > 0
       AND ((l.expires_at > :now AND l.expires_at <= :until) OR (l.expires_at IS NULL AND v.partner_id IS NOT NULL))),
fresh AS (
    SELECT * FROM due d WHERE d.expires_at > :now AND d.expires_at <= :until
       AND NOT EXISTS (SELECT 1 FROM expiry_warnings w WHERE w.lot_id = d.lot_id AND w.expires_at = d.expires_at)
     ORDER BY d.expires_at, d.lot_id LIMIT :limit),
warned AS (
    INSERT INTO expiry_warnings (lot_id, expires_at, warned_at) SELECT lot_id, expires_at, :now FROM fresh
    ON CONFLICT DO NOTHING RETURNING lot_id, expires_at)
SELECT f.lot_id, f.member_id, f.issuer_id, f.points, f.expires_at FROM fresh f JOIN warned USING (lot_id, expires_at)
 ORDER BY f.issuer_id, f.expires_at, f.lot_id""")


def warn_expiring(conn: Connection, now: datetime, lead: timedelta, limit: int = 5000) -> list[ExpiringLot]:
    """Warn each issuer of its members' lots expiring within `lead` of `now` (a points.expiring event per lot,
    through the outbox), once per lot and expiry instant whatever the re-runs; return the lots warned about."""
    rows = [ExpiringLot(*r) for r in conn.execute(_WARN, {"now": now, "until": now + lead, "limit": limit})]
    append_events(conn, [EventRow(r.issuer_id, events.POINTS_EXPIRING, None, str(r.lot_id), json.dumps(
        {"member_id": str(r.member_id), "lot_id": str(r.lot_id), "points": r.points,
         "expires_at": r.expires_at.isoformat()}, sort_keys=True)) for r in rows])
    return rows


class ExpiringPoints(NamedTuple):
    """Points of one issuer that expire at one instant."""

    issuer_id: str
    points: int
    expires_at: datetime


_EXPIRING = text(f"""SELECT issuer_id, sum(points) AS points, expires_at FROM (
    SELECT l.issuer_id, l.remaining AS points, {LOT_EXPIRY} AS expires_at FROM lots l {LOT_EXPIRY_JOINS}
     WHERE l.member_id = :m AND {LIVE_LOTS} AND l.remaining > 0) e
 WHERE expires_at > :now AND expires_at <= :until GROUP BY issuer_id, expires_at ORDER BY expires_at, issuer_id""")


def expiring_points(conn: Connection, member_id: uuid.UUID | str, within_days: int,
                    now: datetime) -> list[ExpiringPoints]:
    """The member's points that expire within `within_days` days of `now`, by issuer and expiry, soonest first
    (pending points included: they expire too if the member keeps them)."""
    if not 0 <= within_days <= 3660:
        raise errors.invalid("within_days", "must be between 0 and 3660 days")
    rows = conn.execute(_EXPIRING, {"m": uuid.UUID(str(member_id)), "now": now,
                                    "until": now + timedelta(days=within_days)})
    return [ExpiringPoints(r.issuer_id, int(r.points), r.expires_at) for r in rows]


def last_activity(conn: Connection, member_id: uuid.UUID | str) -> datetime | None:
    """The member's last earn or spend in the network (None: none on record)."""
    return conn.execute(text("SELECT last_activity_at FROM member_activity WHERE member_id = :m"),
                        {"m": uuid.UUID(str(member_id))}).scalar()
