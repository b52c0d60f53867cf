"""Statements and disputes: the signed statements of a cycle, partners' responses to them, disputes and their
resolution."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Sequence

from sqlalchemy import Connection, insert, text

from network.core import events
from network.store.events import EventRow, append_event, append_events
from settlement.domain.statements import StatementBody, StatementLine
from settlement.models import Statement as StatementRow


@dataclass(frozen=True)
class SignedStatement:
    body: StatementBody
    signed_payload: bytes
    signature: bytes
    network_key_id: str


def write_statements(conn: Connection, statements: Iterable[SignedStatement]) -> int:
    """Insert the statements, and each partner's statement.issued event."""
    statements = list(statements)
    rows = [{"statement_id": s.body.statement_id, "cycle_id": s.body.cycle_id, "partner_id": s.body.partner_id,
             "currency": s.body.currency, "lines": [line.as_dict() for line in s.body.lines],
             "receivable_minor": s.body.receivable_minor, "payable_minor": s.body.payable_minor,
             "net_minor": s.body.net_minor, "carried_in_minor": s.body.carried_in_minor,
             "signed_payload": s.signed_payload, "signature": s.signature, "network_key_id": s.network_key_id,
             "state": "issued", "issued_at": s.body.issued_at, "dispute_deadline": s.body.dispute_deadline}
            for s in statements]
    if rows:
        conn.execute(insert(StatementRow.__table__), rows)
        append_events(conn, [EventRow(s.body.partner_id, events.STATEMENT_ISSUED, None, s.body.statement_id,
                                      json.dumps({"cycle_id": s.body.cycle_id, "currency": s.body.currency,
                                                  "net_minor": s.body.net_minor,
                                                  "receivable_minor": s.body.receivable_minor,
                                                  "payable_minor": s.body.payable_minor,
                                                  "dispute_deadline": s.body.dispute_deadline.isoformat()},
                                                 sort_keys=True))
                             for s in statements])
    return len(rows)


def _partners(conn: Connection, sql: str, cycle_id: str) -> list[str]:
    return [r.partner_id for r in conn.execute(text(sql), {"c": cycle_id})]


def awaited_partners(conn: Connection, cycle_id: str) -> list[str]:
    return _partners(conn, "SELECT DISTINCT partner_id FROM statements WHERE cycle_id = :c AND state = 'issued' "
                           "ORDER BY partner_id", cycle_id)


def responded_partners(conn: Connection, cycle_id: str) -> list[str]:
    return _partners(conn, "SELECT DISTINCT partner_id FROM statements WHERE cycle_id = :c AND state <> 'issued' "
                           "ORDER BY partner_id", cycle_id)


def disputing_partners(conn: Connection, cycle_id: str) -> list[str]:
    return _partners(conn, "SELECT DISTINCT partner_id FROM disputes WHERE cycle_id = :c ORDER BY partner_id", cycle_id)


@dataclass(frozen=True)
class StatementView:
    """An issued statement as signed, and where the partner's response stands."""

    signed: SignedStatement
    state: str
    responded_at: datetime | None
    dispute_id: str  # "" unless disputed
    disputed_minor: int  # the dispute's signed effect on the partner

    @property
    def body(self) -> StatementBody:
        return self.signed.body


_STATEMENT_SELECT = (
    "SELECT s.statement_id, s.cycle_id, s.partner_id, s.currency, c.period_start, c.period_end, s.issued_at, "
    "s.dispute_deadline, s.lines, s.receivable_minor, s.payable_minor, s.net_minor, s.carried_in_minor, "
    "s.signed_payload, s.signature, s.network_key_id, s.state, s.responded_at, "
    "coalesce(d.dispute_id, '') AS dispute_id, coalesce(d.amount_minor, 0) AS disputed_minor "
    "FROM statements s JOIN cycles c USING (cycle_id) LEFT JOIN disputes d USING (statement_id) ")


def _view(r) -> StatementView:
    body = StatementBody(r.statement_id, r.cycle_id, r.partner_id, r.currency, r.period_start, r.period_end,
                         r.issued_at, r.dispute_deadline, tuple(StatementLine(**line) for line in r.lines),
                         int(r.receivable_minor), int(r.payable_minor), int(r.net_minor), int(r.carried_in_minor))
    return StatementView(SignedStatement(body, bytes(r.signed_payload), bytes(r.signature), r.network_key_id),
                         r.state, r.responded_at, r.dispute_id, int(r.disputed_minor))


def statement(conn: Connection, statement_id: str) -> StatementView | None:
    row = conn.execute(text(_STATEMENT_SELECT + "WHERE s.statement_id = :s"), {"s": statement_id}).first()
    return _view(row) if row is not None else None


def partner_statements(conn: Connection, partner_id: str, limit: int, after: tuple[datetime, str] | None = None,
                       cycle_id: str = "") -> list[StatementView]:
    """The partner's statements, newest first (keyset pagination on issued_at, statement_id)."""
    clauses, params = ["s.partner_id = :p"], {"p": partner_id, "limit": limit}
    if cycle_id:
        clauses.append("s.cycle_id = :c")
        params["c"] = cycle_id
    if after:
        clauses.append("(s.issued_at, s.statement_id) < (:at, :sid)")
        params.update(at=after[0], sid=after[1])
    rows = conn.execute(text(_STATEMENT_SELECT + f"WHERE {' AND '.join(clauses)} "
                             "ORDER BY s.issued_at DESC, s.statement_id DESC LIMIT :limit"), params)
    return [_view(r) for r in rows]


def lock_statement(conn: Connection, statement_id: str) -> None:
    conn.execute(text("SELECT 1 FROM statements WHERE statement_id = :s FOR UPDATE"), {"s": statement_id})


def set_response(conn: Connection, statement_id: str, state: str, responded_at: datetime) -> None:
    conn.execute(text("UPDATE statements SET state = :st, responded_at = :t WHERE statement_id = :s"),
                 {"st": state, "t": responded_at, "s": statement_id})


def insert_dispute(conn: Connection, dispute_id: str, view: StatementView, line_numbers: Sequence[int],
                   amount_minor: int, reason: str) -> None:
    conn.execute(text("INSERT INTO disputes (dispute_id, statement_id, cycle_id, partner_id, currency, line_numbers, "
                      "amount_minor, reason, state) VALUES (:d, :s, :c, :p, :cur, CAST(:l AS jsonb), :a, :r, 'open')"),
                 {"d": dispute_id, "s": view.body.statement_id, "c": view.body.cycle_id, "p": view.body.partner_id,
                  "cur": view.body.currency, "l": json.dumps(sorted(set(line_numbers))), "a": amount_minor, "r": reason})


@dataclass(frozen=True)
class ResolvedDispute:
    cycle_id: str
    statement_id: str
    partner_id: str
    amount_minor: int


def resolve_dispute(conn: Connection, dispute_id: str, outcome: str, operator: str, note: str) -> ResolvedDispute | None:
    """Resolve an open dispute and mark its statement resolved; None when the dispute is not open."""
    row = conn.execute(text("UPDATE disputes SET state = 'resolved', outcome = :o, resolution_note = :n, "
                            "resolved_by = :by, resolved_at = now() WHERE dispute_id = :d AND state = 'open' "
                            "RETURNING cycle_id, statement_id, partner_id, amount_minor"),
                       {"o": outcome, "n": note, "by": operator, "d": dispute_id}).first()
    if row is None:
        return None
    conn.execute(text("UPDATE statements SET state = 'resolved' WHERE statement_id = :s"), {"s": row.statement_id})
    append_event(conn, row.partner_id, events.DISPUTE_RESOLVED, dispute_id,
                 {"statement_id": row.statement_id, "cycle_id": row.cycle_id, "outcome": outcome,
                  "amount_minor": int(row.amount_minor)})
    return ResolvedDispute(row.cycle_id, row.statement_id, row.partner_id, int(row.amount_minor))


@dataclass(frozen=True)
class DisputeRow:
    dispute_id: str
    cycle_id: str
    cycle_state: str
    outcome: str | None


def dispute(conn: Connection, dispute_id: str) -> DisputeRow | None:
    row = conn.execute(text("SELECT d.dispute_id, d.cycle_id, c.state, d.outcome FROM disputes d "
                            "JOIN cycles c USING (cycle_id) WHERE d.dispute_id = :d"), {"d": dispute_id}).first()
    return DisputeRow(*row) if row is not None else None
