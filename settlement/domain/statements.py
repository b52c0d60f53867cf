"""Statements as pure functions: a partner's lines and totals of a cycle, and the bytes the network signs.

Signed payload (`coalition-statement-v1`): UTF-8 lines joined by "\\n", no trailing newline:

    coalition-statement-v1
    statement_id=<id>
    cycle_id=<id>
    partner_id=<id>
    currency=<ISO 4217>
    period_start=<RFC 3339 UTC, microseconds, e.g. 2026-11-23T00:00:00.000000Z>
    period_end=<same format>
    issued_at=<same format>
    dispute_deadline=<same format>
    line=<n>|<cause>|<counterparty>|<issuer_id>|<redeemer_id>|<points>|<amount_minor>|<dispute_id>   (one per line)
    receivable_minor=<sum of positive obligation lines>
    payable_minor=<sum of negative obligation lines, negative>
    net_minor=<receivable + payable>
    carried_in_minor=<sum of carried_dispute lines>

Amounts are signed from the partner's side (positive: the partner receives). Ids never contain "|" or "=".
The network signs the payload with Ed25519 (its key id is served by GetNetworkKeys); GetStatement returns the
exact signed bytes, so a partner verifies the signature over them and then checks they say what the fields say.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable

from settlement.domain.obligations import NETWORK, Obligation

PROFILE = "coalition-statement-v1"
CARRIED_DISPUTE = "carried_dispute"


@dataclass(frozen=True)
class StatementLine:
    line_number: int
    cause: str
    counterparty: str
    issuer_id: str
    redeemer_id: str
    points: int
    amount_minor: int  # > 0: the partner receives
    dispute_id: str = ""  # only on carried_dispute lines

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class CarriedAmount:
    dispute_id: str
    amount_minor: int


@dataclass(frozen=True)
class StatementBody:
    statement_id: str
    cycle_id: str
    partner_id: str
    currency: str
    period_start: datetime
    period_end: datetime
    issued_at: datetime
    dispute_deadline: datetime
    lines: tuple[StatementLine, ...]
    receivable_minor: int
    payable_minor: int
    net_minor: int
    carried_in_minor: int


def statement_id(cycle_id: str, partner_id: str, currency: str) -> str:
    return f"stm-{cycle_id}-{partner_id}-{currency}"


def statement_lines(partner_id: str, obligations: Iterable[Obligation],
                    carried_in: Iterable[CarriedAmount] = ()) -> list[StatementLine]:
    """The partner's side of every obligation it is party to, then the amounts carried in, numbered from 1."""
    own = []
    for o in obligations:
        if partner_id not in (o.payer, o.payee):
            continue
        receives = o.payee == partner_id
        own.append((o.cause, o.payer if receives else o.payee, o.issuer_id, o.redeemer_id or "", o.points,
                    o.amount_minor if receives else -o.amount_minor))
    own.sort()
    lines = [StatementLine(n, *fields) for n, fields in enumerate(own, 1)]
    for c in sorted(carried_in, key=lambda c: c.dispute_id):
        lines.append(StatementLine(len(lines) + 1, CARRIED_DISPUTE, NETWORK, "", "", 0, c.amount_minor, c.dispute_id))
    return lines


def build_statement(cycle_id: str, partner_id: str, currency: str, period: tuple[datetime, datetime],
                    issued_at: datetime, dispute_deadline: datetime, lines: Iterable[StatementLine]) -> StatementBody:
    lines = tuple(lines)
    amounts = [line.amount_minor for line in lines if line.cause != CARRIED_DISPUTE]
    receivable = sum(a for a in amounts if a > 0)
    payable = sum(a for a in amounts if a < 0)
    carried = sum(line.amount_minor for line in lines if line.cause == CARRIED_DISPUTE)
    return StatementBody(statement_id(cycle_id, partner_id, currency), cycle_id, partner_id, currency, period[0],
                         period[1], issued_at, dispute_deadline, lines, receivable, payable, receivable + payable, carried)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_bytes(body: StatementBody) -> bytes:
    """The coalition-statement-v1 payload of `body` (see the module docstring)."""
    head = [PROFILE, f"statement_id={body.statement_id}", f"cycle_id={body.cycle_id}", f"partner_id={body.partner_id}",
            f"currency={body.currency}", f"period_start={rfc3339(body.period_start)}",
            f"period_end={rfc3339(body.period_end)}", f"issued_at={rfc3339(body.issued_at)}",
            f"dispute_deadline={rfc3339(body.dispute_deadline)}"]
    lines = [f"line={ln.line_number}|{ln.cause}|{ln.counterparty}|{ln.issuer_id}|{ln.redeemer_id}|{ln.points}|"
             f"{ln.amount_minor}|{ln.dispute_id}" for ln in body.lines]
    tail = [f"receivable_minor={body.receivable_minor}", f"payable_minor={body.payable_minor}",
            f"net_minor={body.net_minor}", f"carried_in_minor={body.carried_in_minor}"]
    return "\n".join(head + lines + tail).encode("utf-8")
