"""Disputes as pure functions: what a partner's dispute of statement lines holds back, its id, and when the
response window of a statement is closed.

A partner answers its statement once, while the cycle awaits responses and before the statement's dispute deadline:
it acknowledges it, or disputes some of its lines (their whole total, or part of it). The disputed amount is held
back at payout; the operator decides the dispute (statement_stands: the amount is settled; partner_upheld: it is
written off, the network bears it). An open dispute's amount is carried into the next cycle.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Iterable

from settlement.domain.cycles import RESPONSE_STATE
from settlement.domain.statements import CARRIED_DISPUTE, StatementLine

STATEMENT_STANDS, PARTNER_UPHELD = "statement_stands", "partner_upheld"
DISPUTE_OUTCOMES = (STATEMENT_STANDS, PARTNER_UPHELD)


def dispute_id_for(statement_id: str) -> str:
    """One dispute per statement: "dsp-" + 24 hex of SHA-256(statement id)."""
    return "dsp-" + hashlib.sha256(statement_id.encode()).hexdigest()[:24]


def response_window_closed(statement_state: str, cycle_state: str, dispute_deadline: datetime, now: datetime) -> bool:
    """An unanswered statement can no longer be answered: its cycle stopped awaiting responses or the deadline passed
    (an answered one can be re-read: acknowledging twice is harmless)."""
    return statement_state == "issued" and (cycle_state != RESPONSE_STATE or now >= dispute_deadline)


def disputed_amount(lines: Iterable[StatementLine], line_numbers: Iterable[int], amount_minor: int = 0) -> int:
    """The signed effect on the partner of disputing `line_numbers` (or `amount_minor` of them: its magnitude).

    Raises ValueError naming the problem: unknown or carried lines, a partial amount above the lines' total.
    """
    by_number = {line.line_number: line for line in lines}
    numbers = sorted(set(line_numbers))
    if not numbers:
        raise ValueError("name at least one line")
    total = 0
    for n in numbers:
        line = by_number.get(n)
        if line is None:
            raise ValueError(f"line {n} is not on this statement")
        if line.cause == CARRIED_DISPUTE:
            raise ValueError(f"line {n} is an amount already in dispute")
        total += line.amount_minor
    if total == 0:
        raise ValueError("the disputed lines add up to nothing")
    if amount_minor:
        if not 0 < amount_minor <= abs(total):
            raise ValueError(f"amount_minor must be between 1 and {abs(total)}, the disputed lines' total")
        return amount_minor if total > 0 else -amount_minor
    return total
