"""Operators freeze and unfreeze a member or a card, and replace a lost card, from the CLI (`coalition members`):
recorded in operator_actions, in force at the next spend on every server."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from partners import errors

pytestmark = pytest.mark.usefixtures("verified_ledger")


def actions(engine, subject: str) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT operator, action FROM operator_actions WHERE subject = :s ORDER BY action_id"), {"s": subject})]


def test_freeze_unfreeze_and_replace_from_the_cli(cli, engine, make_partner, member_pin):
    shop = make_partner("frz")
    with shop.client(max_attempts=1) as client:
        member = client.enroll_member().member
        client.earn(member.member_id, points=100)
        pin = member_pin(member.member_id)
        result = cli("members", "freeze", member.member_id, "--reason", "chargeback", "--operator", "alice")
        assert result.exit_code == 0, result.output
        with pytest.raises(errors.FailedPrecondition) as refused:
            client.redeem(member.member_id, 10, pin=pin)
        assert refused.value.reason == "MEMBER_FROZEN"
        assert cli("members", "unfreeze", member.member_id, "--operator", "alice").exit_code == 0
        assert client.redeem(member.member_id, 10, pin=pin).points == 10
        assert actions(engine, member.member_id) == [("alice", "member.freeze"), ("alice", "member.unfreeze")]

        assert cli("members", "freeze", "--card", member.card_number, "--reason", "lost").exit_code == 0
        with pytest.raises(errors.FailedPrecondition) as refused:
            client.redeem(member.member_id, 10, pin=pin)
        assert refused.value.reason == "CARD_FROZEN"
        result = cli("members", "replace-card", member.member_id, member.card_number, "--operator", "bob")
        assert result.exit_code == 0, result.output
        new_card = re.search(r"replaced by (\d+)", result.output)[1]
        assert client.find_member(card_number=new_card).member.member_id == member.member_id
        assert client.redeem(member.member_id, 90, pin=pin).points == 90  # the balance moved with the member
        assert actions(engine, member.card_number) == [("cli", "card.freeze"), ("bob", "card.replace")]


def test_refused_member_commands_exit_2_and_write_nothing(cli, engine):
    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM operator_actions")).scalar_one()
    unknown = cli("members", "freeze", "0192f5b8-5c4e-7cc1-9e5f-2a1d3c4b5a69", "--reason", "x")
    assert unknown.exit_code == 2 and "MEMBER_NOT_FOUND" in unknown.output
    no_card = cli("members", "replace-card", "0192f5b8-5c4e-7cc1-9e5f-2a1d3c4b5a69", "4000000000000002")
    assert no_card.exit_code == 2 and "CARD_NOT_FOUND" in no_card.output
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM operator_actions")).scalar_one() == before


def test_contract_cli_sets_the_unverified_spend_limit(cli, engine, make_partner):
    shop = make_partner("lim")
    result = cli("partner", "contract", shop.partner_id, "--unverified-spend-limit-points", "25")
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        assert conn.execute(text("SELECT unverified_spend_limit_points FROM contracts WHERE partner_id = :p "
                                 "ORDER BY version DESC LIMIT 1"), {"p": shop.partner_id}).scalar_one() == 25
    bad = cli("partner", "contract", shop.partner_id, "--unverified-spend-limit-points", "-1")
    assert bad.exit_code == 2 and "unverified_spend_limit_points" in bad.output
