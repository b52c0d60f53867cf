"""Consent for every spend: the member's PIN or one-time code inside the signed request, the
own-till exception, the PIN lock across partners and servers, codes, card and member freezes on every server at
once, card replacement, velocity limits. Every refusal writes nothing (no journal row, no event, no idempotency
key: the corrected retry with the same request_id goes through)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Callable

import pytest
from sqlalchemy import text

from network.core.results import EarnItem, SpendRefs
from network.errors import DomainError
from network.store import consent, credentials
from network.store.consent import ConsentPolicy, SpendGuard, Verification
from network.store.contracts import ContractBook
from network.store.ledger import Ledger
from partners import errors
from partners.client import PartnerClient
from test_network_refusals import TABLES, snapshot

pytestmark = pytest.mark.usefixtures("verified_ledger")

FAST = credentials.ScryptParams(2**10, 8, 1)  # PINs set by these tests hash cheaply; the server verifies with them
PIN = "2580"
WRONG = "2581"
ALL_TABLES = (*TABLES, "partner_events", "redemption_codes")


def nothing_written(engine, call, reason: str) -> errors.CoalitionError:
    before = _state(engine)
    with pytest.raises(errors.CoalitionError) as caught:
        call()
    assert caught.value.reason == reason, caught.value
    assert _state(engine) == before, "a refused spend wrote something"
    return caught.value


def _state(engine) -> dict:
    counts = snapshot(engine)
    with engine.connect() as conn:
        counts["events"] = conn.execute(text("SELECT count(*) FROM partner_events")).scalar_one()
        counts["codes_used"] = conn.execute(text("SELECT count(*) FROM redemption_codes WHERE used_at IS NOT NULL"
                                                 )).scalar_one()
    return counts


@pytest.fixture
def refused_count(network_metric) -> Callable[[str], float]:
    return lambda reason: network_metric("coalition_spends_refused_total", {"reason": reason})


def set_pin(engine, member_id: str, pin: str = PIN) -> None:
    with engine.begin() as conn:
        credentials.set_pin(conn, member_id, pin, params=FAST)


def code_for(engine, member_id: str, max_points: int, now: datetime | None = None) -> str:
    with engine.begin() as conn:
        return credentials.issue_redemption_code(conn, member_id, max_points, now=now)


def failed_tries(engine, member_id: str) -> int:
    with engine.connect() as conn:
        return credentials.member_security(conn, member_id).failed_tries


@pytest.fixture
def coalition(make_partner):
    """A member enrolled at `home`'s till with 1000 points; `other` is another brand."""
    home = make_partner("home", unverified_spend_limit_points=50)
    other = make_partner("other", unverified_spend_limit_points=50)
    h, o = home.client(max_attempts=1), other.client(max_attempts=1)
    h.partner_id, o.partner_id = home.partner_id, other.partner_id  # for the tests' own queries
    member = h.enroll_member().member
    h.earn(member.member_id, points=1000)
    yield h, o, member
    h.close()
    o.close()


def test_spending_for_a_member_enrolled_elsewhere_needs_verification_and_writes_nothing(engine, coalition,
                                                                                       refused_count):
    home, other, member = coalition
    set_pin(engine, member.member_id)
    before = refused_count("MEMBER_VERIFICATION_REQUIRED")
    for call in (lambda: other.redeem(member.member_id, 10, request_id="x-1"),
                 lambda: other.authorize_redemption(member.member_id, 10, request_id="x-2")):
        nothing_written(engine, call, "MEMBER_VERIFICATION_REQUIRED")
    assert refused_count("MEMBER_VERIFICATION_REQUIRED") == before + 2
    # the same request_id, corrected with the member's PIN, goes through: the refusal used nothing up
    assert other.redeem(member.member_id, 10, request_id="x-1", pin=PIN).points == 10
    assert other.authorize_redemption(member.member_id, 10, request_id="x-2", pin=PIN).points == 10
    with engine.connect() as conn:  # a verified spend enrols as 'spend', never as 'till'
        assert conn.execute(text("SELECT method FROM enrollments WHERE partner_id = :p AND member_id = :m"),
                            {"p": other.partner_id, "m": member.member_id}).scalar_one() == "spend"
    nothing_written(engine, lambda: other.redeem(member.member_id, 1), "MEMBER_VERIFICATION_REQUIRED")


def test_own_till_exception_up_to_the_contract_limit(engine, coalition):
    home, _, member = coalition
    from settlement.grpc_service import terms_message  # GetPartnerPosition's terms: the partner sees its limit

    terms = ContractBook(engine).terms(home.partner_id, datetime.now(timezone.utc))
    assert terms_message(terms).unverified_spend_limit_points == 50
    assert home.redeem(member.member_id, 50).points == 50  # the limit itself
    nothing_written(engine, lambda: home.redeem(member.member_id, 51), "MEMBER_VERIFICATION_REQUIRED")
    nothing_written(engine, lambda: home.authorize_redemption(member.member_id, 51), "MEMBER_VERIFICATION_REQUIRED")
    assert home.authorize_redemption(member.member_id, 50).points == 50


def test_a_contract_without_the_exception_always_needs_verification(engine, make_partner):
    shop = make_partner("strict", unverified_spend_limit_points=0).client(max_attempts=1)  # the default
    member = shop.enroll_member().member
    shop.earn(member.member_id, points=100)
    nothing_written(engine, lambda: shop.redeem(member.member_id, 1), "MEMBER_VERIFICATION_REQUIRED")
    shop.close()


def test_earning_by_card_never_enrols_for_spending(engine, coalition):
    home, other, member = coalition
    found = other.find_member(card_number=member.card_number).member  # a card presented is consent to earn
    other.earn(found.member_id, points=5)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT method FROM enrollments WHERE partner_id = :p AND member_id = :m"),
                            {"p": other.partner_id, "m": member.member_id}).scalar_one() == "earn"
    nothing_written(engine, lambda: other.redeem(member.member_id, 5), "MEMBER_VERIFICATION_REQUIRED")


def test_wrong_pin_is_counted_though_the_spend_writes_nothing(engine, coalition, refused_count):
    _, other, member = coalition
    set_pin(engine, member.member_id)
    before = refused_count("MEMBER_VERIFICATION_FAILED")
    nothing_written(engine, lambda: other.redeem(member.member_id, 10, request_id="w-1", pin=WRONG),
                    "MEMBER_VERIFICATION_FAILED")
    assert failed_tries(engine, member.member_id) == 1 and refused_count("MEMBER_VERIFICATION_FAILED") == before + 1
    assert other.redeem(member.member_id, 10, request_id="w-1", pin=PIN).points == 10
    assert failed_tries(engine, member.member_id) == 0  # a right PIN starts the count again
    # a member without a PIN: every PIN fails (and counts)
    with engine.begin() as conn:
        conn.execute(text("UPDATE member_credentials SET pin_hash = NULL, pin_salt = NULL WHERE member_id = :m"),
                     {"m": member.member_id})
    nothing_written(engine, lambda: other.redeem(member.member_id, 10, pin=PIN), "MEMBER_VERIFICATION_FAILED")


def test_pin_lock_at_exactly_five_failures_across_partners_and_servers(engine, make_partner, coalition,
                                                                       settings, network_signer, refused_count):
    from network.server import start_server

    home, other, member = coalition
    set_pin(engine, member.member_id)
    for _ in range(4):
        nothing_written(engine, lambda: other.redeem(member.member_id, 1, pin=WRONG), "MEMBER_VERIFICATION_FAILED")
    assert other.redeem(member.member_id, 1, pin=PIN).points == 1  # four failures: not locked, and reset
    third = make_partner("third")
    second_server = start_server(engine, settings, address="127.0.0.1:0", signer=network_signer)
    try:
        elsewhere = PartnerClient(f"127.0.0.1:{second_server.port}", third.key_id, third.private_key, max_attempts=1)
        for client in (other, elsewhere, other, elsewhere):  # failures on two servers, two partners
            nothing_written(engine, lambda: client.redeem(member.member_id, 1, pin=WRONG),
                            "MEMBER_VERIFICATION_FAILED")
        before = refused_count("MEMBER_LOCKED")
        nothing_written(engine, lambda: home.redeem(member.member_id, 1, pin=WRONG), "MEMBER_VERIFICATION_FAILED")
        for client in (home, other, elsewhere):  # the fifth locked it: the right PIN is refused everywhere
            refusal = nothing_written(engine, lambda: client.redeem(member.member_id, 100, pin=PIN), "MEMBER_LOCKED")
            assert refusal.metadata["member_id"] == member.member_id and refusal.metadata["locked_until"]
        assert refused_count("MEMBER_LOCKED") >= before + 2  # the second server counts in its own process too
        elsewhere.close()
    finally:
        second_server.stop(0)


def test_pin_lock_ends_after_fifteen_minutes(engine, coalition):
    _, _, member = coalition
    set_pin(engine, member.member_id)
    policy = ConsentPolicy()
    member_id = uuid.UUID(member.member_id)
    t0 = datetime.now(timezone.utc)
    for _ in range(5):
        with pytest.raises(DomainError) as caught:
            consent.verify(engine, member_id, Verification(pin=WRONG), 1, t0, policy)
        assert caught.value.reason == "MEMBER_VERIFICATION_FAILED"
    end = t0 + timedelta(minutes=15)
    with engine.connect() as conn:
        assert credentials.member_security(conn, member_id, now=t0).locked_until == end
    with pytest.raises(DomainError) as caught:
        consent.verify(engine, member_id, Verification(pin=PIN), 1, end - timedelta(microseconds=1), policy)
    assert caught.value.reason == "MEMBER_LOCKED"
    consent.verify(engine, member_id, Verification(pin=PIN), 1, end, policy)  # over at exactly 15 minutes
    with engine.connect() as conn:
        assert credentials.member_security(conn, member_id, now=end).locked_until is None


def test_code_single_use_and_ceiling(engine, coalition):
    _, other, member = coalition
    code = code_for(engine, member.member_id, 40)
    nothing_written(engine, lambda: other.redeem(member.member_id, 41, code=code), "MEMBER_VERIFICATION_FAILED")
    assert other.redeem(member.member_id, 40, code=code).points == 40  # the ceiling itself
    nothing_written(engine, lambda: other.redeem(member.member_id, 1, code=code), "MEMBER_VERIFICATION_FAILED")
    # a code spent on a refused spend is not used up: the refusal rolls its use back
    code = code_for(engine, member.member_id, 5000)
    nothing_written(engine, lambda: other.redeem(member.member_id, 5000, code=code), "INSUFFICIENT_POINTS")
    assert other.authorize_redemption(member.member_id, 30, code=code).points == 30


def test_code_expires_after_five_minutes(engine, coalition):
    _, other, member = coalition
    issued = datetime.now(timezone.utc)
    code = code_for(engine, member.member_id, 10, now=issued)
    member_id, policy = uuid.UUID(member.member_id), ConsentPolicy()
    expiry = issued + timedelta(minutes=5)
    consent.verify(engine, member_id, Verification(code=code), 10, expiry - timedelta(microseconds=1), policy)
    with pytest.raises(DomainError) as caught:
        consent.verify(engine, member_id, Verification(code=code), 10, expiry, policy)
    assert caught.value.reason == "MEMBER_VERIFICATION_FAILED"
    # and inside the spend's transaction: consumed just before the expiry, refused at it
    clock = [expiry]
    ledger = Ledger(engine, ContractBook(engine), point_value_minor=1, network_currency="EUR", shards=16,
                    clock=lambda: clock[0])
    guard = SpendGuard(other.partner_id, Verification(code=code), policy)
    with pytest.raises(DomainError) as caught, engine.begin() as conn:
        ledger.redeem(conn, other.partner_id, member.member_id, 10, SpendRefs(), None, guard)
    assert caught.value.reason == "MEMBER_VERIFICATION_FAILED"
    clock[0] = expiry - timedelta(microseconds=1)
    with engine.begin() as conn:
        assert ledger.redeem(conn, other.partner_id, member.member_id, 10, SpendRefs(), None, guard).points == 10


def test_frozen_card_refused_on_every_server_at_once(engine, coalition, settings, network_signer, make_partner,
                                                     refused_count):
    from network.server import start_server

    home, other, member = coalition
    set_pin(engine, member.member_id)
    second_server = start_server(engine, settings, address="127.0.0.1:0", signer=network_signer)
    try:
        again = make_partner("again")
        far = PartnerClient(f"127.0.0.1:{second_server.port}", again.key_id, again.private_key, max_attempts=1)
        assert far.find_member(card_number=member.card_number).member.member_id == member.member_id
        with engine.begin() as conn:
            credentials.freeze_card(conn, member.card_number, "member", "lost it")
        before = refused_count("CARD_FROZEN")
        for client in (home, other, far):
            refusal = nothing_written(engine, lambda: client.find_member(card_number=member.card_number),
                                      "CARD_FROZEN")
            assert refusal.metadata["card_status"] == "frozen"
            nothing_written(engine, lambda: client.redeem(member.member_id, 10, pin=PIN), "CARD_FROZEN")
        assert refused_count("CARD_FROZEN") >= before + 2
        with engine.begin() as conn:
            credentials.unfreeze_card(conn, member.card_number, "member")
        assert far.redeem(member.member_id, 10, pin=PIN).points == 10
        far.close()
    finally:
        second_server.stop(0)


def test_replaced_card_refused_new_card_keeps_the_balance(engine, coalition):
    home, other, member = coalition
    set_pin(engine, member.member_id)
    balance = home.get_balance(member.member_id).available_points
    with engine.begin() as conn:
        new_card = credentials.replace_card(conn, member.member_id, member.card_number, "ops@test")
    nothing_written(engine, lambda: other.find_member(card_number=member.card_number), "CARD_FROZEN")
    nothing_written(engine, lambda: home.enroll_member(card_number=member.card_number), "CARD_FROZEN")
    found = other.find_member(card_number=new_card).member
    assert found.member_id == member.member_id and found.card_number == new_card
    assert home.get_balance(member.member_id).available_points == balance
    assert other.redeem(found.member_id, balance, pin=PIN).points == balance


def test_frozen_member_cannot_spend_but_earns(engine, coalition):
    home, other, member = coalition
    set_pin(engine, member.member_id)
    with engine.begin() as conn:
        credentials.freeze_member(conn, member.member_id, "ops@test", "fraud check")
    nothing_written(engine, lambda: other.redeem(member.member_id, 10, pin=PIN), "MEMBER_FROZEN")
    nothing_written(engine, lambda: home.redeem(member.member_id, 10), "MEMBER_FROZEN")
    home.earn(member.member_id, points=3)
    with engine.begin() as conn:
        credentials.unfreeze_member(conn, member.member_id, "ops@test")
    assert other.redeem(member.member_id, 10, pin=PIN).points == 10


def test_velocity_limits_at_their_boundaries(engine, make_partner):
    shop = make_partner("velo", unverified_spend_limit_points=10)
    clock = [datetime.now(timezone.utc)]
    ledger = Ledger(engine, ContractBook(engine), point_value_minor=1, network_currency="EUR", shards=16,
                    clock=lambda: clock[0])
    with engine.begin() as conn:
        member = ledger.enroll_member(conn, shop.partner_id, "", "")[0].member_id
        ledger.earn_batch(conn, [(shop.partner_id, EarnItem("v1", member, None, None, 1000))])
    guard = SpendGuard(shop.partner_id, Verification(), ConsentPolicy(member_spends_per_hour=3,
                                                                      member_spends_per_day=4))

    def spend():
        with engine.begin() as conn:
            return ledger.redeem(conn, shop.partner_id, member, 1, SpendRefs(), None, guard)

    for _ in range(3):
        spend()  # the third in the hour is allowed
    with pytest.raises(DomainError) as caught:
        spend()
    assert caught.value.reason == "VELOCITY_LIMIT" and caught.value.metadata["window"] == "hour"
    clock[0] += timedelta(hours=1, seconds=1)
    spend()  # the fourth in the day
    with pytest.raises(DomainError) as caught:
        spend()
    assert caught.value.reason == "VELOCITY_LIMIT" and caught.value.metadata["window"] == "day"
    partner_guard = SpendGuard(shop.partner_id, Verification(), ConsentPolicy(partner_redemptions_per_minute=2))
    clock[0] += timedelta(days=1, minutes=1)
    with engine.begin() as conn:
        other = ledger.enroll_member(conn, shop.partner_id, "", "")[0].member_id
        ledger.earn_batch(conn, [(shop.partner_id, EarnItem("v2", other, None, None, 10))])
    for who in (member, other):
        with engine.begin() as conn:
            ledger.redeem(conn, shop.partner_id, who, 1, SpendRefs(), None, partner_guard)
    with pytest.raises(DomainError) as caught, engine.begin() as conn:
        ledger.redeem(conn, shop.partner_id, member, 1, SpendRefs(), None, partner_guard)
    assert caught.value.reason == "VELOCITY_LIMIT" and caught.value.metadata == {
        "limit": "2", "window": "minute", "partner_id": shop.partner_id}


def test_the_partner_window_holds_spends_younger_than_a_minute_and_forgets_the_rest(engine, make_partner):
    """The partner velocity limit counts the partner's spends in partner_spends: one exactly a minute old is out of
    the window (and taken away by the next spend), one a microsecond younger is in; a refused spend records
    nothing. Spends of every member of the partner count."""
    shop = make_partner("pvw", unverified_spend_limit_points=10)
    start = datetime.now(timezone.utc)
    clock = [start]
    ledger = Ledger(engine, ContractBook(engine), point_value_minor=1, network_currency="EUR", shards=16,
                    clock=lambda: clock[0])
    with engine.begin() as conn:
        members = [ledger.enroll_member(conn, shop.partner_id, "", "")[0].member_id for _ in range(2)]
        ledger.earn_batch(conn, [(shop.partner_id, EarnItem(f"w{i}", m, None, None, 100))
                                 for i, m in enumerate(members)])
    guard = SpendGuard(shop.partner_id, Verification(), ConsentPolicy(member_spends_per_hour=0, member_spends_per_day=0,
                                                                      partner_redemptions_per_minute=2))

    def spend(member, at: timedelta):
        clock[0] = start + at
        with engine.begin() as conn:
            return ledger.redeem(conn, shop.partner_id, member, 1, SpendRefs(), None, guard)

    def window() -> list[timedelta]:
        with engine.connect() as conn:
            return [at - start for at in conn.execute(text(
                "SELECT spent_at FROM partner_spends WHERE partner_id = :p ORDER BY spent_at"),
                {"p": shop.partner_id}).scalars()]

    spend(members[0], timedelta(0))
    spend(members[1], timedelta(seconds=30))
    with pytest.raises(DomainError) as caught:
        spend(members[0], timedelta(minutes=1) - timedelta(microseconds=1))  # both still inside the minute
    assert caught.value.reason == "VELOCITY_LIMIT" and caught.value.metadata["window"] == "minute"
    assert window() == [timedelta(0), timedelta(seconds=30)]  # the refused spend recorded nothing
    spend(members[0], timedelta(minutes=1))  # the first is a minute old: out, and taken away
    assert window() == [timedelta(seconds=30), timedelta(minutes=1)]
    with pytest.raises(DomainError):
        spend(members[1], timedelta(minutes=1))


def test_the_contract_default_is_no_unverified_spending():
    from network import admin
    from network.core.terms import ContractTerms

    assert admin.ContractDraft().unverified_spend_limit_points == 0
    assert ContractTerms.__dataclass_fields__["unverified_spend_limit_points"].default == 0


def test_a_verified_spend_replays_without_verifying_again(engine, coalition):
    _, other, member = coalition
    set_pin(engine, member.member_id)
    first = other.redeem(member.member_id, 10, request_id="replay-1", pin=PIN)
    with engine.begin() as conn:  # even after the PIN changed, the answered request is its stored answer
        credentials.set_pin(conn, member.member_id, "1357", params=FAST)
    assert other.redeem(member.member_id, 10, request_id="replay-1", pin=PIN).transaction_id == first.transaction_id
    assert failed_tries(engine, member.member_id) == 0


def test_the_guard_never_takes_a_pin_on_trust(engine, coalition):
    """A PIN the servicer did not verify (pin_verified False) counts for nothing inside the transaction."""
    _, other, member = coalition
    ledger = Ledger(engine, ContractBook(engine), point_value_minor=1, network_currency="EUR", shards=16)
    guard = SpendGuard(other.partner_id, Verification(pin=WRONG), ConsentPolicy())
    with pytest.raises(DomainError) as caught, engine.begin() as conn:
        ledger.redeem(conn, other.partner_id, member.member_id, 10, SpendRefs(), None, guard)
    assert caught.value.reason == "MEMBER_VERIFICATION_REQUIRED"


def test_concurrent_wrong_pins_count_one_by_one_and_lock_once(engine, coalition):
    from concurrent.futures import ThreadPoolExecutor

    _, _, member = coalition
    set_pin(engine, member.member_id)
    member_id, now, policy = uuid.UUID(member.member_id), datetime.now(timezone.utc), ConsentPolicy()

    def wrong(_: int) -> str:
        try:
            consent.verify(engine, member_id, Verification(pin=WRONG), 1, now, policy)
        except DomainError as exc:
            return exc.reason
        return "accepted"

    with ThreadPoolExecutor(8) as pool:
        reasons = list(pool.map(wrong, range(8)))
    assert set(reasons) <= {"MEMBER_VERIFICATION_FAILED", "MEMBER_LOCKED"} and "accepted" not in reasons
    with engine.connect() as conn:
        security = credentials.member_security(conn, member_id, now=now)
    assert security.locked_until == now + timedelta(minutes=15) and security.failed_tries == 0
