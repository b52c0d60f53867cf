"""Partner contracts: the terms in force at an instant, read through a short-lived cache."""

from __future__ import annotations

import threading
import time
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, Engine, text

from network import errors

SETTLEMENT_MODELS = ("issuer_pays", "prefunded")


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


_COLUMNS = ", ".join(ContractTerms.__dataclass_fields__)


def load_contracts(conn: Connection, partner_id: str | None = None) -> list[ContractTerms]:
    where = "WHERE partner_id = :p" if partner_id else ""
    rows = conn.execute(text(f"SELECT {_COLUMNS} FROM contracts {where} ORDER BY partner_id, effective_from, version"),
                        {"p": partner_id} if partner_id else {})
    return [ContractTerms(**row._mapping) for row in rows]


def in_force(history: list[ContractTerms], at: datetime) -> ContractTerms | None:
    """The newest version effective at `at` (history sorted by effective_from)."""
    index = bisect_right([c.effective_from for c in history], at)
    return history[index - 1] if index else None


class ContractBook:
    """Every partner's contract history, reloaded at most every `ttl_seconds` (or at once after a change here)."""

    def __init__(self, engine: Engine, ttl_seconds: float = 2.0):
        self._engine = engine
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._loaded_at = float("-inf")
        self._by_partner: dict[str, list[ContractTerms]] = {}

    def invalidate(self) -> None:
        with self._lock:
            self._loaded_at = float("-inf")

    def _histories(self, force: bool = False) -> dict[str, list[ContractTerms]]:
        with self._lock:
            if force or time.monotonic() - self._loaded_at > self._ttl:
                with self._engine.connect() as conn:
                    by_partner: dict[str, list[ContractTerms]] = {}
                    for terms in load_contracts(conn):
                        by_partner.setdefault(terms.partner_id, []).append(terms)
                self._by_partner = by_partner
                self._loaded_at = time.monotonic()
            return self._by_partner

    def terms(self, partner_id: str, at: datetime) -> ContractTerms:
        terms = in_force(self._histories().get(partner_id, []), at)
        if terms is None:  # a partner or contract newer than the cache: look once more
            terms = in_force(self._histories(force=True).get(partner_id, []), at)
        if terms is None:
            raise errors.precondition("NO_CONTRACT", f"partner {partner_id} has no contract in force at {at.isoformat()}",
                                      partner_id=partner_id)
        return terms
