"""network.core's rules without a database: each at its boundaries (exactly at a limit, one past it)."""

from __future__ import annotations

import ast
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import grpc
from hypothesis import given
from hypothesis import strategies as st

from network.core import rules
from network.core.ledger import MAX_POINTS_PER_CALL, Allocation
from network.core.members import luhn_check_digit, shard_of, valid_card_number
from network.core.rules import Refusal
from network.core.terms import BASIS_POINTS, ContractTerms, in_force
from network.errors import from_refusal

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def terms(**changes) -> ContractTerms:
    base = ContractTerms(contract_id=1, partner_id="shop", version=1, effective_from=NOW - timedelta(days=1),
                         earn_points_per_major=Decimal(1), settlement_model="issuer_pays", clearing_fee_bps=0,
                         issue_price_minor_per_point=Decimal(0), redemption_rate_minor_per_point=Decimal(0),
                         breakage_share_bps=0, return_window_seconds=0, expiry_days=0,
                         max_basket_share_bps=BASIS_POINTS, credit_limit_minor=None, collateral_minor=0,
                         currency="EUR")
    return replace(base, **changes)


# --- the core is pure -----------------------------------------------------------------------------------------

def test_core_imports_only_the_standard_library_and_itself():
    core = Path(__file__).resolve().parents[1] / "network" / "core"
    for path in core.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                top = name.split(".")[0]
                assert name.startswith("network.core") or top in {"__future__", "bisect", "dataclasses", "datetime",
                                                                   "decimal", "functools", "hashlib", "hmac", "json",
                                                                   "re", "struct", "typing", "urllib", "uuid"}, \
                    f"{path.name} imports {name}"


# --- contract in force ----------------------------------------------------------------------------------------

def test_in_force_at_and_just_before_a_new_version():
    v1 = terms(version=1, effective_from=NOW - timedelta(days=10))
    v2 = terms(version=2, effective_from=NOW)
    v3 = terms(version=3, effective_from=NOW)  # same instant: the higher version wins
    history = [v1, v2, v3]
    assert in_force(history, NOW - timedelta(days=11)) is None
    assert in_force(history, NOW - timedelta(microseconds=1)) is v1
    assert in_force(history, NOW) is v3
    assert in_force([], NOW) is None


# --- earn -----------------------------------------------------------------------------------------------------

def test_points_for_a_purchase_are_floored_and_at_least_one():
    assert rules.points_for_earn(terms(earn_points_per_major=Decimal(2)), 1999, "EUR", None) == 39
    refusal = rules.points_for_earn(terms(earn_points_per_major=Decimal(1)), 99, "EUR", None)
    assert isinstance(refusal, Refusal) and refusal.field == "purchase.amount_minor"
    assert rules.points_for_earn(terms(earn_points_per_major=Decimal(1)), 100, "EUR", None) == 1
    assert rules.points_for_earn(terms(), None, None, 7) == 7
    unknown = rules.points_for_earn(terms(), 100, "XYZ", None)
    assert isinstance(unknown, Refusal) and unknown.field == "purchase.currency"


def test_new_lot_pending_for_the_return_window_and_expiring_after_expiry_days():
    lot = rules.new_lot(terms(return_window_seconds=3600, expiry_days=30), NOW)
    assert (lot.state, lot.available_at, lot.expires_at) == ("pending", NOW + timedelta(hours=1), NOW + timedelta(days=30))
    lot = rules.new_lot(terms(), NOW)
    assert (lot.state, lot.available_at, lot.expires_at) == ("active", NOW, None)


# --- credit limit ---------------------------------------------------------------------------------------------

def test_credit_limit_exactly_at_is_accepted_one_past_is_refused():
    limited = terms(credit_limit_minor=1000, collateral_minor=200)  # point value 1: exposure = points - 200
    assert rules.credit_limit_refusal(limited, 1200, Decimal(1)) is None
    refusal = rules.credit_limit_refusal(limited, 1201, Decimal(1))
    assert refusal is not None and refusal.reason == "CREDIT_LIMIT_EXCEEDED"
    assert rules.credit_limit_refusal(terms(), 10**12, Decimal(1)) is None  # no limit


def test_credit_limits_count_earlier_accepted_earns_of_the_group():
    limited = terms(credit_limit_minor=100)
    other = terms(partner_id="other")
    earns = [rules.EarnRequest(limited, 60), rules.EarnRequest(other, 10**9), rules.EarnRequest(limited, 41),
             rules.EarnRequest(limited, 40)]
    decisions = rules.apply_credit_limits(earns, {"shop": 0}, Decimal(1))
    assert [d is None for d in decisions] == [True, True, False, True]  # 60 + 41 > 100; 60 + 40 fits


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6))
def test_exposure_is_money_less_collateral(outstanding, collateral, limit):
    limited = terms(credit_limit_minor=limit, collateral_minor=collateral)
    refused = rules.credit_limit_refusal(limited, outstanding, Decimal(1)) is not None
    assert refused == (outstanding - collateral > limit)


# --- basket cap -----------------------------------------------------------------------------------------------

def test_basket_cap_exactly_at_and_one_past():
    capped = terms(max_basket_share_bps=5000)  # half the basket
    assert rules.basket_cap_refusal(capped, 500, 1000, Decimal(1)) is None
    refusal = rules.basket_cap_refusal(capped, 501, 1000, Decimal(1))
    assert refusal is not None and refusal.reason == "BASKET_CAP_EXCEEDED"
    missing = rules.basket_cap_refusal(capped, 1, None, Decimal(1))
    assert missing is not None and missing.kind == rules.INVALID and missing.field == "basket"
    assert rules.basket_cap_refusal(terms(), 10**9, None, Decimal(1)) is None  # 100%: no cap, no basket needed


# --- spend eligibility ----------------------------------------------------------------------------------------

def spend_lot(state: str, available_in: timedelta = timedelta(0), expires_in: timedelta | None = None,
              remaining: int = 10) -> rules.Lot:
    return rules.Lot("l", "shop", state, remaining, NOW + available_in, NOW + expires_in if expires_in is not None else None,
                     NOW - timedelta(days=1))


def test_pending_and_expired_lots_are_never_spendable():
    assert not rules.is_spendable(spend_lot("pending", available_in=timedelta(seconds=1)), NOW)
    assert rules.is_spendable(spend_lot("pending", available_in=timedelta(0)), NOW)  # window over: due
    assert not rules.is_spendable(spend_lot("active", expires_in=timedelta(0)), NOW)  # expired, not yet swept
    assert rules.is_spendable(spend_lot("active", expires_in=timedelta(microseconds=1)), NOW)
    assert not rules.is_spendable(spend_lot("active", remaining=0), NOW)
    assert not rules.is_spendable(spend_lot("expired"), NOW)
    assert not rules.is_spendable(spend_lot("reversed"), NOW)
    assert [lot.lot_id for lot in rules.spendable_lots([spend_lot("active"), spend_lot("expired")], NOW)] == ["l"]


# --- holds and capture ----------------------------------------------------------------------------------------

def test_hold_lifetime_defaults_and_lapses_at_its_expiry():
    assert rules.hold_expires_at(NOW, 0) == NOW + timedelta(seconds=rules.DEFAULT_HOLD_TTL)
    assert rules.hold_expires_at(NOW, 60) == NOW + timedelta(seconds=60)
    assert not rules.hold_lapsed(NOW + timedelta(microseconds=1), NOW)
    assert rules.hold_lapsed(NOW, NOW)


def test_capture_takes_at_most_the_hold_in_order_and_releases_the_rest():
    allocations = [Allocation("a", "x", 30), Allocation("b", "y", 20)]
    capture = rules.plan_capture("h", 50, NOW + timedelta(minutes=1), allocations, 40, NOW)
    assert isinstance(capture, rules.Capture)
    assert (capture.points, capture.released_points) == (40, 10)
    assert [(a.lot_id, a.points) for a in capture.captured] == [("a", 30), ("b", 10)]
    assert [(a.lot_id, a.points) for a in capture.released] == [("b", 10)]
    whole = rules.plan_capture("h", 50, NOW + timedelta(minutes=1), allocations, 0, NOW)
    assert isinstance(whole, rules.Capture) and (whole.points, whole.released_points) == (50, 0)
    over = rules.plan_capture("h", 50, NOW + timedelta(minutes=1), allocations, 51, NOW)
    assert isinstance(over, Refusal) and over.reason == "CAPTURE_EXCEEDS_HOLD"
    lapsed = rules.plan_capture("h", 50, NOW, allocations, 10, NOW)
    assert isinstance(lapsed, Refusal) and lapsed.reason == "HOLD_EXPIRED"


# --- reversals ------------------------------------------------------------------------------------------------

def test_earn_reversal_bounded_by_reversible_and_unspent_points():
    assert rules.plan_earn_reversal("t", 100, 100, 0) == rules.EarnReversal(100, 0, 0)
    # 40 of the lot's 100 points spent: after taking back 60, 40 stay reversible on paper but none can be now
    assert rules.plan_earn_reversal("t", 100, 60, 60) == rules.EarnReversal(60, 40, 0)
    spent = rules.plan_earn_reversal("t", 100, 60, 61)
    assert isinstance(spent, Refusal) and spent.reason == "POINTS_ALREADY_SPENT"
    over = rules.plan_earn_reversal("t", 100, 100, 101)
    assert isinstance(over, Refusal) and over.reason == "EXCEEDS_REVERSIBLE"
    for requested in (0, 1):  # an earn reversed in full: nothing left, whether the points are named or not
        done = rules.plan_earn_reversal("t", 0, 0, requested)
        assert isinstance(done, Refusal) and done.reason == "EXCEEDS_REVERSIBLE"
    assert rules.not_reversible("earn", "t") is None
    assert rules.not_reversible("expire", "t").reason == "NOT_REVERSIBLE"


def test_remaining_reversible_is_what_can_be_reversed_now():
    # earned 160, the member spent 120: 40 unspent. Taking back 10 leaves 30 reversible now (not 150)
    assert rules.plan_earn_reversal("t", 160, 40, 10) == rules.EarnReversal(10, 150, 30)
    assert rules.plan_earn_reversal("t", 150, 30, 30) == rules.EarnReversal(30, 120, 0)
    # "all" (0) means all 150 reversible points, more than the 30 unspent: refused, not cut down
    assert rules.plan_earn_reversal("t", 150, 30, 0).reason == "POINTS_ALREADY_SPENT"
    # after a reversal gave 120 spent points back to the lot, all that is left is reversible again
    assert rules.plan_earn_reversal("t", 120, 120, 20) == rules.EarnReversal(20, 100, 100)
    assert rules.not_reversible("expire", "t").reason == "NOT_REVERSIBLE"


@given(st.lists(st.integers(0, 1000), min_size=1, max_size=8), st.data())
def test_redemption_reversal_is_proportional_and_exact(parts, data):
    consumed = [Allocation(f"l{i}", "x", p) for i, p in enumerate(parts)]
    whole = sum(parts)
    requested = data.draw(st.integers(0, whole + 1))
    plan = rules.plan_redemption_reversal("t", consumed, requested)
    if whole == 0 or requested > whole:
        assert isinstance(plan, Refusal) and plan.reason == "EXCEEDS_REVERSIBLE"
        return
    points = requested or whole
    assert isinstance(plan, rules.RedemptionReversal)
    assert (plan.points, plan.left) == (points, whole - points)
    assert sum(s.points for s in plan.shares) == points
    by_lot = {a.lot_id: a.points for a in consumed}
    for share in plan.shares:
        exact = Decimal(by_lot[share.lot_id] * points) / whole
        assert abs(share.points - exact) < 1  # largest remainder: each share within one point of its exact share


# --- idempotency ----------------------------------------------------------------------------------------------

def test_idempotency_replays_the_same_call_and_refuses_any_other_use_of_the_key():
    stored = rules.StoredAnswer("Earn", b"h", b"response")
    assert rules.idempotency_decision("r", "Earn", b"h", None) == rules.NewRequest()
    assert rules.idempotency_decision("r", "Earn", b"h", stored) == rules.Replay(b"response")
    assert rules.idempotency_decision("r", "Earn", b"other", stored) == rules.KeyReused("r")
    assert rules.idempotency_decision("r", "Redeem", b"h", stored) == rules.KeyReused("r")
    unanswered = rules.StoredAnswer("Earn", b"h", None)
    assert rules.idempotency_decision("r", "Earn", b"h", unanswered) == rules.KeyReused("r")


# --- members --------------------------------------------------------------------------------------------------

def test_card_numbers_need_12_to_19_digits_and_a_valid_check_digit():
    body = "7" * 11
    card = body + luhn_check_digit(body)
    assert valid_card_number(card)
    assert not valid_card_number(card[:-1] + str((int(card[-1]) + 1) % 10))
    assert not valid_card_number(body[:10] + luhn_check_digit(body[:10]))  # 11 digits
    long_body = "7" * 18
    assert valid_card_number(long_body + luhn_check_digit(long_body))
    longer = "7" * 19
    assert not valid_card_number(longer + luhn_check_digit(longer))  # 20 digits
    assert luhn_check_digit("7992739871") == "3"  # the textbook example


@given(st.uuids(), st.integers(1, 64))
def test_shard_is_stable_and_in_range(member_id, shards):
    assert 0 <= shard_of(member_id, shards) < shards
    assert shard_of(member_id, shards) == shard_of(member_id, shards)


def test_refusals_map_to_domain_errors():
    invalid = from_refusal(Refusal(rules.INVALID, "INVALID_ARGUMENT", "why", "basket"))
    assert (invalid.code, invalid.reason, invalid.field_violations) == (
        grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT", [("basket", "why")])
    refused = from_refusal(Refusal(rules.PRECONDITION, "HOLD_EXPIRED", "why", metadata=(("hold_id", "h"),)))
    assert (refused.code, refused.reason, refused.metadata) == (
        grpc.StatusCode.FAILED_PRECONDITION, "HOLD_EXPIRED", {"hold_id": "h"})


def test_points_per_call_are_bounded_whatever_their_source():
    bound = MAX_POINTS_PER_CALL
    ten = terms(earn_points_per_major=Decimal(10))
    assert rules.points_for_earn(ten, 10**10 + 9, "EUR", None) == bound
    over = rules.points_for_earn(ten, 10**10 + 10, "EUR", None)
    assert isinstance(over, Refusal) and (over.kind, over.field) == (rules.INVALID, "purchase.amount_minor")
    assert rules.points_for_earn(terms(), None, None, bound) == bound
    given = rules.points_for_earn(terms(), None, None, bound + 1)
    assert isinstance(given, Refusal) and given.field == "points"


def test_a_purchase_is_in_the_contracts_currency():
    assert rules.currency_refusal(terms(), "EUR", "purchase.currency") is None
    other = rules.points_for_earn(terms(), 1000, "USD", None)
    assert isinstance(other, Refusal) and (other.kind, other.reason) == (rules.PRECONDITION, "CURRENCY_NOT_ACCEPTED")
    assert dict(other.metadata) == {"partner_id": "shop", "currency": "USD", "contract_currency": "EUR"}
    assert rules.points_for_earn(terms(currency="GBP"), 1000, "GBP", None) == 10
    assert rules.currency_refusal(terms(), "XYZ", "basket.currency").kind == rules.INVALID
