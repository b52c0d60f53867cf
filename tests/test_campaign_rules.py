"""network.core.campaigns at each rule's boundary: conditions, effects, stacking, claims, funding splits, tiers and
the reversal of bonuses. Pure: no database."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, strategies as st

from network.core import campaigns as c
from network.core.campaigns import (BasketLine, Campaign, ClaimRequest, ClaimState, Conditions, Effects,
                                    EarnContext, Funder, MemberFacts, Tier)

MONDAY_NOON = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)  # a Monday
SHOP = (Funder("shop", 10_000),)


def ctx(**changes) -> EarnContext:
    values = dict(partner_id="shop", store_id="s1", at=MONDAY_NOON, base_points=100, amount_minor=10_000, lines=(),
                  member=MemberFacts("Member", MONDAY_NOON - timedelta(days=400), MONDAY_NOON - timedelta(days=1)))
    values.update(changes)
    return EarnContext(**values)


def campaign(campaign_id="c1", **conditions) -> Campaign:
    effects = conditions.pop("effects", Effects(fixed_points=10))
    options = {k: conditions.pop(k) for k in ("priority", "exclusive", "budget_points") if k in conditions}
    return Campaign(campaign_id, campaign_id, SHOP, Conditions(**conditions), effects, **options)


@pytest.mark.parametrize("conditions, context, matches", [
    ({"partners": ("shop",)}, {}, True),
    ({"partners": ("other",)}, {}, False),
    ({"stores": ("s1",)}, {}, True),
    ({"stores": ("s2",)}, {"store_id": "s1"}, False),
    # the window is [starts_at, ends_at)
    ({"starts_at": MONDAY_NOON}, {}, True),
    ({"starts_at": MONDAY_NOON + timedelta(microseconds=1)}, {}, False),
    ({"ends_at": MONDAY_NOON}, {}, False),
    ({"ends_at": MONDAY_NOON + timedelta(microseconds=1)}, {}, True),
    # weekdays: 0 = Monday; Sunday 23:59:59 is not Monday
    ({"weekdays": (0,)}, {}, True),
    ({"weekdays": (5, 6)}, {}, False),
    ({"weekdays": (6,)}, {"at": MONDAY_NOON.replace(hour=0) - timedelta(seconds=1)}, True),
    # hours [from, to)
    ({"hours": (12, 13)}, {}, True),
    ({"hours": (11, 12)}, {}, False),
    ({"hours": (13, 24)}, {"at": MONDAY_NOON.replace(hour=23, minute=59)}, True),
    # minimum basket: exactly the minimum qualifies, one cent less does not, a points-given earn never
    ({"min_basket_minor": 10_000}, {}, True),
    ({"min_basket_minor": 10_001}, {}, False),
    ({"min_basket_minor": 1}, {"amount_minor": None}, False),
    ({"tiers": ("Gold",)}, {}, False),
    ({"tiers": ("Gold", "Member")}, {}, True),
    # new: joined less than N days ago; lapsed: no earn for N days or more
    ({"segment": "new", "segment_days": 401}, {}, True),
    ({"segment": "new", "segment_days": 400}, {}, False),
    ({"segment": "lapsed", "segment_days": 1}, {}, True),
    ({"segment": "lapsed", "segment_days": 2}, {}, False),
    ({"segment": "lapsed", "segment_days": 1}, {"member": MemberFacts("Member", MONDAY_NOON, None)}, False),
    ({"categories": ("coffee",)}, {"lines": (BasketLine("a", "coffee", 1),)}, True),
    ({"categories": ("coffee",)}, {"lines": (BasketLine("a", "tea", 1),)}, False),
    ({"skus": ("a",)}, {"lines": (BasketLine("a", "tea", 1),)}, True),
    ({"skus": ("a",)}, {}, False),
])
def test_each_condition_at_its_boundary(conditions, context, matches):
    assert c.matches(campaign(**conditions), ctx(**context)) is matches


def test_effects_multiplier_fixed_and_basket_share():
    double = campaign(effects=Effects(multiplier_bps=10_000))
    assert c.bonus_points(double, ctx(base_points=101)) == 101
    assert c.bonus_points(campaign(effects=Effects(multiplier_bps=5_000, fixed_points=3)), ctx(base_points=101)) == 53
    # with categories: the multiplier applies to the matching lines' share of the base, floored
    coffee = campaign(categories=("coffee",), effects=Effects(multiplier_bps=10_000))
    lines = (BasketLine("a", "coffee", 3_000), BasketLine("b", "food", 7_001))
    assert c.bonus_points(coffee, ctx(base_points=100, lines=lines)) == 29  # floor(100 x 3000 / 10001)


def test_stacking_priority_order_and_exclusive_beats_stacking():
    low, high, tie = campaign("low", priority=1), campaign("high", priority=5), campaign("a-tie", priority=1)
    assert [x.campaign_id for x in c.applicable([low, high, tie], ctx())] == ["high", "a-tie", "low"]
    alone = campaign("alone", exclusive=True, priority=0)
    assert [x.campaign_id for x in c.applicable([low, high, alone], ctx())] == ["alone"]
    first = campaign("first", exclusive=True, priority=3)
    assert [x.campaign_id for x in c.applicable([alone, first, high], ctx())] == ["first"]
    not_matching = campaign("elsewhere", exclusive=True, partners=("other",))
    assert [x.campaign_id for x in c.applicable([low, not_matching], ctx())] == ["low"]


def test_claims_cap_exactly_reached_and_budget_exactly_exhausted():
    def request(points, member="m1", cap=None, budgeted=True):
        return ClaimRequest("c1", member, "campaign", points, budgeted, cap)
    grants = c.grant_claims([request(60), request(40), request(1)], ClaimState({"c1": 100}, {}))
    assert [g.points for g in grants] == [60, 40, 0]  # exactly exhausted: the next gets nothing
    grants = c.grant_claims([request(60), request(60)], ClaimState({"c1": 100}, {}))
    assert [g.points for g in grants] == [60, 40]  # the last remainder granted in part
    capped = c.grant_claims([request(30, cap=50, budgeted=False), request(20, cap=50, budgeted=False),
                             request(1, cap=50, budgeted=False), request(5, member="m2", cap=50, budgeted=False)],
                            ClaimState({}, {}))
    assert [g.points for g in capped] == [30, 20, 0, 5]
    used = c.grant_claims([request(30, cap=50)], ClaimState({"c1": 1000}, {("c1", "m1", "campaign"): 49}))
    assert [g.points for g in used] == [1]
    gone = c.grant_claims([request(30)], ClaimState({}, {}))  # a budgeted campaign with no row left
    assert [g.points for g in gone] == [0]


def test_the_members_cap_grows_with_its_tier_and_the_period_is_the_utc_day_or_month():
    daily = campaign(effects=Effects(fixed_points=10, cap_points=100, cap_period="day"))
    assert c.member_cap(daily, Tier("Gold", 2, 0, 10_000, 15_000)) == 150
    assert c.member_cap(daily, None) == 100
    assert c.period_of(daily, MONDAY_NOON) == "2026-11-30"
    monthly = campaign(effects=Effects(fixed_points=10, cap_points=1, cap_period="month"))
    assert c.period_of(monthly, MONDAY_NOON) == "2026-11"
    assert c.period_of(campaign(), MONDAY_NOON) == "campaign"


@given(points=st.integers(0, 10**9), shares=st.lists(st.integers(1, 5000), min_size=1, max_size=6))
def test_a_split_adds_up_exactly_whatever_the_shares(points, shares):
    total = sum(shares)
    bps = [s * 10_000 // total for s in shares]
    bps[0] += 10_000 - sum(bps)
    funders = [Funder(f"f{i}", b) for i, b in enumerate(bps) if b > 0]
    split = c.split_funding(points, funders)
    assert sum(p for _, p in split) == points
    for funder, share in split:  # each within one point of its exact share
        exact = points * next(f.share_bps for f in funders if f.partner_id == funder) / 10_000
        assert abs(share - exact) < 1


def test_the_remainder_goes_to_the_largest_remainders_ties_to_the_first_listed():
    assert c.split_funding(100, [Funder("a", 3_333), Funder("b", 6_667)]) == [("a", 33), ("b", 67)]
    assert c.split_funding(1, [Funder("a", 5_000), Funder("b", 5_000)]) == [("a", 1)]
    assert c.split_funding(3, [Funder("a", 3_334), Funder("b", 3_333), Funder("c", 3_333)]) == [
        ("a", 1), ("b", 1), ("c", 1)]


def test_tiers_at_the_threshold_and_no_instant_downgrade():
    ladder = c.DEFAULT_LADDER
    assert c.tier_for(ladder, 4_999).name == "Member" and c.tier_for(ladder, 5_000).name == "Silver"
    assert c.progress(ladder, 4_999) == c.Progress("Member", 4_999, "Silver", 1)
    assert c.progress(ladder, 50_000) == c.Progress("Platinum", 50_000)
    assert c.progress(ladder, 100, held="Gold") == c.Progress("Gold", 100, "Platinum", 49_900)  # held until requalified
    assert c.tier_bonus(101, Tier("Gold", 2, 0, 12_500)) == 25  # floor(101 x 0.25)
    assert c.tier_bonus(101, Tier("Member", 0, 0)) == 0


def test_bonuses_follow_a_reversal_in_proportion_and_spent_bonus_points_stay_spent():
    assert c.bonus_reversal(400, 200, 433, 433, 433) == 216
    assert c.bonus_reversal(400, 0, 433, 433 - 216, 433 - 216) == 217  # the rest once the base is fully reversed
    assert c.bonus_reversal(400, 0, 50, 50, 10) == 10  # 40 of the bonus were spent: only the unspent go back
    assert c.bonus_reversal(400, 399, 50, 50, 50) == 0  # floor(50 x 1 / 400)


def test_a_definition_problem_names_its_reason():
    def reasons(**changes):
        base = dict(campaign_id="ok", name="ok", funders=SHOP, effects=Effects(fixed_points=1))
        base.update(changes)
        return [r for r, _ in c.problems(Campaign(**base))]
    assert reasons() == []
    assert reasons(campaign_id="") == ["CAMPAIGN_ID_INVALID"]
    assert reasons(funders=()) == ["CAMPAIGN_FUNDING_INVALID"]
    assert reasons(effects=Effects(fixed_points=-1)) == ["CAMPAIGN_EFFECT_INVALID"]
    assert reasons(budget_points=0) == ["CAMPAIGN_BUDGET_INVALID"]


def test_the_index_tier_after_an_earn_is_the_rules_progress():
    """Programme.tier_held_after (the earn path's, computed on lookups built once per index) decides exactly as
    network.core.campaigns.progress on every side of each threshold, with every tier held, and on no ladder."""
    from network.store.campaigns import Programme  # the store's index, checked against the pure rule

    default = c.DEFAULT_LADDER
    shuffled = (default[2], default[0], default[3], default[1])
    thresholds = sorted({0, *(t.threshold_points + d for t in default for d in (-1, 0, 1)
                              if t.threshold_points + d >= 0)})
    for ladder in (default, shuffled, default[1:], ()):
        index = Programme((), ladder)
        for points in thresholds:
            for held in ("", "Member", "Silver", "Gold", "Platinum", "Unknown"):
                assert index.tier_held_after(points, held) == c.progress(ladder, points, held).tier, (points, held)
