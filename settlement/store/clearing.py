"""The clearing SQL: one set-based statement aggregates a period's postings into flows; the cycle's obligation lines
and clearing matrix are written and read back here.

Which events a cycle [start, end) clears: every journal row with start <= created_at < end that moved points to
a redeemer (redeem, capture; negative on a redemption's reversal), out of an issuer's account (earn; back on an
earn's reversal), or into breakage (expire). Each posting names its lot, and the lot its issuer (provenance).
The contract version of a party at an instant is the one with the latest effective_from <= that instant.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, text

from network.store.contracts import CONTRACT_VERSIONS, load_contracts
from settlement.domain import obligations as rules
from settlement.models import ClearingCell as ClearingCellRow, Obligation as ObligationRow

_FLOWS = text(f"""
WITH versions AS ({CONTRACT_VERSIONS}), events AS (
    SELECT CASE p.account WHEN 'redeemer' THEN 'redemption' WHEN 'issuer' THEN 'issue' ELSE 'expiry' END AS kind,
           j.kind = 'reverse' AS reversal,
           l.issuer_id,
           CASE WHEN p.account = 'redeemer' THEN p.owner END AS redeemer_id,
           l.created_at AS issued_at,
           CASE WHEN j.kind = 'reverse' THEN o.created_at ELSE j.created_at END AS priced_at,
           CASE WHEN p.account = 'issuer' THEN -p.points ELSE p.points END AS points
    FROM journal j
    JOIN postings p ON p.tx_id = j.tx_id
    JOIN lots l ON l.lot_id = p.lot_id
    LEFT JOIN journal o ON o.tx_id = j.related_id AND j.kind = 'reverse'
    WHERE j.created_at >= :start AND j.created_at < :end
      AND j.kind IN ('redeem', 'capture', 'reverse', 'earn', 'expire')
      AND p.account IN ('redeemer', 'issuer', 'breakage')
)
SELECT e.kind, e.reversal, e.issuer_id, e.redeemer_id, ic.contract_id AS issue_contract_id,
       ec.contract_id AS event_contract_id, sum(e.points)::bigint AS points
FROM events e
LEFT JOIN versions ic ON ic.partner_id = e.issuer_id
     AND e.issued_at >= ic.effective_from AND e.issued_at < ic.effective_to
LEFT JOIN versions ec ON ec.partner_id = (CASE e.kind WHEN 'redemption' THEN e.redeemer_id
                                                      WHEN 'expiry' THEN e.issuer_id END)
     AND e.priced_at >= ec.effective_from AND e.priced_at < ec.effective_to
GROUP BY 1, 2, 3, 4, 5, 6
""")


def load_terms(conn: Connection) -> dict[int, rules.Terms]:
    return {c.contract_id: rules.Terms(c.contract_id, c.partner_id, c.settlement_model, c.clearing_fee_bps,
                                       c.issue_price_minor_per_point, c.redemption_rate_minor_per_point,
                                       c.breakage_share_bps) for c in load_contracts(conn)}


def load_flows(conn: Connection, start: datetime, end: datetime) -> list[rules.Flow]:
    """The period's events aggregated per kind, issuer, redeemer and pricing contract versions."""
    terms = load_terms(conn)
    flows = []
    for r in conn.execute(_FLOWS, {"start": start, "end": end}):
        if r.issue_contract_id is None or (r.kind != rules.ISSUE and r.event_contract_id is None):
            raise rules.MissingContract(f"{r.points} {r.kind} points of issuer {r.issuer_id} (redeemer {r.redeemer_id}) "
                                        "have no contract in force")
        flows.append(rules.Flow(r.kind, r.reversal, r.issuer_id, r.redeemer_id, int(r.points),
                                terms[r.issue_contract_id],
                                terms[r.event_contract_id] if r.event_contract_id is not None else None))
    return flows


def write_obligations(conn: Connection, cycle_id: str, lines: list[rules.Obligation],
                      cells: list[rules.ClearingCell]) -> None:
    if lines:
        conn.execute(insert(ObligationRow.__table__), [{"cycle_id": cycle_id, **o.__dict__} for o in lines])
    if cells:
        conn.execute(insert(ClearingCellRow.__table__), [{"cycle_id": cycle_id, **c.__dict__} for c in cells])


def load_obligations(conn: Connection, cycle_id: str) -> list[rules.Obligation]:
    rows = conn.execute(text("SELECT payer, payee, amount_minor, currency, cause, issuer_id, redeemer_id, "
                             "issuer_contract_id, redeemer_contract_id, points FROM obligations WHERE cycle_id = :c "
                             "ORDER BY obligation_id"), {"c": cycle_id})
    return [rules.Obligation(**r._mapping) for r in rows]
