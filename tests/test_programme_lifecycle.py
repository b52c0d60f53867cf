"""Lifecycle bonuses: sign-up (a member's first enrolment in the network) and referral (referrer and referee, once
the referee has purchased), each once per member and occasion whatever the retries."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import text

from network.core.campaigns import NETWORK_ISSUER, Campaign, Conditions, Effects, Funder
from network.store import lifecycle
from network.store.campaigns import create_campaign, set_campaign_status
from network.store.contracts import ContractBook
from network.store.ledger import Ledger, build_ledger
from partners.errors import InvalidArgument

pytestmark = pytest.mark.usefixtures("verified_ledger")


def lifecycle_campaign(engine, kind: str, funder: str, points: int, **conditions) -> str:
    campaign_id = f"{kind}-{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        create_campaign(conn, Campaign(campaign_id, campaign_id, (Funder(funder, 10_000),), Conditions(**conditions),
                                       Effects(fixed_points=points), kind=kind), "test", "EUR")
    return campaign_id


def end(engine, campaign_id: str) -> None:
    with engine.begin() as conn:
        set_campaign_status(conn, campaign_id, "end", "test")


def test_signup_bonus_once_for_the_first_enrolment_in_the_network_whatever_the_retries(engine, settings, make_partner):
    shop, other = make_partner("su"), make_partner("su2")
    welcome = lifecycle_campaign(engine, "signup", NETWORK_ISSUER, 100, partners=(shop.partner_id, other.partner_id))
    try:
        with shop.client() as network, other.client() as elsewhere:
            request_id = f"enrol-{uuid.uuid4().hex}"
            def enrol(_: int):  # the same request, bytes and id, eight times at once
                return network.enroll_member(customer_ref="w-1", request_id=request_id)
            with ThreadPoolExecutor(max_workers=8) as pool:
                answers = list(pool.map(enrol, range(8)))
            assert len({a.SerializeToString() for a in answers}) == 1
            [bonus] = answers[0].bonuses
            assert (bonus.kind, bonus.campaign_id, bonus.funder_id, bonus.points) == ("signup", welcome,
                                                                                      NETWORK_ISSUER, 100)
            member = answers[0].member
            assert network.get_balance(member.member_id).available_points == 100
            # a new enrolment with the same customer ref, and joining another brand: not a first enrolment
            assert not network.enroll_member(customer_ref="w-1").bonuses
            joined = elsewhere.enroll_member(card_number=member.card_number)
            assert joined.created and not joined.bonuses
            assert network.get_balance(member.member_id).available_points == 100
        # the award itself, run again for the same member (a restart re-running it): nothing more
        ledger = build_ledger(engine, settings)
        with engine.begin() as conn:
            shard = conn.execute(text("SELECT shard FROM members WHERE member_id = :m"),
                                 {"m": member.member_id}).scalar_one()
            [campaign] = [c for c in ledger.programme.current().lifecycle("signup") if c.campaign_id == welcome]
            assert lifecycle.award(conn, ledger.contracts, ledger._write, campaign, member.member_id, shard,
                                   lifecycle.SIGNUP, ledger.ledger_time(conn)) == []
    finally:
        end(engine, welcome)


def test_referral_rewards_both_once_after_the_referees_first_purchase(engine, settings, make_partner):
    shop = make_partner("rf", earn_points_per_major=1)
    referral = lifecycle_campaign(engine, "referral", shop.partner_id, 50)
    ledger = build_ledger(engine, settings)

    def run_awards() -> None:
        with engine.begin() as conn:
            ledger.award_lifecycle_bonuses(conn)

    def awards(member_id: str) -> list[str]:
        with engine.connect() as conn:
            return sorted(r for r, in conn.execute(text(
                "SELECT occasion FROM lifecycle_awards WHERE campaign_id = :c AND member_id = :m"),
                {"c": referral, "m": member_id}))
    try:
        with shop.client() as network:
            referrer = network.enroll_member().member
            with pytest.raises(InvalidArgument) as unknown:
                network.enroll_member(referrer_card="4000000000000002")
            assert unknown.value.field_violations == [("referrer_card", "no other member holds this card")]
            referee = network.enroll_member(referrer_card=referrer.card_number).member
            run_awards()
            assert awards(referee.member_id) == []  # no purchase yet
            network.earn(referee.member_id, points=10)  # not a purchase
            run_awards()
            assert awards(referee.member_id) == []
            network.earn(referee.member_id, amount_minor=1000)  # the first purchase: 10 points
            run_awards()
            run_awards()  # again: nothing more
            assert awards(referee.member_id) == ["referee"]
            assert awards(referrer.member_id) == [f"referrer:{referee.member_id}"]
            assert network.get_balance(referee.member_id).available_points == 10 + 10 + 50
            assert network.get_balance(referrer.member_id).available_points == 50
    finally:
        end(engine, referral)



def test_anniversary_bonus_once_a_year_on_the_day_the_member_joined(engine, settings, make_partner):
    shop = make_partner("an")
    yearly = lifecycle_campaign(engine, "anniversary", NETWORK_ISSUER, 25)
    now = datetime.now(timezone.utc)
    joined = Ledger(engine, ContractBook(engine), point_value_minor=Decimal(1), network_currency="EUR",
                    shards=settings.ledger_shards, clock=lambda: now.replace(year=now.year - 1))
    newcomer = Ledger(engine, ContractBook(engine), point_value_minor=Decimal(1), network_currency="EUR",
                      shards=settings.ledger_shards, clock=lambda: now - timedelta(days=1))
    ledger = build_ledger(engine, settings)
    try:
        with engine.begin() as conn:
            veteran = joined.enroll_member(conn, shop.partner_id, "", "")[0].member_id
            recent = newcomer.enroll_member(conn, shop.partner_id, "", "")[0].member_id
        for _ in range(2):  # the task runs every minute: once a year all the same
            with engine.begin() as conn:
                ledger.award_lifecycle_bonuses(conn)
        with engine.connect() as conn:
            given = {r.member_id: (r.occasion, r.points) for r in conn.execute(text(
                "SELECT a.member_id::text AS member_id, a.occasion, l.points FROM lifecycle_awards a "
                "JOIN lots l ON l.earn_tx_id = a.tx_id WHERE a.campaign_id = :c"), {"c": yearly})}
        assert given == {veteran: (f"anniversary:{now.year}", 25)} and recent not in given
    finally:
        end(engine, yearly)


def test_the_anniversary_of_29_february_is_28_february_in_a_common_year():
    days = [start.date() for start, _ in lifecycle.anniversary_days(date(2027, 2, 28), 2023)]
    assert days == [date(2023, 2, 28), date(2024, 2, 28), date(2024, 2, 29), date(2025, 2, 28), date(2026, 2, 28)]
    assert [start.date() for start, _ in lifecycle.anniversary_days(date(2028, 2, 29), 2024)] == [date(2024, 2, 29)]
