"""Operator read models over the ledger: set-based SQL aggregates for the console, as plain dataclasses or DataFrames.

Every figure comes from the same postings `coalition ledger verify` checks:
  issued   = -(sum of issuer postings)    points issued, net of earn reversals
  redeemed =   sum of redeemer postings   points spent at a partner, net of redemption reversals
  expired  =   sum of breakage postings   points that expired (breakage)
  outstanding (a partner's liability in points) = sum(remaining + held) of its pending/active lots
                                                = issued - redeemed - expired of its points (verify checks it)
Money: liability_minor = money_for_points(outstanding, point value) (network.ledger: half-even, once per figure).
Breakage rate: expired / (redeemed + expired), the share of points that left circulation unspent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import pandas as pd
from sqlalchemy import Connection, text

from network.core.ledger import money_for_points
from network.store import expiry
from network.store.contracts import CONTRACT_VERSIONS
from network.store.lots import OUTSTANDING_BY_ISSUER, outstanding_points

MAX_ROWS = 500
BUCKETS = ("hour", "day")
EXPOSURE_WARNING = Decimal("0.8")


@dataclass(frozen=True)
class NetworkTotals:
    members: int
    outstanding_points: int
    liability_minor: int
    currency: str
    issued_points: int
    redeemed_points: int
    expired_points: int

    @property
    def breakage_rate(self) -> Decimal | None:
        settled = self.redeemed_points + self.expired_points
        return Decimal(self.expired_points) / Decimal(settled) if settled else None


_FLOW_TOTALS = """
SELECT coalesce(-sum(points) FILTER (WHERE account = 'issuer'), 0) AS issued,
       coalesce(sum(points) FILTER (WHERE account = 'redeemer'), 0) AS redeemed,
       coalesce(sum(points) FILTER (WHERE account = 'breakage'), 0) AS expired
FROM postings WHERE account IN ('issuer', 'redeemer', 'breakage')
"""


def network_totals(conn: Connection, point_value_minor: Decimal, currency: str) -> NetworkTotals:
    members = int(conn.execute(text("SELECT count(*) FROM members")).scalar_one())
    outstanding = outstanding_points(conn)
    flows = conn.execute(text(_FLOW_TOTALS)).one()
    return NetworkTotals(members, outstanding, money_for_points(outstanding, point_value_minor), currency,
                         int(flows.issued), int(flows.redeemed), int(flows.expired))


def flows_over_time(conn: Connection, since: datetime, until: datetime, bucket: str = "day") -> pd.DataFrame:
    """Points issued, redeemed and expired per hour or day in [since, until): columns bucket, issued, redeemed, expired."""
    if bucket not in BUCKETS:
        raise ValueError(f"bucket must be one of {BUCKETS}")
    rows = conn.execute(text(
        f"SELECT date_trunc('{bucket}', j.created_at) AS bucket, "
        "coalesce(-sum(p.points) FILTER (WHERE p.account = 'issuer'), 0) AS issued, "
        "coalesce(sum(p.points) FILTER (WHERE p.account = 'redeemer'), 0) AS redeemed, "
        "coalesce(sum(p.points) FILTER (WHERE p.account = 'breakage'), 0) AS expired "
        "FROM journal j JOIN postings p ON p.tx_id = j.tx_id "
        "WHERE j.created_at >= :since AND j.created_at < :until AND p.account IN ('issuer', 'redeemer', 'breakage') GROUP BY 1 ORDER BY 1"),
        {"since": since, "until": until}).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=["bucket", "issued", "redeemed", "expired"])
    return frame.astype({"issued": "int64", "redeemed": "int64", "expired": "int64"})


@dataclass(frozen=True)
class PartnerPosition:
    """One partner's row of the Partners table (points are integers, money integer minor units)."""

    partner_id: str
    name: str
    status: str
    issued_points: int
    redeemed_points: int  # spent at this partner (as redeemer)
    outstanding_points: int  # its issued points not yet redeemed or expired
    liability_minor: int
    collateral_minor: int
    credit_limit_minor: int | None
    contract_version: int | None
    settlement_model: str | None

    @property
    def exposure_minor(self) -> int:
        return self.liability_minor - self.collateral_minor

    @property
    def exposure_ratio(self) -> Decimal | None:
        """Exposure against the credit limit (None without a limit)."""
        if self.credit_limit_minor is None:
            return None
        if self.credit_limit_minor == 0:
            return Decimal(1) if self.exposure_minor > 0 else Decimal(0)
        return Decimal(self.exposure_minor) / Decimal(self.credit_limit_minor)

    @property
    def near_limit(self) -> bool:
        ratio = self.exposure_ratio
        return ratio is not None and ratio >= EXPOSURE_WARNING


_PARTNER_POSITIONS = f"""
WITH flows AS (
    SELECT owner AS partner_id,
           coalesce(-sum(points) FILTER (WHERE account = 'issuer'), 0) AS issued,
           coalesce(sum(points) FILTER (WHERE account = 'redeemer'), 0) AS redeemed
    FROM postings WHERE account IN ('issuer', 'redeemer') GROUP BY owner
), outstanding AS (
    SELECT issuer_id AS partner_id, points FROM ({OUTSTANDING_BY_ISSUER}) o
), terms AS (
    SELECT partner_id, version, settlement_model, credit_limit_minor, collateral_minor
    FROM ({CONTRACT_VERSIONS}) v WHERE effective_from <= :at AND :at < effective_to
)
SELECT p.partner_id, p.name, p.status, coalesce(f.issued, 0) AS issued, coalesce(f.redeemed, 0) AS redeemed,
       coalesce(o.points, 0) AS outstanding, coalesce(t.collateral_minor, 0) AS collateral_minor,
       t.credit_limit_minor, t.version, t.settlement_model
FROM partners p
LEFT JOIN flows f USING (partner_id)
LEFT JOIN outstanding o USING (partner_id)
LEFT JOIN terms t USING (partner_id)
ORDER BY p.partner_id
"""


def partner_positions(conn: Connection, point_value_minor: Decimal, at: datetime) -> list[PartnerPosition]:
    """Every partner with its issued, redeemed and outstanding points, liability and exposure (contract in force at `at`)."""
    return [PartnerPosition(r.partner_id, r.name, r.status, int(r.issued), int(r.redeemed), int(r.outstanding),
                            money_for_points(int(r.outstanding), point_value_minor), int(r.collateral_minor),
                            None if r.credit_limit_minor is None else int(r.credit_limit_minor), r.version,
                            r.settlement_model)
            for r in conn.execute(text(_PARTNER_POSITIONS), {"at": at})]


@dataclass(frozen=True)
class PartnerView:
    partner_id: str
    name: str
    status: str
    currency: str
    iban: str | None
    bic: str | None
    created_at: datetime


def partner(conn: Connection, partner_id: str) -> PartnerView | None:
    row = conn.execute(text("SELECT partner_id, name, status, currency, iban, bic, created_at FROM partners "
                            "WHERE partner_id = :p"), {"p": partner_id}).first()
    return PartnerView(*row) if row else None


def contract_history(conn: Connection, partner_id: str) -> pd.DataFrame:
    return frame(conn, "SELECT version, effective_from, settlement_model, earn_points_per_major, clearing_fee_bps, "
                        "issue_price_minor_per_point, redemption_rate_minor_per_point, breakage_share_bps, "
                        "return_window_seconds, expiry_policy, expiry_days, expiry_months, max_basket_share_bps, "
                        "credit_limit_minor, collateral_minor, created_at FROM contracts WHERE partner_id = :p ORDER BY version DESC", {"p": partner_id})


def partner_keys(conn: Connection, partner_id: str) -> pd.DataFrame:
    return frame(conn, "SELECT key_id, status, created_at, revoked_at FROM partner_keys WHERE partner_id = :p "
                        "ORDER BY status, created_at DESC", {"p": partner_id})


def recent_transactions(conn: Connection, partner_id: str, limit: int = 50) -> pd.DataFrame:
    """The partner's own journal rows, newest first (ix_journal_partner_created)."""
    return frame(conn, "SELECT created_at, kind, tx_id::text AS transaction_id, member_id::text AS member_id, points, "
                        "amount_minor, currency, receipt_ref, store_id FROM journal WHERE partner_id = :p "
                        "ORDER BY created_at DESC, tx_id DESC LIMIT :n", {"p": partner_id, "n": min(limit, MAX_ROWS)})


@dataclass(frozen=True)
class MatrixCell:
    issuer_id: str
    redeemer_id: str
    points: int


def clearing_matrix(conn: Connection, start: datetime, end: datetime) -> list[MatrixCell]:
    """Issuer x redeemer points redeemed in [start, end), net of reversals: redeemer postings, issuer from their lots
    (the same events settlement.clearing clears for a cycle over that period)."""
    rows = conn.execute(text(
        "SELECT l.issuer_id, p.owner AS redeemer_id, sum(p.points) AS points "
        "FROM journal j JOIN postings p ON p.tx_id = j.tx_id JOIN lots l ON l.lot_id = p.lot_id "
        "WHERE j.created_at >= :start AND j.created_at < :end AND j.kind IN ('redeem', 'capture', 'reverse') "
        "AND p.account = 'redeemer' GROUP BY 1, 2 HAVING sum(p.points) <> 0 ORDER BY 1, 2"),
        {"start": start, "end": end})
    return [MatrixCell(r.issuer_id, r.redeemer_id, int(r.points)) for r in rows]


@dataclass(frozen=True)
class MemberView:
    member_id: str
    card_number: str
    enrolled_by: str
    created_at: datetime
    brands: tuple[str, ...]


def find_member(conn: Connection, query: str) -> MemberView | None:
    """A member by member id (UUID) or the number of any card they own or owned (a frozen or replaced card too:
    the operator looks a member up by the card they reported lost)."""
    query = query.strip()
    try:
        clause, value = "m.member_id = :v", uuid.UUID(query)
    except ValueError:
        clause, value = "m.member_id = (SELECT c.member_id FROM cards c WHERE c.card_number = :v)", query.replace(" ", "")
    row = conn.execute(text(
        "SELECT m.member_id::text, m.card_number, m.enrolled_by, m.created_at, "
        "array(SELECT e.partner_id FROM enrollments e WHERE e.member_id = m.member_id ORDER BY e.partner_id) AS brands "
        f"FROM members m WHERE {clause}"), {"v": value}).first()
    return MemberView(row[0], row[1], row[2], row[3], tuple(row[4])) if row else None


def member_lots(conn: Connection, member_id: str) -> pd.DataFrame:
    return frame(conn, "SELECT l.created_at, l.issuer_id, p.name AS issuer, l.points, l.remaining, l.held, l.state, "
                        "l.available_at, l.expires_at, l.lot_id::text AS lot_id FROM lots l "
                        "LEFT JOIN partners p ON p.partner_id = l.issuer_id WHERE l.member_id = :m "
                        "ORDER BY l.created_at DESC LIMIT :n", {"m": uuid.UUID(member_id), "n": MAX_ROWS})


def member_history(conn: Connection, member_id: str, limit: int = 100) -> pd.DataFrame:
    """The member's transactions across every brand, newest first."""
    return frame(conn, "SELECT j.created_at, j.kind, j.partner_id, p.name AS brand, j.points, j.amount_minor, "
                        "j.currency, j.receipt_ref, j.tx_id::text AS transaction_id FROM journal j "
                        "LEFT JOIN partners p ON p.partner_id = j.partner_id WHERE j.member_id = :m "
                        "ORDER BY j.created_at DESC, j.tx_id DESC LIMIT :n",
                  {"m": uuid.UUID(member_id), "n": min(limit, MAX_ROWS)})


def member_statement(conn: Connection, member_ids: list[str], limit: int = 100) -> pd.DataFrame:
    """The transactions of a member's cards across every brand, newest first, with the partner's name and the
    store (the member portal's history)."""
    return frame(conn, "SELECT j.created_at AS date, m.card_number AS card, "
                        "coalesce(p.name, CASE WHEN j.kind = 'transfer' THEN 'another member' ELSE j.partner_id END) "
                        "AS partner, "
                        "coalesce(j.store_id, '') AS store, j.kind, j.points FROM journal j "
                        "JOIN members m ON m.member_id = j.member_id "
                        "LEFT JOIN partners p ON p.partner_id = j.partner_id WHERE j.member_id = ANY(:m) "
                        "ORDER BY j.created_at DESC, j.tx_id DESC LIMIT :n",
                  {"m": [uuid.UUID(m) for m in member_ids], "n": min(limit, MAX_ROWS)})


def member_expiring(conn: Connection, member_ids: list[str], within_days: int, at: datetime) -> pd.DataFrame:
    """The points of a member's cards that expire within `within_days` days of `at` under their issuer's expiry
    policy (network.store.expiry.expiring_points), soonest first, with the issuer's name (the member portal)."""
    rows = [(card, e) for card in member_ids for e in expiry.expiring_points(conn, card, within_days, at)]
    names = dict(conn.execute(text("SELECT partner_id, name FROM partners WHERE partner_id = ANY(:p)"),
                              {"p": sorted({e.issuer_id for _, e in rows})}).all()) if rows else {}
    rows.sort(key=lambda r: (r[1].expires_at, r[1].issuer_id))
    return pd.DataFrame([(e.expires_at, names.get(e.issuer_id, e.issuer_id), e.points) for _, e in rows],
                        columns=["expires", "issued by", "points"])


def redemption_partners(conn: Connection, at: datetime) -> pd.DataFrame:
    """Where points can be spent: active partners whose contract in force at `at` lets points pay part of a basket
    (max_basket_share_bps > 0), with the share."""
    return frame(conn, f"WITH versions AS ({CONTRACT_VERSIONS}) "
                        "SELECT p.name AS partner, round(v.max_basket_share_bps / 100.0) || '%' AS \"up to\" "
                        "FROM partners p JOIN versions v ON v.partner_id = p.partner_id "
                        "AND :t >= v.effective_from AND :t < v.effective_to "
                        "WHERE p.status = 'active' AND v.max_basket_share_bps > 0 ORDER BY p.name", {"t": at})


def charity_partners(conn: Connection) -> list[tuple[str, str]]:
    """(partner id, name) of the active charity partners (members may donate points to them)."""
    return [(r.partner_id, r.name) for r in conn.execute(text(
        "SELECT partner_id, name FROM partners WHERE charity AND status = 'active' ORDER BY name"))]


def operator_actions(conn: Connection, limit: int = 200, operator: str = "", action: str = "") -> pd.DataFrame:
    """Who did what, when (newest first)."""
    clauses, params = ["TRUE"], {"n": min(limit, MAX_ROWS)}
    if operator:
        clauses.append("operator = :o")
        params["o"] = operator
    if action:
        clauses.append("action = :a")
        params["a"] = action
    return frame(conn, "SELECT created_at, operator, action, subject, detail::text AS detail FROM operator_actions "
                        f"WHERE {' AND '.join(clauses)} ORDER BY action_id DESC LIMIT :n", params)


def frame(conn: Connection, sql: str, params: dict) -> pd.DataFrame:
    """One SELECT as a DataFrame, columns named as the query names them."""
    result = conn.execute(text(sql), params)
    return pd.DataFrame([tuple(r) for r in result], columns=list(result.keys()))
