"""The pure ledger core: consumption order, proportional splits, rounding, postings, the hash chain."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from network.core import ledger
from network.core.ledger import Allocation, LotBalance

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def lot(lot_id: str, spendable: int, expires_in_days: int | None, age: int = 0) -> LotBalance:
    expires = T0 + timedelta(days=expires_in_days) if expires_in_days is not None else None
    return LotBalance(lot_id, "issuer-" + lot_id, spendable, expires, T0 - timedelta(days=age))


def test_allocate_earliest_expiry_first_never_expiring_last():
    lots = [lot("never", 100, None, age=9), lot("late", 100, 300), lot("soon", 50, 10)]
    assert [(a.lot_id, a.points) for a in ledger.allocate(lots, 180)] == [("soon", 50), ("late", 100), ("never", 30)]


def test_allocate_refuses_more_than_available():
    with pytest.raises(ledger.NotEnoughPoints) as caught:
        ledger.allocate([lot("a", 10, 5)], 11)
    assert (caught.value.requested, caught.value.available) == (11, 10)


@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=12), st.data())
def test_split_proportionally_is_exact_and_bounded(parts, data):
    allocations = [Allocation(f"l{i}", "x", p) for i, p in enumerate(parts)]
    total = data.draw(st.integers(0, sum(parts)))
    shares = ledger.split_proportionally(allocations, total)
    assert sum(s.points for s in shares) == total
    by_lot = {a.lot_id: a.points for a in allocations}
    assert all(0 < s.points <= by_lot[s.lot_id] for s in shares)


def test_earn_points_round_down_and_money_rounds_half_even():
    assert ledger.earn_points_for_purchase(1299, "EUR", Decimal(2)) == 25
    assert ledger.earn_points_for_purchase(99, "EUR", Decimal(1)) == 0
    assert ledger.money_for_points(5, Decimal("0.5")) == 2  # 2.5 -> 2
    assert ledger.money_for_points(7, Decimal("0.5")) == 4  # 3.5 -> 4


def test_every_posting_set_sums_to_zero():
    allocs = [Allocation("l1", "a", 30), Allocation("l2", "b", 20)]
    for postings in (ledger.earn_postings("m", "a", "l1", 50), ledger.spend_postings("m", "b", allocs),
                     ledger.hold_postings("m", allocs), ledger.capture_postings("m", "b", allocs[:1], allocs[1:]),
                     ledger.release_postings("m", allocs), ledger.reverse_earn_postings("m", "a", "l1", 5),
                     ledger.reverse_redemption_postings("m", "b", allocs), ledger.expire_postings("m", "a", "l1", 9)):
        assert sum(p.points for p in postings) == 0


def test_take_in_order_splits_captured_and_released():
    taken, rest = ledger.take_in_order([Allocation("a", "x", 30), Allocation("b", "y", 20)], 40)
    assert [(a.lot_id, a.points) for a in taken] == [("a", 30), ("b", 10)]
    assert [(a.lot_id, a.points) for a in rest] == [("b", 10)]


def test_hash_chain_detects_any_edit():
    entry = ledger.JournalEntry("tx", 1, 1, "earn", "p", "m", 10, None, None, None, "r", T0)
    postings = ledger.earn_postings("m", "p", "l", 10)
    digest = ledger.entry_digest(entry, postings)
    assert ledger.entry_digest(entry, list(reversed(postings))) == digest  # order-independent
    edited = ledger.earn_postings("m", "p", "l", 11)
    assert ledger.entry_digest(entry, edited) != digest
    assert ledger.chain_hash(ledger.GENESIS_HASH, digest) != ledger.chain_hash(b"\x01" * 32, digest)


def test_hash_version_1_is_unchanged_and_version_2_covers_every_column():
    """Rows written before version 2 verify under version 1 exactly as they were hashed (the digest below was
    computed by the code before version 2 existed); version 2 tells NULL from "", and covers the columns version 1
    left out, posting line numbers and the lot's terms."""
    at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
    member, lot_id = "0190c0de-0000-7000-8000-0000000000aa", "0190c0de-0000-7000-8000-0000000000bb"
    v1 = ledger.JournalEntry("0190c0de-0000-7000-8000-000000000001", 3, 7, "earn", "coffee", member, 250, 25000, "EUR",
                             None, "req-1", at)
    postings = ledger.earn_postings(member, "coffee", lot_id, 250)
    assert ledger.entry_digest(v1, postings).hex() == "41ac74eb4676c61967726f7652691ac055e8702e757cf324fde5359b7486d3de"
    assert ledger.entry_digest(replace(v1, receipt_ref="edited"), postings) == ledger.entry_digest(v1, postings)

    v2 = replace(v1, hash_version=2)
    lot = ledger.LotTerms(lot_id, member, "coffee", 250, at, None, at)
    digest = ledger.entry_digest(v2, postings, [lot])
    assert digest != ledger.entry_digest(v1, postings)
    for changed in (replace(v2, receipt_ref=""), replace(v2, store_id="s"), replace(v2, terminal_id="t")):
        assert ledger.entry_digest(changed, postings, [lot]) != digest
    renumbered = [ledger.NumberedPosting(line + 1, p) for line, p in enumerate(postings)]
    assert ledger.entry_digest(v2, renumbered, [lot]) != digest
    assert ledger.entry_digest(v2, postings, [replace(lot, available_at=at + timedelta(seconds=1))]) != digest
    assert ledger.entry_digest(v2, postings, [replace(lot, expires_at=at)]) != digest
    same_instant = at.astimezone(timezone(timedelta(hours=2)))
    assert ledger.entry_digest(replace(v2, created_at=same_instant), postings, [lot]) == digest
