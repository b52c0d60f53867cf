"""Campaigns as data, and the pure evaluator that decides what bonus an earn gets and who pays for it.

A campaign is a frozen value (conditions, effects, funding, priority, exclusivity); the store keeps them in a
table and compiles the active ones into a CampaignIndex (network.store.campaigns), refreshed on every change by
NOTIFY, so an earn evaluates them in memory.

  conditions   every condition given must hold (an empty one holds): the earning partner, the store, the time
               window [starts_at, ends_at), the weekdays (0 = Monday) and hours [from, to) of day in UTC, the
               minimum basket (amount_minor >= min_basket_minor), the member's tier, the member's segment
               ("new": joined less than segment_days days ago; "lapsed": no earn for segment_days days or more;
               "birthday": the earn falls in the member's birth month, UTC; a member whose birth date the programme
               does not know is in no birthday segment),
               basket categories or SKUs (at least one basket line matching).
  effects      bonus = floor(eligible base x multiplier_bps / BASIS_POINTS) + fixed_points, where the eligible
               base is the earn's base points, or (with categories/SKUs) its share of the matching lines' amount,
               floored. multiplier_bps = BASIS_POINTS is "double points". A cap per member per period
               (cap_points, cap_period: campaign / day / month; raised by the member's tier cap_multiplier_bps)
               and a total budget in points are claimed in the earn's transaction (network.store.campaigns): what
               the evaluator returns is what the campaign *wants* to give; the claim may grant less (the last
               remainder of a budget, the rest of a cap).
  stacking     the campaigns that match are taken by priority (higher first, then campaign id); when any of them
               is exclusive, the highest-priority exclusive one applies alone (exclusive beats stacking);
               otherwise every match applies, each on the same base (multipliers add up, they do not compound).
  funding      each campaign names its funders with shares in basis points summing to BASIS_POINTS; the points
               granted are split by share_bps, floored, and the remainder goes one point at a time to the largest
               remainders (ties: the funder listed first), so the lots add up exactly to the points granted.
               The funder of a lot is its issuer: it pays for the points when they are redeemed, under its
               settlement model (docs/money-model.md). NETWORK_ISSUER is the network itself as an issuer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Iterable, Sequence

from network.core.terms import BASIS_POINTS

NETWORK_ISSUER = "network"  # the partner row that stands for the network as an issuer (funder of its bonuses)
CAP_PERIODS = ("campaign", "day", "month")
SEGMENTS = ("", "new", "lapsed", "birthday")
KINDS = ("earn", "signup", "referral", "anniversary", "birthday")  # an earn campaign; lifecycle kinds: on their occasion
MAX_BONUS_POINTS = 1_000_000_000


@dataclass(frozen=True)
class Funder:
    partner_id: str
    share_bps: int


@dataclass(frozen=True)
class BasketLine:
    sku: str
    category: str
    amount_minor: int


@dataclass(frozen=True)
class Conditions:
    partners: tuple[str, ...] = ()
    stores: tuple[str, ...] = ()
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    weekdays: tuple[int, ...] = ()
    hours: tuple[int, int] | None = None  # [from, to) in UTC, 0..24
    min_basket_minor: int | None = None
    tiers: tuple[str, ...] = ()
    segment: str = ""
    segment_days: int = 0
    categories: tuple[str, ...] = ()
    skus: tuple[str, ...] = ()


@dataclass(frozen=True)
class Effects:
    multiplier_bps: int = 0
    fixed_points: int = 0
    cap_points: int | None = None
    cap_period: str = "campaign"


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    name: str
    funders: tuple[Funder, ...]
    conditions: Conditions = Conditions()
    effects: Effects = Effects()
    priority: int = 0
    exclusive: bool = False
    budget_points: int | None = None  # None: no budget
    kind: str = "earn"

    @property
    def claims(self) -> bool:
        """Whether granting it needs a claim in the database (a budget or a cap)."""
        return self.budget_points is not None or self.effects.cap_points is not None


@dataclass(frozen=True)
class Tier:
    name: str
    rank: int
    threshold_points: int
    multiplier_bps: int = BASIS_POINTS  # earn multiplier: BASIS_POINTS = x1
    cap_multiplier_bps: int = BASIS_POINTS  # campaign caps are multiplied by it


@dataclass(frozen=True)
class MemberFacts:
    """What the evaluator knows of the member (read with the member in the earn's first round trip)."""

    tier: str = ""
    joined_at: datetime | None = None
    last_earn_at: datetime | None = None
    birth_month: int | None = None  # 1..12 (network.store.birthdays), None: not known


@dataclass(frozen=True)
class EarnContext:
    partner_id: str
    store_id: str
    at: datetime
    base_points: int
    amount_minor: int | None
    lines: tuple[BasketLine, ...] = ()
    member: MemberFacts = MemberFacts()


@dataclass(frozen=True)
class Want:
    """A campaign's bonus for one earn before its budget/cap claim: `points` wanted, `cap` the member's cap."""

    campaign: Campaign
    points: int
    cap: int | None
    period: str


@dataclass(frozen=True)
class Component:
    """One line of what an earn gave: kind 'base', 'tier' or 'campaign', its funder (issuer) and points."""

    kind: str
    funder: str
    points: int
    campaign_id: str = ""


# --- validation ------------------------------------------------------------------------------------------------

def problems(c: Campaign) -> list[tuple[str, str]]:
    """(reason, message) for each thing wrong with a campaign definition; empty when it is valid."""
    out: list[tuple[str, str]] = []

    def bad(reason: str, message: str) -> None:
        out.append((reason, message))

    if not c.campaign_id or len(c.campaign_id) > 64:
        bad("CAMPAIGN_ID_INVALID", "campaign id must be 1 to 64 characters")
    if c.kind not in KINDS:
        bad("CAMPAIGN_KIND_INVALID", f"kind must be one of {', '.join(KINDS)}")
    if not c.funders:
        bad("CAMPAIGN_FUNDING_INVALID", "a campaign names at least one funder")
    elif sum(f.share_bps for f in c.funders) != BASIS_POINTS or any(f.share_bps <= 0 for f in c.funders):
        bad("CAMPAIGN_FUNDING_INVALID", f"funder shares must be positive and sum to {BASIS_POINTS} basis points")
    elif len({f.partner_id for f in c.funders}) != len(c.funders):
        bad("CAMPAIGN_FUNDING_INVALID", "a funder is named once")
    e, k = c.effects, c.conditions
    if e.multiplier_bps < 0 or e.fixed_points < 0 or (e.multiplier_bps == 0 and e.fixed_points == 0):
        bad("CAMPAIGN_EFFECT_INVALID", "a campaign gives a multiplier, fixed points or both, none negative")
    elif c.kind != "earn" and (e.multiplier_bps or not e.fixed_points):
        bad("CAMPAIGN_EFFECT_INVALID", "a lifecycle bonus gives fixed points only")
    if e.fixed_points > MAX_BONUS_POINTS:
        bad("CAMPAIGN_EFFECT_INVALID", f"fixed points at most {MAX_BONUS_POINTS}")
    if e.cap_points is not None and e.cap_points <= 0:
        bad("CAMPAIGN_CAP_INVALID", "a cap is a positive number of points")
    if e.cap_period not in CAP_PERIODS:
        bad("CAMPAIGN_CAP_INVALID", f"cap period must be one of {', '.join(CAP_PERIODS)}")
    if c.budget_points is not None and c.budget_points <= 0:
        bad("CAMPAIGN_BUDGET_INVALID", "a budget is a positive number of points")
    if k.starts_at and k.ends_at and k.ends_at <= k.starts_at:
        bad("CAMPAIGN_WINDOW_INVALID", "the window ends after it starts")
    if any(d not in range(7) for d in k.weekdays):
        bad("CAMPAIGN_WINDOW_INVALID", "weekdays are 0 (Monday) to 6 (Sunday)")
    if k.hours is not None and not (0 <= k.hours[0] < k.hours[1] <= 24):
        bad("CAMPAIGN_WINDOW_INVALID", "hours are [from, to) with 0 <= from < to <= 24")
    if k.min_basket_minor is not None and k.min_basket_minor < 0:
        bad("CAMPAIGN_CONDITION_INVALID", "the minimum basket is not negative")
    if k.segment not in SEGMENTS or (k.segment in ("new", "lapsed") and k.segment_days <= 0):
        bad("CAMPAIGN_CONDITION_INVALID", "segment is 'new' or 'lapsed' with a positive number of days, or 'birthday'")
    return out


# --- evaluation ------------------------------------------------------------------------------------------------

def _matched_amount(k: Conditions, lines: Sequence[BasketLine]) -> int | None:
    """The basket amount of the lines matching the campaign's categories/SKUs (None: the campaign names none)."""
    if not k.categories and not k.skus:
        return None
    return sum(line.amount_minor for line in lines if line.category in k.categories or line.sku in k.skus)


def matches(c: Campaign, ctx: EarnContext) -> bool:
    """Whether every condition of `c` holds for the earn."""
    k = c.conditions
    if k.partners and ctx.partner_id not in k.partners:
        return False
    if k.stores and ctx.store_id not in k.stores:
        return False
    if k.starts_at is not None and ctx.at < k.starts_at:
        return False
    if k.ends_at is not None and ctx.at >= k.ends_at:
        return False
    if k.weekdays and ctx.at.weekday() not in k.weekdays:
        return False
    if k.hours is not None and not k.hours[0] <= ctx.at.hour < k.hours[1]:
        return False
    if k.min_basket_minor is not None and (ctx.amount_minor is None or ctx.amount_minor < k.min_basket_minor):
        return False
    if k.tiers and ctx.member.tier not in k.tiers:
        return False
    if k.segment == "new" and (ctx.member.joined_at is None
                               or ctx.at - ctx.member.joined_at >= timedelta(days=k.segment_days)):
        return False
    if k.segment == "lapsed" and (ctx.member.last_earn_at is None
                                  or ctx.at - ctx.member.last_earn_at < timedelta(days=k.segment_days)):
        return False
    if k.segment == "birthday" and ctx.member.birth_month != ctx.at.month:
        return False
    matched = _matched_amount(k, ctx.lines)
    if matched is not None and matched <= 0:
        return False
    return True



def birthdays_on(today: date) -> list[tuple[int, int]]:
    """The (month, day) birthdays that fall on `today`: its own, and 29 February on 28 February of a common year."""
    days = [(today.month, today.day)]
    leap = today.year % 4 == 0 and (today.year % 100 != 0 or today.year % 400 == 0)
    if (today.month, today.day) == (2, 28) and not leap:
        days.append((2, 29))
    return days


def period_of(c: Campaign, at: datetime) -> str:
    """The cap period an instant falls in (UTC)."""
    if c.effects.cap_period == "day":
        return at.strftime("%Y-%m-%d")
    if c.effects.cap_period == "month":
        return at.strftime("%Y-%m")
    return "campaign"


def bonus_points(c: Campaign, ctx: EarnContext) -> int:
    """What a matching campaign wants to give for the earn, before its budget and cap."""
    base = ctx.base_points
    matched = _matched_amount(c.conditions, ctx.lines)
    if matched is not None:
        total = sum(line.amount_minor for line in ctx.lines)
        base = base * min(matched, total) // total if total > 0 else 0
    return min(base * c.effects.multiplier_bps // BASIS_POINTS + c.effects.fixed_points, MAX_BONUS_POINTS)


def applicable(campaigns: Iterable[Campaign], ctx: EarnContext) -> list[Campaign]:
    """The campaigns that apply to the earn, stacking rules applied, in priority order."""
    matched = sorted((c for c in campaigns if c.kind == "earn" and matches(c, ctx)),
                     key=lambda c: (-c.priority, c.campaign_id))
    exclusive = [c for c in matched if c.exclusive]
    return exclusive[:1] if exclusive else matched


def member_cap(c: Campaign, tier: Tier | None) -> int | None:
    """The member's cap for the campaign: the campaign's cap raised by the tier's cap multiplier."""
    if c.effects.cap_points is None:
        return None
    return c.effects.cap_points * (tier.cap_multiplier_bps if tier else BASIS_POINTS) // BASIS_POINTS


def wants(campaigns: Iterable[Campaign], ctx: EarnContext, tier: Tier | None = None) -> list[Want]:
    """Each applicable campaign's wanted bonus (zero-point ones left out)."""
    out = []
    for c in applicable(campaigns, ctx):
        points = bonus_points(c, ctx)
        if points > 0:
            out.append(Want(c, points, member_cap(c, tier), period_of(c, ctx.at)))
    return out


def tier_bonus(base_points: int, tier: Tier | None) -> int:
    """The tier's earn multiplier as bonus points on the base: floor(base x (multiplier - 1))."""
    if tier is None or tier.multiplier_bps <= BASIS_POINTS:
        return 0
    return base_points * (tier.multiplier_bps - BASIS_POINTS) // BASIS_POINTS


def split_funding(points: int, funders: Sequence[Funder]) -> list[tuple[str, int]]:
    """`points` split over the funders by share_bps (largest remainder, ties to the funder listed first); funders
    whose share rounds to zero are left out. The shares sum to exactly `points`."""
    floors = [points * f.share_bps // BASIS_POINTS for f in funders]
    remainders = sorted(((points * f.share_bps % BASIS_POINTS, -i) for i, f in enumerate(funders)), reverse=True)
    for _, neg in remainders[:points - sum(floors)]:
        floors[-neg] += 1
    return [(f.partner_id, share) for f, share in zip(funders, floors) if share > 0]


def components(campaign: Campaign, granted: int) -> list[Component]:
    """The components (one per funder) of `granted` bonus points of a campaign."""
    return [Component("campaign", funder, share, campaign.campaign_id)
            for funder, share in split_funding(granted, campaign.funders)]


# --- tiers -----------------------------------------------------------------------------------------------------

# The ladder migration 0011 installs: earn multipliers x1 (so that migrating changes no earn; the operator raises
# them with `coalition tier set`), campaign caps raised by a quarter, a half and double.
DEFAULT_LADDER = (
    Tier("Member", 0, 0),
    Tier("Silver", 1, 5_000, BASIS_POINTS, 12_500),
    Tier("Gold", 2, 20_000, BASIS_POINTS, 15_000),
    Tier("Platinum", 3, 50_000, BASIS_POINTS, 20_000),
)


def tier_for(ladder: Sequence[Tier], qualifying_points: int) -> Tier | None:
    """The highest tier whose threshold the qualifying points reach (None: an empty ladder)."""
    reached = [t for t in ladder if qualifying_points >= t.threshold_points]
    return max(reached, key=lambda t: t.rank) if reached else None


@dataclass(frozen=True)
class Progress:
    tier: str
    qualifying_points: int
    next_tier: str = ""
    points_to_next: int = 0


def progress(ladder: Sequence[Tier], qualifying_points: int, held: str = "") -> Progress:
    """The member's tier (the higher of what the points reach and the tier held: no instant downgrade) and what
    the next tier needs."""
    reached = tier_for(ladder, qualifying_points)
    by_name = {t.name: t for t in ladder}
    current = reached
    if held in by_name and (current is None or by_name[held].rank > current.rank):
        current = by_name[held]
    if current is None:
        return Progress("", qualifying_points)
    above = sorted((t for t in ladder if t.rank > current.rank), key=lambda t: t.rank)
    if not above:
        return Progress(current.name, qualifying_points)
    return Progress(current.name, qualifying_points, above[0].name,
                    max(0, above[0].threshold_points - qualifying_points))


def requalified(ladder: Sequence[Tier], qualifying_points: int, held: str) -> Tier | None:
    """The tier a requalification review moves a member to, or None (no change): the tier the qualifying points of
    the rolling 12 months reach, but never more than ONE level below the tier held (soft landing: Gold with no
    points goes to Silver, and to Member only at a later review). A review never raises a tier (upgrades happen in
    the earn that crosses a threshold) and leaves a tier that is not on the ladder alone."""
    by_name = {t.name: t for t in ladder}
    current = by_name.get(held)
    if current is None:
        return None
    reached = tier_for(ladder, qualifying_points)
    if reached is not None and reached.rank >= current.rank:
        return None
    below = [t for t in ladder if t.rank < current.rank]
    if not below:
        return None
    return max(below, key=lambda t: t.rank)  # the points reach lower still: one level down only


@dataclass(frozen=True)
class Evaluation:
    """What an earn gives: its components (base first) and the wanted campaign bonuses still to claim."""

    components: tuple[Component, ...]
    wants: tuple[Want, ...] = field(default_factory=tuple)


# --- budgets and caps: what each claim is granted -----------------------------------------------------------------

@dataclass(frozen=True)
class ClaimRequest:
    """A campaign's wanted bonus for one earn of a member, to be granted against its budget and/or cap."""

    campaign_id: str
    member_id: str
    period: str
    points: int
    budgeted: bool
    cap: int | None


@dataclass(frozen=True)
class ClaimState:
    """Read under the campaigns' locks: budget left per budgeted campaign, points given per (campaign, member,
    period) so far (absent: none)."""

    budget_left: dict[str, int]
    used: dict[tuple[str, str, str], int]


@dataclass(frozen=True)
class Grant:
    request: ClaimRequest
    points: int


def grant_claims(requests: Sequence[ClaimRequest], state: ClaimState) -> list[Grant]:
    """Grant each request in order: at most what its campaign's budget has left and what the member's cap leaves
    (the last remainder is granted in part). The budget and cap are never exceeded; a budgeted campaign whose row
    is gone (ended meanwhile) grants nothing."""
    left = dict(state.budget_left)
    used = dict(state.used)
    out = []
    for r in requests:
        points = r.points
        if r.budgeted:
            points = min(points, left.get(r.campaign_id, 0))
        key = (r.campaign_id, r.member_id, r.period)
        if r.cap is not None:
            points = min(points, max(0, r.cap - used.get(key, 0)))
        points = max(points, 0)
        if r.budgeted:
            left[r.campaign_id] = left.get(r.campaign_id, 0) - points
        if r.cap is not None:
            used[key] = used.get(key, 0) + points
        out.append(Grant(r, points))
    return out


# --- reversal of a bonused earn -------------------------------------------------------------------------------------

def bonus_reversal(base_points: int, base_left: int, bonus_points: int, bonus_reversible: int,
                   bonus_unspent: int) -> int:
    """Points of a bonus lot to take back when its earn is reversed down to `base_left` reversible base points:
    the bonus follows the base in proportion (floor(bonus x reversed base / base), all of it once the base is fully
    reversed), less what was already taken back, and at most what is still unspent in the bonus lot (bonus points
    already spent stay spent, as a spent base point does)."""
    reversed_base = base_points - base_left
    target = bonus_points if base_left == 0 else bonus_points * reversed_base // base_points
    already = bonus_points - bonus_reversible
    return max(0, min(target - already, bonus_unspent, bonus_reversible))
