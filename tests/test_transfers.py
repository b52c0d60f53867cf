"""Member transfers and donations (issue 11, part 4) against the real database: lots move with their issuer,
expiry and issue instant; the journal stays balanced and hash-chained per shard; refusals at their boundaries
write nothing; a repeated request is answered from its stored result; both members are notified."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import text

from network import admin
from network.core.results import EarnItem, SpendRefs
from network.errors import DomainError
from network.store.contracts import ContractBook
from network.store.ledger import Ledger
from network.store.transfers import donate_points, member_notifications, transfer_points

pytestmark = pytest.mark.usefixtures("verified_ledger")


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime.now(timezone.utc) + timedelta(seconds=1))


@pytest.fixture
def ledger(engine, settings, clock) -> Ledger:
    return Ledger(engine, ContractBook(engine), point_value_minor=Decimal(1), network_currency="EUR",
                  shards=settings.ledger_shards, clock=clock)


@pytest.fixture
def limits(settings):
    """The test settings with transfer limits a test can reach."""
    return settings.model_copy(update={"transfer_min_points": 10, "transfer_max_points_per_day": 1000,
                                       "transfer_max_points_per_month": 3000, "transfer_max_per_day": 5})


def enroll(engine, ledger, partner_id: str) -> str:
    with engine.begin() as conn:
        return ledger.enroll_member(conn, partner_id, "", "")[0].member_id


def earn(engine, ledger, partner_id: str, member_id: str, points: int) -> str:
    with engine.begin() as conn:
        [result] = ledger.earn_batch(conn, [(partner_id, EarnItem(uuid.uuid4().hex, member_id, None, None, points))])
    return result.transaction_id


def available(engine, ledger, member_id: str) -> int:
    with engine.connect() as conn:
        return ledger.member_balance(conn, uuid.UUID(member_id)).available


def counts(engine) -> tuple[int, int, int, int]:
    with engine.connect() as conn:
        return tuple(conn.execute(text(
            "SELECT (SELECT count(*) FROM journal), (SELECT count(*) FROM lots), (SELECT count(*) FROM member_transfers), "
            "(SELECT count(*) FROM member_notifications)")).one())


def test_a_transfer_moves_lots_with_issuer_expiry_and_issue_instant(engine, ledger, clock, make_partner, limits):
    coffee = make_partner("coffee", expiry_days=30)
    rail = make_partner("rail", expiry_days=365)
    sender = enroll(engine, ledger, coffee.partner_id)
    recipient = enroll(engine, ledger, rail.partner_id)
    earn(engine, ledger, rail.partner_id, sender, 500)  # expires last: consumed last
    earn(engine, ledger, coffee.partner_id, sender, 300)  # expires first
    with engine.connect() as conn:
        source = {r.issuer_id: r for r in conn.execute(text(
            "SELECT lot_id, issuer_id, available_at, expires_at, created_at FROM lots WHERE member_id = :m"),
            {"m": sender})}

    result = transfer_points(engine, sender, recipient, 420, "t-1", clock.now, settings=limits)

    assert (result.kind, result.points, len(result.journal_ids)) == ("transfer", 420, 2)
    assert [(m.issuer_id, m.points) for m in result.lots] == [(coffee.partner_id, 300), (rail.partner_id, 120)]
    assert available(engine, ledger, sender) == 380 and available(engine, ledger, recipient) == 420
    with engine.connect() as conn:
        lots = {r.issuer_id: r for r in conn.execute(text(
            "SELECT lot_id, issuer_id, points, remaining, available_at, expires_at, created_at, source_lot_id "
            "FROM lots WHERE member_id = :m"), {"m": recipient})}
        for issuer, points in ((coffee.partner_id, 300), (rail.partner_id, 120)):
            lot, origin = lots[issuer], source[issuer]
            assert (lot.points, lot.remaining, lot.source_lot_id) == (points, points, origin.lot_id)
            assert (lot.available_at, lot.expires_at, lot.created_at) == (origin.available_at, origin.expires_at,
                                                                          origin.created_at)
        rows = {r.member_id: r for r in conn.execute(text(
            "SELECT j.tx_id, j.kind, j.partner_id, j.member_id::text AS member_id, j.points, j.shard, m.shard AS home "
            "FROM journal j JOIN members m USING (member_id) WHERE j.tx_id IN (:a, :b)"),
            {"a": result.journal_ids[0], "b": result.journal_ids[1]})}
        assert {m: (r.kind, r.partner_id, r.points) for m, r in rows.items()} == {
            sender: ("transfer", "", -420), recipient: ("transfer", "", 420)}
        assert all(r.shard == r.home for r in rows.values())  # each row on its own member's shard
        assert conn.execute(text("SELECT count(*) FROM partner_events WHERE tx_id IN (:a, :b)"),
                            {"a": result.journal_ids[0], "b": result.journal_ids[1]}).scalar_one() == 0
    sent = member_notifications(engine, sender)
    received = member_notifications(engine, recipient)
    assert [(n.seq, n.type, n.transfer_id, n.detail) for n in sent] == [
        (1, "transfer.sent", result.transfer_id, {"points": 420, "to_member_id": recipient})]
    assert [(n.seq, n.type, n.transfer_id, n.detail) for n in received] == [
        (1, "transfer.received", result.transfer_id, {"points": 420, "from_member_id": sender})]
