"""A partner's own position, as SettlementService.GetPartnerPosition serves it to that partner.

It lives in settlement, not in network, because the obligations accrued in the open cycle are settlement's rules
(settlement.domain.obligations over settlement.store.clearing's flows): network sits below settlement in the
import layers and may not use them, and computing them a second time in network would be the same rule in two
places. The ledger figures come from network's own functions:
  outstanding_points  the partner's issued points not yet redeemed or expired (network.store.lots)
  liability_minor     money_for_points(outstanding_points, point value)
  exposure_minor      liability_minor - collateral of the contract in force (network.core.rules.exposure_minor)
  headroom_minor      credit_limit_minor - exposure_minor (None without a credit limit; negative past the limit)
Accrued obligations: the open cycle runs from the last cycle's period_end (the start of time before the first
cycle) to `now`; its flows are cleared by the same functions a cycle's clearing calls, and the partner's side of
the lines is taken as its statement would show them (settlement.domain.statements.statement_lines).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import Connection

from network import errors
from network.core.ledger import money_for_points
from network.core.rules import exposure_minor
from network.core.terms import ContractTerms, in_force
from network.store.contracts import load_contracts
from network.store.lots import outstanding_points
from settlement import store
from settlement.domain import obligations
from settlement.domain.statements import StatementLine, StatementTotals, statement_lines, statement_totals

LEDGER_START = datetime(1970, 1, 1, tzinfo=timezone.utc)  # the open period's start before the first cycle


@dataclass(frozen=True)
class AccruedObligations:
    period_start: datetime | None  # None: no cycle yet, the open period runs from the ledger's start
    period_end: datetime
    lines: tuple[StatementLine, ...]
    totals: StatementTotals


@dataclass(frozen=True)
class PartnerPosition:
    partner_id: str
    currency: str
    as_of: datetime
    outstanding_points: int
    liability_minor: int
    collateral_minor: int
    exposure_minor: int
    credit_limit_minor: int | None
    headroom_minor: int | None
    accrued: AccruedObligations
    terms_in_force: ContractTerms | None
    upcoming_terms: tuple[ContractTerms, ...]


def accrued_obligations(conn: Connection, partner_id: str, now: datetime, point_value_minor: Decimal,
                        currency: str) -> AccruedObligations:
    """The partner's obligation lines of the open cycle so far, rounded and signed as on its statement."""
    last_end = store.cycles.last_period_end(conn)
    start = last_end or LEDGER_START
    lines: list[StatementLine] = []
    if start < now:
        try:
            flows = store.clearing.flows(conn, start, now, partner_id)
        except obligations.MissingContract as exc:
            raise errors.precondition("NO_CONTRACT", str(exc), partner_id=partner_id) from None
        lines = statement_lines(partner_id, obligations.obligations(flows, point_value_minor, currency))
    return AccruedObligations(last_end, now, tuple(lines), statement_totals(lines))


def partner_position(conn: Connection, partner_id: str, now: datetime, point_value_minor: Decimal,
                     currency: str) -> PartnerPosition:
    """Everything in one transaction (the caller's): liability, exposure, accrued obligations and contract terms."""
    outstanding = outstanding_points(conn, partner_id)
    history = load_contracts(conn, partner_id)
    terms = in_force(history, now)
    collateral = terms.collateral_minor if terms else 0
    limit = terms.credit_limit_minor if terms else None
    exposure = exposure_minor(outstanding, point_value_minor, collateral)
    return PartnerPosition(
        partner_id, currency, now, outstanding, money_for_points(outstanding, point_value_minor), collateral, exposure,
        limit, None if limit is None else limit - exposure,
        accrued_obligations(conn, partner_id, now, point_value_minor, currency), terms,
        tuple(c for c in history if c.effective_from > now))
