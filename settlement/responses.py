"""Partners' answers to their statements (read, acknowledge, dispute) and the operator's resolution of a dispute.

Every function runs inside the transaction its caller opened. A response and the closing of the dispute window
serialize on the cycle row (FOR SHARE against FOR UPDATE): a response is either in before the window closed, or
refused. Each response is recorded in cycle_events in the same transaction.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Sequence

import grpc
from sqlalchemy import Connection

from network import admin, errors
from network.errors import DomainError
from settlement import store
from settlement.domain.disputes import DISPUTE_OUTCOMES, disputed_amount, dispute_id_for, response_window_closed
from settlement.store.statements import StatementView


def get_statement(conn: Connection, partner_id: str | None, statement_id: str) -> StatementView:
    """A statement; partner_id (the caller) must own it. None means the operator."""
    view = store.statements.statement(conn, statement_id)
    if view is None:
        raise errors.not_found("statement", statement_id, "STATEMENT_NOT_FOUND")
    if partner_id is not None and view.body.partner_id != partner_id:
        raise errors.denied("NOT_YOUR_STATEMENT", f"statement {statement_id} belongs to another partner")
    return view


def _lock_statement_for_response(conn: Connection, partner_id: str, statement_id: str, now: datetime) -> StatementView:
    view = get_statement(conn, partner_id, statement_id)
    cycle = store.cycles.lock(conn, view.body.cycle_id, share=True)
    store.statements.lock_statement(conn, statement_id)
    view = get_statement(conn, partner_id, statement_id)  # re-read under the locks
    if response_window_closed(view.state, cycle.state, view.body.dispute_deadline, now):
        raise errors.precondition("DISPUTE_WINDOW_CLOSED",
                                  f"the response window of statement {statement_id} closed at "
                                  f"{view.body.dispute_deadline.isoformat()}", statement_id=statement_id)
    return view


def acknowledge_statement(conn: Connection, partner_id: str, statement_id: str,
                          now: datetime | None = None) -> StatementView:
    """The partner accepts its statement (acknowledging twice is harmless)."""
    now = now or datetime.now(timezone.utc)
    view = _lock_statement_for_response(conn, partner_id, statement_id, now)
    if view.state == "acknowledged":
        return view
    if view.state != "issued":
        raise errors.precondition("STATEMENT_DISPUTED", f"statement {statement_id} is {view.state}",
                                  statement_id=statement_id)
    store.statements.set_response(conn, statement_id, "acknowledged", now)
    store.cycles.record_event(conn, view.body.cycle_id, "statement_acknowledged",
                              {"partner_id": partner_id, "statement_id": statement_id})
    return get_statement(conn, partner_id, statement_id)


def dispute_statement(conn: Connection, partner_id: str, statement_id: str, line_numbers: Sequence[int],
                      amount_minor: int, reason: str, now: datetime | None = None) -> StatementView:
    """The partner disputes lines of its statement (once); their amount is held back at payout."""
    now = now or datetime.now(timezone.utc)
    view = _lock_statement_for_response(conn, partner_id, statement_id, now)
    if view.state != "issued":
        raise errors.precondition("STATEMENT_ACKNOWLEDGED" if view.state == "acknowledged"
                                  else "STATEMENT_ALREADY_DISPUTED",
                                  f"statement {statement_id} is {view.state}", statement_id=statement_id)
    try:
        amount = disputed_amount(view.body.lines, line_numbers, amount_minor)
    except ValueError as exc:
        raise errors.invalid("line_numbers", str(exc)) from None
    dispute_id = dispute_id_for(statement_id)
    store.statements.insert_dispute(conn, dispute_id, view, line_numbers, amount, reason)
    store.statements.set_response(conn, statement_id, "disputed", now)
    store.cycles.record_event(conn, view.body.cycle_id, "statement_disputed",
                              {"partner_id": partner_id, "statement_id": statement_id, "dispute_id": dispute_id,
                               "amount_minor": amount})
    return get_statement(conn, partner_id, statement_id)


def resolve_dispute(conn: Connection, dispute_id: str, outcome: str, operator: str, note: str = "") -> str:
    """The operator decides an open dispute; returns the cycle it belongs to. Applied at the next payout planning
    that meets it: this cycle's, or the cycle its amount was carried into."""
    if outcome not in DISPUTE_OUTCOMES:
        raise errors.invalid("outcome", f"must be one of {', '.join(DISPUTE_OUTCOMES)}")
    resolved = store.statements.resolve_dispute(conn, dispute_id, outcome, operator, note)
    if resolved is None:
        found = store.statements.dispute(conn, dispute_id)
        if found is None:
            raise errors.not_found("dispute", dispute_id, "DISPUTE_NOT_FOUND")
        raise DomainError(grpc.StatusCode.FAILED_PRECONDITION, "DISPUTE_RESOLVED",
                          f"dispute {dispute_id} was already resolved: {found.outcome}")
    admin.record(conn, operator, "dispute.resolve", resolved.partner_id,
                 {"dispute_id": dispute_id, "outcome": outcome, "note": note, "cycle_id": resolved.cycle_id})
    store.cycles.record_event(conn, resolved.cycle_id, "dispute_resolved",
                              {"dispute_id": dispute_id, "outcome": outcome, "operator": operator,
                               "amount_minor": resolved.amount_minor})
    return resolved.cycle_id
