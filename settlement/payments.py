"""Paying out and collecting planned positions through a payment rail, and matching its confirmations.

Exactly once: the instruction row (one per cycle, partner and direction, with a deterministic id) is written
when payments are planned, before anything is submitted; submitting hands the bank every instruction of the
cycle not yet marked submitted, and the rail refuses to move money twice for one id. A worker killed between
the bank's answer and the row update resubmits, and the bank answers "duplicate".

The rail checks what it is given (settlement.rails.interface.validate_for_sepa, once per submit); an instruction it
refuses for good (bad account, bad amount) is marked failed and the others are submitted without it, so one bad
partner holds no one up.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from settlement import store
from settlement.domain.payment_plan import (COLLECTION, ConfirmationTally, SubmitOutcome, confirmed_state,
                                            remittance_for, tally)
from settlement.rails import (Account, InvalidAccount, InvalidInstruction, Iso20022FileRail, PaymentInstruction,
                              PaymentRail, SimulatedBank, Submission)
from settlement.store.payments import UnsubmittedInstruction
from settlement.settings import SettlementSettings

RAILS = ("simulated", "iso20022")


def make_rail(settings: SettlementSettings, **simulated_options) -> PaymentRail:
    """The rail settings.payment_rail names, its state under settings.data_dir."""
    if settings.payment_rail == "simulated":
        return SimulatedBank(Path(settings.data_dir) / "bank", **simulated_options)
    if settings.payment_rail == "iso20022":
        base = Path(settings.data_dir) / "payments"
        network_account = Account(settings.network_account_name, settings.network_iban, settings.network_bic)
        return Iso20022FileRail(base / "outbox", base / "inbox", network_account, settings.sepa_creditor_id)
    raise ValueError(f"payment_rail must be one of {', '.join(RAILS)}, not {settings.payment_rail!r}")


def instruction_for(cycle_id: str, row: UnsubmittedInstruction) -> PaymentInstruction:
    """The rail's instruction for a payment_instructions row: a collection under the partner's mandate on record
    (without one, InvalidInstruction: no rail can carry that collection as it stands)."""
    collection = row.direction == COLLECTION and row.mandate is not None
    return PaymentInstruction(instruction_id=row.instruction_id, cycle_id=cycle_id, partner_id=row.partner_id,
                              direction=row.direction, amount_minor=row.amount_minor, currency=row.currency,
                              counterparty=Account(row.partner_name[:70], row.iban, row.bic),
                              remittance=remittance_for(cycle_id),
                              mandate_id=row.mandate.mandate_id if collection else "",
                              mandate_signed_on=row.mandate.signed_on if collection else None)


def submit_carriable(rail: PaymentRail, instructions: list[PaymentInstruction]
                     ) -> tuple[list[Submission], list[tuple[PaymentInstruction, str]]]:
    """Submit what the rail can carry: an instruction it refuses for good is left out (with why) and the rest is
    submitted again (a refused submit wrote nothing). RailUnavailable propagates: the caller retries."""
    pending, refused = list(instructions), []
    while pending:
        try:
            return rail.submit(pending), refused
        except (InvalidAccount, InvalidInstruction) as exc:
            bad = next((i for i in pending if i.instruction_id == exc.instruction_id), None)
            if bad is None:  # not about one instruction: nothing to leave out
                raise
            refused.append((bad, str(exc)))
            pending.remove(bad)
    return [], refused


def submit_payments(engine: Engine, rail: PaymentRail, cycle_id: str) -> SubmitOutcome:
    """Submit the cycle's unsubmitted instructions and record the outcome (a planned cycle moves to
    payments_submitted). RailUnavailable propagates (the caller retries); an instruction the rail refuses for good
    (bad account or amount, a collection from a partner with no mandate on record) is marked failed."""
    with engine.connect() as conn:
        rows = store.payments.unsubmitted(conn, cycle_id)
    pending, uncarriable = [], []
    for row in rows:
        try:
            pending.append(instruction_for(cycle_id, row))
        except InvalidInstruction as exc:
            uncarriable.append((row, str(exc)))
    submissions, refused = submit_carriable(rail, pending)
    refused = uncarriable + refused
    outcome = SubmitOutcome(sum(s.status == "submitted" for s in submissions),
                            sum(s.status == "duplicate" for s in submissions),
                            tuple(f"{i.partner_id}: {why}" for i, why in refused))
    with engine.begin() as conn:
        store.payments.write_payment_events(conn, [
            *(store.payments.mark_submitted(conn, s.instruction_id, s.reference) for s in submissions),
            *(store.payments.mark_failed(conn, instruction.instruction_id, why) for instruction, why in refused)])
        if store.cycles.lock(conn, cycle_id).state == "payments_planned":
            store.cycles.move(conn, cycle_id, "payments_submitted", {"submitted": outcome.submitted,
                                                                     "duplicates": outcome.duplicates,
                                                                     "failed": list(outcome.failed)})
    return outcome


def record_confirmations(engine: Engine, rail: PaymentRail, cycle_id: str) -> ConfirmationTally:
    """Match the rail's confirmations to the cycle's submitted instructions (amount and currency must agree)."""
    with engine.connect() as conn:
        ours = store.payments.instructed(conn, cycle_id)
    updates = []
    for c in rail.confirmations():
        row = ours.get(c.instruction_id)
        if row is None or row.state not in ("submitted", "settled", "rejected"):
            continue
        state, failure = confirmed_state(c.status, c.reason, (c.amount_minor, c.currency),
                                         (row.amount_minor, row.currency))
        updates.append((c.instruction_id, state, failure, c.booked_at))
    with engine.begin() as conn:
        store.payments.write_payment_events(conn, [
            store.payments.record_confirmation(conn, instruction_id, state, failure, booked_at)
            for instruction_id, state, failure, booked_at in updates])
        store.positions.follow_instructions(conn, cycle_id)
        return tally(store.payments.instruction_states(conn, cycle_id))
