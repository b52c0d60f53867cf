"""What every payment rail takes and gives: instructions, submissions, confirmations, errors.

Amounts are integers in minor units (cents) from end to end; a decimal string only exists
inside a bank file. Rails here are SEPA rails: EUR only, accounts in the SEPA zone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from typing import Any, Literal, Protocol, runtime_checkable

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

Direction = Literal["payout", "collection"]

INT64_MAX = 2**63 - 1
# EPC SCT and SDD rulebooks: 0.01 to 999 999 999.99 EUR per transaction.
MAX_SEPA_AMOUNT_MINOR = 99_999_999_999
MAX_INSTRUCTIONS_PER_SUBMIT = 10_000
MAX_NAME_CHARS = 70  # Nm is Max70Text in pain.001/pain.008
MAX_REMITTANCE_CHARS = 140  # Ustrd is Max140Text

_INSTRUCTION_ID = re.compile(r"[A-Za-z0-9-]{1,35}")
_CYCLE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # also a file name component
_CURRENCY = re.compile(r"[A-Z]{3}")
_MANDATE_ID = re.compile(r"[A-Za-z0-9+?/:().,' -]{1,35}")  # EPC character set, Max35Text
_CREDITOR_ID = re.compile(r"[A-Z]{2}[0-9]{2}[A-Za-z0-9]{3}[A-Za-z0-9]{1,28}")


class RailError(Exception):
    """A payment rail could not do what was asked; instruction_id names the one instruction it is about, if any."""

    def __init__(self, message: str = "", *, instruction_id: str = "") -> None:
        super().__init__(message)
        self.instruction_id = instruction_id


class RailUnavailable(RailError):
    """The rail is down for now; the caller retries the same submission later."""


class InvalidAccount(RailError, ValueError):
    """An IBAN, BIC or creditor identifier is malformed or outside SEPA; retrying will not help."""


class InvalidInstruction(RailError, ValueError):
    """An instruction this rail cannot carry (currency, amount, ids, mandate); retrying will not help."""


@dataclass(frozen=True)
class Account:
    name: str
    iban: str
    bic: str | None


@dataclass(frozen=True)
class PaymentInstruction:
    """One payout to, or collection from, a partner. instruction_id is the end-to-end id."""

    instruction_id: str
    cycle_id: str
    partner_id: str
    direction: Direction
    amount_minor: int
    currency: str
    counterparty: Account
    remittance: str
    mandate_id: str = ""
    mandate_signed_on: date | None = None

    def __post_init__(self) -> None:
        label = f"instruction {self.instruction_id!r}"
        if not _INSTRUCTION_ID.fullmatch(self.instruction_id):
            raise InvalidInstruction(f"{label}: the id must be 1 to 35 characters of [A-Za-z0-9-]")
        if not _CYCLE_ID.fullmatch(self.cycle_id):
            raise InvalidInstruction(f"{label}: cycle id {self.cycle_id!r} must match {_CYCLE_ID.pattern}")
        if not self.partner_id:
            raise InvalidInstruction(f"{label}: partner id is empty")
        if self.direction not in ("payout", "collection"):
            raise InvalidInstruction(f"{label}: direction {self.direction!r} is not payout or collection")
        if type(self.amount_minor) is not int:
            raise InvalidInstruction(
                f"{label}: amount_minor must be an int of minor units, got {type(self.amount_minor).__name__}"
            )
        if not 0 < self.amount_minor <= INT64_MAX:
            raise InvalidInstruction(f"{label}: amount_minor {self.amount_minor} must be in 1..{INT64_MAX}")
        if not _CURRENCY.fullmatch(self.currency):
            raise InvalidInstruction(f"{label}: currency {self.currency!r} is not an ISO 4217 code")
        if self.direction == "collection":
            if not _MANDATE_ID.fullmatch(self.mandate_id):
                raise InvalidInstruction(
                    f"{label}: a collection needs a mandate id of 1 to 35 SEPA characters, got {self.mandate_id!r}"
                )
            if self.mandate_signed_on is None:
                raise InvalidInstruction(f"{label}: a collection needs the date its mandate was signed")


@dataclass(frozen=True)
class Submission:
    instruction_id: str
    status: Literal["submitted", "duplicate"]
    reference: str


@dataclass(frozen=True)
class Confirmation:
    instruction_id: str
    status: Literal["settled", "rejected"]
    amount_minor: int
    currency: str
    booked_at: datetime
    reason: str = ""


@runtime_checkable
class PaymentRail(Protocol):
    def submit(self, instructions: Sequence[PaymentInstruction]) -> list[Submission]:
        """Hand instructions to the bank. An id submitted before comes back "duplicate" with its
        first reference and moves no money. Validates every instruction before writing anything."""
        ...

    def confirmations(self) -> list[Confirmation]:
        """Every confirmation known so far, oldest first; match them by instruction_id."""
        ...


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def validate_iban(iban: str) -> str:
    """The IBAN in compact form, if its structure and check digits hold and it is in the SEPA zone."""
    try:
        parsed = IBAN(iban)
    except SchwiftyException as e:
        raise InvalidAccount(f"IBAN {iban!r} is invalid: {e}") from e
    if not parsed.in_sepa_zone:
        raise InvalidAccount(f"IBAN {iban!r} is outside the SEPA zone")
    return parsed.compact


def validate_bic(bic: str) -> str:
    try:
        return BIC(bic).compact
    except SchwiftyException as e:
        raise InvalidAccount(f"BIC {bic!r} is invalid: {e}") from e


def validate_account(account: Account) -> Account:
    """The account with IBAN and BIC in compact form; InvalidAccount names what is wrong."""
    if not 0 < len(account.name) <= MAX_NAME_CHARS:
        raise InvalidAccount(f"account holder name {account.name!r} must be 1 to {MAX_NAME_CHARS} characters")
    bic = validate_bic(account.bic) if account.bic else None
    return Account(account.name, validate_iban(account.iban), bic)


def validate_creditor_id(creditor_id: str) -> str:
    """A SEPA creditor identifier: country, ISO 7064 MOD 97-10 check digits, business code, national id."""
    if not _CREDITOR_ID.fullmatch(creditor_id):
        raise InvalidAccount(f"SEPA creditor identifier {creditor_id!r} is malformed")
    rearranged = creditor_id[7:] + creditor_id[:4]  # the business code is not checked
    if int("".join(str(int(char, 36)) for char in rearranged)) % 97 != 1:
        raise InvalidAccount(f"SEPA creditor identifier {creditor_id!r} has wrong check digits")
    return creditor_id


def validate_for_sepa(instructions: Sequence[PaymentInstruction]) -> list[PaymentInstruction]:
    """Every instruction checked for a SEPA rail, accounts normalized; raises on the first bad one, naming it in the
    error's instruction_id (a rail's submit calls this first, so a caller can leave that one out and submit again)."""
    if len(instructions) > MAX_INSTRUCTIONS_PER_SUBMIT:
        raise InvalidInstruction(
            f"{len(instructions)} instructions in one submit; split them into batches of "
            f"at most {MAX_INSTRUCTIONS_PER_SUBMIT}"
        )
    checked = []
    for instruction in instructions:
        label = f"instruction {instruction.instruction_id!r}"
        refuse = {"instruction_id": instruction.instruction_id}
        if instruction.currency != "EUR":
            raise InvalidInstruction(
                f"{label}: currency {instruction.currency} is not supported, SEPA rails carry EUR only", **refuse
            )
        if instruction.amount_minor > MAX_SEPA_AMOUNT_MINOR:
            raise InvalidInstruction(
                f"{label}: amount_minor {instruction.amount_minor} exceeds the SEPA maximum {MAX_SEPA_AMOUNT_MINOR}",
                **refuse,
            )
        if not 0 < len(instruction.remittance) <= MAX_REMITTANCE_CHARS:
            raise InvalidInstruction(f"{label}: remittance must be 1 to {MAX_REMITTANCE_CHARS} characters", **refuse)
        try:
            counterparty = validate_account(instruction.counterparty)
        except InvalidAccount as e:
            raise InvalidAccount(f"{label} for partner {instruction.partner_id!r}: {e}", **refuse) from e
        checked.append(replace(instruction, counterparty=counterparty))
    return checked


def journal_terms(instruction: PaymentInstruction) -> dict[str, Any]:
    """What a rail records about a submitted instruction, and what a resubmission must repeat."""
    return {
        "instruction_id": instruction.instruction_id,
        "direction": instruction.direction,
        "amount_minor": instruction.amount_minor,
        "currency": instruction.currency,
        "iban": instruction.counterparty.iban,
    }


def new_instructions(
    instructions: Sequence[PaymentInstruction], submitted: Mapping[str, Mapping[str, Any]]
) -> list[PaymentInstruction]:
    """The instructions not submitted before, first occurrence of each id, in order.

    An id that comes again with other terms (amount, currency, direction, account) is refused:
    answering "duplicate" would hide that the caller believes it paid something else.
    """
    seen: dict[str, PaymentInstruction] = {}
    fresh = []
    for instruction in instructions:
        terms = journal_terms(instruction)
        earlier = submitted.get(instruction.instruction_id)
        if earlier is None and instruction.instruction_id in seen:
            earlier = journal_terms(seen[instruction.instruction_id])
        if earlier is not None:
            differing = sorted(k for k, v in terms.items() if earlier.get(k) != v)
            if differing:
                raise InvalidInstruction(
                    f"instruction {instruction.instruction_id!r} was already submitted with other "
                    f"{', '.join(differing)}: {[earlier.get(k) for k in differing]} != {[terms[k] for k in differing]}"
                )
            continue
        seen[instruction.instruction_id] = instruction
        fresh.append(instruction)
    return fresh


def submissions(
    instructions: Sequence[PaymentInstruction], fresh: Sequence[PaymentInstruction], references: Mapping[str, str]
) -> list[Submission]:
    """One Submission per instruction, in order: the first occurrence of a fresh id is "submitted"."""
    pending = {instruction.instruction_id for instruction in fresh}
    result = []
    for instruction in instructions:
        first = instruction.instruction_id in pending
        pending.discard(instruction.instruction_id)
        result.append(
            Submission(
                instruction.instruction_id,
                "submitted" if first else "duplicate",
                references[instruction.instruction_id],
            )
        )
    return result
