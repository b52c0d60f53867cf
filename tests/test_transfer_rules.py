"""The transfer rules without a database (network.core.transfers, network.core.ledger's transfer postings)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from network.core import ledger
from network.core.ledger import Allocation
from network.core.transfers import SentSoFar, TransferLimits, day_start, month_start, transfer_refusal

LIMITS = TransferLimits(min_points=100, max_points_per_day=1000, max_points_per_month=5000, max_transfers_per_day=3)
NONE_SENT = SentSoFar(0, 0, 0)


def reason(refusal) -> str | None:
    return None if refusal is None else refusal.reason


def test_windows_are_utc_calendar_day_and_month():
    late = datetime(2031, 1, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)
    assert day_start(late) == datetime(2031, 1, 31, tzinfo=timezone.utc)
    assert month_start(late) == datetime(2031, 1, 1, tzinfo=timezone.utc)
    assert day_start(late + timedelta(microseconds=1)) == datetime(2031, 2, 1, tzinfo=timezone.utc)
    berlin = timezone(timedelta(hours=1))  # 00:30 in Berlin on Feb 1st is still Jan 31st in UTC
    assert day_start(datetime(2031, 2, 1, 0, 30, tzinfo=berlin)) == datetime(2031, 1, 31, tzinfo=timezone.utc)
    assert month_start(datetime(2031, 2, 1, 0, 30, tzinfo=berlin)) == datetime(2031, 1, 1, tzinfo=timezone.utc)


def test_minimum_self_and_points_bounds():
    assert reason(transfer_refusal("a", "b", 100, LIMITS, NONE_SENT)) is None
    assert reason(transfer_refusal("a", "b", 99, LIMITS, NONE_SENT)) == "TRANSFER_BELOW_MINIMUM"
    assert reason(transfer_refusal("a", "a", 100, LIMITS, NONE_SENT)) == "TRANSFER_TO_SELF"
    assert reason(transfer_refusal("a", "b", 0, LIMITS, NONE_SENT)) == "INVALID_ARGUMENT"
    assert reason(transfer_refusal("a", "b", ledger.MAX_POINTS_PER_CALL + 1, TransferLimits(1, 0, 0, 0),
                                   NONE_SENT)) == "INVALID_ARGUMENT"
    assert reason(transfer_refusal("a", "b", 1, TransferLimits(0, 0, 0, 0), NONE_SENT)) is None  # at least 1


@pytest.mark.parametrize(("sent", "points", "limit"), [
    (SentSoFar(900, 900, 1), 100, None),  # exactly the daily limit
    (SentSoFar(901, 901, 1), 100, "points_per_day"),
    (SentSoFar(0, 4900, 0), 100, None),  # exactly the monthly limit
    (SentSoFar(0, 4901, 0), 100, "points_per_month"),
    (SentSoFar(200, 200, 2), 100, None),  # the third transfer today
    (SentSoFar(300, 300, 3), 100, "transfers_per_day"),
])
def test_limits_at_their_boundaries(sent, points, limit):
    refusal = transfer_refusal("a", "b", points, LIMITS, sent)
    assert (dict(refusal.metadata)["limit"] if refusal else None) == limit


def test_zero_is_no_limit():
    unlimited = TransferLimits(1, 0, 0, 0)
    assert transfer_refusal("a", "b", 10**6, unlimited, SentSoFar(10**8, 10**9, 10**4)) is None


def test_transfer_postings_balance_and_keep_each_lot_with_its_issuer():
    taken = [Allocation("lot-1", "coffee", 300), Allocation("lot-2", "rail", 120)]
    sent = ledger.transfer_out_postings("m1", taken)
    received = ledger.transfer_in_postings("m2", taken, ["new-1", "new-2"])
    assert sum(p.points for p in sent) == 0 and sum(p.points for p in received) == 0
    assert [(p.account, p.owner, p.lot_id, p.points) for p in received] == [
        ("transfer", "coffee", "lot-1", -300), ("member", "m2", "new-1", 300),
        ("transfer", "rail", "lot-2", -120), ("member", "m2", "new-2", 120)]
    assert ledger.lot_deltas([*sent, *received]) == {"lot-1": (-300, 0), "lot-2": (-120, 0), "new-1": (300, 0),
                                                     "new-2": (120, 0)}
    per_lot: dict[str, int] = {}
    for p in [*sent, *received]:
        if p.account == ledger.TRANSFER:
            per_lot[p.lot_id] = per_lot.get(p.lot_id, 0) + p.points
    assert per_lot == {"lot-1": 0, "lot-2": 0}
    with pytest.raises(ValueError):
        ledger.transfer_in_postings("m2", taken, ["new-1"])


def test_frozen_refusal_names_the_side_and_why():
    from network.core.transfers import RECIPIENT, SENDER, frozen_refusal

    assert frozen_refusal(SENDER, "m", False, True) is None
    assert frozen_refusal(RECIPIENT, "m", False, True, "7001", "active") is None
    assert frozen_refusal(SENDER, "m", True, True).reason == "MEMBER_FROZEN"  # the operator's freeze comes first
    assert frozen_refusal(RECIPIENT, "m", True, False, "7001", "frozen").reason == "MEMBER_FROZEN"
    assert frozen_refusal(SENDER, "m", False, False).reason == "CARD_FROZEN"
    for status in ("frozen", "replaced"):  # the card named is dead even when the member has another one active
        refusal = frozen_refusal(RECIPIENT, "m", False, True, "7001", status)
        assert (refusal.reason, dict(refusal.metadata)["card_status"]) == ("CARD_FROZEN", status)
