"""Rules at their edges, over the signed gRPC API: what may be spent, the credit limit, proportional reversal,
and every documented limit exactly at and one past it: tests that catch a wrong rule.

Each of the first tests fails when its rule is turned by one character: pending points spendable, expired but
not yet swept points spendable, the credit limit `>` turned `>=`, a partial reversal returned in lot order.
"""

from __future__ import annotations

import functools
import time
from datetime import datetime, timezone
from fractions import Fraction
from math import floor

import pytest
from sqlalchemy import text

from partners import errors, signing
from protos.coalition.v1 import network_pb2 as pb
from test_network_refusals import EARN, earn_bytes, raw_call, snapshot, writes_nothing  # noqa: F401 - a fixture

pytestmark = pytest.mark.usefixtures("verified_ledger")


def balance(client, member_id: str) -> tuple[int, int, int]:
    b = client.get_balance(member_id)
    return b.available_points, b.pending_points, b.held_points


# --- spend eligibility -----------------------------------------------------------------------------------

def test_pending_points_are_never_spendable(make_partner, writes_nothing, member_pin):
    instant = make_partner("instant")                      # return window 0: active at once
    returns = make_partner("returns", return_window_seconds=3600)  # pending for an hour
    with instant.client() as a, returns.client() as b:
        member = a.enroll_member().member.member_id
        a.earn(member, points=40)
        assert b.earn(member, points=60).state == pb.LOT_STATE_PENDING
        assert balance(a, member) == (40, 60, 0)
        pin = member_pin(member)  # b did not enrol the member at its till: its spends need the member's PIN
        for spend in (a.redeem, a.authorize_redemption, functools.partial(b.redeem, pin=pin)):
            refused = writes_nothing(lambda: spend(member, 41), errors.InsufficientPoints, "INSUFFICIENT_POINTS")
            assert refused.code.name == "FAILED_PRECONDITION" and refused.metadata["available"] == "40"
        assert a.redeem(member, 40).points == 40
        writes_nothing(lambda: a.redeem(member, 1), errors.InsufficientPoints, "INSUFFICIENT_POINTS")
        assert balance(a, member) == (0, 60, 0)


def test_expired_points_are_not_spendable_before_the_sweep(engine, make_partner, writes_nothing, member_pin):
    expiring = make_partner("expiring", expiry_days=30)
    lasting = make_partner("lasting")
    with expiring.client() as a, lasting.client() as b:
        member = a.enroll_member().member.member_id
        a.earn(member, points=30)
        b.earn(member, points=20)
        # time passes: the 30-point lot is past its expiry, and no expiry sweep has run yet
        with engine.begin() as conn:
            original = conn.execute(text("SELECT lot_id, expires_at FROM lots WHERE member_id = :m AND issuer_id = :p"),
                                    {"m": member, "p": expiring.partner_id}).one()
            conn.execute(text("UPDATE lots SET expires_at = now() - interval '1 second' WHERE lot_id = :l"),
                         {"l": original.lot_id})
        try:
            for spend in (a.redeem, a.authorize_redemption):
                refused = writes_nothing(lambda: spend(member, 21), errors.InsufficientPoints, "INSUFFICIENT_POINTS")
                assert refused.metadata["available"] == "20"
            assert a.redeem(member, 20).points == 20
            writes_nothing(lambda: b.redeem(member, 1, pin=member_pin(member)), errors.InsufficientPoints,
                           "INSUFFICIENT_POINTS")
            with engine.connect() as conn:
                assert conn.execute(text("SELECT state, remaining FROM lots WHERE lot_id = :l"),
                                    {"l": original.lot_id}).one() == ("active", 30)  # not swept, not touched
        finally:
            with engine.begin() as conn:
                conn.execute(text("UPDATE lots SET expires_at = :e WHERE lot_id = :l"),
                             {"e": original.expires_at, "l": original.lot_id})


# --- the credit limit ------------------------------------------------------------------------------------

def test_credit_limit_exactly_at_is_accepted_one_point_past_is_refused(make_partner, writes_nothing):
    # point value 1 minor unit: exposure = outstanding points - collateral
    limited = make_partner("limit", credit_limit_minor=1000, collateral_minor=200)
    with limited.client() as network:
        member = network.enroll_member().member.member_id
        refused = writes_nothing(lambda: network.earn(member, points=1201), errors.FailedPrecondition,
                                 "CREDIT_LIMIT_EXCEEDED")
        assert refused.code.name == "FAILED_PRECONDITION"
        assert network.earn(member, points=1200).points == 1200  # exposure exactly 1000
        writes_nothing(lambda: network.earn(member, points=1), errors.FailedPrecondition, "CREDIT_LIMIT_EXCEEDED")


# --- proportional reversal -------------------------------------------------------------------------------

def proportional(parts: list[int], total: int) -> list[int]:
    """The documented rule (docs/money-model.md, network.core.ledger.split_proportionally), written out
    independently: shares in proportion to the parts, largest remainder first, ties to the earlier part (parts in lot
    order)."""
    whole = sum(parts)
    exact = [Fraction(p * total, whole) for p in parts]
    shares = [floor(x) for x in exact]
    by_remainder = sorted(range(len(parts)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in by_remainder[:total - sum(shares)]:
        shares[i] += 1
    return shares


@pytest.mark.parametrize("earned, reversals", [
    ((10, 20, 30), (7, 5, 11)),   # 7 of 60: 1, 2, 4 (lot order would give 7, 0, 0)
    ((10, 10, 40), (3, 1, 2)),    # 3 of 60: 0.5, 0.5, 2 -> the tie goes to the earlier lot: 1, 0, 2
])
def test_partial_reversal_of_a_redemption_is_proportional(engine, make_partner, earned, reversals):
    issuers = [make_partner(f"iss{i}") for i in range(len(earned))]
    shop = make_partner("redeemer")
    clients = [p.client() for p in issuers]
    try:
        with shop.client() as network:
            member = network.enroll_member().member.member_id
            for client, points in zip(clients, earned):  # one lot per issuer, in this order
                client.earn(member, points=points)
            spent = network.redeem(member, sum(earned))
            consumed = list(earned)
            for amount in reversals:
                expected = proportional(consumed, amount)
                answer = network.reverse(spent.transaction_id, points=amount)
                consumed = [c - e for c, e in zip(consumed, expected)]
                assert (answer.points, answer.remaining_reversible_points) == (amount, sum(consumed))
                with engine.connect() as conn:
                    remaining = dict(conn.execute(text("SELECT issuer_id, remaining FROM lots WHERE member_id = :m"),
                                                  {"m": member}).all())
                assert [remaining[p.partner_id] for p in issuers] == [e - c for e, c in zip(earned, consumed)]
            assert network.get_balance(member).available_points == sum(earned) - sum(consumed)
    finally:
        for client in clients:
            client.close()


def test_reference_split_matches_the_documented_examples():
    assert proportional([10, 20, 30], 7) == [1, 2, 4]
    assert proportional([10, 10, 40], 3) == [1, 0, 2]
    assert proportional([5], 5) == [5]


# --- limits exactly at and one past ----------------------------------------------------------------------

def test_basket_cap_exactly_at_and_one_point_past(make_partner, writes_nothing):
    capped = make_partner("cap", max_basket_share_bps=2500)  # a quarter of the basket, point value 1 minor unit
    with capped.client() as network:
        member = network.enroll_member().member.member_id
        network.earn(member, points=1000)
        for spend in (network.redeem, network.authorize_redemption):
            writes_nothing(lambda: spend(member, 251, basket_minor=1000), errors.FailedPrecondition,
                           "BASKET_CAP_EXCEEDED")
        hold = network.authorize_redemption(member, 250, basket_minor=1000)
        network.void_redemption(hold.hold_id)
        assert network.redeem(member, 250, basket_minor=1000).points == 250


def test_hold_lifetime_bounds(make_partner, writes_nothing):
    shop = make_partner("ttl")
    with shop.client() as network:
        member = network.enroll_member().member.member_id
        network.earn(member, points=100)
        for ttl in (59, 604801):
            refused = writes_nothing(lambda: network.authorize_redemption(member, 1, hold_ttl_seconds=ttl),
                                     errors.InvalidArgument)
            assert [f for f, _ in refused.field_violations] == ["hold_ttl_seconds"]
        for ttl, expected in ((60, 60), (604800, 604800), (0, 900)):  # 0: the default lifetime
            before = datetime.now(timezone.utc).timestamp()
            hold = network.authorize_redemption(member, 1, hold_ttl_seconds=ttl)
            after = datetime.now(timezone.utc).timestamp()
            lifetime = hold.expires_at.ToDatetime(tzinfo=timezone.utc).timestamp()
            assert before + expected - 1 <= lifetime <= after + expected + 1, (ttl, lifetime - before)
            network.void_redemption(hold.hold_id)


def signed_earn_at(shop, member_id: str, offset: int):
    """Send a signed Earn whose timestamp is `offset` seconds from now (integer seconds); None when accepted.
    Retried when the clock ticked into the next second between signing and the answer (the case is then not
    exactly at the boundary)."""
    for _ in range(5):
        while time.time() % 1 > 0.3:  # start early in a second
            time.sleep(0.05)
        started = int(time.time())
        body = earn_bytes(member_id, request_id=f"fresh-{offset}-{time.time_ns()}", points=1)
        headers = signing.sign_request(shop.private_key, shop.key_id, EARN, body, timestamp=started + offset)
        try:
            raw_call(shop.target, EARN, body, headers.metadata())
            return None
        except errors.CoalitionError as refused:
            if int(time.time()) == started:
                return refused
    pytest.fail("the clock ticked during every attempt")


@pytest.mark.parametrize("offset", [-300, 300])
def test_freshness_window_is_inclusive_on_both_sides(make_partner, offset):
    """SIGNING.md: accepted when |clock - timestamp| <= 300 in integer seconds, in either direction."""
    shop = make_partner("fresh")
    with shop.client() as network:
        member = network.enroll_member().member.member_id
    assert signed_earn_at(shop, member, offset) is None


def test_batch_size_exactly_at_and_one_past(shop_member, engine):
    shop, member = shop_member
    with shop.client() as network:
        before = snapshot(engine)
        with pytest.raises(errors.InvalidArgument) as refused:
            network.batch_earn([{"member_id": member, "points": 1}] * 1001)
        assert [f for f, _ in refused.value.field_violations] == ["earns"]
        assert snapshot(engine) == before
        with pytest.raises(errors.InvalidArgument):
            network.batch_earn([])
        full = network.batch_earn([{"member_id": member, "points": 1}] * 1000)
        assert (full.earned_count, full.refused_count) == (1000, 0)
        assert network.get_balance(member).available_points == 1000


def test_page_size_exactly_at_and_one_past(shop_member, writes_nothing):
    shop, member = shop_member
    with shop.client() as network:
        network.batch_earn([{"member_id": member, "points": 1}] * 501)
        refused = writes_nothing(lambda: next(network.list_transaction_pages(member, page_size=501)),
                                 errors.InvalidArgument)
        assert [f for f, _ in refused.field_violations] == ["page_size"]
        writes_nothing(lambda: next(network.list_transaction_pages(member, page_size=-1)), errors.InvalidArgument)
        pages = network.list_transaction_pages(member, page_size=500)
        first = next(pages)
        assert len(first.transactions) == 500 and first.next_page_token
        assert len(next(pages).transactions) == 1
        default = next(network.list_transaction_pages(member, page_size=0))
        assert 0 < len(default.transactions) < 500 and default.next_page_token


@pytest.fixture
def shop_member(make_partner):
    shop = make_partner("limits")
    with shop.client() as network:
        return shop, network.enroll_member().member.member_id
