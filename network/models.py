"""SQLAlchemy 2 models: the schema of the ledger, partners, members and keys (Alembic migrates it)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, Date, DateTime, ForeignKey, Identity, Index, Integer,
                        LargeBinary, Numeric, SmallInteger, String, UniqueConstraint, text)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
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
    # A charity: members may donate points to it (a redemption at it that the member starts); set by the operator.
    charity: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
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
    # network.core.expiry: 'fixed' (expiry_days or expiry_months after the earn), 'calendar', 'inactivity'
    expiry_policy: Mapped[str] = mapped_column(String(16), server_default=text("'fixed'"), nullable=False)
    expiry_months: Mapped[int] = mapped_column(Integer, server_default=text("0"), nullable=False)
    max_basket_share_bps: Mapped[int] = mapped_column(Integer, default=BASIS_POINTS)
    credit_limit_minor: Mapped[int | None] = mapped_column(BigInteger)
    collateral_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # The most points one spend may take without a member verification, for members enrolled at this partner's
    # own till (enrollments.method 'till'); 0: every spend needs one.
    unverified_spend_limit_points: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    created_at: Mapped[datetime] = _now_column()
    __table_args__ = (
        UniqueConstraint("partner_id", "version"),
        CheckConstraint("unverified_spend_limit_points >= 0", name="contract_unverified_limit"),
        Index("ix_contracts_partner_effective", "partner_id", "effective_from"),
        CheckConstraint("settlement_model in ('issuer_pays','prefunded')", name="contract_model"),
        CheckConstraint(f"max_basket_share_bps between 0 and {BASIS_POINTS}", name="contract_basket_share"),
        CheckConstraint(f"clearing_fee_bps between 0 and {BASIS_POINTS}", name="contract_fee"),
        CheckConstraint(f"breakage_share_bps between 0 and {BASIS_POINTS}", name="contract_breakage_share"),
        CheckConstraint("expiry_policy in ('fixed','calendar','inactivity')", name="contract_expiry_policy"),
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
    # An operator's freeze of the whole member: no spend while set (network.store.credentials.freeze_member).
    frozen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    frozen_reason: Mapped[str | None] = mapped_column(String(200))
    __table_args__ = (Index("ix_members_created", "created_at"),)  # the members joining on a day (anniversaries)


class Card(Base):
    """Every card a member owns. members.card_number is the member's current card; every insert of members writes
    its cards row too (network.store.credentials.ADD_CARD). Only an active card finds its member."""

    __tablename__ = "cards"
    card_number: Mapped[str] = mapped_column(String(19), primary_key=True)
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.member_id"))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'active'"))
    created_at: Mapped[datetime] = _now_column()
    status_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_cards_member", "member_id"),
                      CheckConstraint("status in ('active','frozen','replaced')", name="card_status"))


class MemberCredential(Base):
    """A member's spending PIN (scrypt, salt per member, the cost parameters it was hashed with) and the failed
    verification tries that lock spending by PIN or code for a while (network.store.credentials)."""

    __tablename__ = "member_credentials"
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.member_id"), primary_key=True)
    pin_hash: Mapped[bytes | None] = mapped_column(LargeBinary)
    pin_salt: Mapped[bytes | None] = mapped_column(LargeBinary)
    pin_params: Mapped[str | None] = mapped_column(String(64))
    pin_set_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_tries: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RedemptionCode(Base):
    """A one-time redemption code: only its hash is kept, with the points ceiling, the expiry and its use."""

    __tablename__ = "redemption_codes"
    code_hash: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.member_id"))
    max_points: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    used_by: Mapped[str | None] = mapped_column(String(32))
    __table_args__ = (Index("ix_redemption_codes_member", "member_id"),
                      Index("ix_redemption_codes_expiry", "expires_at"),
                      CheckConstraint("max_points > 0", name="redemption_code_ceiling"))


class VerificationFailure(Base):
    """One wrong PIN or one-time code a spend carried (network.store.consent.record_failure), kept so the console can
    flag many failed PINs within a window (network.store.transfers.anomaly_flags); member_credentials keeps only the
    running counter that locks."""

    __tablename__ = "verification_failures"
    failure_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.member_id"))
    failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    method: Mapped[str] = mapped_column(String(8))
    partner_id: Mapped[str | None] = mapped_column(String(32))
    __table_args__ = (Index("ix_verification_failures_time", "failed_at"),
                      Index("ix_verification_failures_member", "member_id", "failed_at"),
                      CheckConstraint("method in ('pin','code')", name="verification_failure_method"))


class MemberActivity(Base):
    """A member's last earn or spend anywhere in the network (the clock of inactivity expiry, network.core.expiry):
    moved forward in the transaction of every earn, redemption and capture, after the member's chain head is
    locked (network.store.journal.chain_writes), so its writers never wait for each other."""

    __tablename__ = "member_activity"
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.member_id"), primary_key=True)
    last_activity_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ExpiryWarning(Base):
    """A lot warned about ahead of an expiry (the points.expiring event): once per lot and expiry instant, so a
    re-run warns nobody twice and an inactivity lot whose expiry moved is warned again ahead of its new one."""

    __tablename__ = "expiry_warnings"
    lot_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    warned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Enrollment(Base):
    __tablename__ = "enrollments"
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.partner_id"), primary_key=True)
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.member_id"), primary_key=True)
    customer_ref: Mapped[str | None] = mapped_column(String(64))
    enrolled_at: Mapped[datetime] = _now_column()
    # How: 'till' (EnrollMember by this partner: the card presented at its till; the only enrolment that lets it
    # spend without a member verification), 'earn' (an earn found the member), 'spend' (a verified spend).
    method: Mapped[str] = mapped_column(String(8), server_default=text("'earn'"))
    __table_args__ = (UniqueConstraint("partner_id", "customer_ref"), Index("ix_enrollments_member", "member_id"),
                      CheckConstraint("method in ('till','earn','spend')", name="enrollment_method"))


class ShardHead(Base):
    """The end of one shard's hash chain."""

    __tablename__ = "shard_heads"
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[bytes] = mapped_column(LargeBinary)
    # a member id a Citus cluster places in this shard's hash range (network.core.members.chain_anchor): the
    # statements that lock and move heads name them by it (network.store.citus); never changes once written
    anchor_member_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), unique=True)


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
    # The transaction's member (journal.member_id), checked by verify: postings found and written by member (Citus)
    member_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
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
    # When the lot's points were issued: its earn's time, or for a lot a transfer created, its source lot's
    # created_at (clearing prices a lot's points by the issuer's contract at this instant).
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # A lot a transfer created (earn_tx_id: the transfer's receiving transaction): the sender's lot its points came
    # from (same issuer, availability, expiry, created_at). NULL: an earn's lot.
    source_lot_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
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


class MemberTransfer(Base):
    """A member's transfer to another member, or donation to a charity partner: the request (its idempotency key,
    per member) and the journal rows that carried it out (a transfer: its sending and receiving transactions, both
    related to transfer_id; a donation: its redemption)."""

    __tablename__ = "member_transfers"
    transfer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    idempotency_key: Mapped[str] = mapped_column(String(64))
    recipient_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    charity_id: Mapped[str | None] = mapped_column(String(32))
    points: Mapped[int] = mapped_column(BigInteger)
    sent_tx_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    received_tx_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        UniqueConstraint("member_id", "idempotency_key"),
        Index("ix_member_transfers_member_created", "member_id", "created_at"),
        CheckConstraint("kind in ('transfer','donation')", name="member_transfer_kind"),
        CheckConstraint("points > 0", name="member_transfer_points"),
        CheckConstraint("(kind = 'transfer') = (recipient_id IS NOT NULL AND received_tx_id IS NOT NULL "
                        "AND charity_id IS NULL)", name="member_transfer_parties"),
    )


class MemberNotification(Base):
    """The member outbox: what the member portal shows (a transfer sent or received, a donation made), numbered
    1, 2, ... per member, written in the transaction of the change under the member's lock."""

    __tablename__ = "member_notifications"
    member_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    type: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    transfer_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    detail: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    __table_args__ = (CheckConstraint("seq > 0", name="member_notification_seq"),)


class HoldMember(Base):
    """A hold's member by hold id: Capture and Void find the hold's member here (network.store.ledger._open_hold)."""
    __tablename__ = "hold_members"
    hold_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    member_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))


class PartnerSpend(Base):
    """A spend (Redeem, AuthorizeRedemption) at a partner still inside the partner velocity window: counted by
    partner (network.store.consent.SpendGuard), deleted once it has left the window."""
    __tablename__ = "partner_spends"
    partner_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    spend_id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    spent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_partner_spends_window", "partner_id", "spent_at"),)


class HoldAllocation(Base):
    __tablename__ = "hold_allocations"
    hold_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    lot_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    line: Mapped[int] = mapped_column(SmallInteger)
    issuer_id: Mapped[str] = mapped_column(String(32))
    points: Mapped[int] = mapped_column(BigInteger)
    # The hold's member (holds.member_id), rebuilt by verify: a hold's allocations read by member (Citus)
    member_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))


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


class MemberAccount(Base):
    """A member's account (a person, linked to one or more cards): personal data encrypted with the account's own
    key (member_keys), found by the keyed hash of the e-mail address. Erased: key deleted, ciphertext unreadable."""

    __tablename__ = "member_accounts"
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    email_hash: Mapped[bytes | None] = mapped_column(LargeBinary, unique=True)
    personal_data: Mapped[bytes | None] = mapped_column(LargeBinary)  # AES-GCM nonce || ciphertext of a JSON object
    consent_marketing: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_data_sharing: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = _now_column()
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (CheckConstraint("state in ('active','erased')", name="member_account_state"),
                      CheckConstraint("(state = 'active') = (email_hash IS NOT NULL)", name="member_account_email"))


class MemberKey(Base):
    """An account's data key, wrapped (AES-GCM) by the network's master key; deleting the row shreds the data."""

    __tablename__ = "member_keys"
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("member_accounts.account_id"), primary_key=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = _now_column()


class AccountCard(Base):
    """Which account a card (member) belongs to: at most one."""

    __tablename__ = "account_cards"
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.member_id"), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("member_accounts.account_id"), index=True)
    linked_at: Mapped[datetime] = _now_column()


class ActivationCode(Base):
    """The one-time code that links a card to an account (EnrollMember returns it); only its hash is kept."""

    __tablename__ = "activation_codes"
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.member_id"), primary_key=True)
    code_hash: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LoginCode(Base):
    """A six-digit login code e-mailed to a member (hash only): single use, expires, a few tries."""

    __tablename__ = "login_codes"
    code_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("member_accounts.account_id"), index=True)
    code_hash: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_login_codes_expiry", "expires_at"),)


class LoginEvent(Base):
    """Code requests and code tries, by address hash and account: what the login rate limits count."""

    __tablename__ = "login_events"
    event_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    email_hash: Mapped[bytes] = mapped_column(LargeBinary)
    account_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (CheckConstraint("kind in ('request','attempt')", name="login_event_kind"),
                      Index("ix_login_events_email", "email_hash", "kind", "at"),
                      Index("ix_login_events_account", "account_id", "kind", "at"),
                      Index("ix_login_events_time", "at"))


class MemberSession(Base):
    """A portal session: the token's hash, its account, when it ends."""

    __tablename__ = "member_sessions"
    token_hash: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("member_accounts.account_id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_member_sessions_expiry", "expires_at"),)


class WebhookEndpoint(Base):
    """A partner's webhook endpoint: where its events are POSTed (Standard Webhooks), which types (empty: all),
    and how far they have been delivered (a partner event sequence number)."""

    __tablename__ = "webhook_endpoints"
    endpoint_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.partner_id"))
    url: Mapped[str] = mapped_column(String(2048))
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(40)), server_default=text("'{}'"))
    secret: Mapped[str] = mapped_column(String(100))  # whsec_<base64>: the v1 HMAC key
    enabled: Mapped[bool] = mapped_column(Boolean)
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    alert: Mapped[str | None] = mapped_column(String(500))  # set when the network disabled it (retries exhausted)
    delivered_through: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _now_column()
    updated_at: Mapped[datetime] = _now_column()
    __table_args__ = (Index("ix_webhook_endpoints_partner", "partner_id"),
                      CheckConstraint("enabled OR disabled_reason IS NOT NULL", name="webhook_disabled_reason"))


class WebhookDelivery(Base):
    """One attempt to deliver one event to one endpoint: its HTTP status or error, and how long it took."""

    __tablename__ = "webhook_deliveries"
    delivery_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_endpoints.endpoint_id", ondelete="CASCADE"))
    partner_id: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(BigInteger)
    attempt: Mapped[int] = mapped_column(Integer)
    replay: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    latency_ms: Mapped[int] = mapped_column(Integer)
    delivered: Mapped[bool] = mapped_column(Boolean)
    attempted_at: Mapped[datetime] = _now_column()
    __table_args__ = (Index("ix_webhook_deliveries_endpoint", "endpoint_id", "delivery_id"),)


class WebhookReplay(Base):
    """A replay of an endpoint's events [first_seq, last_seq] asked for; the dispatcher starts it (started_at)."""

    __tablename__ = "webhook_replays"
    replay_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_endpoints.endpoint_id", ondelete="CASCADE"))
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_at: Mapped[datetime] = _now_column()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (CheckConstraint("first_seq > 0 AND last_seq >= first_seq", name="webhook_replay_range"),)


class PartnerCreditLevel(Base):
    """The last credit-use level (0, 80 or 100 per cent of the credit limit) the partner was sent an event for."""

    __tablename__ = "partner_credit_levels"
    partner_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger)


# --- the loyalty programme: campaigns, tiers, lifecycle bonuses (network.core.campaigns) ---------------------

class Campaign(Base):
    """A campaign as data: its conditions, effects and funders (definition), and its budget left (claimed with a
    conditional UPDATE inside the earn transaction: never overspent)."""

    __tablename__ = "campaigns"
    campaign_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer)
    exclusive: Mapped[bool] = mapped_column(Boolean)
    definition: Mapped[dict] = mapped_column(JSONB)
    budget_points: Mapped[int | None] = mapped_column(BigInteger)
    budget_left: Mapped[int | None] = mapped_column(BigInteger)
    # the partner that created it over its signed API (its own campaign); NULL: the operator's
    owner_partner_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = _now_column()
    updated_at: Mapped[datetime] = _now_column()
    __table_args__ = (
        Index("ix_campaigns_owner", "owner_partner_id"),
        CheckConstraint("status in ('active','paused','ended')", name="campaign_status"),
        CheckConstraint("kind in ('earn','signup','referral','anniversary','birthday')", name="campaign_kind"),
        CheckConstraint("budget_left >= 0 AND budget_left <= budget_points", name="campaign_budget"),
        CheckConstraint("(budget_points IS NULL) = (budget_left IS NULL)", name="campaign_budget_set"),
    )


class CampaignMemberTotal(Base):
    """Points a campaign gave a member in a cap period (claimed under the row lock: a cap is never exceeded)."""

    __tablename__ = "campaign_member_totals"
    campaign_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    period: Mapped[str] = mapped_column(String(16), primary_key=True)
    points: Mapped[int] = mapped_column(BigInteger)
    last_grant: Mapped[int] = mapped_column(BigInteger)


class EarnComponent(Base):
    """What an earn with a bonus gave, line by line (base, tier, each campaign with its funder): the lot each line
    created. An earn of its base points alone has no rows here (its journal row says it all)."""

    __tablename__ = "earn_components"
    tx_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)  # the earn the bonus is for
    line: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    campaign_id: Mapped[str | None] = mapped_column(String(64))
    funder_id: Mapped[str] = mapped_column(String(32))
    lot_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    member_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    points: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        Index("ix_earn_components_campaign", "campaign_id", "created_at"),
        Index("ix_earn_components_funder", "funder_id", "created_at"),
        CheckConstraint("kind in ('base','tier','campaign','signup','referral','anniversary','birthday')",
                        name="earn_component_kind"),
    )


class TierRow(Base):
    """The network-wide tier ladder."""

    __tablename__ = "tiers"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    rank: Mapped[int] = mapped_column(SmallInteger, unique=True)
    threshold_points: Mapped[int] = mapped_column(BigInteger)
    multiplier_bps: Mapped[int] = mapped_column(Integer)
    cap_multiplier_bps: Mapped[int] = mapped_column(Integer)
    __table_args__ = (CheckConstraint("threshold_points >= 0 AND multiplier_bps >= 0 AND cap_multiplier_bps >= 0",
                                      name="tier_values"),)


class MemberStatus(Base):
    """A member's tier held (upgraded inside the earn that crosses a threshold) and last earn."""

    __tablename__ = "member_status"
    member_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    tier: Mapped[str] = mapped_column(String(32))
    tier_since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_earn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TierChange(Base):
    """A change of a member's tier: an upgrade in the earn that crossed a threshold (reason 'earn'), or a one-level
    downgrade by the requalification review ('review'). Written by the statement changing member_status.tier
    (network.store.earn_plan.UPSERT_STATUS, network.store.tiers)."""

    __tablename__ = "tier_changes"
    change_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    member_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    from_tier: Mapped[str] = mapped_column(String(32))
    to_tier: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(16))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_tier_changes_member", "member_id", "changed_at"),
                      Index("ix_tier_changes_changed", "changed_at"))


class MemberBirthday(Base):
    """The month and day of a member's birth date, for the programme (birthday bonus, birthday-month segment): copied
    from the account's encrypted personal data, deleted when the account is erased."""

    __tablename__ = "member_birthdays"
    member_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    birth_month: Mapped[int] = mapped_column(SmallInteger)
    birth_day: Mapped[int] = mapped_column(SmallInteger)
    __table_args__ = (Index("ix_member_birthdays_day", "birth_month", "birth_day"),
                      CheckConstraint("birth_month BETWEEN 1 AND 12 AND birth_day BETWEEN 1 AND 31",
                                      name="member_birthday"))


class MemberQualifying(Base):
    """Qualifying points (purchases only) per member and month: a tier counts the last 12 months."""

    __tablename__ = "member_qualifying"
    member_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    points: Mapped[int] = mapped_column(BigInteger)


class LifecycleAward(Base):
    """A lifecycle bonus given: once per campaign, member and occasion, whatever the retries."""

    __tablename__ = "lifecycle_awards"
    campaign_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    occasion: Mapped[str] = mapped_column(String(64), primary_key=True)
    tx_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Referral(Base):
    """Who referred a member (recorded at enrolment)."""

    __tablename__ = "referrals"
    referee_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    referrer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
