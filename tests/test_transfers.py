"""Member transfers and donations against the real database: lots move with their issuer,
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


def refused(call) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value


def test_refusals_at_their_boundaries_write_nothing(engine, ledger, clock, make_partner, limits):
    shop = make_partner("refuse")
    sender = enroll(engine, ledger, shop.partner_id)
    recipient = enroll(engine, ledger, shop.partner_id)
    earn(engine, ledger, shop.partner_id, sender, 500)
    with engine.connect() as conn:
        card = conn.execute(text("SELECT card_number FROM members WHERE member_id = :m"), {"m": recipient}).scalar_one()
    before = counts(engine)

    def transfer(points: int, to: str = recipient, key: str | None = None):
        return lambda: transfer_points(engine, sender, to, points, key or uuid.uuid4().hex, clock.now, settings=limits)

    assert refused(transfer(9)).reason == "TRANSFER_BELOW_MINIMUM"  # minimum 10
    error = refused(transfer(50, to=sender))
    assert (error.reason, error.metadata) == ("TRANSFER_TO_SELF", {"member_id": sender})
    assert refused(transfer(50, to=str(uuid.uuid4()))).reason == "RECIPIENT_UNKNOWN"
    nobody = f"49{uuid.uuid4().int % 10**14:014d}"  # no fixed number: other tests enrol their example cards
    assert refused(transfer(50, to=nobody)).reason == "RECIPIENT_UNKNOWN"
    error = refused(transfer(501))
    assert (error.reason, error.metadata["available"]) == ("INSUFFICIENT_POINTS", "500")
    assert refused(transfer(0)).reason == "INVALID_ARGUMENT"
    assert refused(lambda: transfer_points(engine, sender, recipient, 50, "", clock.now, settings=limits)).reason \
        == "INVALID_ARGUMENT"
    assert refused(lambda: transfer_points(engine, str(uuid.uuid4()), recipient, 50, "k", clock.now,
                                           settings=limits)).reason == "MEMBER_NOT_FOUND"
    assert counts(engine) == before

    assert transfer_points(engine, sender, card, 10, "min", clock.now, settings=limits).points == 10  # by card
    assert transfer_points(engine, sender, f" {recipient} ", 490, "all", clock.now, settings=limits).points == 490
    assert available(engine, ledger, sender) == 0 and available(engine, ledger, recipient) == 500


def test_daily_monthly_and_velocity_limits_at_their_boundaries(engine, ledger, clock, make_partner, limits):
    shop = make_partner("limits")
    sender = enroll(engine, ledger, shop.partner_id)
    recipient = enroll(engine, ledger, shop.partner_id)
    clock.now = datetime(2031, 1, 30, 12, 0, tzinfo=timezone.utc)  # after every committed period
    earn(engine, ledger, shop.partner_id, sender, 10_000)

    def transfer(points: int, at: datetime):
        return transfer_points(engine, sender, recipient, points, uuid.uuid4().hex, at, settings=limits)

    day = datetime(2031, 1, 30, 0, 0, tzinfo=timezone.utc)
    transfer(600, day + timedelta(hours=12))
    transfer(400, day + timedelta(hours=23, minutes=59, seconds=59))  # 1000 today: exactly the daily limit
    error = refused(lambda: transfer(10, day + timedelta(hours=23, minutes=59, seconds=59)))
    assert (error.reason, error.metadata) == ("TRANSFER_LIMIT_EXCEEDED", {"limit": "points_per_day", "allowed": "1000"})
    transfer(1000, day + timedelta(days=1))  # a new UTC day (same month: 2000 this month): the day limit again
    assert refused(lambda: transfer(10, day + timedelta(days=1, hours=1))).metadata["limit"] == "points_per_day"
    # a new day (Feb 1st is a new month too); the month before no longer counts
    clock.now = datetime(2031, 2, 1, 0, 0, tzinfo=timezone.utc)
    for minute in range(5):  # velocity: 5 transfers a day
        transfer(10, clock.now + timedelta(minutes=minute))
    error = refused(lambda: transfer(10, clock.now + timedelta(minutes=6)))
    assert (error.reason, error.metadata) == ("TRANSFER_LIMIT_EXCEEDED",
                                              {"limit": "transfers_per_day", "allowed": "5"})


def test_monthly_limit(engine, ledger, clock, make_partner, limits):
    shop = make_partner("month")
    sender = enroll(engine, ledger, shop.partner_id)
    recipient = enroll(engine, ledger, shop.partner_id)
    clock.now = datetime(2031, 3, 1, 0, 0, tzinfo=timezone.utc)
    earn(engine, ledger, shop.partner_id, sender, 10_000)
    for day in range(3):
        transfer_points(engine, sender, recipient, 1000, f"m{day}", clock.now + timedelta(days=day), settings=limits)
    error = refused(lambda: transfer_points(engine, sender, recipient, 10, "over", clock.now + timedelta(days=3),
                                            settings=limits))
    assert (error.reason, error.metadata) == ("TRANSFER_LIMIT_EXCEEDED",
                                              {"limit": "points_per_month", "allowed": "3000"})
    assert transfer_points(engine, sender, recipient, 10, "april", datetime(2031, 4, 1, tzinfo=timezone.utc),
                           settings=limits).points == 10


def test_the_same_request_again_is_answered_from_its_stored_result(engine, ledger, clock, make_partner, limits):
    shop = make_partner("idem")
    sender = enroll(engine, ledger, shop.partner_id)
    recipient = enroll(engine, ledger, shop.partner_id)
    earn(engine, ledger, shop.partner_id, sender, 300)
    first = transfer_points(engine, sender, recipient, 120, "same-key", clock.now, settings=limits)
    before = counts(engine)
    again = transfer_points(engine, sender, recipient, 120, "same-key", clock.now, settings=limits)
    assert again == first._replace(replayed=True)
    assert counts(engine) == before and available(engine, ledger, sender) == 180
    error = refused(lambda: transfer_points(engine, sender, recipient, 121, "same-key", clock.now, settings=limits))
    assert (error.reason, error.metadata) == ("IDEMPOTENCY_KEY_REUSED", {"request_id": "same-key"})
    assert counts(engine) == before


def test_a_donation_is_a_redemption_at_a_charity(engine, ledger, clock, make_partner, limits):
    shop = make_partner("donor-shop")
    charity = make_partner("charity")
    member = enroll(engine, ledger, shop.partner_id)
    earn(engine, ledger, shop.partner_id, member, 200)
    before = counts(engine)
    error = refused(lambda: donate_points(engine, member, charity.partner_id, 50, "d-1", clock.now, settings=limits))
    assert (error.reason, error.metadata) == ("NOT_A_CHARITY", {"partner_id": charity.partner_id})
    assert refused(lambda: donate_points(engine, member, "no-such-partner", 50, "d-1", clock.now,
                                         settings=limits)).reason == "NOT_A_CHARITY"
    with engine.begin() as conn:
        admin.set_charity(conn, "test", charity.partner_id)
    assert refused(lambda: donate_points(engine, member, charity.partner_id, 201, "d-1", clock.now,
                                         settings=limits)).reason == "INSUFFICIENT_POINTS"
    assert counts(engine) == before

    donation = donate_points(engine, member, charity.partner_id, 5, "d-1", clock.now, settings=limits)  # no minimum
    assert (donation.kind, donation.points, [(m.issuer_id, m.points, m.new_lot_id) for m in donation.lots]) == (
        "donation", 5, [(shop.partner_id, 5, None)])
    assert donate_points(engine, member, charity.partner_id, 5, "d-1", clock.now, settings=limits) == \
        donation._replace(replayed=True)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT kind, partner_id, member_id::text, points FROM journal WHERE tx_id = :t"),
                           {"t": donation.journal_ids[0]}).one()
        assert tuple(row) == ("redeem", charity.partner_id, member, -5)
        assert conn.execute(text("SELECT type FROM partner_events WHERE tx_id = :t AND partner_id = :p"),
                            {"t": donation.journal_ids[0], "p": charity.partner_id}).scalar_one() == "points.redeemed"
        assert conn.execute(text("SELECT action FROM operator_actions WHERE subject = :p ORDER BY action_id DESC "
                                 "LIMIT 1"), {"p": charity.partner_id}).scalar_one() == "partner.charity"
    [note] = member_notifications(engine, member)
    assert (note.type, note.transfer_id, note.detail) == ("donation.made", donation.transfer_id, {
        "points": 5, "charity_partner_id": charity.partner_id, "transaction_id": donation.journal_ids[0]})
    with engine.begin() as conn:
        admin.set_charity(conn, "test", charity.partner_id, False)
    assert refused(lambda: donate_points(engine, member, charity.partner_id, 5, "d-2", clock.now,
                                         settings=limits)).reason == "NOT_A_CHARITY"


def test_notifications_are_numbered_per_member_and_paged(engine, ledger, clock, make_partner, limits):
    shop = make_partner("notes")
    a = enroll(engine, ledger, shop.partner_id)
    b = enroll(engine, ledger, shop.partner_id)
    earn(engine, ledger, shop.partner_id, a, 100)
    earn(engine, ledger, shop.partner_id, b, 100)
    transfer_points(engine, a, b, 10, "1", clock.now, settings=limits)
    transfer_points(engine, b, a, 20, "2", clock.now, settings=limits)
    transfer_points(engine, a, b, 30, "3", clock.now, settings=limits)
    assert [(n.seq, n.type, n.detail["points"]) for n in member_notifications(engine, a)] == [
        (1, "transfer.sent", 10), (2, "transfer.received", 20), (3, "transfer.sent", 30)]
    assert [n.seq for n in member_notifications(engine, a, after=1, limit=1)] == [2]
    assert [n.seq for n in member_notifications(engine, b, after=3)] == []
    assert refused(lambda: member_notifications(engine, a, limit=0)).reason == "INVALID_ARGUMENT"


def test_transferred_points_are_spent_reversed_and_expire_under_their_issuer(engine, ledger, clock, make_partner,
                                                                             limits):
    issuer = make_partner("issuer", expiry_days=10)
    shop = make_partner("spend")
    sender = enroll(engine, ledger, issuer.partner_id)
    recipient = enroll(engine, ledger, shop.partner_id)
    earn_tx = earn(engine, ledger, issuer.partner_id, sender, 100)
    transfer_points(engine, sender, recipient, 60, "x", clock.now, settings=limits)
    with engine.begin() as conn:
        spent = ledger.redeem(conn, shop.partner_id, recipient, 25, SpendRefs(), None)
        assert conn.execute(text("SELECT l.issuer_id FROM postings p JOIN lots l USING (lot_id) "
                                 "WHERE p.tx_id = :t AND p.account = 'redeemer'"),
                            {"t": spent.transaction_id}).scalar_one() == issuer.partner_id
        ledger.reverse(conn, shop.partner_id, spent.transaction_id, 0, "return", None)
        # the issuer can take back only what is left of its earn in the sender's lot
        error = refused(lambda: ledger.reverse(conn, issuer.partner_id, earn_tx, 41, "fraud", None))
        assert error.reason == "POINTS_ALREADY_SPENT"
        ledger.reverse(conn, issuer.partner_id, earn_tx, 40, "fraud", None)
    clock.now += timedelta(days=11)
    with engine.begin() as conn:
        assert ledger.expire_lots(conn) >= 1
        assert conn.execute(text("SELECT coalesce(sum(p.points), 0) FROM postings p JOIN lots l USING (lot_id) "
                                 "WHERE l.member_id = :m AND p.account = 'breakage' AND p.owner = :i"),
                            {"m": recipient, "i": issuer.partner_id}).scalar_one() == 60
    assert available(engine, ledger, recipient) == 0


def card_of(engine, member_id: str) -> str:
    with engine.connect() as conn:
        return conn.execute(text("SELECT card_number FROM members WHERE member_id = :m"), {"m": member_id}).scalar_one()


def test_a_frozen_sender_or_recipient_is_refused_and_unfrozen_allowed(engine, ledger, clock, make_partner, limits):
    """Each freeze refuses exactly its side and writes nothing; undoing it lets the same request through."""
    from network.store import credentials

    shop = make_partner("frozen-shop")
    charity = make_partner("frozen-charity")
    with engine.begin() as conn:
        admin.set_charity(conn, "test", charity.partner_id)
    sender = enroll(engine, ledger, shop.partner_id)
    recipient = enroll(engine, ledger, shop.partner_id)
    earn(engine, ledger, shop.partner_id, sender, 500)
    card = card_of(engine, recipient)
    sender_card = card_of(engine, sender)

    def transfer(to: str = recipient):
        return lambda: transfer_points(engine, sender, to, 10, uuid.uuid4().hex, clock.now, settings=limits)

    def donate():
        return lambda: donate_points(engine, sender, charity.partner_id, 10, uuid.uuid4().hex, clock.now,
                                     settings=limits)

    def act(change, *args):
        with engine.begin() as conn:
            change(conn, *args)

    before = counts(engine)
    act(credentials.freeze_card, card, "ops@test", "lost")  # the recipient's only card
    error = refused(transfer(card))
    assert (error.reason, error.metadata) == ("CARD_FROZEN", {
        "card_number": card, "card_status": "frozen", "member_id": recipient, "role": "recipient"})
    error = refused(transfer())  # by member id: no active card left
    assert (error.reason, error.metadata) == ("CARD_FROZEN", {"member_id": recipient, "role": "recipient"})
    assert counts(engine) == before
    act(credentials.unfreeze_card, card, "ops@test")
    assert transfer_points(engine, sender, card, 10, "after-unfreeze", clock.now, settings=limits).points == 10

    before = counts(engine)
    with engine.begin() as conn:
        new_card = credentials.replace_card(conn, recipient, card, "ops@test")
    error = refused(transfer(card))  # the lost card is dead: points sent to it would reach its finder
    assert (error.reason, error.metadata["card_status"], error.metadata["role"]) == ("CARD_FROZEN", "replaced",
                                                                                     "recipient")
    assert transfer_points(engine, sender, new_card, 10, "to-new-card", clock.now, settings=limits).points == 10
    assert transfer_points(engine, sender, recipient, 10, "by-id-again", clock.now, settings=limits).points == 10

    before = counts(engine)
    act(credentials.freeze_member, recipient, "ops@test", "fraud check")
    for how in (recipient, new_card):
        error = refused(transfer(how))
        assert (error.reason, error.metadata) == ("MEMBER_FROZEN", {"member_id": recipient, "role": "recipient"})
    assert counts(engine) == before
    act(credentials.unfreeze_member, recipient, "ops@test")

    act(credentials.freeze_member, sender, "ops@test", "fraud check")
    for call in (transfer(), donate()):
        error = refused(call)
        assert (error.reason, error.metadata) == ("MEMBER_FROZEN", {"member_id": sender, "role": "sender"})
    assert counts(engine) == before
    act(credentials.unfreeze_member, sender, "ops@test")

    act(credentials.freeze_card, sender_card, "ops@test", "lost")
    for call in (transfer(), donate()):
        error = refused(call)
        assert (error.reason, error.metadata) == ("CARD_FROZEN", {"member_id": sender, "role": "sender"})
    assert counts(engine) == before
    act(credentials.unfreeze_card, sender_card, "ops@test")
    assert transfer_points(engine, sender, recipient, 10, "all-clear", clock.now, settings=limits).points == 10
    assert donate_points(engine, sender, charity.partner_id, 10, "gift", clock.now, settings=limits).points == 10
    assert available(engine, ledger, sender) == 500 - 50 and available(engine, ledger, recipient) == 40
