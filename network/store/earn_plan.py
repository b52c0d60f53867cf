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
from network.core import campaigns as programme_rules
from network.core import ledger, rules
from network.core.campaigns import NETWORK_ISSUER, Component
from network.core.results import EarnItem, EarnResult
from network.core.terms import ContractTerms
from network.store import pgarray
from network.store.campaigns import Claims, Programme, claim_writes, qualifying_from
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

class ComponentRow(NamedTuple):
    tx_id: str
    line: int
    kind: str
    campaign_id: str | None
    funder_id: str
    lot_id: str
    member_id: str
    points: int


class StatusRow(NamedTuple):
    member_id: str
    tier: str
    last_earn_at: datetime


INSERT_COMPONENTS = ("INSERT INTO earn_components (tx_id, line, kind, campaign_id, funder_id, lot_id, member_id, "
                     "points, created_at) SELECT t, l, k, c, f, o, m, p, CAST(%(now)s AS timestamptz) FROM unnest("
                     "CAST(%(tx_id)s AS uuid[]), CAST(%(line)s AS smallint[]), CAST(%(kind)s AS text[]), "
                     "CAST(%(campaign_id)s AS text[]), CAST(%(funder_id)s AS text[]), CAST(%(lot_id)s AS uuid[]), "
                     "CAST(%(member_id)s AS uuid[]), CAST(%(points)s AS bigint[])) AS x(t, l, k, c, f, o, m, p)")
# A member's tier only ever goes up here (requalification is a schedule's job); its last earn moves on. Written
# after the member's shard head is locked, so two groups earning for one member take these rows in head order.
# Each change of tier is recorded in tier_changes by the same statement: the tier held before (`held`) and after
# (`moved`), a new member's first tier counting unless it is the lowest. LOCK_STATUS runs just before it, as its own
# statement: the tier review moves tiers down without the heads, so the rows are locked first and the upsert's
# snapshot, taken after that, reads the tier it replaces. (A trigger did the recording until migration 0023: Citus
# refuses triggers on a distributed table.) Tiers are compared by their place in `ladder`, the programme's tier names
# lowest first (the ladder the earn chose the tier by), not read from `tiers`: on a distributed table Citus allows
# only immutable expressions in ON CONFLICT DO UPDATE, no subqueries.
LOCK_STATUS = ("SELECT 1 FROM member_status WHERE member_id = ANY(CAST(%(member_id)s AS uuid[])) "
               "ORDER BY member_id FOR UPDATE")
UPSERT_STATUS = ("WITH held AS (SELECT member_id, tier FROM member_status "
                 "WHERE member_id = ANY(CAST(%(member_id)s AS uuid[]))), "
                 "moved AS (INSERT INTO member_status AS s (member_id, tier, tier_since, last_earn_at) "
                 "SELECT m, t, CAST(%(now)s AS timestamptz), CAST(%(now)s AS timestamptz) FROM unnest("
                 "CAST(%(member_id)s AS uuid[]), CAST(%(tier)s AS text[]), "
                 "CAST(%(last_earn_at)s AS timestamptz[])) AS x(m, t, e) "
                 "ON CONFLICT (member_id) DO UPDATE SET last_earn_at = excluded.last_earn_at, "
                 "tier = CASE WHEN array_position(CAST(%(ladder)s AS text[]), excluded.tier) > "
                 "coalesce(array_position(CAST(%(ladder)s AS text[]), s.tier), 0) THEN excluded.tier ELSE s.tier END, "
                 "tier_since = CASE WHEN array_position(CAST(%(ladder)s AS text[]), excluded.tier) > "
                 "coalesce(array_position(CAST(%(ladder)s AS text[]), s.tier), 0) THEN excluded.tier_since "
                 "ELSE s.tier_since END RETURNING s.member_id, s.tier, s.tier_since) "
                 "INSERT INTO tier_changes (member_id, from_tier, to_tier, reason, changed_at) "
                 "SELECT n.member_id, coalesce(h.tier, ''), n.tier, 'earn', n.tier_since "
                 "FROM moved n LEFT JOIN held h ON h.member_id = n.member_id "
                 "WHERE n.tier IS DISTINCT FROM h.tier "
                 "AND (h.tier IS NOT NULL OR n.tier <> (CAST(%(ladder)s AS text[]))[1])")
ADD_QUALIFYING = ("INSERT INTO member_qualifying AS q (member_id, month, points) SELECT m, d, p FROM unnest("
                  "CAST(%(member_id)s AS uuid[]), CAST(%(month)s AS date[]), CAST(%(points)s AS bigint[])) AS x(m, d, p) "
                  "ON CONFLICT (member_id, month) DO UPDATE SET points = q.points + excluded.points")

# The items' members that exist (member id, shard, NULL, then what campaigns and tiers need: tier held, joined,
# last earn, qualifying points of the rolling 12 months) and their enrollments with the items' partners (member
# id, NULL, partner id). Every lookup is by primary key, row by row: LATERAL ... LIMIT 1 keeps the planner from
# scanning a big partner's enrollments when its statistics are stale; the cost grows with the items only.
MEMBERS_OF_ITEMS = """SELECT m.member_id::text AS member_id, m.shard, NULL::text AS partner_id, s.tier,
       m.created_at AS joined_at, s.last_earn_at,
       (SELECT coalesce(sum(q.points), 0) FROM member_qualifying q WHERE q.member_id = m.member_id
          AND q.month >= CAST(%(qualifying_from)s AS date))::bigint AS qualifying,
       (SELECT b.birth_month FROM member_birthdays b WHERE b.member_id = m.member_id) AS birth_month
  FROM members m LEFT JOIN member_status s ON s.member_id = m.member_id
  WHERE m.member_id = ANY(CAST(%(members)s AS uuid[]))
UNION ALL
SELECT q.m::text, NULL, e.partner_id, NULL, NULL, NULL, NULL, NULL FROM unnest(CAST(%(pair_partner_id)s AS text[]), CAST(%(pair_member_id)s AS uuid[])) AS q(p, m)
  CROSS JOIN LATERAL (SELECT partner_id FROM enrollments e WHERE e.partner_id = q.p AND e.member_id = q.m LIMIT 1) e"""


# The same rows without the programme's tables (standing columns NULL): for a ledger without campaigns and tiers
# (operator tools and tests built on a schema of their own).
MEMBERS_OF_ITEMS_WITHOUT_STANDING = """SELECT member_id::text AS member_id, shard, NULL::text AS partner_id,
       NULL::text AS tier, created_at AS joined_at, NULL::timestamptz AS last_earn_at, NULL::bigint AS qualifying,
       NULL::smallint AS birth_month
  FROM members WHERE member_id = ANY(CAST(%(members)s AS uuid[]))
UNION ALL
SELECT q.m::text, NULL, e.partner_id, NULL, NULL, NULL, NULL, NULL FROM unnest(CAST(%(pair_partner_id)s AS text[]), CAST(%(pair_member_id)s AS uuid[])) AS q(p, m)
  CROSS JOIN LATERAL (SELECT partner_id FROM enrollments e WHERE e.partner_id = q.p AND e.member_id = q.m LIMIT 1) e"""


class MemberRow(NamedTuple):
    """A row of MEMBERS_OF_ITEMS: a member found (shard set, partner_id None) or one of its enrollments."""

    member_id: str
    shard: int | None
    partner_id: str | None
    tier: str | None
    joined_at: datetime | None
    last_earn_at: datetime | None
    qualifying: int | None
    birth_month: int | None = None


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


def member_lookup_params(items: Sequence[tuple[str, EarnItem]], now: datetime,
                         ids: dict[int, uuid.UUID] | None = None) -> dict[str, str]:
    """MEMBERS_OF_ITEMS' parameters for `items` (items whose member id is not a UUID are left out) at `now`;
    `ids`: earn_member_ids(items), when the caller has it already."""
    ids = earn_member_ids(items) if ids is None else ids
    pairs = sorted({MemberPair(items[i][0], str(member_id)) for i, member_id in ids.items()})
    return {"members": pgarray.literal(sorted({pair.member_id for pair in pairs})),
            "qualifying_from": qualifying_from(now).isoformat(),
            **pgarray.columns(MemberPair, pairs, prefix="pair_")}


@dataclass(frozen=True)
class MemberStanding:
    """A member's standing in the programme as MEMBERS_OF_ITEMS found it."""

    tier: str = ""
    joined_at: datetime | None = None
    last_earn_at: datetime | None = None
    qualifying: int = 0
    birth_month: int | None = None


NO_STANDING = MemberStanding()  # a member without a status row yet (frozen: one instance serves every lookup)


@dataclass
class MemberFacts:
    """What MEMBERS_OF_ITEMS found: the shard of each existing member, its standing, and who is enrolled where."""

    shards: dict[str, int] = field(default_factory=dict)
    enrolled: set[EnrollmentRow] = field(default_factory=set)
    standing: dict[str, MemberStanding] = field(default_factory=dict)

    def add(self, member_id: str, shard: int | None, partner_id: str | None, tier: str | None = None,
            joined_at: datetime | None = None, last_earn_at: datetime | None = None,
            qualifying: int | None = None, birth_month: int | None = None) -> None:
        """One MemberRow: a member found (its shard and standing) or one of its enrollments (partner_id set)."""
        if partner_id is not None:
            self.enrolled.add(EnrollmentRow(partner_id, member_id))
        else:
            self.shards[member_id] = shard  # type: ignore[assignment]
            self.standing[member_id] = MemberStanding(tier or "", joined_at, last_earn_at, int(qualifying or 0),
                                                      birth_month)

    @classmethod
    def of(cls, rows: Iterable[tuple]) -> "MemberFacts":
        facts = cls()
        for row in map(MemberRow._make, rows):
            facts.add(*row)
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
    components: list[ComponentRow] = field(default_factory=list)
    claims: list[Write] = field(default_factory=list)  # budgets spent, members' cap totals raised
    status: dict[str, StatusRow] = field(default_factory=dict)  # by member
    ladder: tuple[str, ...] = ()  # the programme's tier names, lowest first (UPSERT_STATUS compares by place)
    qualifying: dict[str, int] = field(default_factory=dict)  # by member: qualifying points added this month

    def writes(self) -> list[Write]:
        """The inserts that do not need the chain heads: lots, enrollments, components, budget and cap claims (the
        journal rows are chained separately, see chain_writes; the members' standing after the heads,
        see standing_writes)."""
        out: list[Write] = []
        if self.lots:
            out.append((INSERT_LOTS, {**pgarray.columns(LotRow, self.lots), "now": self.now}))
        if self.enrollments:
            out.append((INSERT_ENROLLMENTS, {**pgarray.columns(EnrollmentRow, sorted(self.enrollments)),
                                             "t": self.now}))
        if self.components:
            out.append((INSERT_COMPONENTS, {**pgarray.columns(ComponentRow, self.components), "now": self.now}))
        out.extend(self.claims)
        return out

    def standing_writes(self) -> list[Write]:
        """The members' tier and last earn, and their qualifying points: written once the members' shard heads
        are locked (two groups earning for one member then take these rows one after the other)."""
        out: list[Write] = []
        if self.status:
            rows = [self.status[m] for m in sorted(self.status)]
            columns = pgarray.columns(StatusRow, rows)
            out.append((LOCK_STATUS, {"member_id": columns["member_id"]}))
            out.append((UPSERT_STATUS, {**columns, "now": self.now, "ladder": pgarray.literal(list(self.ladder))}))
        if self.qualifying:
            month = datetime(self.now.year, self.now.month, 1).date().isoformat()
            members = sorted(self.qualifying)
            out.append((ADD_QUALIFYING, {"member_id": pgarray.literal(members),
                                         "month": pgarray.literal([month] * len(members)),
                                         "points": pgarray.literal([self.qualifying[m] for m in members])}))
        return out


@dataclass(frozen=True)
class _Evaluated:
    """One accepted item's standing and what the programme wants to give it before budgets and caps."""

    tier: programme_rules.Tier | None
    tier_points: int
    wants: tuple[programme_rules.Want, ...]


def evaluate_items(programme: Programme, now: datetime, items: Sequence[tuple[str, EarnItem]],
                   member_texts: dict[int, str], points_of: dict[int, int],
                   members: MemberFacts) -> dict[int, _Evaluated]:
    """The tier held and the campaigns' wanted bonuses of every accepted item (network.core.campaigns)."""
    out = {}
    for i, points in points_of.items():
        partner_id, item = items[i]
        standing = members.standing.get(member_texts[i], NO_STANDING)
        tier = programme.tier(standing.tier) or programme.lowest_tier()
        context = programme_rules.EarnContext(
            partner_id, item.store_id, now, points, item.amount_minor, item.lines,
            programme_rules.MemberFacts(tier.name if tier else "", standing.joined_at, standing.last_earn_at,
                                        standing.birth_month))
        out[i] = _Evaluated(tier, programme_rules.tier_bonus(points, tier),
                            tuple(programme_rules.wants(programme.earn_campaigns_at(partner_id), context, tier)))
    return out


def plan_earns(contracts: ContractBook, now: datetime, point_value_minor: Decimal,
               items: Sequence[tuple[str, EarnItem]], members: MemberFacts,
               outstanding_points: Callable[[str], int] | None = None, *,
               programme: Programme | None = None, claims: Claims | None = None) -> EarnPlan:
    """Decide every (partner, item): its points, lots and journal transactions, or why it is refused.

    `members`: what MEMBERS_OF_ITEMS found for these items. Nothing is written here; the caller writes `txs`
    (chain_writes), `writes()` and `standing_writes()`. Without `outstanding_points` no credit limit is checked.
    With a `programme`, each accepted earn also gets its tier bonus and campaign bonuses: one bonus transaction
    (kind earn, related to the earn) and lot per funder, whose issuer is that funder; budgets and caps are
    claimed through `claims` (without one, a campaign with a budget or cap grants nothing).
    """
    results: list[EarnDecision | None] = [None] * len(items)
    member_texts = {i: str(member_id) for i, member_id in earn_member_ids(items, results).items()}  # canonical
    terms_of: dict[str, ContractTerms | errors.DomainError] = {}
    points_of: dict[int, int] = {}
    for i, member in member_texts.items():
        partner_id, item = items[i]
        if member not in members.shards:
            results[i] = errors.not_found("member", member, "MEMBER_NOT_FOUND")
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
    evaluated: dict[int, _Evaluated] = {}
    granted: dict[int, list[int]] = {}
    if programme is not None:
        plan.ladder = programme.ladder_names
        evaluated = evaluate_items(programme, now, items, member_texts, points_of, members)
        granted, grants = _grant(evaluated, member_texts, claims)
        if claims is not None and claims.writes:
            plan.claims = claim_writes(grants)
    lot_of: dict[str, rules.NewLot] = {}  # the same terms and instant for every item of a partner
    for i, points in points_of.items():
        partner_id, item = items[i]
        member = member_texts[i]
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
        if programme is None:  # no programme: the base points only, nothing of the programme's tables written
            results[i] = EarnResult(tx_id, points, lot.state, lot.available_at, lot.expires_at,
                                    (Component("base", partner_id, points),))
            continue
        parts = [Component("base", partner_id, points)]
        evaluation = evaluated[i]
        if evaluation.tier_points:
            parts.append(Component("tier", NETWORK_ISSUER, evaluation.tier_points))
        for want, points_granted in zip(evaluation.wants, granted[i]):
            parts.extend(programme_rules.components(want.campaign, points_granted))
        lots_by_funder = _bonus_lots(plan, parts[1:], item, member, shard, tx_id, lot, now)
        if len(parts) > 1:  # an earn of its base points alone is its journal row: no component rows for it
            plan.components.extend(ComponentRow(tx_id, line, part.kind, part.campaign_id or None, part.funder,
                                                lot_id if line == 0 else lots_by_funder[part.funder], member,
                                                part.points)
                                   for line, part in enumerate(parts))
        tier_name = _standing(plan, programme, members, member, item, points, evaluation.tier)
        results[i] = EarnResult(tx_id, points, lot.state, lot.available_at, lot.expires_at, tuple(parts), tier_name)
    return plan


def _grant(evaluated: dict[int, _Evaluated], member_texts: dict[int, str],
           claims: Claims | None) -> tuple[dict[int, list[int]], list[programme_rules.Grant]]:
    """Per item, the points granted to each of its wanted bonuses: budgets and caps claimed in item order."""
    requests: list[programme_rules.ClaimRequest] = []
    where: list[tuple[int, int]] = []
    granted: dict[int, list[int]] = {}
    for i in sorted(evaluated):
        granted[i] = [w.points for w in evaluated[i].wants]
        for k, want in enumerate(evaluated[i].wants):
            if want.campaign.claims:
                requests.append(programme_rules.ClaimRequest(
                    want.campaign.campaign_id, member_texts[i], want.period, want.points,
                    want.campaign.budget_points is not None, want.cap))
                where.append((i, k))
    if requests:
        state = claims.read(requests) if claims is not None else programme_rules.ClaimState({}, {})
        grants = programme_rules.grant_claims(requests, state)
        for (i, k), grant in zip(where, grants):
            granted[i][k] = grant.points
        return granted, grants
    return granted, []


def _bonus_lots(plan: EarnPlan, bonuses: Sequence[Component], item: EarnItem, member: str, shard: int, tx_id: str,
                lot: rules.NewLot, now: datetime) -> dict[str, str]:
    """One bonus transaction and lot per funder (its issuer) for an earn's bonus components; lot id by funder.
    A bonus lot has the dates of the earn's own lot: pending for its return window, reversed with it."""
    by_funder: dict[str, int] = {}
    for part in bonuses:
        if part.points > 0:
            by_funder[part.funder] = by_funder.get(part.funder, 0) + part.points
    lots = {}
    for funder, points in by_funder.items():
        bonus_tx, lot_id = str(uuid_utils.uuid7()), str(uuid_utils.uuid7())
        plan.txs.append(PendingTransaction(bonus_tx, "earn", funder, member, shard, points,
                                           ledger.earn_postings(member, funder, lot_id, points), now,
                                           receipt_ref=item.receipt_ref, store_id=item.store_id,
                                           terminal_id=item.terminal_id, related_id=tx_id,  # type: ignore[arg-type]
                                           lot=ledger.LotTerms(lot_id, member, funder, points, lot.available_at,
                                                               lot.expires_at, now)))
        plan.lots.append(LotRow(lot_id, member, funder, bonus_tx, points, lot.state, lot.available_at, lot.expires_at))
        lots[funder] = lot_id
    return lots


def _standing(plan: EarnPlan, programme: Programme, members: MemberFacts, member: str, item: EarnItem,
              points: int, held: programme_rules.Tier | None) -> str:
    """Count a purchase's points as qualifying, upgrade the member the moment a threshold is crossed, move its
    last earn; the member's tier after this earn."""
    standing = members.standing.get(member, NO_STANDING)
    if item.amount_minor is not None:  # qualifying points come from purchases only
        plan.qualifying[member] = plan.qualifying.get(member, 0) + points
    qualifying = standing.qualifying + plan.qualifying.get(member, 0)
    before = plan.status.get(member)
    held_name = before.tier if before else (held.name if held else "")
    now_tier = programme.tier_held_after(qualifying, held_name)
    if not now_tier:
        return ""
    plan.status[member] = StatusRow(member, now_tier, plan.now)
    return now_tier


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
