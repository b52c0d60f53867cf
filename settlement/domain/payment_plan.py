"""The payment plan as pure functions: what each position pays or collects once the dispute window has closed,
the instruction that carries it, and what the rail's confirmations say about the instructions.

One instruction per cycle, partner and direction, with a deterministic end-to-end id, so a plan written twice is
the same plan. A collection is drawn under the SEPA direct debit mandate on the partner's record. A confirmation settles
or rejects an instruction only when its amount and currency are the instructed ones; otherwise it is a rejection
that names both.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable

from settlement.domain.netting import HeldAmount, PositionSettlement, settle_position

PAYOUT, COLLECTION = "payout", "collection"
UNCONFIRMED_STATES = ("created", "submitted")
PROBLEM_STATES = ("rejected", "failed")


def payment_direction(payable_minor: int) -> str | None:
    if payable_minor > 0:
        return PAYOUT
    if payable_minor < 0:
        return COLLECTION
    return None


def instruction_id_for(cycle_id: str, partner_id: str, direction: str) -> str:
    """Deterministic end-to-end id: "P"/"C" + 32 hex of SHA-256(cycle | partner | direction) (33 characters)."""
    digest = hashlib.sha256(f"{cycle_id}|{partner_id}|{direction}".encode()).hexdigest()[:32]
    return ("P" if direction == PAYOUT else "C") + digest


def remittance_for(cycle_id: str) -> str:
    return f"Coalition settlement {cycle_id}"


@dataclass(frozen=True)
class PlannedInstruction:
    instruction_id: str
    partner_id: str
    direction: str  # PAYOUT or COLLECTION
    amount_minor: int  # > 0
    currency: str


@dataclass(frozen=True)
class PositionPlan:
    settlement: PositionSettlement
    instruction: PlannedInstruction | None  # None: nothing due

    @property
    def state(self) -> str:
        return "instructed" if self.instruction else "nothing_due"


def plan_position(cycle_id: str, partner_id: str, currency: str, net_minor: int, disputes: Iterable[HeldAmount],
                  carried_in: Iterable[HeldAmount]) -> PositionPlan:
    """A position's payable amount (settle_position) and the instruction that pays or collects it, if any."""
    settled = settle_position(net_minor, disputes, carried_in)
    direction = payment_direction(settled.payable_minor)
    if direction is None:
        return PositionPlan(settled, None)
    return PositionPlan(settled, PlannedInstruction(instruction_id_for(cycle_id, partner_id, direction), partner_id,
                                                    direction, abs(settled.payable_minor), currency))


@dataclass(frozen=True)
class SubmitOutcome:
    submitted: int
    duplicates: int
    failed: tuple[str, ...]  # "<partner>: <why>" for instructions the rail can never carry


def confirmed_state(status: str, reason: str, confirmed: tuple[int, str], instructed: tuple[int, str]) -> tuple[str, str]:
    """The instruction's state and failure text from a confirmation of `confirmed` (amount_minor, currency)."""
    if confirmed != instructed:
        return "rejected", f"confirmed {confirmed[0]} {confirmed[1]}, instructed {instructed[0]} {instructed[1]}"
    return status, reason


@dataclass(frozen=True)
class InstructionState:
    partner_id: str
    state: str
    failure: str | None


@dataclass(frozen=True)
class ConfirmationTally:
    pending: int
    settled: int
    rejected: int
    failed: int
    problems: tuple[str, ...]  # "<partner>: <why>" for rejected and failed instructions


def tally(instructions: Iterable[InstructionState]) -> ConfirmationTally:
    states = list(instructions)
    return ConfirmationTally(sum(i.state in UNCONFIRMED_STATES for i in states),
                             sum(i.state == "settled" for i in states), sum(i.state == "rejected" for i in states),
                             sum(i.state == "failed" for i in states),
                             tuple(f"{i.partner_id}: {i.failure}" for i in states if i.state in PROBLEM_STATES))
