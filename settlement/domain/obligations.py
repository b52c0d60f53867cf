"""The obligation rules (docs/money-model.md) as pure functions: cleared flows in, rounded obligation lines out.

A Flow is one aggregate of the clearing SQL: all points of one kind of event (redemption, issue, expiry; a
reversal is its own flow with negative points) sharing issuer, redeemer and the contract versions that price
them. Which contract prices what:
  - the *settlement model* of a point is the issuer's contract in force when the point was issued (its lot);
  - a redemption is priced by the redeemer's contract in force at the redemption (clearing fee, redemption rate);
  - an issue is priced by the issuer's contract at the earn (issue price);
  - an expiry is priced by the issuer's contract in force at the expiry (breakage share);
  - a reversal is priced as of the event it reverses, so it undoes exactly what that event cleared.

Obligations, per model (point value = the network setting point_value_minor, minor units per point):
  issuer_pays, redemption at B of points issued by A:
      redemption_clearing   A -> B        points x point value            (only when A != B)
      redemption_fee        B -> network  points x point value x B's clearing_fee_bps / 10000
  prefunded:
      prefund_issue         A -> network  points x A's issue price        (at the earn)
      prefund_reimburse     network -> B  points x B's redemption rate    (at the redemption; a partner whose
                                          contract sets no redemption rate is reimbursed at the point value)
  issuer_pays, expiry of points issued by A:
      breakage_share        A -> network  points x point value x A's breakage_share_bps / 10000
Reversals give the same line with the cause suffixed "_reversal" and a negative amount.

Rounding, the one rule: the exact amount of a line (sum of its flows' points x its rate, a Decimal) is rounded
half-even to the minor unit, once per line (network.core.ledger.money_for_points). Totals are sums of rounded lines.

Every line and every clearing matrix cell names the issuer of its flows, so the lines (cells) of a set of flows are
the union of the lines (cells) of each issuer's flows: a period can be cleared one issuer at a time.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable

from network.core.ledger import money_for_points
from network.core.terms import BASIS_POINTS

NETWORK = "network"
REDEMPTION, ISSUE, EXPIRY = "redemption", "issue", "expiry"
ISSUER_PAYS, PREFUNDED = "issuer_pays", "prefunded"
REDEMPTION_CLEARING = "redemption_clearing"
REDEMPTION_FEE = "redemption_fee"
PREFUND_ISSUE = "prefund_issue"
PREFUND_REIMBURSE = "prefund_reimburse"
BREAKAGE_SHARE = "breakage_share"
REVERSAL = "_reversal"
BPS = Decimal(BASIS_POINTS)


@dataclass(frozen=True)
class Terms:
    """The parts of a contract version that price settlement."""

    contract_id: int
    partner_id: str
    settlement_model: str
    clearing_fee_bps: int = 0
    issue_price_minor_per_point: Decimal = Decimal(0)
    redemption_rate_minor_per_point: Decimal = Decimal(0)
    breakage_share_bps: int = 0


@dataclass(frozen=True)
class Flow:
    kind: str  # REDEMPTION, ISSUE or EXPIRY
    reversal: bool
    issuer_id: str
    redeemer_id: str | None
    points: int  # signed: negative for reversals
    issue_terms: Terms  # the issuer's contract when the points were issued: decides the model
    event_terms: Terms | None = None  # redeemer's contract at a redemption, issuer's at an expiry


class MissingContract(RuntimeError):
    """An event happened when its partner had no contract in force: it cannot be priced."""


@dataclass(frozen=True)
class Obligation:
    payer: str
    payee: str
    amount_minor: int  # negative for reversals
    currency: str
    cause: str
    issuer_id: str
    redeemer_id: str | None
    issuer_contract_id: int | None
    redeemer_contract_id: int | None
    points: int


@dataclass(frozen=True)
class _LineKey:
    cause: str
    payer: str
    payee: str
    issuer_id: str
    redeemer_id: str | None
    issuer_contract_id: int | None
    redeemer_contract_id: int | None
    rate_minor_per_point: Decimal


def reimbursement_rate(redeemer: Terms, point_value_minor: Decimal) -> Decimal:
    return redeemer.redemption_rate_minor_per_point or point_value_minor


def _lines_of(flow: Flow, point_value_minor: Decimal) -> list[_LineKey]:
    """The lines a flow contributes to, each with its rate per point (amount = points x rate)."""
    suffix = REVERSAL if flow.reversal else ""
    issued = flow.issue_terms
    if flow.kind == REDEMPTION:
        redeemer = flow.event_terms
        assert redeemer is not None and flow.redeemer_id is not None, "a redemption flow names its redeemer's terms"
        ids = (flow.issuer_id, flow.redeemer_id, issued.contract_id, redeemer.contract_id)
        if issued.settlement_model == PREFUNDED:
            return [_LineKey(PREFUND_REIMBURSE + suffix, NETWORK, flow.redeemer_id, *ids,
                             reimbursement_rate(redeemer, point_value_minor))]
        lines = [_LineKey(REDEMPTION_FEE + suffix, flow.redeemer_id, NETWORK, *ids,
                          point_value_minor * redeemer.clearing_fee_bps / BPS)]
        if flow.issuer_id != flow.redeemer_id:
            lines.append(_LineKey(REDEMPTION_CLEARING + suffix, flow.issuer_id, flow.redeemer_id, *ids, point_value_minor))
        return lines
    if flow.kind == ISSUE:
        if issued.settlement_model != PREFUNDED:
            return []
        return [_LineKey(PREFUND_ISSUE + suffix, flow.issuer_id, NETWORK, flow.issuer_id, None, issued.contract_id, None,
                         issued.issue_price_minor_per_point)]
    if flow.kind == EXPIRY:
        at_expiry = flow.event_terms or issued
        if issued.settlement_model != ISSUER_PAYS:
            return []  # prefunded points were paid for at issue: their breakage stays with the network
        return [_LineKey(BREAKAGE_SHARE + suffix, flow.issuer_id, NETWORK, flow.issuer_id, None, at_expiry.contract_id,
                         None, point_value_minor * at_expiry.breakage_share_bps / BPS)]
    raise ValueError(f"unknown flow kind {flow.kind!r}")


def obligations(flows: Iterable[Flow], point_value_minor: Decimal, currency: str) -> list[Obligation]:
    """Every obligation line of `flows`, rounded once per line; lines that round to zero are left out."""
    points_by_line: dict[_LineKey, int] = defaultdict(int)
    for flow in flows:
        for key in _lines_of(flow, point_value_minor):
            points_by_line[key] += flow.points
    out = []
    for key, points in points_by_line.items():
        amount = money_for_points(points, key.rate_minor_per_point)
        if amount != 0:
            out.append(Obligation(key.payer, key.payee, amount, currency, key.cause, key.issuer_id, key.redeemer_id,
                                  key.issuer_contract_id, key.redeemer_contract_id, points))
    return sorted(out, key=_line_order)


def _line_order(o: Obligation) -> tuple:
    return (o.cause, o.payer, o.payee, o.issuer_id, o.redeemer_id or "", o.issuer_contract_id or 0,
            o.redeemer_contract_id or 0)


@dataclass(frozen=True)
class ClearingCell:
    issuer_id: str
    redeemer_id: str
    currency: str
    points: int  # redeemed, net of reversals
    amount_minor: int  # what the redemptions cleared to the redeemer (clearing or reimbursement)


_CLEARED_TO_REDEEMER = {REDEMPTION_CLEARING, REDEMPTION_CLEARING + REVERSAL, PREFUND_REIMBURSE,
                        PREFUND_REIMBURSE + REVERSAL}


def clearing_matrix(flows: Iterable[Flow], lines: Iterable[Obligation], currency: str) -> list[ClearingCell]:
    """Issuer x redeemer cells: points redeemed and the money those redemptions cleared to the redeemer."""
    points: dict[tuple[str, str], int] = defaultdict(int)
    amounts: dict[tuple[str, str], int] = defaultdict(int)
    for flow in flows:
        if flow.kind == REDEMPTION and flow.redeemer_id is not None:
            points[flow.issuer_id, flow.redeemer_id] += flow.points
    for line in lines:
        if line.cause in _CLEARED_TO_REDEEMER and line.redeemer_id is not None:
            amounts[line.issuer_id, line.redeemer_id] += line.amount_minor
    cells = set(points) | set(amounts)
    return [ClearingCell(i, r, currency, points.get((i, r), 0), amounts.get((i, r), 0)) for i, r in sorted(cells)]


@dataclass(frozen=True)
class ClearingSummary:
    """What clearing a cycle wrote: its obligation lines, their total and its clearing matrix cells."""

    obligation_lines: int
    obligations_minor: int
    matrix_cells: int
