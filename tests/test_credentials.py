"""The store API of member credentials and card safety (network.store.credentials): PIN rules, one-time codes,
freezing and replacing cards, freezing members, member_security."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from network import errors
from network.core.consent import pin_problem
from network.core.members import valid_card_number
from network.errors import DomainError, InvalidPin
from network.store import credentials
from network.store.contracts import ContractBook
from network.store.ledger import Ledger

FAST = credentials.ScryptParams(2**10, 8, 1)  # a cheap hash for tests of the rules, not of the cost
NOW = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)


def test_a_new_card_number_is_16_digits_from_7_with_its_check_digit_and_random():
    """The one generator enrolment, the demo and card replacement share (replacement also skips taken numbers)."""
    cards = {credentials.new_card_number() for _ in range(200)}
    assert len(cards) == 200  # 14 random digits: a repeat in 200 would be a broken source
    for card in cards:
        assert len(card) == 16 and card[0] == "7" and valid_card_number(card)


@pytest.fixture
def member(engine, make_partner):
    shop = make_partner("cred")
    ledger = Ledger(engine, ContractBook(engine), point_value_minor=1, network_currency="EUR", shards=16)
    with engine.begin() as conn:
        view = ledger.enroll_member(conn, shop.partner_id, "", "")[0]
    return view


@pytest.mark.parametrize("pin", ["123", "123456789", "1111", "00000000", "1234", "4321", "0123", "7890", "98765",
                                 "12a4", "", "\u0661\u0662\u0663\u0665", " 2580"])
def test_pin_rule_refuses(pin):
    assert pin_problem(pin) is not None


@pytest.mark.parametrize("pin", ["2580", "1235", "11112", "13579", "90817263", "1243"])
def test_pin_rule_accepts(pin):
    assert pin_problem(pin) is None


def test_bad_pin_is_a_value_error_and_writes_nothing(engine, member):
    with pytest.raises(InvalidPin) as caught, engine.begin() as conn:
        credentials.set_pin(conn, member.member_id, "1234", params=FAST)
    assert isinstance(caught.value, ValueError) and "sequence" in str(caught.value)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM member_credentials WHERE member_id = :m"),
                            {"m": member.member_id}).scalar_one() == 0


def test_set_pin_stores_a_salted_scrypt_hash_and_the_parameters(engine, member):
    with engine.begin() as conn:
        credentials.set_pin(conn, member.member_id, "2580", params=FAST)
        row = conn.execute(text("SELECT pin_hash, pin_salt, pin_params FROM member_credentials WHERE member_id = :m"),
                           {"m": member.member_id}).one()
    assert row.pin_params == "scrypt$1024$8$1" and len(row.pin_salt) == credentials.SALT_BYTES
    assert b"2580" not in bytes(row.pin_hash)
    assert credentials.pin_matches("2580", bytes(row.pin_hash), bytes(row.pin_salt), row.pin_params)
    assert not credentials.pin_matches("2581", bytes(row.pin_hash), bytes(row.pin_salt), row.pin_params)
    with engine.connect() as conn:
        assert credentials.member_security(conn, member.member_id).pin_set


def test_unknown_member_is_refused(engine):
    with pytest.raises(DomainError) as caught, engine.begin() as conn:
        credentials.set_pin(conn, "0192f5b8-5c4e-7cc1-9e5f-2a1d3c4b5a69", "2580", params=FAST)
    assert caught.value.reason == "MEMBER_NOT_FOUND"


def test_redemption_code_is_stored_as_a_hash_with_ceiling_and_five_minutes(engine, member):
    with engine.begin() as conn:
        code = credentials.issue_redemption_code(conn, member.member_id, 300, now=NOW)
        row = conn.execute(text("SELECT code_hash, max_points, expires_at FROM redemption_codes WHERE member_id = :m"),
                           {"m": member.member_id}).one()
    assert len(code) == credentials.CODE_DIGITS and code.isdigit()
    assert code.encode() not in bytes(row.code_hash)
    assert row.max_points == 300 and row.expires_at == NOW + timedelta(minutes=5)
    with pytest.raises(DomainError) as caught, engine.begin() as conn:
        credentials.issue_redemption_code(conn, member.member_id, 0)
    assert caught.value.reason == "INVALID_ARGUMENT"


def test_freeze_unfreeze_replace_card_and_member(engine, member):
    old = member.card_number
    with engine.begin() as conn:
        credentials.freeze_card(conn, old, "ops@test", "lost")
        assert [c.status for c in credentials.member_security(conn, member.member_id).cards] == ["frozen"]
        credentials.unfreeze_card(conn, old, "ops@test")
        new = credentials.replace_card(conn, member.member_id, old, "ops@test")
        security = credentials.member_security(conn, member.member_id)
        assert {c.card_number: c.status for c in security.cards} == {old: "replaced", new: "active"}
        assert conn.execute(text("SELECT card_number FROM members WHERE member_id = :m"),
                            {"m": member.member_id}).scalar_one() == new
        credentials.freeze_member(conn, member.member_id, "ops@test", "fraud check")
        assert credentials.member_security(conn, member.member_id).frozen
        actions = [r.action for r in conn.execute(text(
            "SELECT action FROM operator_actions WHERE operator = 'ops@test' AND (subject = :c OR subject = :m) "
            "ORDER BY action_id"), {"c": old, "m": member.member_id})]
    assert actions == ["card.freeze", "card.unfreeze", "card.replace", "member.freeze"]
    assert new != old and len(new) == 16
    for action in (lambda c: credentials.freeze_card(c, old, "ops@test", "again"),
                   lambda c: credentials.replace_card(c, member.member_id, old, "ops@test")):
        with pytest.raises(DomainError) as caught, engine.begin() as conn:
            action(conn)
        assert caught.value.reason == "CARD_REPLACED"
    with pytest.raises(DomainError) as caught, engine.begin() as conn:
        credentials.freeze_card(conn, "4000000000000002", "ops@test", "?")
    assert caught.value.reason == "CARD_NOT_FOUND"
    with engine.begin() as conn:
        credentials.unfreeze_member(conn, member.member_id, "ops@test")
        assert not credentials.member_security(conn, member.member_id).frozen


def test_actor_is_required(engine, member):
    with pytest.raises(DomainError), engine.begin() as conn:
        credentials.freeze_member(conn, member.member_id, " ", "no one")


def test_errors_module_names_the_pin_error():
    assert issubclass(errors.InvalidPin, ValueError)


def test_an_enrolment_writes_its_card_and_verify_finds_a_member_whose_card_does_not_find_it(engine, member):
    """The code writes a new member's cards row (no trigger since migration 0023). `ledger verify`'s card check
    fails on each way a member's current card can stop finding it: no row, another member's row, a replaced row;
    a frozen current card is still the member's."""
    from network.store.verify import check_member_cards

    with engine.connect() as conn:
        assert conn.execute(text("SELECT member_id::text, status FROM cards WHERE card_number = :c"),
                            {"c": member.card_number}).one() == (member.member_id, "active")
        assert check_member_cards(conn).ok
    other = uuid.uuid4()
    broken = {"frozen": ("UPDATE cards SET status = 'frozen' WHERE card_number = :c", True),
              "replaced": ("UPDATE cards SET status = 'replaced' WHERE card_number = :c", False),
              "no row": ("DELETE FROM cards WHERE card_number = :c", False),
              "another member's": ("UPDATE cards SET member_id = :o WHERE card_number = :c", False)}
    for name, (statement, ok) in broken.items():
        with engine.connect() as conn:
            conn.execute(text("ALTER TABLE cards DROP CONSTRAINT cards_member_id_fkey"))
            conn.execute(text(statement), {"c": member.card_number, "o": other})
            found = check_member_cards(conn)
            conn.rollback()
        assert found.ok is ok, name
        if not ok:
            assert found.examples and found.examples[0].startswith(f"member {member.member_id}: card "), found
