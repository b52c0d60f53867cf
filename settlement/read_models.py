"""Read models over the settlement tables for the console: cycles, positions, statements, disputes, payments, matrix.

SELECTs only (settlement.cycles, settlement.responses and settlement.control change state). Money is integer minor units with its currency.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import Connection, text

from network.store.read_models import frame

MAX_ROWS = 500


def cycles(conn: Connection, limit: int = 100) -> pd.DataFrame:
    """Newest first, with counts of statements, disputes and payment instructions."""
    return frame(conn, """
        SELECT c.cycle_id, c.state, c.period_start, c.period_end, c.currency, c.workflow_id,
               c.obligation_lines, c.obligations_minor, c.network_revenue_minor, c.conserved,
               c.conservation_residual_minor, c.dispute_deadline, c.alert, c.closed_at,
               coalesce(s.statements, 0) AS statements, coalesce(s.acknowledged, 0) AS acknowledged,
               coalesce(d.open_disputes, 0) AS open_disputes, coalesce(i.instructions, 0) AS instructions,
               coalesce(i.settled, 0) AS settled_payments
        FROM cycles c
        LEFT JOIN (SELECT cycle_id, count(*) AS statements, count(*) FILTER (WHERE state = 'acknowledged') AS acknowledged
                   FROM statements GROUP BY cycle_id) s USING (cycle_id)
        LEFT JOIN (SELECT cycle_id, count(*) FILTER (WHERE state = 'open') AS open_disputes
                   FROM disputes GROUP BY cycle_id) d USING (cycle_id)
        LEFT JOIN (SELECT cycle_id, count(*) AS instructions, count(*) FILTER (WHERE state = 'settled') AS settled
                   FROM payment_instructions GROUP BY cycle_id) i USING (cycle_id)
        ORDER BY c.period_start DESC LIMIT :n""", {"n": min(limit, MAX_ROWS)})


@dataclass(frozen=True)
class SettlementGlance:
    cycles_by_state: dict[str, int]
    open_disputes: int
    unconfirmed_payments: int
    failed_payments: int
    alerts: int
    last_closed_cycle: str | None
    last_period_end: datetime | None


def glance(conn: Connection) -> SettlementGlance:
    by_state = {r.state: int(r.n) for r in conn.execute(text("SELECT state, count(*) AS n FROM cycles GROUP BY state"))}
    row = conn.execute(text("""
        SELECT (SELECT count(*) FROM disputes WHERE state = 'open') AS open_disputes,
               (SELECT count(*) FROM payment_instructions WHERE state IN ('created', 'submitted')) AS unconfirmed,
               (SELECT count(*) FROM payment_instructions WHERE state IN ('rejected', 'failed')) AS failed,
               (SELECT count(*) FROM cycles WHERE state = 'operator_alert') AS alerts,
               (SELECT cycle_id FROM cycles WHERE state = 'closed' ORDER BY period_end DESC LIMIT 1) AS last_closed,
               (SELECT max(period_end) FROM cycles) AS last_end""")).one()
    return SettlementGlance(by_state, int(row.open_disputes), int(row.unconfirmed), int(row.failed), int(row.alerts),
                            row.last_closed, row.last_end)


def cycle_period(conn: Connection, cycle_id: str) -> tuple[datetime, datetime] | None:
    row = conn.execute(text("SELECT period_start, period_end FROM cycles WHERE cycle_id = :c"), {"c": cycle_id}).first()
    return (row.period_start, row.period_end) if row else None


def current_cycle_id(conn: Connection) -> str | None:
    """The newest cycle that has net positions (the 'current cycle' of the Partners table)."""
    return conn.execute(text("SELECT c.cycle_id FROM cycles c WHERE EXISTS "
                             "(SELECT 1 FROM net_positions n WHERE n.cycle_id = c.cycle_id) "
                             "ORDER BY c.period_start DESC LIMIT 1")).scalar_one_or_none()


def net_positions(conn: Connection, cycle_id: str) -> pd.DataFrame:
    """net_minor > 0: the partner receives; payable_minor is set once payments are planned."""
    return frame(conn, "SELECT partner_id, currency, net_minor, carried_in_minor, disputed_minor, written_off_minor, "
                        "payable_minor, state FROM net_positions WHERE cycle_id = :c ORDER BY partner_id, currency",
                  {"c": cycle_id})


def statements(conn: Connection, cycle_id: str) -> pd.DataFrame:
    return frame(conn, "SELECT statement_id, partner_id, currency, state, receivable_minor, payable_minor, net_minor, "
                        "carried_in_minor, issued_at, dispute_deadline, responded_at, network_key_id "
                        "FROM statements WHERE cycle_id = :c ORDER BY partner_id, currency", {"c": cycle_id})


def disputes(conn: Connection, cycle_id: str | None = None, state: str | None = None) -> pd.DataFrame:
    clauses, params = ["TRUE"], {"n": MAX_ROWS}
    if cycle_id:
        clauses.append("cycle_id = :c")
        params["c"] = cycle_id
    if state:
        clauses.append("state = :s")
        params["s"] = state
    return frame(conn, "SELECT dispute_id, cycle_id, partner_id, currency, amount_minor, reason, "
                        "line_numbers::text AS line_numbers, state, outcome, resolution_note, resolved_by, created_at, "
                        f"resolved_at FROM disputes WHERE {' AND '.join(clauses)} ORDER BY created_at DESC LIMIT :n",
                  params)


def payment_instructions(conn: Connection, cycle_id: str) -> pd.DataFrame:
    """Payouts and collections with their confirmation state."""
    return frame(conn, "SELECT instruction_id, partner_id, direction, amount_minor, currency, state, rail_reference, "
                        "failure, created_at, submitted_at, confirmed_at FROM payment_instructions WHERE cycle_id = :c "
                        "ORDER BY direction, partner_id", {"c": cycle_id})


def events(conn: Connection, cycle_id: str) -> pd.DataFrame:
    return frame(conn, "SELECT created_at, kind, state, detail::text AS detail FROM cycle_events WHERE cycle_id = :c "
                        "ORDER BY event_id", {"c": cycle_id})


@dataclass(frozen=True)
class ClearedCell:
    issuer_id: str
    redeemer_id: str
    currency: str
    points: int
    amount_minor: int


def clearing_matrix(conn: Connection, cycle_id: str) -> list[ClearedCell]:
    """The cycle's issuer x redeemer cells as settlement cleared them (empty before clearing)."""
    return [ClearedCell(r.issuer_id, r.redeemer_id, r.currency, int(r.points), int(r.amount_minor))
            for r in conn.execute(text("SELECT issuer_id, redeemer_id, currency, points, amount_minor "
                                       "FROM clearing_matrix WHERE cycle_id = :c ORDER BY 1, 2, 3"), {"c": cycle_id})]
