"""A partner's own campaigns over its signed API (CreateCampaign, ListCampaigns, UpdateCampaignStatus), the SDK and
`coalition-partner campaigns`: funded by the partner alone, on earns at its own stores only, audited; another
partner's (or the network's) campaign is not found; a bad definition is refused and writes nothing."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from network.core.campaigns import NETWORK_ISSUER, Campaign, Conditions, Effects, Funder
from network.store.campaigns import create_campaign, set_campaign_status
from partners import cli as partner_cli
from partners import signing
from partners.errors import CoalitionError
from partners.keyfile import KeyFile, save_key_file

pytestmark = pytest.mark.usefixtures("verified_ledger")


def refusal(call) -> CoalitionError:
    with pytest.raises(CoalitionError) as refused:
        call()
    return refused.value


def count(engine, sql: str, **params) -> int:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def test_a_partners_campaign_rewards_its_own_store_is_funded_by_it_and_audited(engine, make_partner):
    shop, rival = make_partner("pc", earn_points_per_major=1), make_partner("pcr", earn_points_per_major=1)
    campaign_id = f"own-{uuid.uuid4().hex[:8]}"
    with shop.client() as network, rival.client() as elsewhere:
        created = network.create_campaign(campaign_id, name="Double at the mall", stores=["mall"],
                                          multiplier_bps=10_000, budget_points=1_000)
        assert (created.status, list(created.stores), created.budget_left, created.awarded_points) == (
            "active", ["mall"], 1_000, 0)
        member = network.enroll_member().member.member_id
        elsewhere.enroll_member(card_number=network.find_member(member_id=member).member.card_number)
        at_mall = network.earn(member, amount_minor=2_000, store_id="mall")
        assert [(c.kind, c.campaign_id, c.funder_id, c.points) for c in at_mall.components
                if c.kind == "campaign"] == [("campaign", campaign_id, shop.partner_id, 20)]
        assert network.earn(member, amount_minor=2_000, store_id="station").total_points == 20  # another store
        assert elsewhere.earn(member, amount_minor=2_000, store_id="mall").total_points == 20  # another partner
        [listed] = network.list_campaigns()
        assert (listed.campaign_id, listed.budget_left, listed.awarded_points) == (campaign_id, 980, 20)
        assert elsewhere.list_campaigns() == []  # a partner sees its own campaigns only
        # another partner cannot touch it: not found, and nothing changes
        assert refusal(lambda: elsewhere.update_campaign_status(campaign_id, "end")).reason == "CAMPAIGN_NOT_FOUND"
        assert network.update_campaign_status(campaign_id, "pause").status == "paused"
        conflict = refusal(lambda: network.update_campaign_status(campaign_id, "pause"))
        assert (conflict.reason, conflict.code.name) == ("CAMPAIGN_STATUS_CONFLICT", "FAILED_PRECONDITION")
        bad_action = refusal(lambda: network.update_campaign_status(campaign_id, "restart"))
        assert bad_action.field_violations == [("action", "pause, resume or end")]
        assert network.update_campaign_status(campaign_id, "resume").status == "active"
        assert network.update_campaign_status(campaign_id, "end").status == "ended"
    with engine.connect() as conn:
        owner, definition = conn.execute(text("SELECT owner_partner_id, definition FROM campaigns WHERE campaign_id = :c"),
                                         {"c": campaign_id}).one()
        audit = [tuple(r) for r in conn.execute(text(
            "SELECT operator, action FROM operator_actions WHERE subject = :c ORDER BY action_id"), {"c": campaign_id})]
    assert owner == shop.partner_id
    assert definition["funders"] == [{"partner_id": shop.partner_id, "share_bps": 10_000}]
    assert definition["conditions"]["partners"] == [shop.partner_id]
    operator = f"partner:{shop.partner_id}"
    assert audit == [(operator, "campaign.create"), (operator, "campaign.pause"), (operator, "campaign.resume"),
                     (operator, "campaign.end")]


def test_refusals_write_nothing_and_the_operators_campaigns_are_not_the_partners(engine, make_partner):
    shop = make_partner("pcx")
    network_campaign = f"net-{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:  # the operator's campaign at this partner, network-funded: not the partner's own
        create_campaign(conn, Campaign(network_campaign, "net", (Funder(NETWORK_ISSUER, 10_000),),
                                       Conditions(partners=(shop.partner_id,)), Effects(fixed_points=3)), "ops", "EUR")
    try:
        with shop.client() as network:
            before = count(engine, "SELECT count(*) FROM campaigns")
            cases = {"CAMPAIGN_EFFECT_INVALID": dict(),  # neither a multiplier nor fixed points
                     "CAMPAIGN_CAP_INVALID": dict(fixed_points=5, cap_points=10, cap_period="week"),
                     "CAMPAIGN_WINDOW_INVALID": dict(fixed_points=5, weekdays=[7])}
            for reason, options in cases.items():
                refused = refusal(lambda: network.create_campaign(f"bad-{uuid.uuid4().hex[:8]}", **options))
                assert (refused.code.name, refused.reason) == ("INVALID_ARGUMENT", reason), options
            assert count(engine, "SELECT count(*) FROM campaigns") == before
            assert network.list_campaigns() == []
            assert refusal(lambda: network.update_campaign_status(network_campaign, "end")).reason == "CAMPAIGN_NOT_FOUND"
            taken = refusal(lambda: network.create_campaign(network_campaign, fixed_points=1))
            assert (taken.code.name, taken.reason) == ("ALREADY_EXISTS", "CAMPAIGN_EXISTS")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT status FROM campaigns WHERE campaign_id = :c"),
                                {"c": network_campaign}).scalar_one() == "active"
    finally:
        with engine.begin() as conn:
            set_campaign_status(conn, network_campaign, "end", "ops")


def test_coalition_partner_campaigns_commands(engine, make_partner, tmp_path, monkeypatch):
    shop = make_partner("pccli")
    key_file = save_key_file(tmp_path / "key.json", KeyFile(
        partner_id=shop.partner_id, key_id=shop.key_id,
        private_key_pem=signing.private_key_to_pem(shop.private_key).decode("ascii"), target=shop.target))
    monkeypatch.setattr(partner_cli.console, "_width", 250)  # tables whole, whatever terminal the run has (or not)
    partner = lambda *args: CliRunner().invoke(partner_cli.app, [*args, "--key-file", str(key_file)])  # noqa: E731
    campaign_id = f"cli-{uuid.uuid4().hex[:8]}"
    created = partner("campaigns", "create", campaign_id, "--store", "s-1", "--fixed-points", "25",
                      "--budget-points", "500")
    assert created.exit_code == 0 and campaign_id in created.output and "25 pts" in created.output, created.output
    listed = partner("campaigns", "list")
    assert listed.exit_code == 0 and campaign_id in listed.output and "500/500" in listed.output, listed.output
    assert partner("campaigns", "pause", campaign_id).output.strip() == f"campaign {campaign_id}: paused"
    refused = partner("campaigns", "resume", "no-such-campaign")
    assert refused.exit_code != 0 and "CAMPAIGN_NOT_FOUND" in refused.output
    bad = partner("campaigns", "create", f"cli-{uuid.uuid4().hex[:8]}")
    assert bad.exit_code != 0 and "CAMPAIGN_EFFECT_INVALID" in bad.output
    assert partner("campaigns", "end", campaign_id).exit_code == 0
