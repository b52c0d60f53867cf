"""Payment instructions: written when payments are planned, marked when submitted to the rail and when the rail
confirms them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Iterable

from sqlalchemy import Connection, text

from network.admin import SepaMandate
from network.core import events
from network.store.events import EventRow, append_events
from settlement.domain.payment_plan import InstructionState, PlannedInstruction


def insert_instructions(conn: Connection, cycle_id: str, planned: Iterable[PlannedInstruction]) -> None:
    for i in planned:
        conn.execute(text("INSERT INTO payment_instructions (instruction_id, cycle_id, partner_id, direction, "
                          "amount_minor, currency, state) VALUES (:i, :c, :p, :d, :a, :cur, 'created') "
                          "ON CONFLICT DO NOTHING"),
                     {"i": i.instruction_id, "c": cycle_id, "p": i.partner_id, "d": i.direction, "a": i.amount_minor,
                      "cur": i.currency})


def instruction_ids(conn: Connection, cycle_id: str) -> list[str]:
    return [r.instruction_id for r in conn.execute(text(
        "SELECT instruction_id FROM payment_instructions WHERE cycle_id = :c ORDER BY instruction_id"), {"c": cycle_id})]


@dataclass(frozen=True)
class UnsubmittedInstruction:
    """An instruction not yet handed to the rail, with the partner's account."""

    instruction_id: str
    partner_id: str
    direction: str
    amount_minor: int
    currency: str
    partner_name: str
    iban: str
    bic: str | None
    mandate: SepaMandate | None  # the partner's SEPA mandate on record, if any


def unsubmitted(conn: Connection, cycle_id: str) -> list[UnsubmittedInstruction]:
    return [UnsubmittedInstruction(r.instruction_id, r.partner_id, r.direction, int(r.amount_minor), r.currency,
                                   r.name, r.iban or "", r.bic,
                                   SepaMandate(r.sepa_mandate_id, r.sepa_mandate_signed_on) if r.sepa_mandate_id else None)
            for r in conn.execute(text(
        "SELECT i.instruction_id, i.partner_id, i.direction, i.amount_minor, i.currency, p.name, p.iban, p.bic, "
        "p.sepa_mandate_id, p.sepa_mandate_signed_on FROM payment_instructions i JOIN partners p USING (partner_id) "
        "WHERE i.cycle_id = :c AND i.state = 'created' ORDER BY i.instruction_id"), {"c": cycle_id})]


# The partner's event (network.store.events) when its instruction enters a state.
PAYMENT_EVENTS = {"submitted": events.PAYMENT_SUBMITTED, "settled": events.PAYMENT_CONFIRMED,
                  "rejected": events.PAYMENT_FAILED, "failed": events.PAYMENT_FAILED}
# An UPDATE of one instruction that returns it only when its state changed, with what the event says.
_CHANGED = ("RETURNING i.partner_id, i.direction, i.amount_minor, i.currency, i.state, i.rail_reference, i.failure")


def _payment_event(instruction_id: str, row) -> EventRow | None:
    """The partner's payment event for an instruction whose state just changed (row: _CHANGED's columns)."""
    if row is None:
        return None
    return EventRow(row.partner_id, PAYMENT_EVENTS[row.state], None, instruction_id, json.dumps(
        {"direction": row.direction, "amount_minor": int(row.amount_minor), "currency": row.currency,
         "state": row.state, "rail_reference": row.rail_reference or "", "failure": row.failure or ""},
        sort_keys=True))


def write_payment_events(conn: Connection, changed: Iterable[EventRow | None]) -> None:
    """The events of the instructions changed in this transaction (what mark_* and record_confirmation returned),
    written together: every partner's event head is moved once, in partner order."""
    append_events(conn, [e for e in changed if e is not None])


def mark_submitted(conn: Connection, instruction_id: str, rail_reference: str) -> EventRow | None:
    row = conn.execute(text("UPDATE payment_instructions i SET state = 'submitted', rail_reference = :r, "
                            "submitted_at = now() WHERE instruction_id = :i AND state = 'created' " + _CHANGED),
                       {"r": rail_reference, "i": instruction_id}).first()
    return _payment_event(instruction_id, row)


def mark_failed(conn: Connection, instruction_id: str, why: str) -> EventRow | None:
    was = conn.execute(text("SELECT state FROM payment_instructions WHERE instruction_id = :i FOR UPDATE"),
                       {"i": instruction_id}).scalar()
    row = conn.execute(text("UPDATE payment_instructions i SET state = 'failed', failure = :f "
                            "WHERE instruction_id = :i " + _CHANGED), {"f": why[:2000], "i": instruction_id}).first()
    return _payment_event(instruction_id, row if was != "failed" else None)  # a failure noted again: no event


@dataclass(frozen=True)
class InstructedPayment:
    instruction_id: str
    partner_id: str
    amount_minor: int
    currency: str
    state: str


def instructed(conn: Connection, cycle_id: str) -> dict[str, InstructedPayment]:
    """The cycle's instructions by id."""
    return {r.instruction_id: InstructedPayment(r.instruction_id, r.partner_id, int(r.amount_minor), r.currency,
                                                r.state) for r in conn.execute(text(
        "SELECT instruction_id, partner_id, amount_minor, currency, state FROM payment_instructions "
        "WHERE cycle_id = :c"), {"c": cycle_id})}


def record_confirmation(conn: Connection, instruction_id: str, state: str, failure: str,
                        confirmed_at: datetime) -> EventRow | None:
    row = conn.execute(text("UPDATE payment_instructions i SET state = :s, failure = nullif(:f, ''), confirmed_at = :t "
                            "WHERE instruction_id = :i AND state <> :s " + _CHANGED),
                       {"s": state, "f": failure, "t": confirmed_at, "i": instruction_id}).first()
    return _payment_event(instruction_id, row)


def instruction_states(conn: Connection, cycle_id: str) -> list[InstructionState]:
    return [InstructionState(r.partner_id, r.state, r.failure) for r in conn.execute(text(
        "SELECT state, partner_id, failure FROM payment_instructions WHERE cycle_id = :c"), {"c": cycle_id})]
