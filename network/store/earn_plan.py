"""Deciding a group of earns and the rows they write: what the earn path (network.store.earn) and
Ledger.earn_batch share. The decisions are network.core.rules'; here they are applied to the members and
contracts found, and turned into named rows for the set-based inserts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Callable, Iterable, NamedTuple, Sequence

import uuid_utils

from network import errors
from network.core import ledger, rules
from network.core.results import EarnItem, EarnResult
from network.core.terms import ContractTerms
from network.store import pgarray
from network.store.contracts import ContractBook
from network.store.journal import PendingTransaction, Write


class LotRow(NamedTuple):
    lot_id: str
    member_id: str
    issuer_id: str
    earn_tx_id: str
    points: int
    state: str
    available_at: datetime
    expires_at: datetime | None


class EnrollmentRow(NamedTuple):
    partner_id: str
    member_id: str


class MemberPair(NamedTuple):
    """(partner, member) of an item, looked up in enrollments by MEMBERS_OF_ITEMS (parameters pair_*)."""

    partner_id: str
    member_id: str


INSERT_LOTS = ("INSERT INTO lots (lot_id, member_id, issuer_id, earn_tx_id, points, remaining, held, state, "
               "available_at, expires_at, created_at) "
               "SELECT l, m, i, t, p, p, 0, s, a, e, CAST(%(now)s AS timestamptz) FROM unnest("
               "CAST(%(lot_id)s AS uuid[]), CAST(%(member_id)s AS uuid[]), CAST(%(issuer_id)s AS text[]), "
               "CAST(%(earn_tx_id)s AS uuid[]), CAST(%(points)s AS bigint[]), CAST(%(state)s AS text[]), "
               "CAST(%(available_at)s AS timestamptz[]), CAST(%(expires_at)s AS timestamptz[])) "
               "AS x(l, m, i, t, p, s, a, e)")
INSERT_ENROLLMENTS = ("INSERT INTO enrollments (partner_id, member_id, enrolled_at) "
                      "SELECT p, m, CAST(%(t)s AS timestamptz) "
                      "FROM unnest(CAST(%(partner_id)s AS text[]), CAST(%(member_id)s AS uuid[])) AS x(p, m) "
                      "ON CONFLICT DO NOTHING")

# The items' members that exist (member id, shard, NULL) and their enrollments with the items' partners (member
# id, NULL, partner id). Every lookup is by primary key, row by row: LATERAL ... LIMIT 1 keeps the planner from
# scanning a big partner's enrollments when its statistics are stale; the cost grows with the items only.
MEMBERS_OF_ITEMS = """SELECT member_id::text AS member_id, shard, NULL::text AS partner_id FROM members
  WHERE member_id = ANY(CAST(%(members)s AS uuid[]))
UNION ALL
SELECT q.m::text, NULL, e.partner_id FROM unnest(CAST(%(pair_partner_id)s AS text[]), CAST(%(pair_member_id)s AS uuid[])) AS q(p, m)
  CROSS JOIN LATERAL (SELECT partner_id FROM enrollments e WHERE e.partner_id = q.p AND e.member_id = q.m LIMIT 1) e"""


class MemberRow(NamedTuple):
    """A row of MEMBERS_OF_ITEMS: a member found (shard set, partner_id None) or one of its enrollments."""

    member_id: str
    shard: int | None
    partner_id: str | None


def earn_member_ids(items: Sequence[tuple[str, EarnItem]], results: list | None = None) -> dict[int, uuid.UUID]:
    """Index -> member id of the items whose member id is a UUID; the others get their error in `results`."""
    ids: dict[int, uuid.UUID] = {}
    for i, (_, item) in enumerate(items):
        try:
            ids[i] = uuid.UUID(item.member_id)
        except (ValueError, AttributeError, TypeError):
            if results is not None:
                results[i] = errors.invalid("member_id", "must be a UUID")
    return ids


def member_lookup_params(items: Sequence[tuple[str, EarnItem]]) -> dict[str, str]:
    """MEMBERS_OF_ITEMS' parameters for `items` (items whose member id is not a UUID are left out)."""
    ids = earn_member_ids(items)
    pairs = sorted({MemberPair(items[i][0], str(member_id)) for i, member_id in ids.items()})
    return {"members": pgarray.literal(sorted({pair.member_id for pair in pairs})),
            **pgarray.columns(MemberPair, pairs, prefix="pair_")}


@dataclass
class MemberFacts:
    """What MEMBERS_OF_ITEMS found: the shard of each existing member, and who is enrolled where."""

    shards: dict[str, int] = field(default_factory=dict)
    enrolled: set[EnrollmentRow] = field(default_factory=set)

    def add(self, member_id: str, shard: int | None, partner_id: str | None) -> None:
        """One MemberRow: a member found (its shard) or one of its enrollments (partner_id set)."""
        if partner_id is not None:
            self.enrolled.add(EnrollmentRow(partner_id, member_id))
        else:
            self.shards[member_id] = shard  # type: ignore[assignment]

    @classmethod
    def of(cls, rows: Iterable[tuple]) -> "MemberFacts":
        facts = cls()
        for row in map(MemberRow._make, rows):
            facts.add(row.member_id, row.shard, row.partner_id)
        return facts


EarnDecision = EarnResult | errors.DomainError  # an accepted item's result, or why it is refused


@dataclass
class EarnPlan:
    """What plan_earns decided: per item a result or a refusal, and the rows to write for the accepted ones."""

    results: list[EarnDecision]
    now: datetime
    txs: list[PendingTransaction] = field(default_factory=list)
    lots: list[LotRow] = field(default_factory=list)
    enrollments: set[EnrollmentRow] = field(default_factory=set)

    def writes(self) -> list[Write]:
        """The lot and enrollment inserts (the journal rows are chained separately, see chain_writes)."""
        out: list[Write] = []
        if self.lots:
            out.append((INSERT_LOTS, {**pgarray.columns(LotRow, self.lots), "now": self.now}))
        if self.enrollments:
            out.append((INSERT_ENROLLMENTS, {**pgarray.columns(EnrollmentRow, sorted(self.enrollments)),
                                             "t": self.now}))
        return out


def plan_earns(contracts: ContractBook, now: datetime, point_value_minor: Decimal,
               items: Sequence[tuple[str, EarnItem]], members: MemberFacts,
               outstanding_points: Callable[[str], int] | None = None) -> EarnPlan:
    """Decide every (partner, item): its points, lot and journal transaction, or why it is refused.

    `members`: what MEMBERS_OF_ITEMS found for these items. Nothing is read or written here; the caller
    writes `txs` (chain_writes) and `writes()`. Without `outstanding_points` no credit limit is checked.
    """
    results: list[EarnDecision | None] = [None] * len(items)
    member_ids = earn_member_ids(items, results)
    terms_of: dict[str, ContractTerms | errors.DomainError] = {}
    points_of: dict[int, int] = {}
    for i, member_id in member_ids.items():
        partner_id, item = items[i]
        if str(member_id) not in members.shards:
            results[i] = errors.not_found("member", str(member_id), "MEMBER_NOT_FOUND")
            continue
        if partner_id not in terms_of:
            try:
                terms_of[partner_id] = contracts.terms(partner_id, now)
            except errors.DomainError as exc:
                terms_of[partner_id] = exc
        terms = terms_of[partner_id]
        if isinstance(terms, errors.DomainError):
            results[i] = terms
            continue
        points = rules.points_for_earn(terms, item.amount_minor, item.currency, item.points)
        if isinstance(points, rules.Refusal):
            results[i] = errors.from_refusal(points)
            continue
        points_of[i] = points
    if outstanding_points is not None:
        _apply_credit_limits(items, terms_of, points_of, results, outstanding_points, point_value_minor)
    plan = EarnPlan(results, now)  # type: ignore[arg-type]
    lot_of: dict[str, rules.NewLot] = {}  # the same terms and instant for every item of a partner
    for i, points in points_of.items():
        partner_id, item = items[i]
        member = str(member_ids[i])
        shard = members.shards[member]
        lot = lot_of.get(partner_id)
        if lot is None:
            terms = terms_of[partner_id]
            assert isinstance(terms, ContractTerms)
            lot = lot_of[partner_id] = rules.new_lot(terms, now)
        tx_id, lot_id = str(uuid_utils.uuid7()), str(uuid_utils.uuid7())  # ids travel as text from here on
        plan.txs.append(PendingTransaction(tx_id, "earn", partner_id, member, shard, points,
                                           ledger.earn_postings(member, partner_id, lot_id, points), now,
                                           item.amount_minor, item.currency, item.receipt_ref, item.store_id,
                                           item.terminal_id, item.request_id,
                                           lot=ledger.LotTerms(lot_id, member, partner_id, points, lot.available_at,
                                                               lot.expires_at, now)))
        plan.lots.append(LotRow(lot_id, member, partner_id, tx_id, points, lot.state, lot.available_at, lot.expires_at))
        if (partner_id, member) not in members.enrolled:  # earning at a partner enrolls the member there
            plan.enrollments.add(EnrollmentRow(partner_id, member))
        results[i] = EarnResult(tx_id, points, lot.state, lot.available_at, lot.expires_at)
    return plan


def _apply_credit_limits(items: Sequence[tuple[str, EarnItem]], terms_of: dict, points_of: dict[int, int],
                         results: list, outstanding_points: Callable[[str], int],
                         point_value_minor: Decimal) -> None:
    """Refuse the earns that would push an issuer's exposure past its contract's credit limit (rules)."""
    order = sorted(points_of)
    earns = [rules.EarnRequest(terms_of[items[i][0]], points_of[i]) for i in order]
    limited = {earn.terms.partner_id for earn in earns if earn.terms.credit_limit_minor is not None}
    outstanding = {partner_id: outstanding_points(partner_id) for partner_id in sorted(limited)}
    for i, refusal in zip(order, rules.apply_credit_limits(earns, outstanding, point_value_minor)):
        if refusal is not None:
            results[i] = errors.from_refusal(refusal)
            del points_of[i]
