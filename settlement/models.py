"""SQLAlchemy models of settlement: cycles, obligations, the clearing matrix, positions, statements, disputes,
carry-overs, payment instructions and the cycle event log (same metadata as network.models, one Alembic history).

Money is integer minor units with its currency; a party is a partner id or "network".
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, LargeBinary,
                        String, Text, UniqueConstraint, text)
from sqlalchemy.dialects.postgresql import ExcludeConstraint, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from network.models import Base
from settlement.domain.disputes import DISPUTE_OUTCOMES

CYCLE_STATES = ("scheduled", "cut_off", "cleared", "netted", "statements_issued", "awaiting_responses", "paying",
                "payments_planned", "payments_submitted", "awaiting_confirmations", "operator_alert", "closed")
STATEMENT_STATES = ("issued", "acknowledged", "disputed", "resolved")
DISPUTE_STATES = ("open", "resolved")
INSTRUCTION_STATES = ("created", "submitted", "settled", "rejected", "failed")
POSITION_STATES = ("open", "nothing_due", "instructed", "settled", "rejected")


def _now() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=text("now()"), nullable=False)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} in ({', '.join(repr(v) for v in values)})"


class Cycle(Base):
    """One settlement cycle over [period_start, period_end); periods never overlap."""

    __tablename__ = "cycles"
    cycle_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(24), default="scheduled")
    workflow_id: Mapped[str] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3))
    obligation_lines: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    obligations_minor: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    network_revenue_minor: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    positions_sum_minor: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    # positions_sum_minor + network_revenue_minor; zero when the cycle conserves money (checked at netting)
    conservation_residual_minor: Mapped[int | None] = mapped_column(BigInteger)
    conserved: Mapped[bool | None] = mapped_column(Boolean)
    # The journal the cycle cleared: transactions dated inside its period and their points (NULL: cleared before
    # these were recorded); `coalition ledger verify` recomputes them (settlement.verify.check_cycles_complete).
    journal_transactions: Mapped[int | None] = mapped_column(BigInteger)
    journal_points: Mapped[int | None] = mapped_column(BigInteger)
    dispute_deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    alert: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        CheckConstraint("period_start < period_end", name="cycle_period"),
        CheckConstraint(_in("state", CYCLE_STATES), name="cycle_state"),
        ExcludeConstraint((text("tstzrange(period_start, period_end)"), "&&"), name="cycle_periods_disjoint",
                          using="gist"),
    )


class Obligation(Base):
    """One rounded obligation line: payer owes payee amount_minor (negative for reversals) for a cause."""

    __tablename__ = "obligations"
    obligation_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    cycle_id: Mapped[str] = mapped_column(ForeignKey("cycles.cycle_id"))
    payer: Mapped[str] = mapped_column(String(32))
    payee: Mapped[str] = mapped_column(String(32))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    cause: Mapped[str] = mapped_column(String(40))
    issuer_id: Mapped[str] = mapped_column(String(32))
    redeemer_id: Mapped[str | None] = mapped_column(String(32))
    issuer_contract_id: Mapped[int | None] = mapped_column(Integer)
    redeemer_contract_id: Mapped[int | None] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (Index("ix_obligations_cycle_payer", "cycle_id", "payer"),
                      Index("ix_obligations_cycle_payee", "cycle_id", "payee"),
                      CheckConstraint("payer <> payee", name="obligation_parties"))


class ClearingCell(Base):
    """Issuer x redeemer: points redeemed (net of reversals) and the money the redemptions cleared."""

    __tablename__ = "clearing_matrix"
    cycle_id: Mapped[str] = mapped_column(ForeignKey("cycles.cycle_id"), primary_key=True)
    issuer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    redeemer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    points: Mapped[int] = mapped_column(BigInteger)
    amount_minor: Mapped[int] = mapped_column(BigInteger)


class NetPositionRow(Base):
    """One partner's position in a cycle: net_minor > 0 means the partner receives."""

    __tablename__ = "net_positions"
    cycle_id: Mapped[str] = mapped_column(ForeignKey("cycles.cycle_id"), primary_key=True)
    partner_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    net_minor: Mapped[int] = mapped_column(BigInteger)
    carried_in_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    disputed_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    written_off_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    payable_minor: Mapped[int | None] = mapped_column(BigInteger)  # set when payments are planned
    state: Mapped[str] = mapped_column(String(16), default="open")
    __table_args__ = (CheckConstraint(_in("state", POSITION_STATES), name="position_state"),)


class Statement(Base):
    """A partner's signed statement of a cycle: lines, totals and the network's signature over signed_payload."""

    __tablename__ = "statements"
    statement_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    cycle_id: Mapped[str] = mapped_column(ForeignKey("cycles.cycle_id"))
    partner_id: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    lines: Mapped[list] = mapped_column(JSONB)
    receivable_minor: Mapped[int] = mapped_column(BigInteger)
    payable_minor: Mapped[int] = mapped_column(BigInteger)
    net_minor: Mapped[int] = mapped_column(BigInteger)
    carried_in_minor: Mapped[int] = mapped_column(BigInteger)
    signed_payload: Mapped[bytes] = mapped_column(LargeBinary)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    network_key_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="issued")
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    dispute_deadline: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    responded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (UniqueConstraint("cycle_id", "partner_id", "currency"),
                      Index("ix_statements_partner_issued", "partner_id", "issued_at"),
                      CheckConstraint(_in("state", STATEMENT_STATES), name="statement_state"))


class Dispute(Base):
    """Lines of a statement a partner disputes; amount_minor is their signed effect on the partner's position."""

    __tablename__ = "disputes"
    dispute_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    statement_id: Mapped[str] = mapped_column(ForeignKey("statements.statement_id"), unique=True)
    cycle_id: Mapped[str] = mapped_column(ForeignKey("cycles.cycle_id"))
    partner_id: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    line_numbers: Mapped[list] = mapped_column(JSONB)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="open")
    outcome: Mapped[str | None] = mapped_column(String(24))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = _now()
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (CheckConstraint(_in("state", DISPUTE_STATES), name="dispute_state"),
                      CheckConstraint("outcome is null or " + _in("outcome", DISPUTE_OUTCOMES), name="dispute_outcome"),
                      CheckConstraint("(state = 'open') = (outcome is null)", name="dispute_resolution"))


class CarryOver(Base):
    """A disputed amount held back from from_cycle_id and carried into the next cycle that takes it."""

    __tablename__ = "carryovers"
    dispute_id: Mapped[str] = mapped_column(ForeignKey("disputes.dispute_id"), primary_key=True)
    from_cycle_id: Mapped[str] = mapped_column(ForeignKey("cycles.cycle_id"), primary_key=True)
    into_cycle_id: Mapped[str | None] = mapped_column(ForeignKey("cycles.cycle_id"))
    partner_id: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _now()
    __table_args__ = (Index("ix_carryovers_pending", "partner_id", postgresql_where=text("into_cycle_id is null")),)


class PaymentInstructionRow(Base):
    """One payment instruction per (cycle, partner, direction), ever; written before it is submitted."""

    __tablename__ = "payment_instructions"
    instruction_id: Mapped[str] = mapped_column(String(35), primary_key=True)
    cycle_id: Mapped[str] = mapped_column(ForeignKey("cycles.cycle_id"))
    partner_id: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(16))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    state: Mapped[str] = mapped_column(String(16), default="created")
    rail_reference: Mapped[str | None] = mapped_column(String(200))
    failure: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (UniqueConstraint("cycle_id", "partner_id", "direction", name="one_instruction_per_direction"),
                      CheckConstraint("direction in ('payout','collection')", name="instruction_direction"),
                      CheckConstraint("amount_minor > 0", name="instruction_amount"),
                      CheckConstraint(_in("state", INSTRUCTION_STATES), name="instruction_state"))


class CycleEvent(Base):
    """Every state change of a cycle (and of its statements, disputes and payments), for the console."""

    __tablename__ = "cycle_events"
    event_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    cycle_id: Mapped[str] = mapped_column(ForeignKey("cycles.cycle_id"))
    kind: Mapped[str] = mapped_column(String(40))
    state: Mapped[str | None] = mapped_column(String(24))
    detail: Mapped[dict] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = _now()
    __table_args__ = (Index("ix_cycle_events_cycle", "cycle_id", "event_id"),)
