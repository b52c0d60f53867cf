"""Purchases over the signed gRPC API: the points one call may post are bounded whatever their
source, and a purchase or basket is in the contract's currency. Each refusal writes nothing."""

from __future__ import annotations

import base64
import uuid
from datetime import date

import pytest

from network import admin
from partners import errors, signing
from partners.client import PartnerClient
from test_network_refusals import writes_nothing  # noqa: F401 - a fixture

pytestmark = pytest.mark.usefixtures("verified_ledger")

BOUND = 1_000_000_000  # points per call (network.proto)


@pytest.fixture
def ten_per_euro(make_partner):
    """A EUR partner awarding 10 points per euro (0.1 point per cent) and one of its members."""
    shop = make_partner("ten", earn_points_per_major=10)
    with shop.client() as network:
        return shop, network.enroll_member().member.member_id


def test_purchase_points_exactly_at_the_bound_and_one_past(ten_per_euro, writes_nothing):
    shop, member = ten_per_euro
    with shop.client() as network:
        for amount_minor, points in ((10**12, 10**11), (10**10 + 10, BOUND + 1)):  # the case, one past
            refused = writes_nothing(lambda: network.earn(member, amount_minor=amount_minor), errors.InvalidArgument,
                                     "INVALID_ARGUMENT")
            assert refused.field_violations == [
                ("purchase.amount_minor", f"earns {points} points, more than {BOUND} per call")]
        batch = network.batch_earn([{"member_id": member, "amount_minor": 10**10 + 10}])
        assert (batch.earned_count, batch.refused_count) == (0, 1)
        assert errors.error_from_status(batch.results[0].error).field_violations[0][0] == "purchase.amount_minor"
        assert network.get_balance(member).available_points == 0
        assert network.earn(member, amount_minor=10**10 + 9).points == BOUND  # floored: exactly the bound
        assert network.get_balance(member).available_points == BOUND


def test_fixed_points_exactly_at_the_bound_and_one_past(ten_per_euro, writes_nothing):
    shop, member = ten_per_euro
    with shop.client() as network:
        refused = writes_nothing(lambda: network.earn(member, points=BOUND + 1), errors.InvalidArgument)
        assert [f for f, _ in refused.field_violations] == ["points"]
        assert network.earn(member, points=BOUND).points == BOUND


def test_a_purchase_in_another_currency_than_the_contract_is_refused(ten_per_euro, writes_nothing):
    """A bug found by testing from outside: a USD purchase at a EUR partner was accepted at the EUR rate (1000 USD
    minor -> 10 points)."""
    shop, member = ten_per_euro
    with shop.client() as network:
        refused = writes_nothing(lambda: network.earn(member, amount_minor=1000, currency="USD"),
                                 errors.FailedPrecondition, "CURRENCY_NOT_ACCEPTED")
        assert refused.code.name == "FAILED_PRECONDITION"
        assert refused.metadata == {"partner_id": shop.partner_id, "currency": "USD", "contract_currency": "EUR"}
        batch = network.batch_earn([{"member_id": member, "amount_minor": 1000, "currency": "USD"}])
        assert batch.refused_count == 1
        assert errors.error_from_status(batch.results[0].error).reason == "CURRENCY_NOT_ACCEPTED"
        assert network.earn(member, amount_minor=1000, currency="EUR").points == 100
        for spend in (network.redeem, network.authorize_redemption):  # a basket is a purchase too
            writes_nothing(lambda: spend(member, 1, basket_minor=1000, currency="GBP"), errors.FailedPrecondition,
                           "CURRENCY_NOT_ACCEPTED")
        assert network.redeem(member, 1, basket_minor=1000, currency="EUR").points == 1


def test_a_partner_in_another_currency_earns_in_it(engine, target, writes_nothing):
    partner_id = f"gbp-{uuid.uuid4().hex[:8]}"
    key = signing.generate_private_key()
    with engine.begin() as conn:
        admin.create_partner(conn, "test", partner_id, "Pounds", currency="GBP", iban="GB82WEST12345698765432",
                             mandate=admin.SepaMandate(f"M-{partner_id}", date(2026, 1, 5)))
        admin.set_contract(conn, "test", partner_id, admin.ContractDraft(earn_points_per_major=10))
        admin.register_key(conn, "test", partner_id, f"{partner_id}-k1",
                           base64.b64encode(signing.raw_public(key)).decode())
    with PartnerClient(target, f"{partner_id}-k1", key) as network:
        member = network.enroll_member().member.member_id
        assert network.earn(member, amount_minor=1000, currency="GBP").points == 100
        writes_nothing(lambda: network.earn(member, amount_minor=1000, currency="EUR"), errors.FailedPrecondition,
                       "CURRENCY_NOT_ACCEPTED")
