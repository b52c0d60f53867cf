"""Partner contract terms, and which version is in force at an instant.

A partner's contract is versioned and effective-dated. The version in force at `at` is the one with the latest
`effective_from <= at` (of two versions effective from the same instant, the higher version). The SQL form of the
same rule, for set-based queries, is network.store.contracts.CONTRACT_VERSIONS.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Sequence

from network.core.expiry import ExpiryPolicy

SETTLEMENT_MODELS = ("issuer_pays", "prefunded")
BASIS_POINTS = 10_000  # a rate in basis points is rate / BASIS_POINTS; BASIS_POINTS bps = 100%


@dataclass(frozen=True)
class ContractTerms:
    contract_id: int
    partner_id: str
    version: int
    effective_from: datetime
    earn_points_per_major: Decimal
    settlement_model: str
    clearing_fee_bps: int
    issue_price_minor_per_point: Decimal
    redemption_rate_minor_per_point: Decimal
    breakage_share_bps: int
    return_window_seconds: int
    expiry_days: int
    max_basket_share_bps: int
    credit_limit_minor: int | None
    collateral_minor: int
    # The partner's currency (ISO 4217), fixed when the partner is registered: the contract's rates are in it, and a
    # purchase or basket in another currency is refused (network.core.rules.currency_refusal).
    currency: str
    # The most points one spend may take without a member verification, and only for members enrolled at this
    # partner's own till (network.core.consent); 0: every spend needs one.
    unverified_spend_limit_points: int = 0
    # How the issuer's points expire (network.core.expiry): 'fixed' (expiry_days or expiry_months after the earn),
    # 'calendar' (the end of the earn's calendar year plus expiry_months) or 'inactivity' (expiry_months after the
    # member's last earn or spend anywhere in the network).
    expiry_policy: str = "fixed"
    expiry_months: int = 0

    @property
    def expiry(self) -> ExpiryPolicy:
        return ExpiryPolicy(self.expiry_policy, self.expiry_days, self.expiry_months)


def in_force(history: Sequence[ContractTerms], at: datetime) -> ContractTerms | None:
    """The version in force at `at`; `history` sorted by (effective_from, version). None before the first."""
    index = bisect_right([c.effective_from for c in history], at)
    return history[index - 1] if index else None
