"""The POS simulator against the real server, and the demo seed (idempotent, key files usable by the SDK)."""

from __future__ import annotations

import stat
import threading
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import text

from coalition.demo import DEMO_CAMPAIGNS, DEMO_PARTNERS, seed_demo
from network.core.campaigns import DEFAULT_LADDER
from network.store import read_models
from network.store.campaigns import list_tiers, set_campaign_status, set_tier
from network.store.transfers import donate_points
from partners import signing
from partners.client import PartnerClient
from partners.keyfile import KeyFile, load_key_file
from partners.simulator import PosSimulator, SimMember, StoreProfile
from tests.conftest import assert_ledger_verifies


def _key_file(handle) -> KeyFile:
    pem = signing.private_key_to_pem(handle.private_key).decode("ascii")
    return KeyFile(handle.partner_id, handle.key_id, pem, handle.target)


def test_simulator_sends_every_kind_of_traffic_and_counts_refusals(make_partner, engine, target, member_pin):
    coffee = make_partner("coffee", return_window_seconds=0, clearing_fee_bps=100)
    grocer = make_partner("grocer", return_window_seconds=0, max_basket_share_bps=5000, settlement_model="prefunded",
                          issue_price_minor_per_point=Decimal(1),
                          redemption_rate_minor_per_point=Decimal("0.9"))
    charity = make_partner("charity", earn_points_per_major=0)
    members: dict[str, list[SimMember]] = {coffee.partner_id: [], grocer.partner_id: [], charity.partner_id: []}
    for handle in (coffee, grocer):
        with handle.client() as client:
            for i in range(6):
                member = client.enroll_member(customer_ref=f"c-{i}").member
                client.earn(member.member_id, points=3000)
                pin = member_pin(member.member_id) if i % 2 else ""  # the others pay unverified at their own till
                members[handle.partner_id].append(SimMember(member.member_id, member.card_number, pin))
    profiles = {grocer.partner_id: StoreProfile(max_basket_share_bps=5000),
                charity.partner_id: StoreProfile(issues_points=False)}
    simulator = PosSimulator(target, [_key_file(h) for h in (coffee, grocer, charity)], members,
                             rate_per_second=1000, seed=11, profiles=profiles, max_operations=260)
    stop = threading.Event()
    try:
        simulator.run(stop)
    finally:
        simulator.close()
    stats = simulator.stats()
    assert simulator.operations == 260
    for kind in ("earn", "redeem", "authorize", "capture", "return_purchase", "return_redemption", "offline_batch",
                 "enroll_by_card", "balance"):
        assert stats.get(kind, {}).get("ok", 0) > 0, (kind, stats)
    refusals = {outcome for outcomes in stats.values() for outcome in outcomes if outcome != "ok"}
    assert "INSUFFICIENT_POINTS" in refusals and "IDEMPOTENCY_KEY_REUSED" in refusals, stats
    assert not [o for o in refusals if o.startswith("error:")], stats
    # cross-brand: some points issued by one partner were redeemed at another
    with engine.connect() as conn:
        cross = conn.execute(text(
            "SELECT count(*) FROM postings p JOIN lots l USING (lot_id) WHERE p.account = 'redeemer' "
            "AND p.owner <> l.issuer_id AND p.owner = ANY(:ps)"),
            {"ps": [coffee.partner_id, grocer.partner_id, charity.partner_id]}).scalar_one()
    assert cross > 0
    assert_ledger_verifies(engine)


def test_simulator_start_and_stop_in_the_background(make_partner, target):
    shop = make_partner("shop", return_window_seconds=0)
    with shop.client() as client:
        member = client.enroll_member(customer_ref="bg-1").member
    simulator = PosSimulator(target, [_key_file(shop)], {shop.partner_id: [SimMember(member.member_id, member.card_number)]},
                             rate_per_second=50, seed=3).start()
    deadline = time.monotonic() + 10
    while simulator.operations < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    simulator.stop(timeout=5)
    done = simulator.operations
    time.sleep(0.2)
    assert done >= 5 and simulator.operations == done
    assert not any(t.name == "pos-simulator" for t in threading.enumerate())


@pytest.fixture
def demo_programme_ended(engine):
    """The demo's campaigns and tier multipliers apply to the whole (shared) ledger: end them after the test, and
    put back the ladder as the migration installs it, so later tests' earns and enrolments get no demo bonus."""
    yield
    with engine.begin() as conn:
        for campaign in DEMO_CAMPAIGNS:
            status = conn.execute(text("SELECT status FROM campaigns WHERE campaign_id = :c"),
                                  {"c": campaign.campaign_id}).scalar_one_or_none()
            if status not in (None, "ended"):
                set_campaign_status(conn, campaign.campaign_id, "end", "test")
        ladder = {t.name: t for t in list_tiers(conn)}
        for tier in DEFAULT_LADDER:
            if ladder.get(tier.name) != tier:
                set_tier(conn, tier, "test")


@pytest.mark.usefixtures("demo_programme_ended")
def test_demo_seed_is_idempotent_and_its_keys_sign(engine, settings, target, tmp_path):
    first = seed_demo(engine, settings, tmp_path, target=target, members=400)
    assert [p.partner_id for p in first.partners] == [s.partner_id for s in DEMO_PARTNERS]
    assert first.created_members == 400 and first.member_count == 400
    assert first.created_campaigns == [c.campaign_id for c in DEMO_CAMPAIGNS]
    assert len(first.members_by_partner["goodcause"]) > 0  # members who also joined the charity
    multi = [m for m in first.members_by_partner["brewhouse"] if any(m in first.members_by_partner[p]
                                                                     for p in ("freshmart", "skyways"))]
    assert multi
    for partner in first.partners:
        assert stat.S_IMODE(partner.key_file.stat().st_mode) == 0o600
        assert load_key_file(partner.key_file).target == target
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT p.partner_id, p.iban, c.settlement_model, c.return_window_seconds, "
                                 "c.credit_limit_minor, c.max_basket_share_bps FROM partners p JOIN contracts c USING "
                                 "(partner_id) WHERE p.partner_id = ANY(:ps)"),
                            {"ps": [s.partner_id for s in DEMO_PARTNERS]}).all()
        welcome = conn.execute(text("SELECT count(*), min(state) FROM lots WHERE earn_tx_id IN (SELECT tx_id FROM "
                                    "journal WHERE request_id LIKE 'demo-welcome-%')")).one()
    assert len(rows) == 6
    assert {r.settlement_model for r in rows} == {"issuer_pays", "prefunded"}
    assert any(r.credit_limit_minor for r in rows) and any(r.max_basket_share_bps < 10000 for r in rows)
    assert all(r.iban for r in rows)
    assert welcome[0] == 400 and welcome[1] == "pending"

    again = seed_demo(engine, settings, tmp_path, target=target, members=400)
    assert (again.created_partners, again.created_members, again.registered_keys, again.created_campaigns) == (
        0, 0, [], [])
    assert again.members_by_partner == first.members_by_partner

    (tmp_path / "keys" / "pageturner.json").unlink()  # a lost key file: a new key is registered in its place
    healed = seed_demo(engine, settings, tmp_path, target=target, members=400)
    assert healed.registered_keys == ["pageturner-demo-2"]

    creds = healed.partner("skyways").credentials()
    member = healed.members_by_partner["skyways"][0]
    with PartnerClient(creds.target, creds.key_id, creds.private_key()) as client:
        balance = client.get_balance(member.member_id)
    assert balance.pending_points + balance.available_points > 0

    # the demo's charity takes donations: a demo member with a portal login gives points to it
    with engine.connect() as conn:
        assert ("goodcause", "Good Cause Foundation") in read_models.charity_partners(conn)
        assert conn.execute(text("SELECT count(*) FROM operator_actions WHERE action = 'partner.charity' "
                                 "AND subject = 'goodcause'")).scalar_one() == 1  # flagged once over three seeds
        donor = conn.execute(text("SELECT member_id::text FROM cards WHERE card_number = :c"),
                             {"c": healed.member_logins[0].card_number}).scalar_one()
    later = datetime.now(timezone.utc) + timedelta(minutes=5)  # the welcome points are past every return window
    donation = donate_points(engine, donor, "goodcause", 10, "demo-gift", later, settings=settings)
    assert (donation.kind, donation.points) == ("donation", 10)
    assert_ledger_verifies(engine)
