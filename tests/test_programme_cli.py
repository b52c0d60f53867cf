"""`coalition campaign ...` and `coalition tier ...`: each definition problem is refused with its reason (exit 2,
nothing written), the lifecycle of a campaign is audited, and an earn sees a change at once (NOTIFY)."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import text



def count(engine, sql: str, **params) -> int:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


BAD = [  # (options, reason): each one breaks one rule at its boundary
    (["--funder", "FUNDER", "--fixed-points", "5", "--kind", "christmas"], "CAMPAIGN_KIND_INVALID"),
    (["--funder", "FUNDER:5000", "--fixed-points", "5"], "CAMPAIGN_FUNDING_INVALID"),  # shares sum to 5000
    (["--funder", "FUNDER:5000", "--funder", "FUNDER:5000", "--fixed-points", "5"], "CAMPAIGN_FUNDING_INVALID"),
    (["--funder", "nobody-at-all", "--fixed-points", "5"], "CAMPAIGN_FUNDING_INVALID"),  # no contract
    (["--funder", "FUNDER:half", "--fixed-points", "5"], "CAMPAIGN_FUNDING_INVALID"),
    (["--funder", "FUNDER"], "CAMPAIGN_EFFECT_INVALID"),  # gives nothing
    (["--funder", "FUNDER", "--kind", "signup", "--multiplier-bps", "10000", "--fixed-points", "5"],
     "CAMPAIGN_EFFECT_INVALID"),
    (["--funder", "FUNDER", "--fixed-points", "5", "--cap-points", "0"], "CAMPAIGN_CAP_INVALID"),
    (["--funder", "FUNDER", "--fixed-points", "5", "--cap-period", "week"], "CAMPAIGN_CAP_INVALID"),
    (["--funder", "FUNDER", "--fixed-points", "5", "--budget-points", "0"], "CAMPAIGN_BUDGET_INVALID"),
    (["--funder", "FUNDER", "--fixed-points", "5", "--starts-at", "2026-12-01T00:00:00+00:00",
      "--ends-at", "2026-12-01T00:00:00+00:00"], "CAMPAIGN_WINDOW_INVALID"),
    (["--funder", "FUNDER", "--fixed-points", "5", "--weekday", "7"], "CAMPAIGN_WINDOW_INVALID"),
    (["--funder", "FUNDER", "--fixed-points", "5", "--hours", "20-20"], "CAMPAIGN_WINDOW_INVALID"),
    (["--funder", "FUNDER", "--fixed-points", "5", "--hours", "0-25"], "CAMPAIGN_WINDOW_INVALID"),
    (["--funder", "FUNDER", "--fixed-points", "5", "--min-basket-minor", "-1"], "CAMPAIGN_CONDITION_INVALID"),
    (["--funder", "FUNDER", "--fixed-points", "5", "--segment", "new"], "CAMPAIGN_CONDITION_INVALID"),
]


def test_each_bad_definition_is_refused_with_its_reason_and_writes_nothing(cli, engine, make_partner):
    funder = make_partner("cf").partner_id
    actions = count(engine, "SELECT count(*) FROM operator_actions")
    for options, reason in BAD:
        campaign_id = f"bad-{uuid.uuid4().hex[:8]}"
        result = cli("campaign", "create", campaign_id, *[o.replace("FUNDER", funder) for o in options])
        assert result.exit_code == 2 and reason in result.output, (options, result.output)
        assert count(engine, "SELECT count(*) FROM campaigns WHERE campaign_id = :c", c=campaign_id) == 0
    assert cli("campaign", "create", "x" * 65, "--funder", funder, "--fixed-points", "1").output.count(
        "CAMPAIGN_ID_INVALID") == 1
    assert count(engine, "SELECT count(*) FROM operator_actions") == actions


def test_campaign_lifecycle_is_audited_and_an_earn_sees_each_change_at_once(cli, engine, make_partner):
    shop = make_partner("cl", earn_points_per_major=1)
    campaign_id = f"wknd-{uuid.uuid4().hex[:8]}"
    created = cli("campaign", "create", campaign_id, "--name", "Double points", "--funder", shop.partner_id,
                  "--partner", shop.partner_id, "--multiplier-bps", "10000", "--budget-points", "500",
                  "--operator", "alice")
    assert created.exit_code == 0, created.output
    assert cli("campaign", "create", campaign_id, "--funder", shop.partner_id, "--fixed-points", "1").output.count(
        "CAMPAIGN_EXISTS") == 1
    with shop.client() as network:
        member = network.enroll_member().member.member_id

        def earns(total: int) -> None:
            """The server's index follows each change by NOTIFY, a moment after the command commits: a preview
            (which writes nothing) shows when; the earn then gives the same."""
            deadline = time.monotonic() + 10
            while network.preview_earn(member, amount_minor=1000).total_points != total:
                assert time.monotonic() < deadline, f"the earn never saw the change (expected {total})"
                time.sleep(0.05)
            assert network.earn(member, amount_minor=1000).total_points == total
        earns(20)  # doubled
        assert cli("campaign", "pause", campaign_id).exit_code == 0
        earns(10)
        paused_again = cli("campaign", "pause", campaign_id)
        assert paused_again.exit_code == 2 and "CAMPAIGN_STATUS_CONFLICT" in paused_again.output
        assert cli("campaign", "resume", campaign_id).exit_code == 0
        earns(20)
        assert cli("campaign", "end", campaign_id).exit_code == 0
        earns(10)
    listed = cli("campaign", "list")
    assert listed.exit_code == 0 and "480" in listed.output  # budget left: 500 - 2 x 10
    assert count(engine, "SELECT budget_left FROM campaigns WHERE campaign_id = :c", c=campaign_id) == 480
    ended_resume = cli("campaign", "resume", campaign_id)
    assert ended_resume.exit_code == 2 and "CAMPAIGN_STATUS_CONFLICT" in ended_resume.output
    missing = cli("campaign", "end", "no-such-campaign")
    assert missing.exit_code == 2 and "CAMPAIGN_NOT_FOUND" in missing.output
    with engine.connect() as conn:
        actions = [r for r, in conn.execute(text(
            "SELECT action FROM operator_actions WHERE subject = :c ORDER BY action_id"), {"c": campaign_id})]
    assert actions == ["campaign.create", "campaign.pause", "campaign.resume", "campaign.end"]


def test_tier_list_and_set_validate_the_ladder(cli, engine):
    listed = cli("tier", "list")
    assert listed.exit_code == 0 and all(name in listed.output for name in ("Member", "Silver", "Gold", "Platinum"))
    # Gold's threshold at Silver's: thresholds must rise with rank
    same = cli("tier", "set", "Gold", "--rank", "2", "--threshold-points", "5000")
    assert same.exit_code == 2 and "TIER_INVALID" in same.output
    below_one = cli("tier", "set", "Gold", "--rank", "2", "--threshold-points", "20000", "--multiplier-bps", "9999")
    assert below_one.exit_code == 2 and "TIER_INVALID" in below_one.output
    assert count(engine, "SELECT threshold_points FROM tiers WHERE name = 'Gold'") == 20_000
    same_values = cli("tier", "set", "Gold", "--rank", "2", "--threshold-points", "20000", "--cap-multiplier-bps",
                      "15000", "--operator", "bob")
    assert same_values.exit_code == 0
    assert count(engine, "SELECT count(*) FROM operator_actions WHERE action = 'tier.set' AND operator = 'bob'") >= 1
