"""Paying out and collecting planned positions through a payment rail, and matching its confirmations.

Exactly once: the instruction row (one per cycle, partner and direction, with a deterministic id) is written
when payments are planned, before anything is submitted; submitting hands the bank every instruction of the
cycle not yet marked submitted, and the rail refuses to move money twice for one id. A worker killed between
the bank's answer and the row update resubmits, and the bank answers "duplicate".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text

from network.admin import SepaMandate
from settlement.rails import Account, Iso20022FileRail, PaymentInstruction, PaymentRail, RailError, SimulatedBank
from settlement.rails.interface import validate_for_sepa
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


@dataclass(frozen=True)
class _Uncarriable:
    """A payment_instructions row no rail can carry as it stands (its refusal, kept to mark the row failed)."""

    instruction_id: str
    partner_id: str
    refusal: str


def _instructions_to_submit(engine: Engine, cycle_id: str) -> list[PaymentInstruction | _Uncarriable]:
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT i.instruction_id, i.partner_id, i.direction, i.amount_minor, i.currency, p.name, p.iban, p.bic, "
            "p.sepa_mandate_id, p.sepa_mandate_signed_on "
            "FROM payment_instructions i JOIN partners p USING (partner_id) "
            "WHERE i.cycle_id = :c AND i.state = 'created' ORDER BY i.instruction_id"), {"c": cycle_id}).all()
    pending = []
    for r in rows:
        try:
            pending.append(instruction_for(
                cycle_id, r.instruction_id, r.partner_id, r.direction, int(r.amount_minor), r.currency,
                Account(r.name[:70], r.iban or "", r.bic),
                SepaMandate(r.sepa_mandate_id, r.sepa_mandate_signed_on) if r.sepa_mandate_id else None))
        except RailError as exc:  # e.g. a collection from a partner with no mandate on record
            pending.append(_Uncarriable(r.instruction_id, r.partner_id, str(exc)))
    return pending


def instruction_for(cycle_id: str, instruction_id: str, partner_id: str, direction: str, amount_minor: int,
                    currency: str, account: Account, mandate: SepaMandate | None) -> PaymentInstruction:
    """The rail's instruction for a payment_instructions row (a collection under the partner's mandate on record;
    without one, the rail refuses the collection as one it can never carry)."""
    collection = direction == "collection" and mandate is not None
    return PaymentInstruction(instruction_id=instruction_id, cycle_id=cycle_id, partner_id=partner_id,
                              direction=direction, amount_minor=amount_minor, currency=currency, counterparty=account,
                              remittance=f"Coalition settlement {cycle_id}",
                              mandate_id=mandate.mandate_id if collection else "",
                              mandate_signed_on=mandate.signed_on if collection else None)


@dataclass(frozen=True)
class SubmitOutcome:
    submitted: int
    duplicates: int
    failed: tuple[str, ...]  # "<partner>: <why>" for instructions the rail can never carry


def submit_payments(engine: Engine, rail: PaymentRail, cycle_id: str) -> SubmitOutcome:
    """Submit the cycle's unsubmitted instructions. RailUnavailable propagates (the caller retries);
    an instruction the rail refuses for good (bad account, bad amount) is marked failed."""
    pending = _instructions_to_submit(engine, cycle_id)
    good, failed = [], []
    for instruction in pending:
        if isinstance(instruction, _Uncarriable):
            failed.append((instruction, instruction.refusal))
            continue
        try:
            _check_carriable(instruction)
            good.append(instruction)
        except RailError as exc:
            failed.append((instruction, str(exc)))
    submissions = rail.submit(good) if good else []
    with engine.begin() as conn:
        for s in submissions:
            conn.execute(text("UPDATE payment_instructions SET state = 'submitted', rail_reference = :r, "
                              "submitted_at = now() WHERE instruction_id = :i AND state = 'created'"),
                         {"r": s.reference, "i": s.instruction_id})
        for instruction, why in failed:
            conn.execute(text("UPDATE payment_instructions SET state = 'failed', failure = :f WHERE instruction_id = :i"),
                         {"f": why[:2000], "i": instruction.instruction_id})
    return SubmitOutcome(sum(s.status == "submitted" for s in submissions),
                         sum(s.status == "duplicate" for s in submissions),
                         tuple(f"{i.partner_id}: {why}" for i, why in failed))


def _check_carriable(instruction: PaymentInstruction) -> None:
    """Refuse, before submitting the batch, what a SEPA rail can never carry (so one bad partner holds no one up)."""
    validate_for_sepa([instruction])


@dataclass(frozen=True)
class ConfirmationTally:
    pending: int
    settled: int
    rejected: int
    failed: int
    rejections: tuple[str, ...]


def record_confirmations(engine: Engine, rail: PaymentRail, cycle_id: str) -> ConfirmationTally:
    """Match the rail's confirmations to the cycle's submitted instructions (amount and currency must agree)."""
    with engine.connect() as conn:
        ours = {r.instruction_id: r for r in conn.execute(text(
            "SELECT instruction_id, partner_id, amount_minor, currency, state FROM payment_instructions "
            "WHERE cycle_id = :c"), {"c": cycle_id})}
    updates = []
    for c in rail.confirmations():
        row = ours.get(c.instruction_id)
        if row is None or row.state not in ("submitted", "settled", "rejected"):
            continue
        if (c.amount_minor, c.currency) != (int(row.amount_minor), row.currency):
            updates.append((c.instruction_id, "rejected", f"confirmed {c.amount_minor} {c.currency}, instructed "
                                                          f"{row.amount_minor} {row.currency}", c.booked_at))
        else:
            updates.append((c.instruction_id, c.status, c.reason, c.booked_at))
    with engine.begin() as conn:
        for instruction_id, status, reason, booked_at in updates:
            conn.execute(text("UPDATE payment_instructions SET state = :s, failure = nullif(:f, ''), confirmed_at = :t "
                              "WHERE instruction_id = :i AND state <> :s"),
                         {"s": status, "f": reason, "t": booked_at, "i": instruction_id})
        conn.execute(text("UPDATE net_positions n SET state = i.state FROM payment_instructions i "
                          "WHERE i.cycle_id = :c AND n.cycle_id = i.cycle_id AND n.partner_id = i.partner_id "
                          "AND n.currency = i.currency AND i.state IN ('settled','rejected') AND n.state <> i.state"),
                     {"c": cycle_id})
        rows = conn.execute(text("SELECT state, partner_id, failure FROM payment_instructions WHERE cycle_id = :c"),
                            {"c": cycle_id}).all()
    return ConfirmationTally(sum(r.state in ("created", "submitted") for r in rows),
                             sum(r.state == "settled" for r in rows), sum(r.state == "rejected" for r in rows),
                             sum(r.state == "failed" for r in rows),
                             tuple(f"{r.partner_id}: {r.failure}" for r in rows if r.state in ("rejected", "failed")))
