"""Every NetworkService RPC's happy path, against the real server on loopback and real PostgreSQL."""

from __future__ import annotations

import time
import uuid

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from sqlalchemy import text

from partners.errors import FailedPrecondition
from protos.coalition.v1 import network_pb2 as pb

pytestmark = pytest.mark.usefixtures("verified_ledger")


@pytest.fixture
def coffee(make_partner):
    return make_partner("coffee", earn_points_per_major=2)


@pytest.fixture
def airline(make_partner):
    return make_partner("air")


def test_enroll_find_and_reenroll(coffee):
    with coffee.client() as network:
        enrolled = network.enroll_member(customer_ref="cust-1")
        assert enrolled.created and enrolled.member.customer_ref == "cust-1"
        member = enrolled.member
        assert len(member.card_number) == 16
        again = network.enroll_member(customer_ref="cust-1")
        assert not again.created and again.member.member_id == member.member_id
        for lookup in ({"member_id": member.member_id}, {"card_number": member.card_number},
                       {"customer_ref": "cust-1"}):
            assert network.find_member(**lookup).member.member_id == member.member_id


def test_member_joins_second_brand_by_card(coffee, airline):
    with coffee.client() as c, airline.client() as a:
        member = c.enroll_member(customer_ref="x").member
        joined = a.enroll_member(customer_ref="flyer-9", card_number=member.card_number)
        assert joined.created and joined.member.member_id == member.member_id
        assert a.find_member(customer_ref="flyer-9").member.member_id == member.member_id


def test_earn_for_purchase_and_points(coffee):
    with coffee.client() as network:
        member = network.enroll_member().member
        earned = network.earn(member.member_id, amount_minor=1299, receipt_ref="r-1", store_id="s-1", terminal_id="t-1")
        assert earned.points == 25  # floor(12.99 EUR x 2 points per EUR)
        assert earned.state == pb.LOT_STATE_ACTIVE
        bonus = network.earn(member.member_id, points=100)
        assert bonus.points == 100
        assert network.get_balance(member.member_id).available_points == 125
        receipt = network.last_receipt
        assert receipt is not None and receipt.key_id.startswith("net-")


def test_return_window_keeps_points_pending(make_partner):
    grocer = make_partner("grocer", return_window_seconds=3600, expiry_days=365)
    with grocer.client() as network:
        member = network.enroll_member().member
        earned = network.earn(member.member_id, points=40)
        assert earned.state == pb.LOT_STATE_PENDING
        assert earned.expires_at.seconds > earned.available_at.seconds > time.time()
        balance = network.get_balance(member.member_id)
        assert (balance.available_points, balance.pending_points) == (0, 40)


def test_cross_brand_redeem_and_history(coffee, airline):
    with coffee.client() as c, airline.client() as a:
        member = c.enroll_member().member
        c.earn(member.member_id, points=300)
        a.enroll_member(card_number=member.card_number)
        redeemed = a.redeem(member.member_id, 120, receipt_ref="ticket-1")
        assert redeemed.points == 120 and redeemed.value.amount_minor == 120 and redeemed.value.currency == "EUR"
        assert c.get_balance(member.member_id).available_points == 180
        own = list(a.list_transactions(member_id=member.member_id))
        assert [t.kind for t in own] == [pb.TRANSACTION_KIND_REDEEM]  # the airline sees only its own
        assert [t.kind for t in c.list_transactions(member_id=member.member_id)] == [pb.TRANSACTION_KIND_EARN]


def test_history_pages(coffee):
    with coffee.client() as network:
        member = network.enroll_member().member
        ids = [network.earn(member.member_id, points=i + 1).transaction_id for i in range(7)]
        pages = list(network.list_transaction_pages(member_id=member.member_id, page_size=3))
        assert [len(p.transactions) for p in pages] == [3, 3, 1]
        assert [t.transaction_id for p in pages for t in p.transactions] == list(reversed(ids))


def test_two_phase_redemption(coffee):
    with coffee.client() as network:
        member = network.enroll_member().member
        network.earn(member.member_id, points=500)
        hold = network.authorize_redemption(member.member_id, 200)
        balance = network.get_balance(member.member_id)
        assert (balance.available_points, balance.held_points) == (300, 200)
        captured = network.capture_redemption(hold.hold_id, points=150)
        assert (captured.points, captured.released_points) == (150, 50)
        balance = network.get_balance(member.member_id)
        assert (balance.available_points, balance.held_points) == (350, 0)
        second = network.authorize_redemption(member.member_id, 100)
        voided = network.void_redemption(second.hold_id)
        assert voided.released_points == 100
        assert network.get_balance(member.member_id).available_points == 350


def test_redemption_consumes_earliest_expiry_first(make_partner):
    short = make_partner("short", expiry_days=30)
    long = make_partner("long", expiry_days=700)
    with short.client() as s, long.client() as lg:
        member = lg.enroll_member().member
        lg.earn(member.member_id, points=100)
        s.enroll_member(card_number=member.card_number)
        s.earn(member.member_id, points=100)
        assert lg.get_balance(member.member_id).expiring_30d_points == 100
        lg.redeem(member.member_id, 150)
        # the short-lived lot (issued by `short`) went first: 100 from it, 50 from the long one
        assert lg.get_balance(member.member_id).expiring_30d_points == 0


def test_reverse_earn_partly_then_fully(coffee):
    with coffee.client() as network:
        member = network.enroll_member().member
        earned = network.earn(member.member_id, points=100)
        part = network.reverse(earned.transaction_id, points=30, reason="returned one item")
        assert (part.points, part.remaining_reversible_points) == (30, 70)
        rest = network.reverse(earned.transaction_id)
        assert (rest.points, rest.remaining_reversible_points) == (70, 0)
        assert network.get_balance(member.member_id).available_points == 0


def test_remaining_reversible_points_counts_only_unspent_points(coffee):
    with coffee.client() as network:
        member = network.enroll_member().member
        earned = network.earn(member.member_id, points=160)
        spent = network.redeem(member.member_id, 120)  # 40 of the earn's points are left unspent
        part = network.reverse(earned.transaction_id, points=10)
        assert (part.points, part.remaining_reversible_points) == (10, 30)
        last = network.reverse(earned.transaction_id, points=30)
        assert (last.points, last.remaining_reversible_points) == (30, 0)
        with pytest.raises(FailedPrecondition) as refused:  # 120 reversible on paper, all of them spent
            network.reverse(earned.transaction_id, points=1)
        assert refused.value.reason == "POINTS_ALREADY_SPENT"
        network.reverse(spent.transaction_id)  # the 120 spent points go back to the earn's lot
        back = network.reverse(earned.transaction_id)
        assert (back.points, back.remaining_reversible_points) == (120, 0)


def test_reverse_redemption_returns_points_to_issuers_proportionally(make_partner, coffee, airline):
    with coffee.client() as c, airline.client() as a:
        member = c.enroll_member().member
        c.earn(member.member_id, points=100)
        a.enroll_member(card_number=member.card_number)
        a.earn(member.member_id, points=300)
        redeemed = a.redeem(member.member_id, 400)
        back = a.reverse(redeemed.transaction_id, points=200)
        assert (back.points, back.remaining_reversible_points) == (200, 200)
        assert a.get_balance(member.member_id).available_points == 200


def test_batch_earn(coffee):
    with coffee.client() as network:
        members = [network.enroll_member().member.member_id for _ in range(3)]
        response = network.batch_earn([{"member_id": m, "points": 10 * (i + 1)} for i, m in enumerate(members)]
                                      + [{"member_id": members[0], "amount_minor": 1000}])
        assert (response.earned_count, response.refused_count) == (4, 0)
        assert [r.earned.points for r in response.results] == [10, 20, 30, 20]
        assert network.get_balance(members[0]).available_points == 30


def test_ids_keep_to_the_clock_under_a_full_batch(coffee, engine):
    """UUIDv7 ids carry their creation time: a 1,000-item batch (2,000 ids in a few milliseconds) must not push
    them ahead of the clock (a generator that takes a new millisecond per id ran 2 s ahead here)."""
    with coffee.client() as network:
        member = network.enroll_member().member.member_id
        response = network.batch_earn([{"member_id": member, "points": 1} for _ in range(1000)])
        answered_ms = time.time() * 1000  # every id was made before this instant
        assert response.earned_count == 1000
        tx_ids = [r.earned.transaction_id for r in response.results]
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT tx_id::text, created_at FROM journal WHERE tx_id = ANY(CAST(:ids AS uuid[]))"),
                            {"ids": tx_ids}).all()
    assert len(rows) == 1000
    for tx_id, created_at in rows:
        id_ms = uuid.UUID(tx_id).int >> 80  # the 48-bit Unix millisecond timestamp of a UUIDv7
        assert uuid.UUID(tx_id).version == 7
        # causality, not speed: an id's time is never ahead of the clock that answered (a generator taking a new
        # millisecond per id ends up seconds ahead of it)
        assert id_ms <= answered_ms, (tx_id, created_at)


def test_network_keys_health_and_reflection(coffee, network_signer, target):
    with coffee.client() as network:
        keys = network.get_network_keys().keys
        assert any(k.key_id == network_signer.key_id and k.public_key == network_signer.public_raw for k in keys)
    with grpc.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="coalition.v1.NetworkService"))
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        answers = list(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
        names = {s.name for s in answers[0].list_services_response.service}
        assert "coalition.v1.NetworkService" in names
