"""A partner's own traffic per UTC day and store: the set-based SQL behind NetworkService.GetTrafficReport.

Which transactions count: the partner's own journal rows (journal.partner_id = the partner) dated
start <= created_at < end, of kinds
  earn              earn_count, earned_points (the journal row's points), purchase_amount_minor (its amount)
  redeem, capture   redemption_count, redeemed_points (the redeemer postings: the points spent at the partner),
                    basket_amount_minor (the basket sent with the redemption, or with the hold a capture takes)
  reverse           reversal_count, reversed_points (the points the reversal moved, unsigned)
A capture reports under the hold's store (the capture itself names none). The day is the UTC calendar day.
Money value of the redeemed points: money_for_points(redeemed_points, point value), once per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, text

_TRAFFIC = text("""
WITH tx AS (
    SELECT j.tx_id, j.kind, (j.created_at AT TIME ZONE 'UTC')::date AS day,
           coalesce(CASE WHEN j.kind = 'capture' THEN h.store_id ELSE j.store_id END, '') AS store_id,
           j.points, CASE WHEN j.kind = 'capture' THEN h.amount_minor ELSE j.amount_minor END AS amount_minor
    FROM journal j
    LEFT JOIN journal h ON j.kind = 'capture' AND h.tx_id = j.related_id
    WHERE j.partner_id = :partner AND j.created_at >= :start AND j.created_at < :end
      AND j.kind IN ('earn', 'redeem', 'capture', 'reverse')
), spent AS (
    SELECT p.tx_id, sum(p.points) AS points
    FROM postings p JOIN tx ON tx.tx_id = p.tx_id AND tx.kind IN ('redeem', 'capture')
    WHERE p.account = 'redeemer' AND p.owner = :partner
    GROUP BY p.tx_id
)
SELECT tx.day, tx.store_id,
       count(*) FILTER (WHERE tx.kind = 'earn') AS earn_count,
       coalesce(sum(tx.points) FILTER (WHERE tx.kind = 'earn'), 0) AS earned_points,
       coalesce(sum(tx.amount_minor) FILTER (WHERE tx.kind = 'earn'), 0) AS purchase_amount_minor,
       count(*) FILTER (WHERE tx.kind IN ('redeem', 'capture')) AS redemption_count,
       coalesce(sum(s.points), 0) AS redeemed_points,
       coalesce(sum(tx.amount_minor) FILTER (WHERE tx.kind IN ('redeem', 'capture')), 0) AS basket_amount_minor,
       count(*) FILTER (WHERE tx.kind = 'reverse') AS reversal_count,
       coalesce(sum(abs(tx.points)) FILTER (WHERE tx.kind = 'reverse'), 0) AS reversed_points
FROM tx LEFT JOIN spent s ON s.tx_id = tx.tx_id
WHERE CAST(:after_day AS date) IS NULL OR (tx.day, tx.store_id) > (CAST(:after_day AS date), CAST(:after_store AS text))
GROUP BY tx.day, tx.store_id
ORDER BY tx.day, tx.store_id
LIMIT :limit
""")


@dataclass(frozen=True)
class TrafficRow:
    day: date
    store_id: str  # "" for transactions sent without a store
    earn_count: int
    earned_points: int
    purchase_amount_minor: int
    redemption_count: int
    redeemed_points: int
    basket_amount_minor: int
    reversal_count: int
    reversed_points: int


def traffic(conn: Connection, partner_id: str, start: datetime, end: datetime, limit: int,
            after: tuple[date, str] | None = None) -> list[TrafficRow]:
    """Up to `limit` (day, store) rows of the partner's traffic in [start, end), after the row `after`."""
    rows = conn.execute(_TRAFFIC, {"partner": partner_id, "start": start, "end": end, "limit": limit,
                                   "after_day": after[0] if after else None, "after_store": after[1] if after else None})
    return [TrafficRow(r.day, r.store_id, *(int(value) for value in tuple(r)[2:])) for r in rows]
