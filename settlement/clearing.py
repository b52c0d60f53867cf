"""Clearing and netting over the ledger: one set-based SQL statement aggregates the period's postings into flows,
the pure rules (settlement.obligations, settlement.netting) price and net the few aggregated lines.

Which events a cycle [start, end) clears: every journal row with start <= created_at < end that moved points to
a redeemer (redeem, capture; negative on a redemption's reversal), out of an issuer's account (earn; back on an
earn's reversal), or into breakage (expire). Each posting names its lot, and the lot its issuer (provenance).
The contract version of a party at an instant is the one with the latest effective_from <= that instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, insert, text

from network.store.contracts import CONTRACT_VERSIONS, load_contracts
from settlement import obligations as rules
from settlement.cycles import lock_cycle, move_cycle
from settlement.models import ClearingCell, NetPositionRow, Obligation as ObligationRow
from settlement.netting import Netting, net

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


class MissingContract(RuntimeError):
    """An event happened when its partner had no contract in force: it cannot be priced."""


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
            raise MissingContract(f"{r.points} {r.kind} points of issuer {r.issuer_id} (redeemer {r.redeemer_id}) "
                                  "have no contract in force")
        flows.append(rules.Flow(r.kind, r.reversal, r.issuer_id, r.redeemer_id, int(r.points),
                                terms[r.issue_contract_id],
                                terms[r.event_contract_id] if r.event_contract_id is not None else None))
    return flows


@dataclass(frozen=True)
class ClearingSummary:
    cycle_id: str
    obligation_lines: int
    obligations_minor: int
    matrix_cells: int


def clear(conn: Connection, cycle_id: str, point_value_minor: Decimal) -> ClearingSummary:
    """Write the cycle's obligations and clearing matrix (once: a cleared cycle is left as it is)."""
    cycle = lock_cycle(conn, cycle_id)
    if cycle.state == "cut_off":
        flows = load_flows(conn, cycle.period_start, cycle.period_end)
        lines = rules.obligations(flows, point_value_minor, cycle.currency)
        cells = rules.clearing_matrix(flows, lines, cycle.currency)
        if lines:
            conn.execute(insert(ObligationRow.__table__), [{"cycle_id": cycle_id, **o.__dict__} for o in lines])
        if cells:
            conn.execute(insert(ClearingCell.__table__), [{"cycle_id": cycle_id, **c.__dict__} for c in cells])
        conn.execute(text("UPDATE cycles SET obligation_lines = :n, obligations_minor = :m WHERE cycle_id = :c"),
                     {"n": len(lines), "m": sum(o.amount_minor for o in lines), "c": cycle_id})
        move_cycle(conn, cycle_id, "cleared", {"obligation_lines": len(lines), "flows": len(flows)})
    row = conn.execute(text("SELECT obligation_lines, obligations_minor, "
                            "(SELECT count(*) FROM clearing_matrix m WHERE m.cycle_id = c.cycle_id) AS cells "
                            "FROM cycles c WHERE cycle_id = :c"), {"c": cycle_id}).one()
    return ClearingSummary(cycle_id, row.obligation_lines, int(row.obligations_minor), int(row.cells))


def load_obligations(conn: Connection, cycle_id: str) -> list[rules.Obligation]:
    rows = conn.execute(text("SELECT payer, payee, amount_minor, currency, cause, issuer_id, redeemer_id, "
                             "issuer_contract_id, redeemer_contract_id, points FROM obligations WHERE cycle_id = :c "
                             "ORDER BY obligation_id"), {"c": cycle_id})
    return [rules.Obligation(**r._mapping) for r in rows]


@dataclass(frozen=True)
class NettingSummary:
    cycle_id: str
    positions: int
    network_revenue_minor: int
    residual_minor: int
    conserved: bool


def net_cycle(conn: Connection, cycle_id: str) -> NettingSummary:
    """One position per partner per currency, the amounts carried in from earlier cycles, and conservation."""
    cycle = lock_cycle(conn, cycle_id)
    if cycle.state == "cleared":
        netting = net(load_obligations(conn, cycle_id))
        carried = conn.execute(text(
            "UPDATE carryovers SET into_cycle_id = :c WHERE into_cycle_id IS NULL AND from_cycle_id <> :c "
            "RETURNING partner_id, currency, amount_minor"), {"c": cycle_id}).all()
        _write_positions(conn, cycle_id, netting, carried)
        residual = netting.residual_minor().get(cycle.currency, 0)
        others = {c: r for c, r in netting.residual_minor().items() if c != cycle.currency}
        conserved = residual == 0 and not any(others.values())
        conn.execute(text("UPDATE cycles SET network_revenue_minor = :rev, positions_sum_minor = :pos, "
                          "conservation_residual_minor = :res, conserved = :ok WHERE cycle_id = :c"),
                     {"rev": netting.network_revenue_minor.get(cycle.currency, 0),
                      "pos": sum(p.net_minor for p in netting.positions if p.currency == cycle.currency),
                      "res": residual, "ok": conserved, "c": cycle_id})
        move_cycle(conn, cycle_id, "netted", {"positions": len(netting.positions), "conserved": conserved,
                                              "carried_in": len(carried)})
    row = conn.execute(text("SELECT network_revenue_minor, conservation_residual_minor, conserved, "
                            "(SELECT count(*) FROM net_positions n WHERE n.cycle_id = c.cycle_id) AS positions "
                            "FROM cycles c WHERE cycle_id = :c"), {"c": cycle_id}).one()
    return NettingSummary(cycle_id, int(row.positions), int(row.network_revenue_minor),
                          int(row.conservation_residual_minor or 0), bool(row.conserved))


def _write_positions(conn: Connection, cycle_id: str, netting: Netting, carried) -> None:
    rows: dict[tuple[str, str], dict] = {
        (p.partner_id, p.currency): {"cycle_id": cycle_id, "partner_id": p.partner_id, "currency": p.currency,
                                     "net_minor": p.net_minor, "carried_in_minor": 0, "disputed_minor": 0,
                                     "written_off_minor": 0, "state": "open"} for p in netting.positions}
    for c in carried:
        row = rows.setdefault((c.partner_id, c.currency), {
            "cycle_id": cycle_id, "partner_id": c.partner_id, "currency": c.currency, "net_minor": 0,
            "carried_in_minor": 0, "disputed_minor": 0, "written_off_minor": 0, "state": "open"})
        row["carried_in_minor"] += int(c.amount_minor)
    if rows:
        conn.execute(insert(NetPositionRow.__table__), list(rows.values()))
