"""Replays return the identical response and post nothing; racing redemptions never overdraw a member."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from partners import errors

pytestmark = pytest.mark.usefixtures("verified_ledger")


def journal_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM journal")).scalar_one()


def test_every_mutating_call_replays_identically(engine, make_partner):
    shop = make_partner("idem")
    with shop.client() as network:
        member = network.enroll_member(request_id="enroll-1", customer_ref="c").member
        assert network.enroll_member(request_id="enroll-1", customer_ref="c").member == member
        calls = [
            lambda: network.earn(member.member_id, points=500, request_id="earn-1"),
            lambda: network.batch_earn([{"member_id": member.member_id, "points": 7, "request_id": "item-1"}],
                                       request_id="batch-1"),
            lambda: network.redeem(member.member_id, 50, request_id="redeem-1"),
        ]
        for call in calls:
            first = call()
            first_receipt = network.last_receipt
            before = journal_count(engine)
            again = call()
            assert again == first
            assert journal_count(engine) == before, "a replay posted something"
            assert network.last_receipt.signature == first_receipt.signature  # the same bytes, the same receipt
        hold = network.authorize_redemption(member.member_id, 20, request_id="auth-1")
        assert network.authorize_redemption(member.member_id, 20, request_id="auth-1") == hold
        capture = network.capture_redemption(hold.hold_id, request_id="cap-1")
        assert network.capture_redemption(hold.hold_id, request_id="cap-1") == capture
        earned = network.earn(member.member_id, points=30, request_id="earn-2")
        reverse = network.reverse(earned.transaction_id, request_id="rev-1")
        assert network.reverse(earned.transaction_id, request_id="rev-1") == reverse
        hold2 = network.authorize_redemption(member.member_id, 10)
        void = network.void_redemption(hold2.hold_id, request_id="void-1")
        assert network.void_redemption(hold2.hold_id, request_id="void-1") == void
        # a batch item's key is the same key as a unary earn's
        assert network.earn(member.member_id, points=7, request_id="item-1").points == 7
        assert network.get_balance(member.member_id).available_points == 500 + 7 - 50 - 20


def test_concurrent_retries_of_one_request_post_once(engine, make_partner):
    shop = make_partner("race-idem")
    client = shop.client()
    member = client.enroll_member().member
    before = journal_count(engine)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: client.earn(member.member_id, points=3, request_id="burst"), range(16)))
    assert len({r.transaction_id for r in results}) == 1
    assert journal_count(engine) == before + 1


def test_racing_redemptions_never_overdraw(engine, make_partner):
    shop = make_partner("race")
    client = shop.client(max_attempts=1)
    member = client.enroll_member().member
    client.earn(member.member_id, points=1000)
    start = threading.Barrier(16)
    outcomes = []

    def spend(_):
        start.wait()
        try:
            client.redeem(member.member_id, 150)
            return "ok"
        except errors.InsufficientPoints:
            return "refused"

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(spend, range(16)))
    assert outcomes.count("ok") == 6 and outcomes.count("refused") == 10
    assert client.get_balance(member.member_id).available_points == 100


def test_concurrent_earns_from_many_terminals(engine, make_partner):
    shop = make_partner("terminals")
    client = shop.client()
    members = [client.enroll_member().member.member_id for _ in range(8)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: client.earn(members[i % 8], points=1, terminal_id=f"t{i % 16}"), range(200)))
    assert sum(client.get_balance(m).available_points for m in members) == 200
    with engine.connect() as conn:
        lots = conn.execute(text("SELECT count(*) FROM lots WHERE issuer_id = :p"), {"p": shop.partner_id}).scalar_one()
    assert lots == 200
