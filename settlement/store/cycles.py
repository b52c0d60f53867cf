"""Cycle rows and their event log (the console's history of a cycle); every state move is recorded as an event in
the same transaction."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection, text

from network import errors
from settlement.domain.netting import CycleNetting, NettingSummary
from settlement.domain.obligations import ClearingSummary
from settlement.models import CYCLE_STATES


@dataclass(frozen=True)
class CycleRow:
    cycle_id: str
    period_start: datetime
    period_end: datetime
    state: str
    currency: str
    dispute_deadline: datetime | None


def record_event(conn: Connection, cycle_id: str, kind: str, detail: dict | None = None,
                 state: str | None = None) -> None:
    conn.execute(text("INSERT INTO cycle_events (cycle_id, kind, state, detail) VALUES (:c, :k, :s, CAST(:d AS jsonb))"),
                 {"c": cycle_id, "k": kind, "s": state, "d": json.dumps(detail or {}, default=str)})


def move(conn: Connection, cycle_id: str, state: str, detail: dict | None = None, alert: str | None = None) -> bool:
    """Set the cycle's state (recorded as an event); False when it already was in that state."""
    if state not in CYCLE_STATES:
        raise ValueError(f"unknown cycle state {state!r}")
    moved = conn.execute(text(
        "UPDATE cycles SET state = :s, alert = CASE WHEN :s = 'operator_alert' THEN :a ELSE alert END, "
        "closed_at = CASE WHEN :s = 'closed' THEN now() ELSE closed_at END "
        "WHERE cycle_id = :c AND state <> :s RETURNING 1"), {"s": state, "c": cycle_id, "a": alert}).first()
    if moved:
        record_event(conn, cycle_id, "state", {**(detail or {}), **({"alert": alert} if alert else {})}, state)
    return moved is not None


def lock(conn: Connection, cycle_id: str, *, share: bool = False) -> CycleRow:
    row = conn.execute(text("SELECT cycle_id, period_start, period_end, state, currency, dispute_deadline FROM cycles "
                            f"WHERE cycle_id = :c FOR {'SHARE' if share else 'UPDATE'}"), {"c": cycle_id}).first()
    if row is None:
        raise errors.not_found("cycle", cycle_id, "CYCLE_NOT_FOUND")
    return CycleRow(*row)


def overlapping(conn: Connection, cycle_id: str, start: datetime, end: datetime) -> str | None:
    """Another cycle whose period overlaps [start, end), if any."""
    return conn.execute(text("SELECT cycle_id FROM cycles WHERE cycle_id <> :c AND "
                             "tstzrange(period_start, period_end) && tstzrange(:s, :e)"),
                        {"c": cycle_id, "s": start, "e": end}).scalar()


def insert(conn: Connection, cycle_id: str, start: datetime, end: datetime, workflow_id: str, currency: str) -> bool:
    """A new cycle row in state scheduled; False when the cycle exists already."""
    return conn.execute(text("INSERT INTO cycles (cycle_id, period_start, period_end, state, workflow_id, currency) "
                             "VALUES (:c, :s, :e, 'scheduled', :w, :cur) ON CONFLICT (cycle_id) DO NOTHING RETURNING 1"),
                        {"c": cycle_id, "s": start, "e": end, "w": workflow_id, "cur": currency}).first() is not None


def lock_all(conn: Connection) -> None:
    """Serialize planning the next period against every other writer of cycle rows."""
    conn.exec_driver_sql("LOCK TABLE cycles IN SHARE ROW EXCLUSIVE MODE")


def oldest_unstarted(conn: Connection) -> str | None:
    """The oldest cycle the schedule planned (its workflow id is its cycle id) that is still 'scheduled': its
    workflow has not moved it yet, or was never started."""
    return conn.execute(text("SELECT cycle_id FROM cycles WHERE state = 'scheduled' AND workflow_id = cycle_id "
                             "ORDER BY period_start LIMIT 1")).scalar()


def last_period_end(conn: Connection) -> datetime | None:
    return conn.execute(text("SELECT max(period_end) FROM cycles")).scalar_one()


def set_dispute_deadline(conn: Connection, cycle_id: str, deadline: datetime) -> None:
    conn.execute(text("UPDATE cycles SET dispute_deadline = :d WHERE cycle_id = :c"), {"d": deadline, "c": cycle_id})


def set_clearing_totals(conn: Connection, cycle_id: str, obligation_lines: int, obligations_minor: int) -> None:
    conn.execute(text("UPDATE cycles SET obligation_lines = :n, obligations_minor = :m WHERE cycle_id = :c"),
                 {"n": obligation_lines, "m": obligations_minor, "c": cycle_id})


# The journal a cycle covers: every transaction dated inside its period, counted with its points. Recorded when the
# cycle clears (the period is cut off by then: nothing dated inside it can commit any more) and recomputed by
# `coalition ledger verify` (settlement.verify.check_cycles_complete).
PERIOD_JOURNAL = ("SELECT count(*) AS transactions, coalesce(sum(points), 0) AS points FROM journal "
                  "WHERE created_at >= :start AND created_at < :end")


def record_period_journal(conn: Connection, cycle_id: str, start: datetime, end: datetime) -> None:
    conn.execute(text(f"UPDATE cycles c SET journal_transactions = j.transactions, journal_points = j.points "
                      f"FROM ({PERIOD_JOURNAL}) j WHERE c.cycle_id = :c"), {"start": start, "end": end, "c": cycle_id})


def clearing_summary(conn: Connection, cycle_id: str) -> ClearingSummary:
    row = conn.execute(text("SELECT obligation_lines, obligations_minor, "
                            "(SELECT count(*) FROM clearing_matrix m WHERE m.cycle_id = c.cycle_id) AS cells "
                            "FROM cycles c WHERE cycle_id = :c"), {"c": cycle_id}).one()
    return ClearingSummary(int(row.obligation_lines), int(row.obligations_minor), int(row.cells))


def set_netting(conn: Connection, cycle_id: str, netting: CycleNetting) -> None:
    conn.execute(text("UPDATE cycles SET network_revenue_minor = :rev, positions_sum_minor = :pos, "
                      "conservation_residual_minor = :res, conserved = :ok WHERE cycle_id = :c"),
                 {"rev": netting.network_revenue_minor, "pos": netting.positions_sum_minor,
                  "res": netting.residual_minor, "ok": netting.conserved, "c": cycle_id})


def netting_summary(conn: Connection, cycle_id: str) -> NettingSummary:
    row = conn.execute(text("SELECT network_revenue_minor, conservation_residual_minor, conserved, "
                            "(SELECT count(*) FROM net_positions n WHERE n.cycle_id = c.cycle_id) AS positions "
                            "FROM cycles c WHERE cycle_id = :c"), {"c": cycle_id}).one()
    return NettingSummary(int(row.positions), int(row.network_revenue_minor),
                          int(row.conservation_residual_minor or 0), bool(row.conserved))


def seconds_to_close(conn: Connection, cycle_id: str) -> float | None:
    """From the cycle row's creation to its closing (None while it is open)."""
    seconds = conn.execute(text("SELECT extract(epoch FROM closed_at - created_at) FROM cycles WHERE cycle_id = :c"),
                           {"c": cycle_id}).scalar()
    return float(seconds) if seconds is not None else None


# --- reads for the CLI -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CycleSummary:
    cycle_id: str
    period_start: datetime
    period_end: datetime
    state: str
    obligation_lines: int
    network_revenue_minor: int
    conserved: bool | None
    statements: int
    acknowledged: int
    disputed: int
    instructions: int
    settled: int
    alert: str | None


def list_cycles(conn: Connection, limit: int = 50) -> list[CycleSummary]:
    rows = conn.execute(text(
        "SELECT c.cycle_id, c.period_start, c.period_end, c.state, c.obligation_lines, c.network_revenue_minor, "
        "c.conserved, (SELECT count(*) FROM statements s WHERE s.cycle_id = c.cycle_id) AS statements, "
        "(SELECT count(*) FROM statements s WHERE s.cycle_id = c.cycle_id AND s.state = 'acknowledged') AS acknowledged, "
        "(SELECT count(*) FROM disputes d WHERE d.cycle_id = c.cycle_id) AS disputed, "
        "(SELECT count(*) FROM payment_instructions i WHERE i.cycle_id = c.cycle_id) AS instructions, "
        "(SELECT count(*) FROM payment_instructions i WHERE i.cycle_id = c.cycle_id AND i.state = 'settled') AS settled, "
        "c.alert FROM cycles c ORDER BY c.period_start DESC LIMIT :n"), {"n": limit})
    return [CycleSummary(*r) for r in rows]


class CycleEvent(NamedTuple):
    created_at: datetime
    kind: str
    state: str | None
    detail: dict


def cycle_events(conn: Connection, cycle_id: str) -> list[CycleEvent]:
    return [CycleEvent(r.created_at, r.kind, r.state, r.detail) for r in conn.execute(text(
        "SELECT created_at, kind, state, detail FROM cycle_events WHERE cycle_id = :c ORDER BY event_id"),
        {"c": cycle_id})]
