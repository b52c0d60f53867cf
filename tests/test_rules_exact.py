"""network.core.rules to the exact outcome: every refusal compared whole (kind, reason, message, field, metadata),
and the one-unit edges of each rule. Written to kill the mutants `coalition mutate` found surviving."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from network.core import rules
from network.core.ledger import MAX_POINTS_PER_CALL, Allocation, LotBalance
from network.core.rules import INVALID, PRECONDITION, Refusal

from tests.test_core_rules import NOW, terms  # one contract-terms builder for both files of rule tests


def test_refusal_kinds_and_defaults():
    assert (INVALID, PRECONDITION) == ("invalid", "precondition")
    assert Refusal("k", "R", "m") == Refusal("k", "R", "m", "", ())


# --- earn ----------------------------------------------------------------------------------------------------

def test_unknown_currency_is_refused_naming_the_field():
    assert rules.points_for_earn(terms(), 1000, "XYZ", None) == Refusal(
        INVALID, "INVALID_ARGUMENT", "XYZ is not a currency the network accepts", "purchase.currency", ())


def test_a_purchase_that_earns_nothing_is_refused_naming_the_amount():
    expected = Refusal(INVALID, "INVALID_ARGUMENT", "the purchase earns no points under the contract",
                       "purchase.amount_minor", ())
    assert rules.points_for_earn(terms(), 99, "EUR", None) == expected
    assert rules.points_for_earn(terms(), None, None, 0) == Refusal(
        INVALID, "INVALID_ARGUMENT", f"must be between 1 and {MAX_POINTS_PER_CALL}", "points", ())
    assert rules.points_for_earn(terms(), 100, "EUR", None) == 1
    assert rules.points_for_earn(terms(), None, None, 1) == 1


def test_a_purchase_in_another_currency_than_the_contracts_is_refused_exactly():
    assert rules.currency_refusal(terms(), "EUR", "purchase.currency") is None
    assert rules.currency_refusal(terms(), "USD", "purchase.currency") == Refusal(
        PRECONDITION, "CURRENCY_NOT_ACCEPTED", "purchase.currency is in USD; partner shop's contract is in EUR", "",
        (("partner_id", "shop"), ("currency", "USD"), ("contract_currency", "EUR")))
    assert rules.currency_refusal(terms(), "XYZ", "basket.currency") == Refusal(
        INVALID, "INVALID_ARGUMENT", "XYZ is not a currency the network accepts", "basket.currency", ())


def test_points_per_call_exactly_at_the_maximum_and_one_past():
    assert rules.points_for_earn(terms(), None, None, MAX_POINTS_PER_CALL) == MAX_POINTS_PER_CALL
    assert rules.points_for_earn(terms(), None, None, MAX_POINTS_PER_CALL + 1) == Refusal(
        INVALID, "INVALID_ARGUMENT",
        f"earns {MAX_POINTS_PER_CALL + 1} points, more than {MAX_POINTS_PER_CALL} per call",
        "points", ())


@pytest.mark.parametrize("amount, currency", [(None, "EUR"), (100, None)])
def test_a_purchase_needs_both_amount_and_currency(amount, currency):
    with pytest.raises(AssertionError):
        rules.points_for_earn(terms(), amount, currency, None)


def test_a_one_second_return_window_makes_the_lot_pending():
    lot = rules.new_lot(terms(return_window_seconds=1, expiry_days=1), NOW)
    assert lot == rules.NewLot("pending", NOW + timedelta(seconds=1), NOW + timedelta(days=1))
    assert rules.new_lot(terms(), NOW) == rules.NewLot("active", NOW, None)


def test_credit_limit_refusal_is_exact():
    limited = terms(credit_limit_minor=100, collateral_minor=20)
    assert rules.credit_limit_refusal(limited, 120, Decimal(1)) is None
    assert rules.credit_limit_refusal(limited, 121, Decimal(1)) == Refusal(
        PRECONDITION, "CREDIT_LIMIT_EXCEEDED", "partner shop exposure would reach 101 minor units, limit 100", "",
        (("partner_id", "shop"),))


# --- spending ------------------------------------------------------------------------------------------------

def test_basket_cap_refusals_are_exact():
    capped = terms(max_basket_share_bps=5000)
    assert rules.basket_cap_refusal(capped, 10, None, Decimal(1)) == Refusal(
        INVALID, "INVALID_ARGUMENT",
        "this partner's contract caps the basket share payable with points: send the basket amount", "basket", ())
    # the cap is floored: 50% of 999 is 499 (499.5 floored), and 500 is past it
    assert rules.basket_cap_refusal(capped, 499, 999, Decimal(1)) is None
    assert rules.basket_cap_refusal(capped, 500, 999, Decimal(1)) == Refusal(
        PRECONDITION, "BASKET_CAP_EXCEEDED",
        "points worth 500 minor units exceed the cap of 499 (50.00% of the basket)",
        "", ())
    assert rules.basket_cap_refusal(terms(max_basket_share_bps=1234), 200, 1000, Decimal(1)).message == \
        "points worth 200 minor units exceed the cap of 123 (12.34% of the basket)"


def lot(remaining: int = 10, *, state: str = "active", available_in: int = 0, expires_in: int | None = None,
        lot_id: str = "l1") -> rules.Lot:
    expires = NOW + timedelta(seconds=expires_in) if expires_in is not None else None
    return rules.Lot(lot_id, "issuer-" + lot_id, state, remaining, NOW + timedelta(seconds=available_in), expires,
                     NOW - timedelta(days=1))


def test_a_lot_with_one_point_left_is_spendable_and_one_with_none_is_not():
    assert rules.is_spendable(lot(1), NOW)
    assert not rules.is_spendable(lot(0), NOW)


def test_spendable_lots_carry_every_field_of_the_lot():
    expiring = lot(7, expires_in=60)
    assert rules.spendable_lots([expiring, lot(5, state="pending", available_in=1, lot_id="l2")], NOW) == [
        LotBalance("l1", "issuer-l1", 7, NOW + timedelta(seconds=60), NOW - timedelta(days=1))]
    # `now` decides: the pending lot becomes spendable at its available_at, the expiring one stops at its expiry
    later = NOW + timedelta(seconds=60)
    assert [b.lot_id for b in rules.spendable_lots([expiring, lot(5, state="pending", available_in=1, lot_id="l2")],
                                                   later)] == ["l2"]


# --- holds ---------------------------------------------------------------------------------------------------

def test_capture_refusals_are_exact():
    expires = NOW + timedelta(seconds=60)
    allocations = [Allocation("l1", "a", 10)]
    assert rules.plan_capture("h1", 10, expires, allocations, 0, expires) == Refusal(
        PRECONDITION, "HOLD_EXPIRED", f"hold h1 expired at {expires.isoformat()}", "", (("hold_id", "h1"),))
    assert rules.plan_capture("h1", 10, expires, allocations, 11, NOW) == Refusal(
        PRECONDITION, "CAPTURE_EXCEEDS_HOLD", "capture of 11 exceeds the hold of 10", "", (("hold_id", "h1"),))


# --- reversals -----------------------------------------------------------------------------------------------

def test_not_reversible_is_exact():
    assert rules.not_reversible("expire", "tx1") == Refusal(
        PRECONDITION, "NOT_REVERSIBLE", "a expire transaction cannot be reversed", "", (("transaction_id", "tx1"),))
    assert all(rules.not_reversible(kind, "tx1") is None for kind in ("earn", "redeem", "capture"))


def test_earn_reversal_refusals_are_exact():
    assert rules.plan_earn_reversal("tx1", 10, 10, 11) == Refusal(
        PRECONDITION, "EXCEEDS_REVERSIBLE", "11 points requested, 10 reversible", "", (("transaction_id", "tx1"),))
    assert rules.plan_earn_reversal("tx1", 10, 4, 5) == Refusal(
        PRECONDITION, "POINTS_ALREADY_SPENT", "4 of this earn's points are still unspent, 5 requested", "",
        (("transaction_id", "tx1"),))


def test_redemption_reversal_refusal_is_exact():
    consumed = [Allocation("l1", "a", 3), Allocation("l2", "b", 2)]
    assert rules.plan_redemption_reversal("tx1", consumed, 6) == Refusal(
        PRECONDITION, "EXCEEDS_REVERSIBLE", "6 points requested, 5 reversible", "", (("transaction_id", "tx1"),))
    assert rules.plan_redemption_reversal("tx1", [], 0) == Refusal(
        PRECONDITION, "EXCEEDS_REVERSIBLE", "0 points requested, 0 reversible", "", (("transaction_id", "tx1"),))
