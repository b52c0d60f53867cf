"""The cycle's life in the database, the source of truth: cycle rows and their event log, statements,
acknowledgements and disputes, dispute resolution, carry-overs and the payment plan.

Every function runs inside the transaction its caller opened. Each state move is recorded in cycle_events in
the same transaction (the console's history of a cycle). Partners' responses and the closing of the dispute
window serialize on the cycle row (FOR SHARE against FOR UPDATE): a response is either in before the window
closed, or refused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable, Sequence

import grpc
from sqlalchemy import Connection, insert, text

from network import admin, errors
from network.errors import DomainError
from network.signer import NetworkSigner
from settlement.models import CYCLE_STATES, Statement as StatementRow
from settlement.netting import HeldAmount, payment_direction, settle_position
from settlement.obligations import Obligation
from settlement.statements import (CarriedAmount, StatementLine, build_statement, canonical_bytes, disputed_amount,
                                   statement_lines)

RESPONSE_STATE = "awaiting_responses"
DISPUTE_OUTCOMES = ("statement_stands", "partner_upheld")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def cycle_id_for(period_start: datetime) -> str:
    """"cyc-20261123-0000" for a period starting 2026-11-23 00:00 UTC (seconds appended when not zero)."""
    start = period_start.astimezone(timezone.utc)
    suffix = start.strftime("%H%M") + (start.strftime("%S") if start.second else "")
    return f"cyc-{start:%Y%m%d}-{suffix}"


def period_ending(now: datetime, period_seconds: int) -> tuple[datetime, datetime]:
    """The last whole period [start, end) ending at or before `now`, periods aligned to the Unix epoch."""
    end_ts = int(now.timestamp()) // period_seconds * period_seconds
    end = datetime.fromtimestamp(end_ts, timezone.utc)
    return end - timedelta(seconds=period_seconds), end


# --- cycle rows and events ---------------------------------------------------------------------------------

def record_event(conn: Connection, cycle_id: str, kind: str, detail: dict | None = None,
                 state: str | None = None) -> None:
    conn.execute(text("INSERT INTO cycle_events (cycle_id, kind, state, detail) VALUES (:c, :k, :s, CAST(:d AS jsonb))"),
                 {"c": cycle_id, "k": kind, "s": state, "d": json.dumps(detail or {}, default=str)})


def move_cycle(conn: Connection, cycle_id: str, state: str, detail: dict | None = None,
               alert: str | None = None) -> bool:
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


@dataclass(frozen=True)
class CycleRow:
    cycle_id: str
    period_start: datetime
    period_end: datetime
    state: str
    currency: str
    dispute_deadline: datetime | None


def lock_cycle(conn: Connection, cycle_id: str, *, share: bool = False) -> CycleRow:
    row = conn.execute(text("SELECT cycle_id, period_start, period_end, state, currency, dispute_deadline FROM cycles "
                            f"WHERE cycle_id = :c FOR {'SHARE' if share else 'UPDATE'}"), {"c": cycle_id}).first()
    if row is None:
        raise errors.not_found("cycle", cycle_id, "CYCLE_NOT_FOUND")
    return CycleRow(*row)


class CycleOverlaps(Exception):
    pass


def open_cycle(conn: Connection, cycle_id: str, start: datetime, end: datetime, workflow_id: str,
               currency: str) -> CycleRow:
    """Create the cycle row (a second call for the same cycle finds it). Refuses a period overlapping another."""
    if start >= end:
        raise CycleOverlaps(f"cycle {cycle_id}: the period must end after it starts")
    clash = conn.execute(text("SELECT cycle_id FROM cycles WHERE cycle_id <> :c AND "
                              "tstzrange(period_start, period_end) && tstzrange(:s, :e)"),
                         {"c": cycle_id, "s": start, "e": end}).first()
    if clash:
        raise CycleOverlaps(f"cycle {cycle_id} [{start.isoformat()}, {end.isoformat()}) overlaps cycle {clash.cycle_id}")
    if conn.execute(text("INSERT INTO cycles (cycle_id, period_start, period_end, state, workflow_id, currency) "
                         "VALUES (:c, :s, :e, 'scheduled', :w, :cur) ON CONFLICT (cycle_id) DO NOTHING RETURNING 1"),
                    {"c": cycle_id, "s": start, "e": end, "w": workflow_id, "cur": currency}).first():
        record_event(conn, cycle_id, "state", {"period_start": start, "period_end": end}, "scheduled")
    return lock_cycle(conn, cycle_id)


def cut_off(conn: Connection, cycle_id: str) -> None:
    """Close the period: nothing dated before period_end can enter this cycle any more (the workflow waited)."""
    cycle = lock_cycle(conn, cycle_id)
    if cycle.state == "scheduled":
        move_cycle(conn, cycle_id, "cut_off")


def last_period_end(conn: Connection) -> datetime | None:
    return conn.execute(text("SELECT max(period_end) FROM cycles")).scalar_one()


# --- statements ------------------------------------------------------------------------------------------------

def _obligations_by_party(conn: Connection, cycle_id: str) -> dict[str, list[Obligation]]:
    by_party: dict[str, list[Obligation]] = {}
    for r in conn.execute(text("SELECT payer, payee, amount_minor, currency, cause, issuer_id, redeemer_id, "
                               "issuer_contract_id, redeemer_contract_id, points FROM obligations WHERE cycle_id = :c"),
                          {"c": cycle_id}):
        o = Obligation(**r._mapping)
        by_party.setdefault(o.payer, []).append(o)
        by_party.setdefault(o.payee, []).append(o)
    return by_party


def issue_statements(conn: Connection, cycle_id: str, dispute_deadline: datetime, signer: NetworkSigner) -> list[str]:
    """One signed statement per position of the cycle; returns the partners whose response is awaited."""
    cycle = lock_cycle(conn, cycle_id)
    if cycle.state == "netted":
        by_party = _obligations_by_party(conn, cycle_id)
        carried: dict[tuple[str, str], list[CarriedAmount]] = {}
        for r in conn.execute(text("SELECT dispute_id, partner_id, currency, amount_minor FROM carryovers "
                                   "WHERE into_cycle_id = :c"), {"c": cycle_id}):
            carried.setdefault((r.partner_id, r.currency), []).append(CarriedAmount(r.dispute_id, int(r.amount_minor)))
        issued_at = utcnow()
        rows = []
        for p in conn.execute(text("SELECT partner_id, currency FROM net_positions WHERE cycle_id = :c "
                                   "ORDER BY partner_id, currency"), {"c": cycle_id}):
            own = [o for o in by_party.get(p.partner_id, []) if o.currency == p.currency]
            lines = statement_lines(p.partner_id, own, carried.get((p.partner_id, p.currency), []))
            body = build_statement(cycle_id, p.partner_id, p.currency, (cycle.period_start, cycle.period_end),
                                   issued_at, dispute_deadline, lines)
            payload = canonical_bytes(body)
            rows.append({"statement_id": body.statement_id, "cycle_id": cycle_id, "partner_id": p.partner_id,
                         "currency": p.currency, "lines": [line.as_dict() for line in body.lines],
                         "receivable_minor": body.receivable_minor, "payable_minor": body.payable_minor,
                         "net_minor": body.net_minor, "carried_in_minor": body.carried_in_minor,
                         "signed_payload": payload, "signature": signer.sign(payload),
                         "network_key_id": signer.key_id, "state": "issued", "issued_at": issued_at,
                         "dispute_deadline": dispute_deadline})
        if rows:
            conn.execute(insert(StatementRow.__table__), rows)
        conn.execute(text("UPDATE cycles SET dispute_deadline = :d WHERE cycle_id = :c"),
                     {"d": dispute_deadline, "c": cycle_id})
        move_cycle(conn, cycle_id, "statements_issued", {"statements": len(rows), "network_key_id": signer.key_id})
        move_cycle(conn, cycle_id, RESPONSE_STATE, {"dispute_deadline": dispute_deadline})
    return awaited_partners(conn, cycle_id)


def awaited_partners(conn: Connection, cycle_id: str) -> list[str]:
    return [r.partner_id for r in conn.execute(text(
        "SELECT DISTINCT partner_id FROM statements WHERE cycle_id = :c AND state = 'issued' ORDER BY partner_id"),
        {"c": cycle_id})]


def responded_partners(conn: Connection, cycle_id: str) -> list[str]:
    return [r.partner_id for r in conn.execute(text(
        "SELECT DISTINCT partner_id FROM statements WHERE cycle_id = :c AND state <> 'issued' ORDER BY partner_id"),
        {"c": cycle_id})]


def disputing_partners(conn: Connection, cycle_id: str) -> list[str]:
    return [r.partner_id for r in conn.execute(text(
        "SELECT DISTINCT partner_id FROM disputes WHERE cycle_id = :c ORDER BY partner_id"), {"c": cycle_id})]


@dataclass(frozen=True)
class StatementView:
    statement_id: str
    cycle_id: str
    partner_id: str
    currency: str
    period_start: datetime
    period_end: datetime
    lines: tuple[StatementLine, ...]
    receivable_minor: int
    payable_minor: int
    net_minor: int
    carried_in_minor: int
    disputed_minor: int
    state: str
    issued_at: datetime
    dispute_deadline: datetime
    responded_at: datetime | None
    signed_payload: bytes
    signature: bytes
    network_key_id: str
    dispute_id: str


_STATEMENT_SELECT = (
    "SELECT s.statement_id, s.cycle_id, s.partner_id, s.currency, c.period_start, c.period_end, s.lines, "
    "s.receivable_minor, s.payable_minor, s.net_minor, s.carried_in_minor, coalesce(d.amount_minor, 0) AS disputed, "
    "s.state, s.issued_at, s.dispute_deadline, s.responded_at, s.signed_payload, s.signature, s.network_key_id, "
    "coalesce(d.dispute_id, '') AS dispute_id "
    "FROM statements s JOIN cycles c USING (cycle_id) LEFT JOIN disputes d USING (statement_id) ")


def _view(r) -> StatementView:
    return StatementView(r.statement_id, r.cycle_id, r.partner_id, r.currency, r.period_start, r.period_end,
                         tuple(StatementLine(**line) for line in r.lines), int(r.receivable_minor),
                         int(r.payable_minor), int(r.net_minor), int(r.carried_in_minor), int(r.disputed), r.state,
                         r.issued_at, r.dispute_deadline, r.responded_at, bytes(r.signed_payload), bytes(r.signature),
                         r.network_key_id, r.dispute_id)


def get_statement(conn: Connection, partner_id: str | None, statement_id: str) -> StatementView:
    """A statement; partner_id (the caller) must own it. None means the operator."""
    row = conn.execute(text(_STATEMENT_SELECT + "WHERE s.statement_id = :s"), {"s": statement_id}).first()
    if row is None:
        raise errors.not_found("statement", statement_id, "STATEMENT_NOT_FOUND")
    if partner_id is not None and row.partner_id != partner_id:
        raise errors.denied("NOT_YOUR_STATEMENT", f"statement {statement_id} belongs to another partner")
    return _view(row)


def list_statements(conn: Connection, partner_id: str, limit: int, after: tuple[datetime, str] | None = None,
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


def _lock_statement_for_response(conn: Connection, partner_id: str, statement_id: str, now: datetime) -> StatementView:
    view = get_statement(conn, partner_id, statement_id)
    cycle = lock_cycle(conn, view.cycle_id, share=True)
    conn.execute(text("SELECT 1 FROM statements WHERE statement_id = :s FOR UPDATE"), {"s": statement_id})
    view = get_statement(conn, partner_id, statement_id)  # re-read under the locks
    if view.state == "issued" and (cycle.state != RESPONSE_STATE or now >= view.dispute_deadline):
        raise errors.precondition("DISPUTE_WINDOW_CLOSED",
                                  f"the response window of statement {statement_id} closed at "
                                  f"{view.dispute_deadline.isoformat()}", statement_id=statement_id)
    return view


def acknowledge_statement(conn: Connection, partner_id: str, statement_id: str,
                          now: datetime | None = None) -> StatementView:
    """The partner accepts its statement (acknowledging twice is harmless)."""
    now = now or utcnow()
    view = _lock_statement_for_response(conn, partner_id, statement_id, now)
    if view.state == "acknowledged":
        return view
    if view.state != "issued":
        raise errors.precondition("STATEMENT_DISPUTED", f"statement {statement_id} is {view.state}",
                                  statement_id=statement_id)
    conn.execute(text("UPDATE statements SET state = 'acknowledged', responded_at = :t WHERE statement_id = :s"),
                 {"t": now, "s": statement_id})
    record_event(conn, view.cycle_id, "statement_acknowledged", {"partner_id": partner_id, "statement_id": statement_id})
    return get_statement(conn, partner_id, statement_id)


def dispute_id_for(statement_id: str) -> str:
    return "dsp-" + hashlib.sha256(statement_id.encode()).hexdigest()[:24]


def dispute_statement(conn: Connection, partner_id: str, statement_id: str, line_numbers: Sequence[int],
                      amount_minor: int, reason: str, now: datetime | None = None) -> StatementView:
    """The partner disputes lines of its statement (once); their amount is held back at payout."""
    now = now or utcnow()
    view = _lock_statement_for_response(conn, partner_id, statement_id, now)
    if view.state != "issued":
        raise errors.precondition("STATEMENT_" + ("ACKNOWLEDGED" if view.state == "acknowledged" else "ALREADY_DISPUTED"),
                                  f"statement {statement_id} is {view.state}", statement_id=statement_id)
    try:
        amount = disputed_amount(view.lines, line_numbers, amount_minor)
    except ValueError as exc:
        raise errors.invalid("line_numbers", str(exc)) from None
    dispute_id = dispute_id_for(statement_id)
    conn.execute(text("INSERT INTO disputes (dispute_id, statement_id, cycle_id, partner_id, currency, line_numbers, "
                      "amount_minor, reason, state) VALUES (:d, :s, :c, :p, :cur, CAST(:l AS jsonb), :a, :r, 'open')"),
                 {"d": dispute_id, "s": statement_id, "c": view.cycle_id, "p": partner_id, "cur": view.currency,
                  "l": json.dumps(sorted(set(line_numbers))), "a": amount, "r": reason})
    conn.execute(text("UPDATE statements SET state = 'disputed', responded_at = :t WHERE statement_id = :s"),
                 {"t": now, "s": statement_id})
    record_event(conn, view.cycle_id, "statement_disputed", {"partner_id": partner_id, "statement_id": statement_id,
                                                              "dispute_id": dispute_id, "amount_minor": amount})
    return get_statement(conn, partner_id, statement_id)


def resolve_dispute(conn: Connection, dispute_id: str, outcome: str, operator: str, note: str = "") -> str:
    """The operator decides an open dispute; returns the cycle it belongs to. Applied at the next payout planning
    that meets it: this cycle's, or the cycle its amount was carried into."""
    if outcome not in DISPUTE_OUTCOMES:
        raise errors.invalid("outcome", f"must be one of {', '.join(DISPUTE_OUTCOMES)}")
    row = conn.execute(text("UPDATE disputes SET state = 'resolved', outcome = :o, resolution_note = :n, "
                            "resolved_by = :by, resolved_at = now() WHERE dispute_id = :d AND state = 'open' "
                            "RETURNING cycle_id, statement_id, partner_id, amount_minor"),
                       {"o": outcome, "n": note, "by": operator, "d": dispute_id}).first()
    if row is None:
        state = conn.execute(text("SELECT outcome FROM disputes WHERE dispute_id = :d"), {"d": dispute_id}).first()
        if state is None:
            raise errors.not_found("dispute", dispute_id, "DISPUTE_NOT_FOUND")
        raise DomainError(grpc.StatusCode.FAILED_PRECONDITION, "DISPUTE_RESOLVED",
                          f"dispute {dispute_id} was already resolved: {state.outcome}")
    conn.execute(text("UPDATE statements SET state = 'resolved' WHERE statement_id = :s"), {"s": row.statement_id})
    admin.record(conn, operator, "dispute.resolve", row.partner_id,
                 {"dispute_id": dispute_id, "outcome": outcome, "note": note, "cycle_id": row.cycle_id})
    record_event(conn, row.cycle_id, "dispute_resolved", {"dispute_id": dispute_id, "outcome": outcome,
                                                          "operator": operator, "amount_minor": int(row.amount_minor)})
    return row.cycle_id


# --- after the dispute window: the payment plan ---------------------------------------------------------------

def close_dispute_window(conn: Connection, cycle_id: str) -> None:
    cycle = lock_cycle(conn, cycle_id)
    if cycle.state == RESPONSE_STATE:
        move_cycle(conn, cycle_id, "paying", {"unanswered": awaited_partners(conn, cycle_id)})


def instruction_id_for(cycle_id: str, partner_id: str, direction: str) -> str:
    """Deterministic end-to-end id: "P"/"C" + 32 hex of SHA-256(cycle | partner | direction) (33 characters)."""
    digest = hashlib.sha256(f"{cycle_id}|{partner_id}|{direction}".encode()).hexdigest()[:32]
    return ("P" if direction == "payout" else "C") + digest


def _held_amounts(conn: Connection, sql: str, cycle_id: str) -> dict[tuple[str, str], list[HeldAmount]]:
    held: dict[tuple[str, str], list[HeldAmount]] = {}
    for r in conn.execute(text(sql), {"c": cycle_id}):
        held.setdefault((r.partner_id, r.currency), []).append(HeldAmount(r.dispute_id, int(r.amount_minor), r.outcome))
    return held


def plan_payments(conn: Connection, cycle_id: str) -> list[str]:
    """Decide every position's payable amount and write its payment instruction (once); returns instruction ids."""
    cycle = lock_cycle(conn, cycle_id)
    if cycle.state == "paying":
        disputes = _held_amounts(conn, "SELECT dispute_id, partner_id, currency, amount_minor, outcome FROM disputes "
                                       "WHERE cycle_id = :c", cycle_id)
        carried = _held_amounts(conn, "SELECT c.dispute_id, c.partner_id, c.currency, c.amount_minor, d.outcome "
                                      "FROM carryovers c JOIN disputes d USING (dispute_id) WHERE c.into_cycle_id = :c",
                                cycle_id)
        instructions, carryovers = [], []
        for p in conn.execute(text("SELECT partner_id, currency, net_minor FROM net_positions WHERE cycle_id = :c "
                                   "ORDER BY partner_id, currency"), {"c": cycle_id}).all():
            key = (p.partner_id, p.currency)
            settled = settle_position(int(p.net_minor), disputes.get(key, []), carried.get(key, []))
            direction = payment_direction(settled.payable_minor)
            conn.execute(text("UPDATE net_positions SET payable_minor = :pay, disputed_minor = :held, "
                              "written_off_minor = :off, state = :st WHERE cycle_id = :c AND partner_id = :p "
                              "AND currency = :cur"),
                         {"pay": settled.payable_minor, "held": settled.disputed_minor, "off": settled.written_off_minor,
                          "st": "instructed" if direction else "nothing_due", "c": cycle_id, "p": p.partner_id,
                          "cur": p.currency})
            carryovers += [{"dispute_id": h.dispute_id, "from_cycle_id": cycle_id, "partner_id": p.partner_id,
                            "currency": p.currency, "amount_minor": h.amount_minor} for h in settled.carried_out]
            if direction:
                instructions.append({"i": instruction_id_for(cycle_id, p.partner_id, direction), "c": cycle_id,
                                     "p": p.partner_id, "d": direction, "a": abs(settled.payable_minor),
                                     "cur": p.currency})
        for row in carryovers:
            conn.execute(text("INSERT INTO carryovers (dispute_id, from_cycle_id, partner_id, currency, amount_minor) "
                              "VALUES (:dispute_id, :from_cycle_id, :partner_id, :currency, :amount_minor) "
                              "ON CONFLICT DO NOTHING"), row)
        for row in instructions:
            conn.execute(text("INSERT INTO payment_instructions (instruction_id, cycle_id, partner_id, direction, "
                              "amount_minor, currency, state) VALUES (:i, :c, :p, :d, :a, :cur, 'created') "
                              "ON CONFLICT DO NOTHING"), row)
        move_cycle(conn, cycle_id, "payments_planned", {"instructions": len(instructions),
                                                        "carried_out": len(carryovers)})
    return [r.instruction_id for r in conn.execute(text(
        "SELECT instruction_id FROM payment_instructions WHERE cycle_id = :c ORDER BY instruction_id"), {"c": cycle_id})]


def close_cycle(conn: Connection, cycle_id: str, note: str = "") -> None:
    lock_cycle(conn, cycle_id)
    move_cycle(conn, cycle_id, "closed", {"note": note} if note else None)


# --- reads for the CLI and the console -------------------------------------------------------------------------

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


def cycle_events(conn: Connection, cycle_id: str) -> list[tuple[datetime, str, str | None, dict]]:
    return [(r.created_at, r.kind, r.state, r.detail) for r in conn.execute(text(
        "SELECT created_at, kind, state, detail FROM cycle_events WHERE cycle_id = :c ORDER BY event_id"),
        {"c": cycle_id})]


def open_dispute_ids(conn: Connection, cycle_id: str) -> Iterable[str]:
    return [r.dispute_id for r in conn.execute(text("SELECT dispute_id FROM disputes WHERE cycle_id = :c "
                                                    "AND state = 'open'"), {"c": cycle_id})]
