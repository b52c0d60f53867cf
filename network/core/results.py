"""What ledger operations take and give back: plain frozen dataclasses (the wire layer maps them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from network.core.campaigns import BasketLine, Component


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
    lines: tuple[BasketLine, ...] = ()  # the basket's lines, for campaigns on categories or SKUs


@dataclass(frozen=True)
class EarnResult:
    transaction_id: str
    points: int  # the base points (the earn's own lot, what a Reverse of it takes back)
    state: str
    available_at: datetime
    expires_at: datetime | None
    components: tuple[Component, ...] = ()  # base, tier and campaign lines, each with its funder
    tier: str = ""  # the member's tier after the earn

    @property
    def total_points(self) -> int:
        return sum(c.points for c in self.components) if self.components else self.points


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
