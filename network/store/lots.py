"""Outstanding points, the one definition: a partner's liability in points is the remaining and held points of
the pending and active lots it issued (network.core.ledger's accounts: issued - redeemed - expired)."""

from __future__ import annotations

from sqlalchemy import Connection, text

OUTSTANDING_LOTS = "state IN ('pending', 'active')"
# Per issuer: (issuer_id, points), for joins.
OUTSTANDING_BY_ISSUER = (f"SELECT issuer_id, sum(remaining + held) AS points FROM lots WHERE {OUTSTANDING_LOTS} "
                         "GROUP BY issuer_id")


def outstanding_points(conn: Connection, partner_id: str | None = None) -> int:
    """One partner's outstanding points, or the whole network's (partner_id None)."""
    where = " AND issuer_id = :p" if partner_id is not None else ""
    return int(conn.execute(text(f"SELECT coalesce(sum(remaining + held), 0) FROM lots WHERE {OUTSTANDING_LOTS}{where}"),
                            {"p": partner_id}).scalar_one())
