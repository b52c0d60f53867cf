"""Credit use events: the earn whose accepted points take a partner's use of its credit limit (exposure: the money
value of its outstanding points less collateral, as a share of the limit) to 80 % or 100 % writes
`credit.threshold_crossed` in its own transaction, once per upward crossing, again after use fell back below.
With a limit of 10,000 minor units, no collateral and 1 point = 1 minor unit, 80 % is 8,000 outstanding points."""

from __future__ import annotations

import json

import pytest

from network.core import events
from partners.errors import CoalitionError


def credit_events(network) -> list[tuple[int, int]]:
    """(threshold, exposure) of each credit event, in order."""
    return [(json.loads(e.detail_json)["threshold_percent"], json.loads(e.detail_json)["exposure_minor"])
            for e in network.list_events() if e.type == events.CREDIT_THRESHOLD_CROSSED]


def test_thresholds_at_their_exact_boundaries_once_per_crossing(make_partner, verified_ledger):
    shop = make_partner("credit", credit_limit_minor=10_000)
    with shop.client() as network:
        member_id = network.enroll_member().member.member_id
        network.earn(member_id, points=7_999)  # 79.99 %
        assert credit_events(network) == []
        network.earn(member_id, points=1)  # 80 % exactly
        assert credit_events(network) == [(80, 8_000)]
        network.earn(member_id, points=500)  # 85 %: past 80 % already announced
        assert credit_events(network) == [(80, 8_000)]
        network.earn(member_id, points=1_499)  # 99.99 %
        assert credit_events(network) == [(80, 8_000)]
        network.earn(member_id, points=1)  # 100 %: the most the limit allows
        assert credit_events(network) == [(80, 8_000), (100, 10_000)]
        with pytest.raises(CoalitionError) as refused:
            network.earn(member_id, points=1)
        assert refused.value.reason == "CREDIT_LIMIT_EXCEEDED"
        listed = list(network.list_events())
        last = listed[-1]
        assert last.type == events.CREDIT_THRESHOLD_CROSSED and last.subject == shop.partner_id
        assert listed[-2].type == "points.earned" and listed[-2].transaction.points == 1  # after the earn crossing it
        assert [e.sequence for e in listed] == list(range(1, len(listed) + 1))

        network.redeem(member_id, points=2_500)  # use falls back to 75 %, announced nothing
        assert len(credit_events(network)) == 2
        network.earn(member_id, points=499)  # 79.99 % again
        assert len(credit_events(network)) == 2
        network.earn(member_id, points=1)  # crosses 80 % again: announced again
        assert credit_events(network) == [(80, 8_000), (100, 10_000), (80, 8_000)]


def test_one_earn_crossing_both_thresholds_announces_both_and_collateral_counts(make_partner, verified_ledger):
    shop = make_partner("credit2", credit_limit_minor=10_000, collateral_minor=1_000)
    with shop.client() as network:
        member_id = network.enroll_member().member.member_id
        network.earn(member_id, points=8_999)  # exposure 7,999: 79.99 %
        assert credit_events(network) == []
        network.earn(member_id, points=2_001)  # exposure 10,000
        assert credit_events(network) == [(80, 10_000), (100, 10_000)]


def test_partners_without_a_limit_get_no_credit_events(make_partner):
    shop = make_partner("nolimit")
    with shop.client() as network:
        network.earn(network.enroll_member().member.member_id, points=1_000_000)
        assert credit_events(network) == []


def test_the_rule_at_its_boundaries():
    assert [events.credit_level(e, 10_000) for e in (7_999, 8_000, 9_999, 10_000, 12_000)] == [0, 80, 80, 100, 100]
    assert events.credit_level(10_000, None) == 0 and events.credit_level(5, 0) == 0
    assert events.credit_crossings(0, 0, 80) == [80]
    assert events.credit_crossings(80, 80, 80) == []
    assert events.credit_crossings(80, 0, 80) == [80]  # fell below meanwhile: announced again
    assert events.credit_crossings(0, 0, 100) == [80, 100]
    assert events.credit_crossings(100, 80, 100) == [100]
