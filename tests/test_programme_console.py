"""The console's Programme page: the ladder and tier changes, campaigns with their budget burn, bonus cost per funder;
an admin ends or creates a campaign and sets a tier there (audited, the CLI's validation), a viewer sees no button."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from network.core.campaigns import NETWORK_ISSUER, Campaign, Conditions, Effects, Funder
from network.store.campaigns import create_campaign, set_campaign_status
from test_console_pages import (ADMIN, ADMIN_PASSWORD, VIEWER, VIEWER_PASSWORD, console_env, logged_in, page,  # noqa: F401
                                password_hashes, rows_by, table)


def test_programme_page_shows_burn_and_cost_and_an_admin_ends_a_campaign(console_env, engine, make_partner,  # noqa: F811
                                                                         verified_ledger):
    shop = make_partner("pg", earn_points_per_major=1)
    campaign_id = f"page-{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        create_campaign(conn, Campaign(campaign_id, "Page bonus", (Funder(shop.partner_id, 5_000),
                                                                   Funder(NETWORK_ISSUER, 5_000)),
                                       Conditions(partners=(shop.partner_id,)), Effects(fixed_points=11),
                                       budget_points=44), "test", "EUR")
    with shop.client() as network:
        member = network.enroll_member().member.member_id
        for _ in range(2):
            network.earn(member, amount_minor=1000)
    with make_partner("pg2", earn_points_per_major=1).client() as elsewhere:  # the campaign is not its
        climber = elsewhere.enroll_member().member.member_id
        elsewhere.earn(climber, amount_minor=500_000)  # 5000 qualifying points: Silver at once
    at = page(logged_in(VIEWER, VIEWER_PASSWORD), "programme")
    assert {"Member", "Silver", "Gold", "Platinum"} <= set(table(at, "threshold_points")["tier"])
    changes = rows_by(table(at, "reason"), "member_id")  # the tier history
    assert (changes[climber]["from_tier"], changes[climber]["to_tier"], changes[climber]["reason"]) == (
        "", "Silver", "earn")
    assert member not in changes  # its first earn left it at the lowest tier: not a change
    row = rows_by(table(at, "burn_pct"), "campaign")[campaign_id]
    assert (row["budget_points"], row["budget_left"], row["given_points"], row["burn_pct"]) == (44, 22, 22, 50.0)
    cost = rows_by(table(at, "redeemed_points"), "funder")
    assert cost[shop.partner_id]["given_points"] == 12  # 11 split 5000/5000 twice: 6 + 5 (ties to the first listed)
    assert not [b for b in at.button if b.key == "campaign_end"]  # a viewer acts on nothing
    at = page(logged_in(ADMIN, ADMIN_PASSWORD), "programme")
    at.selectbox(key="campaign_choice").select(campaign_id).run()
    next(b for b in at.button if b.key == "campaign_end").click().run()
    assert not at.exception, [e.value for e in at.exception]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT status FROM campaigns WHERE campaign_id = :c"),
                            {"c": campaign_id}).scalar_one() == "ended"
        assert conn.execute(text("SELECT operator FROM operator_actions WHERE subject = :c AND action = "
                                 "'campaign.end'"), {"c": campaign_id}).scalar_one() == ADMIN


def test_an_admin_creates_a_campaign_and_sets_a_tier_from_the_programme_page(console_env, engine,  # noqa: F811
                                                                             make_partner, verified_ledger):
    shop = make_partner("pgc")
    at = page(logged_in(VIEWER, VIEWER_PASSWORD), "programme")
    assert not [b for b in at.button if b.key in ("campaign_create", "tier_set")]  # a viewer acts on nothing
    at = page(logged_in(ADMIN, ADMIN_PASSWORD), "programme")
    before = None
    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM campaigns")).scalar_one()
    # a bad definition is refused with the CLI's reason and writes nothing
    bad_id = f"console-bad-{uuid.uuid4().hex[:6]}"
    at.text_input(key="new_campaign_id").input(bad_id)
    at.text_input(key="new_campaign_funders").input(f"{shop.partner_id}:6000 {NETWORK_ISSUER}:3000")
    at.number_input(key="new_campaign_fixed").set_value(10)
    next(b for b in at.button if b.key == "campaign_create").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("CAMPAIGN_FUNDING_INVALID" in e.value for e in at.error), [e.value for e in at.error]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM campaigns")).scalar_one() == before
    # a good one is created, audited as the admin
    campaign_id = f"console-{uuid.uuid4().hex[:8]}"
    at.text_input(key="new_campaign_id").input(campaign_id)
    at.text_input(key="new_campaign_funders").input(f"{shop.partner_id}:5000 {NETWORK_ISSUER}:5000")
    at.text_input(key="new_campaign_partners").input(shop.partner_id)
    at.multiselect(key="new_campaign_weekdays").set_value([5, 6])
    at.number_input(key="new_campaign_multiplier").set_value(10_000)
    at.number_input(key="new_campaign_budget").set_value(5_000)
    next(b for b in at.button if b.key == "campaign_create").click().run()
    assert not at.exception and not at.error, ([e.value for e in at.exception], [e.value for e in at.error])
    try:
        with engine.connect() as conn:
            row = conn.execute(text("SELECT kind, status, definition, budget_points FROM campaigns "
                                    "WHERE campaign_id = :c"), {"c": campaign_id}).one()
            audit = conn.execute(text("SELECT operator FROM operator_actions WHERE subject = :c AND action = "
                                      "'campaign.create'"), {"c": campaign_id}).scalar_one()
        assert (row.kind, row.status, row.budget_points, audit) == ("earn", "active", 5_000, ADMIN)
        assert row.definition["conditions"]["weekdays"] == [5, 6]
        assert row.definition["conditions"]["partners"] == [shop.partner_id]
        assert row.definition["effects"]["multiplier_bps"] == 10_000
        assert row.definition["funders"] == [{"partner_id": shop.partner_id, "share_bps": 5_000},
                                             {"partner_id": NETWORK_ISSUER, "share_bps": 5_000}]
    finally:
        with engine.begin() as conn:
            set_campaign_status(conn, campaign_id, "end", "test")
    # tiers: a threshold that breaks the ladder's order is refused; a change that keeps it is set and audited
    with engine.connect() as conn:
        gold = conn.execute(text("SELECT rank, threshold_points, multiplier_bps, cap_multiplier_bps FROM tiers "
                                 "WHERE name = 'Gold'")).one()
    at = page(logged_in(ADMIN, ADMIN_PASSWORD), "programme")
    at.text_input(key="tier_name").input("Gold")
    at.number_input(key="tier_rank").set_value(gold.rank)
    at.number_input(key="tier_threshold").set_value(1)  # below Silver's
    at.number_input(key="tier_multiplier").set_value(gold.multiplier_bps)
    at.number_input(key="tier_cap").set_value(gold.cap_multiplier_bps)
    next(b for b in at.button if b.key == "tier_set").click().run()
    assert any("TIER_INVALID" in e.value for e in at.error), [e.value for e in at.error]
    at.number_input(key="tier_threshold").set_value(gold.threshold_points)
    at.number_input(key="tier_cap").set_value(gold.cap_multiplier_bps)  # the same values: set again, audited
    next(b for b in at.button if b.key == "tier_set").click().run()
    assert not at.exception and not at.error, ([e.value for e in at.exception], [e.value for e in at.error])
    with engine.connect() as conn:
        assert conn.execute(text("SELECT threshold_points FROM tiers WHERE name = 'Gold'")).scalar_one() == \
            gold.threshold_points
        assert conn.execute(text("SELECT operator FROM operator_actions WHERE action = 'tier.set' AND subject = 'Gold' "
                                 "ORDER BY action_id DESC LIMIT 1")).scalar_one() == ADMIN
