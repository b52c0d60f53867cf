"""Campaigns and tiers over the wire: what an earn gives, line by line in its signed response; PreviewEarn equals the
Earn that follows it; a budget is never overspent by concurrent earns; tiers upgrade inside the earn that crosses a
threshold and show in GetBalance and FindMember. Every campaign here names the test's own partners, so the other
tests' earns never match it."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from network.core.results import EarnItem
from network.database import make_engine
from network.store.ledger import build_ledger
from network.core.campaigns import NETWORK_ISSUER, Campaign, Conditions, Effects, Funder
from network.store.campaigns import create_campaign, set_campaign_status
from partners import signing
from partners.errors import InvalidArgument
from partners.signing import public_key_from_raw
from protos.coalition.v1 import network_pb2 as pb

pytestmark = pytest.mark.usefixtures("verified_ledger")


def campaign(engine, campaign_id: str, funders, conditions: Conditions, effects: Effects, **options) -> str:
    with engine.begin() as conn:
        create_campaign(conn, Campaign(campaign_id, campaign_id, tuple(Funder(*f) for f in funders), conditions,
                                       effects, **options), "test", "EUR")
    return campaign_id


def end(engine, *campaign_ids: str) -> None:
    with engine.begin() as conn:
        for campaign_id in campaign_ids:
            set_campaign_status(conn, campaign_id, "end", "test")


def lines(response) -> list[tuple]:
    return [(c.kind, c.campaign_id, c.funder_id, c.points) for c in response.components]


def test_preview_equals_the_earn_that_follows_and_the_earn_lists_every_component(engine, make_partner,
                                                                                 network_signer):
    shop = make_partner("pv", earn_points_per_major=1)
    uid = uuid.uuid4().hex[:8]
    at_shop = Conditions(partners=(shop.partner_id,))
    coffee = campaign(engine, f"coffee-x2-{uid}", [(shop.partner_id, 10_000)],
                      Conditions(partners=(shop.partner_id,), categories=("coffee",)), Effects(multiplier_bps=10_000),
                      priority=2)
    gift = campaign(engine, f"gift-{uid}", [(NETWORK_ISSUER, 10_000)],
                    Conditions(partners=(shop.partner_id,), min_basket_minor=2000), Effects(fixed_points=20), priority=1)
    small = campaign(engine, f"small-{uid}", [(NETWORK_ISSUER, 10_000)], at_shop, Effects(fixed_points=1))
    try:
        basket = [{"sku": "esp-1", "category": "coffee", "amount_minor": 500},
                  {"sku": "cake-2", "category": "food", "amount_minor": 1500}]
        with shop.client() as network:
            member = network.enroll_member().member
            preview = network.preview_earn(member.member_id, amount_minor=2000, basket=basket)
            # base 20; coffee is a quarter of the basket: x2 on 5 points -> 5; gift: basket exactly 20.00 -> 20;
            # small: 1 (priority 0, last)
            expected = [("base", "", shop.partner_id, 20), ("campaign", coffee, shop.partner_id, 5),
                        ("campaign", gift, NETWORK_ISSUER, 20), ("campaign", small, NETWORK_ISSUER, 1)]
            assert lines(preview) == expected and preview.total_points == 46 and preview.points == 20
            assert network.get_balance(member.member_id).available_points == 0  # a preview writes nothing
            earned = network.earn(member.member_id, amount_minor=2000, basket=basket)
            receipt = network.last_receipt  # the network signed the response bytes: every component is covered
            keys = {receipt.key_id: public_key_from_raw(network_signer.public_raw)}
            assert pb.EarnResponse.FromString(receipt.response_bytes) == earned
            assert signing.verify_receipt(receipt.trailing_metadata(), receipt.method, receipt.request_bytes,
                                          receipt.response_bytes, keys.__getitem__)
            forged = pb.EarnResponse.FromString(receipt.response_bytes)
            forged.components[2].points += 1  # a bigger gift than the network gave
            with pytest.raises(signing.SignatureError):
                signing.verify_receipt(receipt.trailing_metadata(), receipt.method, receipt.request_bytes,
                                       forged.SerializeToString(), keys.__getitem__)
            assert lines(earned) == lines(preview)
            assert (earned.points, earned.total_points, earned.tier) == (preview.points, preview.total_points,
                                                                         preview.tier)
            assert network.get_balance(member.member_id).available_points == 46
            # a basket one cent short of the minimum: no gift
            short = network.earn(member.member_id, amount_minor=1999, basket=basket[:1])
            assert [c.campaign_id for c in short.components if c.kind == "campaign"] == [coffee, small]
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT kind, coalesce(campaign_id, ''), funder_id, points FROM earn_components "
                                     "WHERE tx_id = :t ORDER BY line"), {"t": earned.transaction_id}).all()
        assert [tuple(r) for r in rows] == expected
    finally:
        end(engine, coffee, gift, small)


def test_64_concurrent_earns_never_overspend_the_last_100_budget_points(engine, make_partner):
    shop = make_partner("bud", earn_points_per_major=1)
    budgeted = campaign(engine, f"budget-{uuid.uuid4().hex[:8]}", [(shop.partner_id, 10_000)],
                        Conditions(partners=(shop.partner_id,)), Effects(fixed_points=7), budget_points=100)
    try:
        with shop.client() as network:
            members = [network.enroll_member().member.member_id for _ in range(64)]
            with ThreadPoolExecutor(max_workers=64) as pool:
                responses = list(pool.map(lambda m: network.earn(m, points=10), members))
        bonuses = sorted((c.points for r in responses for c in r.components if c.kind == "campaign"), reverse=True)
        assert sum(bonuses) == 100 and bonuses == [7] * 14 + [2]  # the last remainder granted in part
        with engine.connect() as conn:
            left, given = conn.execute(text(
                "SELECT budget_left, (SELECT sum(points) FROM earn_components WHERE campaign_id = c.campaign_id) "
                "FROM campaigns c WHERE campaign_id = :c"), {"c": budgeted}).one()
        assert (left, given) == (0, 100)
    finally:
        end(engine, budgeted)


def test_tier_upgrades_inside_the_earn_that_crosses_the_threshold_and_shows_in_balance(engine, make_partner):
    shop = make_partner("tier", earn_points_per_major=1)
    with shop.client() as network:
        member = network.enroll_member(customer_ref="t-1").member
        below = network.earn(member.member_id, amount_minor=499_900)  # 4999 qualifying points: one short of Silver
        assert below.tier == "Member"
        assert network.get_balance(member.member_id).tier == pb.TierProgress(
            tier="Member", qualifying_points=4999, next_tier="Silver", points_to_next_tier=1)
        network.earn(member.member_id, points=50_000)  # not a purchase: qualifies for nothing
        assert network.get_balance(member.member_id).tier.qualifying_points == 4999
        crossing = network.earn(member.member_id, amount_minor=100)  # exactly 5000
        assert crossing.tier == "Silver"
        progress = pb.TierProgress(tier="Silver", qualifying_points=5000, next_tier="Gold", points_to_next_tier=15_000)
        assert network.get_balance(member.member_id).tier == progress
        assert network.find_member(customer_ref="t-1").tier == progress
        # a return takes its points out of the qualifying total, with no instant downgrade
        network.reverse(below.transaction_id, points=1000)
        after = network.get_balance(member.member_id).tier
        assert (after.tier, after.qualifying_points, after.points_to_next_tier) == ("Silver", 4000, 16_000)


def test_concurrent_transactions_racing_for_a_budget_never_overspend(engine, database_url, settings, make_partner):
    """The same race below the group commit: 64 earns, each in its own database transaction on its own
    connection (Ledger.earn_batch, on an engine of its own: 16 at a time), so the budget's lock is what keeps them
    apart."""

    shop = make_partner("race", earn_points_per_major=1)
    budgeted = campaign(engine, f"race-{uuid.uuid4().hex[:8]}", [(NETWORK_ISSUER, 10_000)],
                        Conditions(partners=(shop.partner_id,)), Effects(multiplier_bps=5_000), budget_points=100)
    racing = make_engine(database_url, pool_size=20)
    ledger = build_ledger(racing, settings)
    ledger.programme.current()  # loaded once here: each earn then evaluates from memory
    try:
        with shop.client() as network:
            members = [network.enroll_member().member.member_id for _ in range(64)]

        def earn(member_id: str) -> int:
            with racing.begin() as conn:
                [result] = ledger.earn_batch(conn, [(shop.partner_id, EarnItem(uuid.uuid4().hex, member_id, None,
                                                                               None, 9))])
            return sum(c.points for c in result.components if c.kind == "campaign")
        with ThreadPoolExecutor(max_workers=16) as pool:
            bonuses = sorted(pool.map(earn, members), reverse=True)
        assert sum(bonuses) == 100 and bonuses[:25] == [4] * 25 and bonuses[25] == 0  # floor(9 x 50%) = 4
        with engine.connect() as conn:
            assert conn.execute(text("SELECT budget_left FROM campaigns WHERE campaign_id = :c"),
                                {"c": budgeted}).scalar_one() == 0
    finally:
        racing.dispose()
        end(engine, budgeted)


def test_batch_earn_items_get_campaigns_and_a_bad_basket_line_is_refused_by_its_path(engine, make_partner):
    shop = make_partner("bat", earn_points_per_major=1)
    gift = campaign(engine, f"batch-{uuid.uuid4().hex[:8]}", [(shop.partner_id, 10_000)],
                    Conditions(partners=(shop.partner_id,), skus=("sku-9",)), Effects(fixed_points=3))
    try:
        with shop.client() as network:
            member = network.enroll_member().member.member_id
            line = {"sku": "sku-9", "category": "c", "amount_minor": 500}
            batch = network.batch_earn([{"member_id": member, "amount_minor": 500, "basket": [line]},
                                        {"member_id": member, "amount_minor": 500}])
            with_line, without = (r.earned for r in batch.results)
            assert lines(with_line) == [("base", "", shop.partner_id, 5), ("campaign", gift, shop.partner_id, 3)]
            assert lines(without) == [("base", "", shop.partner_id, 5)]
            with pytest.raises(InvalidArgument) as refused:
                network.earn(member, amount_minor=500, basket=[{**line, "sku": "two words"}])
            assert [path for path, _ in refused.value.field_violations] == ["basket[0].sku"]
            with pytest.raises(InvalidArgument) as refused:
                network.preview_earn(member, amount_minor=500, basket=[{**line, "amount_minor": -1}])
            assert [path for path, _ in refused.value.field_violations] == ["basket[0].amount_minor"]
            assert network.get_balance(member).available_points == 13
    finally:
        end(engine, gift)
