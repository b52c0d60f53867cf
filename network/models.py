"""SQLAlchemy 2 models: the schema of the ledger, partners, members and keys (Alembic migrates it)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, LargeBinary,
                        Numeric, SmallInteger, String, UniqueConstraint, text)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from network.core.terms import BASIS_POINTS


class Base(DeclarativeBase):
    pass


def _now_column(**options) -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=text("now()"), nullable=False, **options)


class Partner(Base):
    __tablename__ = "partners"
    partner_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="active")
    currency: Mapped[str] = mapped_column(String(3))
    iban: Mapped[str | None] = mapped_column(String(34))
    bic: Mapped[str | None] = mapped_column(String(11))
    # The SEPA direct debit mandate the partner signed (collections are made under it); NULL: none on record.
    sepa_mandate_id: Mapped[str | None] = mapped_column(String(35))
    sepa_mandate_signed_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = _now_column()
    __table_args__ = (CheckConstraint("status in ('active','suspended')", name="partner_status"),
                      CheckConstraint("(sepa_mandate_id IS NULL) = (sepa_mandate_signed_on IS NULL)",
                                      name="partner_mandate"))


class Contract(Base):
    """A partner's terms, versioned and effective-dated: the version in force at an event governs it."""

    __tablename__ = "contracts"
    contract_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.partner_id"))
    version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    earn_points_per_major: Mapped[Decimal] = mapped_column(Numeric(12, 6))
    settlement_model: Mapped[str] = mapped_column(String(16))
    clearing_fee_bps: Mapped[int] = mapped_column(Integer, default=0)
    issue_price_minor_per_point: Mapped[Decimal] = mapped_column(Numeric(12, 6), default=Decimal(0))
    redemption_rate_minor_per_point: Mapped[Decimal] = mapped_column(Numeric(12, 6), default=Decimal(0))
    breakage_share_bps: Mapped[int] = mapped_column(Integer, default=0)
    return_window_seconds: Mapped[int] = mapped_column(Integer, default=0)
    expiry_days: Mapped[int] = mapped_column(Integer, default=0)
    max_basket_share_bps: Mapped[int] = mapped_column(Integer, default=BASIS_POINTS)
    credit_limit_minor: Mapped[int | None] = mapped_column(BigInteger)
    collateral_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = _now_column()
    __table_args__ = (
        UniqueConstraint("partner_id", "version"),
        Index("ix_contracts_partner_effective", "partner_id", "effective_from"),
        CheckConstraint("settlement_model in ('issuer_pays','prefunded')", name="contract_model"),
        CheckConstraint(f"max_basket_share_bps between 0 and {BASIS_POINTS}", name="contract_basket_share"),
        CheckConstraint(f"clearing_fee_bps between 0 and {BASIS_POINTS}", name="contract_fee"),
        CheckConstraint(f"breakage_share_bps between 0 and {BASIS_POINTS}", name="contract_breakage_share"),
    )


class PartnerKey(Base):
    __tablename__ = "partner_keys"
    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.partner_id"), index=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = _now_column()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (CheckConstraint("status in ('active','revoked')", name="key_status"),)


class NetworkKey(Base):
    """The network's receipt/statement signing keys (public halves; the private key lives in a key file)."""

    __tablename__ = "network_keys"
    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = _now_column()


class Member(Base):
    __tablename__ = "members"
    member_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    card_number: Mapped[str] = mapped_column(String(19), unique=True)
    shard: Mapped[int] = mapped_column(SmallInteger)
    enrolled_by: Mapped[str] = mapped_column(ForeignKey("partners.partner_id"))
    created_at: Mapped[datetime] = _now_column()


class Enrollment(Base):
    __tablename__ = "enrollments"
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.partner_id"), primary_key=True)
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.member_id"), primary_key=True)
    customer_ref: Mapped[str | None] = mapped_column(String(64))
    enrolled_at: Mapped[datetime] = _now_column()
    __table_args__ = (UniqueConstraint("partner_id", "customer_ref"), Index("ix_enrollments_member", "member_id"))


class ShardHead(Base):
    """The end of one shard's hash chain."""

    __tablename__ = "shard_heads"
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[bytes] = mapped_column(LargeBinary)


class JournalTransaction(Base):
    """Append-only journal: one row per ledger transaction, chained per shard."""

    __tablename__ = "journal"
    tx_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger)
    seq: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    partner_id: Mapped[str] = mapped_column(String(32))
    member_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    points: Mapped[int] = mapped_column(BigInteger)
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    receipt_ref: Mapped[str | None] = mapped_column(String(64))
    store_id: Mapped[str | None] = mapped_column(String(64))
    terminal_id: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    related_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary)
    hash: Mapped[bytes] = mapped_column(LargeBinary)
    # What `hash` covers (network.core.ledger.HASH_VERSIONS); rows written before version 2 keep version 1.
    hash_version: Mapped[int] = mapped_column(SmallInteger, server_default=text("1"))
    # Partitioned by month on the UUIDv7 tx_id (network.store.partitions); (shard, seq) cannot be unique across
    # partitions: seq is unique per shard by the shard head's row lock, and verification walks every chain.
    __table_args__ = (
        Index("ix_journal_shard_seq", "shard", "seq"),
        CheckConstraint("hash_version in (1, 2)", name="journal_hash_version"),
        Index("ix_journal_partner_created", "partner_id", "created_at"),
        Index("ix_journal_member_created", "member_id", "created_at"),
        Index("ix_journal_created", "created_at", postgresql_using="brin"),
        CheckConstraint("kind in ('earn','redeem','hold','capture','void','reverse','expire','adjust','transfer')",
                        name="journal_kind"),
        {"postgresql_partition_by": "RANGE (tx_id)"},
    )


class LedgerCutoff(Base):
    """One row: the end of the latest settlement period cut off (network.store.ledger_time); NULL until the first.
    No ledger transaction is dated before it once it is set."""

    __tablename__ = "ledger_cutoff"
    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, server_default=text("1"))
    closed_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (CheckConstraint("id = 1", name="ledger_cutoff_one_row"),)


class PostingRow(Base):
    __tablename__ = "postings"
    tx_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    line: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    account: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str] = mapped_column(String(64))
    lot_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    points: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (Index("ix_postings_lot", "lot_id"), {"postgresql_partition_by": "RANGE (tx_id)"})


class Lot(Base):
    __tablename__ = "lots"
    lot_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    member_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    issuer_id: Mapped[str] = mapped_column(String(32))
    earn_tx_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    points: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    held: Mapped[int] = mapped_column(BigInteger, default=0)
    state: Mapped[str] = mapped_column(String(16))
    available_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        Index("ix_lots_member_state", "member_id", "state"),
        Index("ix_lots_issuer_state", "issuer_id", "state"),
        Index("ix_lots_pending_due", "available_at", postgresql_where=text("state = 'pending'")),
        Index("ix_lots_active_expiry", "expires_at", postgresql_where=text("state = 'active' AND expires_at IS NOT NULL")),
        CheckConstraint("remaining >= 0 and held >= 0 and remaining + held <= points", name="lot_bounds"),
        CheckConstraint("state in ('pending','active','expired','reversed')", name="lot_state"),
    )


class Hold(Base):
    __tablename__ = "holds"
    hold_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    member_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    partner_id: Mapped[str] = mapped_column(String(32))
    points: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        Index("ix_holds_open_expiry", "expires_at", postgresql_where=text("state = 'open'")),
        CheckConstraint("state in ('open','captured','voided','expired')", name="hold_state"),
    )


class HoldAllocation(Base):
    __tablename__ = "hold_allocations"
    hold_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    lot_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    line: Mapped[int] = mapped_column(SmallInteger)
    issuer_id: Mapped[str] = mapped_column(String(32))
    points: Mapped[int] = mapped_column(BigInteger)


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    partner_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    method: Mapped[str] = mapped_column(String(100))
    body_hash: Mapped[bytes] = mapped_column(LargeBinary)
    response: Mapped[bytes | None] = mapped_column(LargeBinary)
    # partitioned by week (network.store.partitions): the partition key is part of the primary key, expired weeks are
    # dropped whole; a key is unique inside the retention window by the claim's advisory lock
    created_at: Mapped[datetime] = _now_column(primary_key=True)
    __table_args__ = ({"postgresql_partition_by": "RANGE (created_at)"},)


class OperatorAction(Base):
    """Who did what, when: every operator action (CLI or console)."""

    __tablename__ = "operator_actions"
    action_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    operator: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = _now_column()


class PartnerEventHead(Base):
    """A partner's last event sequence number: moved once per transaction that writes its events."""

    __tablename__ = "partner_event_heads"
    partner_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)


class PartnerEvent(Base):
    """The outbox: one row per event concerning a partner, numbered 1, 2, ... per partner without gaps, written
    in the transaction of the change it reports. A ledger event names its journal row (tx_id)."""

    __tablename__ = "partner_events"
    partner_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    type: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[datetime] = _now_column()
    tx_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    subject: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    __table_args__ = (CheckConstraint("seq > 0", name="partner_event_seq"),)
