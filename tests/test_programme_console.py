"""The console's Programme page: the ladder, campaigns with their budget burn, bonus cost per funder; an admin ends
a campaign there (audited), a viewer sees no button."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from network.core.campaigns import NETWORK_ISSUER, Campaign, Conditions, Effects, Funder
from network.store.campaigns import create_campaign
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
