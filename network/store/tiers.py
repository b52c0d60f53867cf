"""Tier requalification: the review the settlement worker's tier-review schedule runs (settlement.worker), and the
history of tier changes the console shows.

A member's tier goes up inside the earn that crosses a threshold (network.store.earn_plan); it comes down only
here. The review takes the members whose tier has been held (tier_since) for at least `hold` and whose qualifying
points of the rolling 12 months (member_qualifying, purchases only, lowered by reversals) no longer reach the tier's
threshold, and moves each down ONE level (network.core.campaigns.requalified: the soft landing), restarting its
tier_since. Because of the hold, a member goes down at most one level per `hold`, however often the review runs or
is retried. Every change of member_status.tier is recorded in tier_changes by the statement making it: an upgrade
by the earn's (reason 'earn', network.store.earn_plan.UPSERT_STATUS), a move down here (reason 'review').
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Sequence

import pandas as pd
from sqlalchemy import Connection, text

from network.core.campaigns import Tier, requalified
from network.store.campaigns import qualifying_from

_DUE = """SELECT s.member_id, s.tier,
       (SELECT coalesce(sum(q.points), 0) FROM member_qualifying q
         WHERE q.member_id = s.member_id AND q.month >= :since) AS qualifying
  FROM member_status s JOIN tiers t ON t.name = s.tier
 WHERE s.tier_since <= :held_before AND t.rank > :lowest
   AND (SELECT coalesce(sum(q.points), 0) FROM member_qualifying q
         WHERE q.member_id = s.member_id AND q.month >= :since) < t.threshold_points
 ORDER BY s.member_id LIMIT :limit FOR UPDATE OF s SKIP LOCKED"""

# A move down and its record in tier_changes, the tier it leaves read under _DUE's lock.
_MOVE = """WITH moved AS (UPDATE member_status SET tier = :t, tier_since = :n WHERE member_id = :m RETURNING member_id)
INSERT INTO tier_changes (member_id, from_tier, to_tier, reason, changed_at)
SELECT member_id, :f, :t, 'review', :n FROM moved"""


@dataclass(frozen=True)
class TierMove:
    member_id: str
    from_tier: str
    to_tier: str
    qualifying_points: int


def review_tiers(conn: Connection, ladder: Sequence[Tier], now: datetime, hold: timedelta,
                 limit: int = 5000) -> list[TierMove]:
    """Move each member due down one level (see the module's docstring); the moves made. Run it again until it
    returns fewer than `limit` moves to review everyone (the housekeeping task does)."""
    if not ladder:
        return []
    rows = conn.execute(text(_DUE), {"since": qualifying_from(now), "held_before": now - hold,
                                     "lowest": min(t.rank for t in ladder), "limit": limit}).all()
    moves = []
    for r in rows:
        target = requalified(ladder, int(r.qualifying), r.tier)
        if target is None:
            continue
        conn.execute(text(_MOVE), {"t": target.name, "n": now, "m": r.member_id, "f": r.tier})
        moves.append(TierMove(str(r.member_id), r.tier, target.name, int(r.qualifying)))
    return moves


def tier_history(conn: Connection, member_id: str | None = None, limit: int = 200) -> pd.DataFrame:
    """The latest tier changes (of one member, or of all), the last recorded first."""
    where = "WHERE c.member_id = CAST(:m AS uuid) " if member_id else ""
    rows = conn.execute(text(
        "SELECT c.changed_at, c.member_id::text AS member_id, m.card_number, c.from_tier, c.to_tier, c.reason "
        f"FROM tier_changes c LEFT JOIN members m ON m.member_id = c.member_id {where}"
        "ORDER BY c.change_id DESC LIMIT :limit"), {"m": member_id, "limit": limit}).all()
    return pd.DataFrame([tuple(r) for r in rows],
                        columns=["changed_at", "member_id", "card_number", "from_tier", "to_tier", "reason"])
