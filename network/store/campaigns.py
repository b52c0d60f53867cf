"""Campaigns and the tier ladder from the database: the in-memory index an earn evaluates (ProgrammeBook, emptied
by NOTIFY on every change, as the contract cache is), the claims of budgets and caps inside the earn transaction,
and the operator's management (create, pause, resume, end, tier set), audited in operator_actions.

Budgets and caps, never overspent: before its chain heads, an earn group takes a transaction-scoped advisory lock
per campaign with a budget or cap that may match one of its items (campaign id order; the same global order as
the credit locks: after the ledger-time lock, before any chain head), reads the budget left and the members'
period totals under those locks (in the same round trip as the members: network.store.earn), grants in item order
(network.core.campaigns.grant_claims) and writes the new budget and totals with its other inserts. Every writer of a campaign's budget holds its lock until it commits, so two earns
never both spend the last points. A campaign that matched without having been locked first (the index changed
meanwhile) is locked when it is claimed, after the heads: should that ever deadlock, PostgreSQL aborts one
transaction and its calls fail (retryable); nothing is overspent.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import cached_property
from datetime import date, datetime, timezone
from typing import Callable, Iterable, Sequence

from sqlalchemy import Connection, Engine, text

from network import errors
from network.core import campaigns as core
from network.core.campaigns import (Campaign, Conditions, Effects, Funder, Tier, NETWORK_ISSUER)
from network.store import pgarray
from network.store.notify import NotifiedCache

PROGRAMME_CHANNEL = "coalition_programme"
STATUSES = ("active", "paused", "ended")


# --- definitions as JSON -------------------------------------------------------------------------------------

def _instant(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def definition_of(c: Campaign) -> dict:
    """The campaign's conditions, effects and funders as the JSON stored in campaigns.definition."""
    k = asdict(c.conditions)
    k["starts_at"] = c.conditions.starts_at.isoformat() if c.conditions.starts_at else None
    k["ends_at"] = c.conditions.ends_at.isoformat() if c.conditions.ends_at else None
    return {"conditions": k, "effects": asdict(c.effects),
            "funders": [{"partner_id": f.partner_id, "share_bps": f.share_bps} for f in c.funders]}


def campaign_from(campaign_id: str, name: str, kind: str, priority: int, exclusive: bool, definition: dict,
                  budget_points: int | None) -> Campaign:
    """A campaign from its stored (or typed-in) definition. Raises errors.invalid on a malformed definition."""
    try:
        k = dict(definition.get("conditions") or {})
        for key in ("partners", "stores", "weekdays", "tiers", "categories", "skus"):
            k[key] = tuple(k.get(key) or ())
        k["hours"] = tuple(k["hours"]) if k.get("hours") else None
        k["starts_at"], k["ends_at"] = _instant(k.get("starts_at")), _instant(k.get("ends_at"))
        return Campaign(campaign_id, name, tuple(Funder(f["partner_id"], int(f["share_bps"]))
                                                 for f in definition.get("funders") or ()),
                        Conditions(**k), Effects(**(definition.get("effects") or {})), priority, exclusive,
                        budget_points, kind)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise errors.invalid("definition", f"malformed campaign definition: {exc}") from exc


# --- the index -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Programme:
    """What an earn evaluates: the active campaigns and the tier ladder."""

    campaigns: tuple[Campaign, ...] = ()
    ladder: tuple[Tier, ...] = ()

    # The index is immutable: what an earn asks of it is computed once per index, not once per earn.
    @cached_property
    def _tiers(self) -> dict[str, Tier]:
        return {t.name: t for t in self.ladder}

    @cached_property
    def _lowest(self) -> Tier | None:
        return min(self.ladder, key=lambda t: t.rank) if self.ladder else None

    def tier(self, name: str) -> Tier | None:
        return self._tiers.get(name)

    @cached_property
    def ladder_names(self) -> tuple[str, ...]:
        """The tiers' names, lowest rank first."""
        return tuple(t.name for t in sorted(self.ladder, key=lambda t: t.rank))

    def lowest_tier(self) -> Tier | None:
        return self._lowest

    @cached_property
    def _by_rank_down(self) -> tuple[Tier, ...]:
        return tuple(sorted(self.ladder, key=lambda t: -t.rank))

    def tier_held_after(self, qualifying_points: int, held: str) -> str:
        """network.core.campaigns.progress(ladder, qualifying_points, held).tier, without building the ladder's
        lookups on every earn: the highest tier the points reach, or the tier held when higher ("" on no ladder)."""
        current = next((t for t in self._by_rank_down if qualifying_points >= t.threshold_points), None)
        kept = self._tiers.get(held)
        if kept is not None and (current is None or kept.rank > current.rank):
            current = kept
        return current.name if current is not None else ""

    @cached_property
    def _claiming(self) -> tuple[Campaign, ...]:
        return tuple(c for c in self.earn_campaigns if c.claims)

    @cached_property
    def earn_campaigns(self) -> tuple[Campaign, ...]:
        return tuple(c for c in self.campaigns if c.kind == "earn")

    @cached_property
    def _by_partner(self) -> dict[str, tuple[Campaign, ...]]:
        named = {p for c in self.earn_campaigns for p in c.conditions.partners}
        return {p: tuple(c for c in self.earn_campaigns if not c.conditions.partners or p in c.conditions.partners)
                for p in named}

    def earn_campaigns_at(self, partner_id: str) -> tuple[Campaign, ...]:
        """The earn campaigns an earn at this partner may match (those naming it, and those naming no partner):
        evaluated once per index, not per earn."""
        found = self._by_partner.get(partner_id)
        if found is None:
            return tuple(c for c in self.earn_campaigns if not c.conditions.partners)
        return found

    def lifecycle(self, kind: str) -> list[Campaign]:
        return sorted((c for c in self.campaigns if c.kind == kind), key=lambda c: (-c.priority, c.campaign_id))


def load_programme(conn: Connection) -> Programme:
    campaigns = tuple(campaign_from(r.campaign_id, r.name, r.kind, r.priority, r.exclusive, r.definition,
                                    r.budget_points)
                      for r in conn.execute(text(
                          "SELECT campaign_id, name, kind, priority, exclusive, definition, budget_points "
                          "FROM campaigns WHERE status = 'active' AND (budget_left IS NULL OR budget_left > 0) "
                          "ORDER BY campaign_id")))
    ladder = tuple(Tier(r.name, r.rank, r.threshold_points, r.multiplier_bps, r.cap_multiplier_bps)
                   for r in conn.execute(text("SELECT * FROM tiers ORDER BY rank")))
    return Programme(campaigns, ladder)


def notify_programme_change(conn: Connection) -> None:
    conn.execute(text(f"NOTIFY {PROGRAMME_CHANNEL}"))


class ProgrammeBook(NotifiedCache):
    """The active campaigns and the ladder, reloaded at most every `ttl_seconds`, at once after a change anywhere
    (PostgreSQL NOTIFY on PROGRAMME_CHANNEL, `follow_changes`), and on every lookup while the listener is down."""

    def __init__(self, engine: Engine, ttl_seconds: float = 2.0):
        super().__init__(engine, ttl_seconds, PROGRAMME_CHANNEL, "programme-listener")
        self._programme = Programme()

    def current(self) -> Programme:
        with self._lock:
            if self._stale():
                with self._engine.connect() as conn:
                    self._programme = load_programme(conn)
                self._loaded()
            return self._programme


# --- claims of budgets and caps, inside the earn transaction ----------------------------------------------------

CAMPAIGN_LOCK = ("SELECT pg_advisory_xact_lock(hashtextextended('coalition-campaign:' || c, 0)) "
                 "FROM unnest(CAST(%(claim_campaigns)s AS text[])) AS c")
_READ_CLAIMS = (
    "WITH b AS (SELECT campaign_id, budget_left FROM campaigns WHERE campaign_id = ANY(CAST(%(campaigns)s AS text[])) "
    "AND budget_left IS NOT NULL FOR UPDATE), "
    "c AS (SELECT t.campaign_id, t.member_id, t.period, t.points FROM campaign_member_totals t "
    "JOIN unnest(CAST(%(cap_campaign)s AS text[]), CAST(%(cap_member)s AS uuid[]), CAST(%(cap_period)s AS text[])) "
    "AS q(c, m, p) ON t.campaign_id = q.c AND t.member_id = q.m AND t.period = q.p FOR UPDATE OF t) "
    "SELECT 'b' AS tag, campaign_id, NULL::text AS member_id, NULL::text AS period, budget_left AS points FROM b "
    "UNION ALL SELECT 'c', campaign_id, member_id::text, period, points FROM c")
SPEND_BUDGETS = ("UPDATE campaigns c SET budget_left = c.budget_left - s.points FROM unnest("
                 "CAST(%(campaign_id)s AS text[]), CAST(%(points)s AS bigint[])) AS s(campaign_id, points) "
                 "WHERE c.campaign_id = s.campaign_id")
ADD_MEMBER_TOTALS = ("INSERT INTO campaign_member_totals AS t (campaign_id, member_id, period, points, last_grant) "
                     "SELECT c, m, p, g, g FROM unnest(CAST(%(campaign_id)s AS text[]), CAST(%(member_id)s AS uuid[]), "
                     "CAST(%(period)s AS text[]), CAST(%(points)s AS bigint[])) AS s(c, m, p, g) "
                     "ON CONFLICT (campaign_id, member_id, period) DO UPDATE "
                     "SET points = t.points + excluded.points, last_grant = excluded.points")


def lock_candidates(programme: Programme, partner_ids: Iterable[str], at: datetime) -> list[str]:
    """The campaigns with a budget or cap that an earn of these partners may match at `at` (a superset: member and
    basket conditions are not known yet), sorted: what an earn group locks before its chain heads."""
    partners = set(partner_ids)
    out = set()
    for c in programme._claiming:  # the earn campaigns with a budget or cap
        k = c.conditions
        if k.partners and partners.isdisjoint(k.partners):
            continue
        if (k.starts_at and at < k.starts_at) or (k.ends_at and at >= k.ends_at):
            continue
        out.add(c.campaign_id)
    return sorted(out)


class Claims:
    """Reads budgets and member totals under their locks on the earn transaction's cursor (`execute(sql, params)`
    returning rows), for network.core.campaigns.grant_claims."""

    def __init__(self, execute: Callable[[str, dict], list], locked: Sequence[str] = (), *, writes: bool = True):
        """writes=False (PreviewEarn): read without locking; nothing will be written."""
        self._execute = execute
        self._locked = set(locked)
        self.writes = writes
        self._prefetched: core.ClaimState | None = None

    def prefetched(self, state: core.ClaimState) -> None:
        """The budgets and cap totals of the campaigns locked before, read in the same round trip as the members
        (network.store.earn): claims of those campaigns need no statement of their own."""
        self._prefetched = state

    def read(self, requests: Sequence[core.ClaimRequest]) -> core.ClaimState:
        wanted = sorted({r.campaign_id for r in requests})
        if self._prefetched is not None and self.writes and set(wanted) <= self._locked:
            return self._prefetched
        late = [c for c in wanted if c not in self._locked]
        if late and self.writes:  # matched without having been locked before the heads (the index changed meanwhile)
            self._execute(CAMPAIGN_LOCK, {"claim_campaigns": pgarray.literal(late)})
            self._locked.update(late)
        caps = sorted({(r.campaign_id, r.member_id, r.period) for r in requests if r.cap is not None})
        rows = self._execute(_READ_CLAIMS if self.writes else _READ_CLAIMS.replace(" FOR UPDATE OF t", "")
                             .replace(" FOR UPDATE", ""), {
            "campaigns": pgarray.literal(wanted), "cap_campaign": pgarray.literal([c[0] for c in caps]),
            "cap_member": pgarray.literal([c[1] for c in caps]), "cap_period": pgarray.literal([c[2] for c in caps])})
        budgets, used = {}, {}
        for tag, campaign_id, member_id, period, points in rows:
            if tag == "b":
                budgets[campaign_id] = int(points)
            else:
                used[campaign_id, member_id, period] = int(points)
        return core.ClaimState(budgets, used)


def claim_writes(grants: Sequence[core.Grant]) -> list[tuple[str, dict]]:
    """The statements recording what was granted: budgets spent, members' period totals raised."""
    spent: dict[str, int] = {}
    totals: dict[tuple[str, str, str], int] = {}
    for g in grants:
        if g.points <= 0:
            continue
        if g.request.budgeted:
            spent[g.request.campaign_id] = spent.get(g.request.campaign_id, 0) + g.points
        if g.request.cap is not None:
            key = (g.request.campaign_id, g.request.member_id, g.request.period)
            totals[key] = totals.get(key, 0) + g.points
    out = []
    if spent:
        ids = sorted(spent)
        out.append((SPEND_BUDGETS, {"campaign_id": pgarray.literal(ids),
                                    "points": pgarray.literal([spent[i] for i in ids])}))
    if totals:
        keys = sorted(totals)
        out.append((ADD_MEMBER_TOTALS, {"campaign_id": pgarray.literal([k[0] for k in keys]),
                                        "member_id": pgarray.literal([k[1] for k in keys]),
                                        "period": pgarray.literal([k[2] for k in keys]),
                                        "points": pgarray.literal([totals[k] for k in keys])}))
    return out


# --- management (CLI, console) ----------------------------------------------------------------------------------

def parse_funders(values: Iterable[str]) -> tuple[Funder, ...]:
    """PARTNER[:BASIS_POINTS] each (the CLI's --funder, the console's funders field); a single funder without a
    share funds it all."""
    out = []
    for value in values:
        partner_id, _, share = value.partition(":")
        try:
            out.append(Funder(partner_id, int(share) if share else core.BASIS_POINTS))
        except ValueError:
            raise errors.DomainError(errors.grpc.StatusCode.INVALID_ARGUMENT, "CAMPAIGN_FUNDING_INVALID",
                                     f"funder {value!r}: PARTNER or PARTNER:BASIS_POINTS") from None
    return tuple(out)


def parse_hours(value: str | None) -> tuple[int, int] | None:
    """FROM-TO hours of day (UTC), e.g. 17-20; empty: none."""
    if not value:
        return None
    start, _, end = value.partition("-")
    try:
        return int(start), int(end)
    except ValueError:
        raise errors.DomainError(errors.grpc.StatusCode.INVALID_ARGUMENT, "CAMPAIGN_WINDOW_INVALID",
                                 f"hours {value!r}: FROM-TO, e.g. 17-20") from None


def _audit(conn: Connection, operator: str, action: str, subject: str, detail: dict) -> None:
    conn.execute(text("INSERT INTO operator_actions (operator, action, subject, detail) "
                      "VALUES (:o, :a, :s, CAST(:d AS jsonb))"),
                 {"o": operator, "a": action, "s": subject, "d": json.dumps(detail, default=str)})


def ensure_network_issuer(conn: Connection, currency: str) -> None:
    """The partner row that stands for the network as an issuer, with an issuer_pays contract (no fee, no breakage
    share: what it would owe itself nets to nothing), effective from the beginning of time."""
    conn.execute(text("INSERT INTO partners (partner_id, name, status, currency) VALUES (:p, 'The network (issuer)', "
                      "'active', :c) ON CONFLICT (partner_id) DO NOTHING"), {"p": NETWORK_ISSUER, "c": currency})
    if conn.execute(text("SELECT 1 FROM contracts WHERE partner_id = :p"), {"p": NETWORK_ISSUER}).first() is None:
        conn.execute(text("INSERT INTO contracts (partner_id, version, effective_from, earn_points_per_major, "
                          "settlement_model, clearing_fee_bps, issue_price_minor_per_point, "
                          "redemption_rate_minor_per_point, breakage_share_bps, return_window_seconds, expiry_days, "
                          "max_basket_share_bps, collateral_minor) VALUES (:p, 1, '2000-01-01T00:00:00Z', 0, "
                          "'issuer_pays', 0, 0, 0, 0, 0, 0, 10000, 0)"), {"p": NETWORK_ISSUER})
        conn.execute(text("NOTIFY coalition_contracts"))


def validate(conn: Connection, c: Campaign) -> None:
    """Raise errors.invalid naming the first problem of a definition (reason codes from core.problems), or a
    funder without a contract."""
    found = core.problems(c)
    if found:
        reason, message = found[0]
        raise errors.DomainError(errors.grpc.StatusCode.INVALID_ARGUMENT, reason, message)
    for f in c.funders:
        if f.partner_id == NETWORK_ISSUER:
            continue
        if conn.execute(text("SELECT 1 FROM contracts WHERE partner_id = :p"), {"p": f.partner_id}).first() is None:
            raise errors.DomainError(errors.grpc.StatusCode.INVALID_ARGUMENT, "CAMPAIGN_FUNDING_INVALID",
                                     f"funder {f.partner_id} has no contract")


def create_campaign(conn: Connection, c: Campaign, operator: str, currency: str, owner: str | None = None) -> None:
    """Create a campaign (audited as `operator`); `owner`: the partner whose own campaign it is (partner_campaign)."""
    validate(conn, c)
    if any(f.partner_id == NETWORK_ISSUER for f in c.funders):
        ensure_network_issuer(conn, currency)
    inserted = conn.execute(text(
        "INSERT INTO campaigns (campaign_id, name, kind, status, priority, exclusive, definition, budget_points, "
        "budget_left, owner_partner_id) VALUES (:i, :n, :k, 'active', :p, :x, CAST(:d AS jsonb), :b, :b, :o) "
        "ON CONFLICT (campaign_id) DO NOTHING RETURNING campaign_id"),
        {"i": c.campaign_id, "n": c.name, "k": c.kind, "p": c.priority, "x": c.exclusive,
         "d": json.dumps(definition_of(c)), "b": c.budget_points, "o": owner}).first()
    if inserted is None:
        raise errors.DomainError(errors.grpc.StatusCode.ALREADY_EXISTS, "CAMPAIGN_EXISTS",
                                 f"campaign {c.campaign_id} exists")
    _audit(conn, operator, "campaign.create", c.campaign_id, {"kind": c.kind, **definition_of(c),
                                                               "budget_points": c.budget_points})
    notify_programme_change(conn)


_TRANSITIONS = {"pause": ("active", "paused"), "resume": ("paused", "active"), "end": (None, "ended")}


def set_campaign_status(conn: Connection, campaign_id: str, action: str, operator: str,
                        owner: str | None = None) -> str:
    """pause (active -> paused), resume (paused -> active), end (any -> ended, for good). With `owner`, only that
    partner's own campaigns are found (any other id: CAMPAIGN_NOT_FOUND, saying nothing of the others)."""
    if action not in _TRANSITIONS:
        raise errors.invalid("action", "pause, resume or end")
    before, after = _TRANSITIONS[action]
    row = conn.execute(text("SELECT status, owner_partner_id FROM campaigns WHERE campaign_id = :i FOR UPDATE"),
                       {"i": campaign_id}).first()
    if row is None or (owner is not None and row.owner_partner_id != owner):
        raise errors.not_found("campaign", campaign_id, "CAMPAIGN_NOT_FOUND")
    if row.status == "ended" or (before is not None and row.status != before):
        raise errors.precondition("CAMPAIGN_STATUS_CONFLICT", f"campaign {campaign_id} is {row.status}: cannot {action}",
                                  campaign_id=campaign_id, status=row.status)
    conn.execute(text("UPDATE campaigns SET status = :s, updated_at = now() WHERE campaign_id = :i"),
                 {"s": after, "i": campaign_id})
    _audit(conn, operator, f"campaign.{action}", campaign_id, {"from": row.status, "to": after})
    notify_programme_change(conn)
    return after


@dataclass(frozen=True)
class CampaignSummary:
    campaign_id: str
    name: str
    kind: str
    status: str
    priority: int
    exclusive: bool
    funders: str
    budget_points: int | None
    budget_left: int | None
    awarded_points: int


def list_campaigns(conn: Connection) -> list[CampaignSummary]:
    rows = conn.execute(text(
        "SELECT c.campaign_id, c.name, c.kind, c.status, c.priority, c.exclusive, c.definition, c.budget_points, "
        "c.budget_left, coalesce((SELECT sum(points) FROM earn_components e WHERE e.campaign_id = c.campaign_id), 0) "
        "AS awarded FROM campaigns c ORDER BY c.status, c.priority DESC, c.campaign_id"))
    return [CampaignSummary(r.campaign_id, r.name, r.kind, r.status, r.priority, r.exclusive,
                            " ".join(f"{f['partner_id']}:{f['share_bps']}" for f in r.definition.get("funders", [])),
                            r.budget_points, r.budget_left, int(r.awarded)) for r in rows]


# --- a partner's own campaigns (its signed API: network.grpc_service) ---------------------------------------------

def partner_campaign(partner_id: str, campaign_id: str, name: str, stores: Sequence[str], multiplier_bps: int,
                     fixed_points: int, cap_points: int, cap_period: str, budget_points: int, min_basket_minor: int,
                     weekdays: Sequence[int]) -> Campaign:
    """A partner's own campaign: on earns at this partner only (at its stores named, or all), funded by it alone,
    priority 0, never exclusive (a partner's campaign cannot shut out the network's). 0 means none for the cap,
    the budget and the minimum basket; an empty cap period is 'campaign'."""
    return Campaign(campaign_id, name, (Funder(partner_id, core.BASIS_POINTS),),
                    Conditions(partners=(partner_id,), stores=tuple(stores), weekdays=tuple(weekdays),
                               min_basket_minor=min_basket_minor or None),
                    Effects(multiplier_bps, fixed_points, cap_points or None, cap_period or "campaign"),
                    budget_points=budget_points or None)


@dataclass(frozen=True)
class OwnCampaign:
    campaign: Campaign
    status: str
    budget_left: int | None
    awarded_points: int


def own_campaigns(conn: Connection, partner_id: str, campaign_id: str | None = None) -> list[OwnCampaign]:
    """The partner's own campaigns (or the one with this id), newest first, with their budget left and points
    given."""
    rows = conn.execute(text(
        "SELECT c.campaign_id, c.name, c.kind, c.priority, c.exclusive, c.definition, c.budget_points, c.status, "
        "c.budget_left, coalesce((SELECT sum(points) FROM earn_components e WHERE e.campaign_id = c.campaign_id), 0) "
        "AS awarded FROM campaigns c WHERE c.owner_partner_id = :p AND (CAST(:i AS text) IS NULL OR c.campaign_id = :i) "
        "ORDER BY c.created_at DESC, c.campaign_id"), {"p": partner_id, "i": campaign_id})
    return [OwnCampaign(campaign_from(r.campaign_id, r.name, r.kind, r.priority, r.exclusive, r.definition,
                                      r.budget_points), r.status, r.budget_left, int(r.awarded)) for r in rows]


def list_tiers(conn: Connection) -> list[Tier]:
    return list(load_programme(conn).ladder)


def set_tier(conn: Connection, tier: Tier, operator: str) -> None:
    """Add or change a tier of the ladder (audited); thresholds must rise with rank."""
    if tier.threshold_points < 0 or tier.multiplier_bps < core.BASIS_POINTS or tier.cap_multiplier_bps < core.BASIS_POINTS:
        raise errors.DomainError(errors.grpc.StatusCode.INVALID_ARGUMENT, "TIER_INVALID",
                                 "threshold >= 0, multipliers >= 10000 basis points (x1)")
    others = [t for t in list_tiers(conn) if t.name != tier.name]
    ladder = sorted([*others, tier], key=lambda t: t.rank)
    if len({t.rank for t in ladder}) != len(ladder) or any(
            a.threshold_points >= b.threshold_points for a, b in zip(ladder, ladder[1:])):
        raise errors.DomainError(errors.grpc.StatusCode.INVALID_ARGUMENT, "TIER_INVALID",
                                 "ranks are unique and thresholds rise with rank")
    conn.execute(text("INSERT INTO tiers (name, rank, threshold_points, multiplier_bps, cap_multiplier_bps) "
                      "VALUES (:n, :r, :t, :m, :c) ON CONFLICT (name) DO UPDATE SET rank = excluded.rank, "
                      "threshold_points = excluded.threshold_points, multiplier_bps = excluded.multiplier_bps, "
                      "cap_multiplier_bps = excluded.cap_multiplier_bps"),
                 {"n": tier.name, "r": tier.rank, "t": tier.threshold_points, "m": tier.multiplier_bps,
                  "c": tier.cap_multiplier_bps})
    _audit(conn, operator, "tier.set", tier.name, asdict(tier))
    notify_programme_change(conn)


def qualifying_from(now: datetime) -> date:
    """The first month of the rolling 12 months ending with `now`'s month (qualifying points are kept per month)."""
    month = now.year * 12 + now.month - 1 - 11
    return date(month // 12, month % 12 + 1, 1)

