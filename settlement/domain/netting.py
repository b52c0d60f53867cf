"""Multilateral netting as pure functions: obligations in, one position per partner per currency out.

The netting engine knows nothing about loyalty: every obligation adds its amount to the payee and takes it from
the payer. The network is a party like the others; what it ends with is its revenue. Conservation holds exactly:
per currency, sum of partner positions + network revenue == 0.

A cycle's positions (net_cycle) are its netted obligations plus the disputed amounts carried in from earlier
cycles: a partner with only a carried amount gets a position of net 0. What is paid is decided later, when the
dispute window has closed (settle_position): disputed amounts are held back and carried to the next cycle unless
the operator resolved them first.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Mapping

from settlement.domain.disputes import PARTNER_UPHELD, STATEMENT_STANDS
from settlement.domain.obligations import NETWORK, Obligation


@dataclass(frozen=True)
class NetPosition:
    partner_id: str
    currency: str
    net_minor: int  # > 0: the partner receives


@dataclass(frozen=True)
class Netting:
    positions: tuple[NetPosition, ...]
    network_revenue_minor: Mapping[str, int]  # per currency

    def residual_minor(self) -> dict[str, int]:
        """Per currency: sum of positions + network revenue (zero when money is conserved)."""
        return conservation_residual(self.positions, self.network_revenue_minor)


def net(obligations: Iterable[Obligation]) -> Netting:
    balances: dict[tuple[str, str], int] = defaultdict(int)
    for o in obligations:
        balances[o.payee, o.currency] += o.amount_minor
        balances[o.payer, o.currency] -= o.amount_minor
    revenue = {currency: amount for (party, currency), amount in balances.items() if party == NETWORK}
    positions = tuple(NetPosition(party, currency, amount) for (party, currency), amount in sorted(balances.items())
                      if party != NETWORK)
    return Netting(positions, revenue)


def conservation_residual(positions: Iterable[NetPosition], network_revenue_minor: Mapping[str, int]) -> dict[str, int]:
    residual: dict[str, int] = defaultdict(int, network_revenue_minor)
    for p in positions:
        residual[p.currency] += p.net_minor
    return dict(residual)


@dataclass(frozen=True)
class CarriedIn:
    """A disputed amount of an earlier cycle carried into this one (signed: > 0, the partner would receive)."""

    partner_id: str
    currency: str
    amount_minor: int


@dataclass(frozen=True)
class CyclePosition:
    partner_id: str
    currency: str
    net_minor: int  # this cycle's obligations, > 0: the partner receives
    carried_in_minor: int = 0  # disputed amounts of earlier cycles, settled when their dispute is resolved


@dataclass(frozen=True)
class CycleNetting:
    netting: Netting  # the cycle's obligations netted
    positions: tuple[CyclePosition, ...]  # one per partner and currency, carried-in amounts included
    network_revenue_minor: int  # in the cycle's currency
    positions_sum_minor: int  # in the cycle's currency
    residual_minor: int  # positions + network revenue in the cycle's currency: zero when money is conserved
    conserved: bool  # the residual is zero in every currency


@dataclass(frozen=True)
class NettingSummary:
    """What netting a cycle established (read back from the cycle: the same answer on every retry)."""

    positions: int
    network_revenue_minor: int
    residual_minor: int
    conserved: bool


def net_cycle(obligations: Iterable[Obligation], carried_in: Iterable[CarriedIn], currency: str) -> CycleNetting:
    """The cycle's positions and its conservation check, in the cycle's currency (any other currency must net to 0)."""
    netting = net(obligations)
    positions = {(p.partner_id, p.currency): CyclePosition(p.partner_id, p.currency, p.net_minor)
                 for p in netting.positions}
    for c in carried_in:
        held = positions.get((c.partner_id, c.currency), CyclePosition(c.partner_id, c.currency, 0))
        positions[c.partner_id, c.currency] = CyclePosition(held.partner_id, held.currency, held.net_minor,
                                                            held.carried_in_minor + c.amount_minor)
    residuals = netting.residual_minor()
    residual = residuals.get(currency, 0)
    conserved = residual == 0 and not any(r for c, r in residuals.items() if c != currency)
    return CycleNetting(netting, tuple(positions[key] for key in sorted(positions)),
                        netting.network_revenue_minor.get(currency, 0),
                        sum(p.net_minor for p in netting.positions if p.currency == currency), residual, conserved)


# --- what is paid after the dispute window -----------------------------------------------------------------

@dataclass(frozen=True)
class HeldAmount:
    """A disputed amount: its signed effect on the partner's position and the operator's outcome (None = open)."""

    dispute_id: str
    amount_minor: int
    outcome: str | None = None


@dataclass(frozen=True)
class PositionSettlement:
    payable_minor: int  # > 0: pay the partner out, < 0: collect from it
    disputed_minor: int  # held back in this cycle (open disputes, carried on)
    written_off_minor: int  # disputes the operator upheld: never settled, the network bears them
    carried_in_minor: int  # carried amounts settled now (the statement stood)
    carried_out: tuple[HeldAmount, ...]


def settle_position(net_minor: int, disputes: Iterable[HeldAmount], carried_in: Iterable[HeldAmount]) -> PositionSettlement:
    """What to pay or collect for one position once the dispute window has closed.

    This cycle's disputes: open -> held back and carried out; upheld -> held back and written off; the statement
    stands -> settled now. Amounts carried in from earlier cycles: open -> carried out again; upheld -> dropped;
    the statement stands -> settled now (added to this cycle's payable).
    """
    payable, held, written_off, carried_now = net_minor, 0, 0, 0
    carried_out: list[HeldAmount] = []
    for d in disputes:
        if d.outcome == STATEMENT_STANDS:
            continue
        payable -= d.amount_minor
        if d.outcome == PARTNER_UPHELD:
            written_off += d.amount_minor
        else:
            held += d.amount_minor
            carried_out.append(d)
    for c in carried_in:
        if c.outcome == STATEMENT_STANDS:
            payable += c.amount_minor
            carried_now += c.amount_minor
        elif c.outcome is None:
            held += c.amount_minor
            carried_out.append(c)
    return PositionSettlement(payable, held, written_off, carried_now, tuple(carried_out))
