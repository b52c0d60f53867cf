"""What ledger operations take and give back: plain frozen dataclasses (the wire layer maps them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class MemberView:
    member_id: str
    card_number: str
    customer_ref: str
    enrolled_at: datetime | None


@dataclass(frozen=True)
class EarnItem:
    request_id: str
    member_id: str
    amount_minor: int | None
    currency: str | None
    points: int | None
    receipt_ref: str = ""
    store_id: str = ""
    terminal_id: str = ""


@dataclass(frozen=True)
class EarnResult:
    transaction_id: str
    points: int
    state: str
    available_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True)
class SpendResult:
    transaction_id: str
    points: int
    released_points: int
    value_minor: int
    currency: str


@dataclass(frozen=True)
class HoldResult:
    hold_id: str
    points: int
    expires_at: datetime


@dataclass(frozen=True)
class ReverseResult:
    transaction_id: str
    points: int
    remaining_reversible_points: int


@dataclass(frozen=True)
class Balance:
    member_id: str
    available: int
    pending: int
    held: int
    expiring_30d: int
    as_of: datetime


@dataclass(frozen=True)
class TransactionView:
    transaction_id: str
    kind: str
    member_id: str
    points: int
    amount_minor: int | None
    currency: str | None
    receipt_ref: str
    store_id: str
    terminal_id: str
    request_id: str
    related_id: str
    created_at: datetime


@dataclass(frozen=True)
class SpendRefs:
    receipt_ref: str = ""
    store_id: str = ""
    terminal_id: str = ""
    basket_minor: int | None = None
    basket_currency: str | None = None
