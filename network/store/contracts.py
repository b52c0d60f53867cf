"""Partner contracts from the database: every version, the terms in force at an instant through a short-lived cache,
and the SQL form of "in force at t" for set-based queries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Engine, text

from network import errors
from network.core.terms import ContractTerms, in_force
from network.store.notify import NotifiedCache

CONTRACTS_CHANNEL = "coalition_contracts"
# every contract column, and the currency from the partner (the one currency of all its contract versions)
_COLUMNS = ", ".join("p.currency" if name == "currency" else f"c.{name}" for name in ContractTerms.__dataclass_fields__)


def notify_contract_change(conn: Connection) -> None:
    """Tell every server's ContractBook to reload when this transaction commits."""
    conn.execute(text(f"NOTIFY {CONTRACTS_CHANNEL}"))


def load_contracts(conn: Connection, partner_id: str | None = None) -> list[ContractTerms]:
    where = "WHERE c.partner_id = :p" if partner_id else ""
    rows = conn.execute(text(f"SELECT {_COLUMNS} FROM contracts c JOIN partners p ON p.partner_id = c.partner_id "
                             f"{where} ORDER BY c.partner_id, c.effective_from, c.version"),
                        {"p": partner_id} if partner_id else {})
    return [ContractTerms(**row._mapping) for row in rows]


# Every contract version with the instant it stops being in force (the next version's effective_from, or
# infinity): a version is in force at t when effective_from <= t < effective_to. The set-based form of
# network.core.terms.in_force, for joins: WITH versions AS (CONTRACT_VERSIONS) ... ON t >= v.effective_from AND
# t < v.effective_to. Of two versions effective from the same instant the higher one is in force (the lower one's
# interval is empty).
CONTRACT_VERSIONS = """SELECT c.*, coalesce(lead(c.effective_from) OVER (PARTITION BY c.partner_id
                                ORDER BY c.effective_from, c.version), 'infinity'::timestamptz) AS effective_to
    FROM contracts c"""


class ContractBook(NotifiedCache):
    """Every partner's contract history, reloaded at most every `ttl_seconds` (or at once after a change here).

    Across processes and servers (`follow_changes`, which the server calls): admin.set_contract NOTIFYs
    CONTRACTS_CHANNEL in the transaction that adds a version, and a listener thread empties the cache when the
    notification arrives, so every server process sees a new contract version as soon as it commits, not a TTL
    later. While the listener is not connected the cache is reloaded on every lookup."""

    def __init__(self, engine: Engine, ttl_seconds: float = 2.0):
        super().__init__(engine, ttl_seconds, CONTRACTS_CHANNEL, "contract-listener")
        self._by_partner: dict[str, list[ContractTerms]] = {}

    def _histories(self, force: bool = False) -> dict[str, list[ContractTerms]]:
        with self._lock:
            if self._stale(force):
                with self._engine.connect() as conn:
                    by_partner: dict[str, list[ContractTerms]] = {}
                    for terms in load_contracts(conn):
                        by_partner.setdefault(terms.partner_id, []).append(terms)
                self._by_partner = by_partner
                self._loaded()
            return self._by_partner

    def terms(self, partner_id: str, at: datetime) -> ContractTerms:
        terms = in_force(self._histories().get(partner_id, []), at)
        if terms is None:  # a partner or contract newer than the cache: look once more
            terms = in_force(self._histories(force=True).get(partner_id, []), at)
        if terms is None:
            raise errors.precondition("NO_CONTRACT", f"partner {partner_id} has no contract in force at {at.isoformat()}",
                                      partner_id=partner_id)
        return terms
