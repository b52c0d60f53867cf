"""network.core.ledger to the exact outcome: allocation edges, every posting of every transaction kind, the lot
deltas they imply, and the hash-chain digest against an independently written canonical text. Written to kill the
mutants `coalition mutate` found surviving."""

from __future__ import annotations

import decimal
import hashlib
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from network.core import ledger
from network.core.ledger import (BREAKAGE, HOLD, ISSUER, MEMBER, REDEEMER, Allocation, JournalEntry, LotBalance,
                                 Posting)

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def lot(lot_id: str, spendable: int, expires_in_days: int | None) -> LotBalance:
    expires = T0 + timedelta(days=expires_in_days) if expires_in_days is not None else None
    return LotBalance(lot_id, "issuer-" + lot_id, spendable, expires, T0)


# --- allocation ----------------------------------------------------------------------------------------------

def test_allocate_exactly_what_is_available():
    assert ledger.allocate([lot("a", 3, 1), lot("b", 1, 2)], 4) == [Allocation("a", "issuer-a", 3),
                                                                   Allocation("b", "issuer-b", 1)]


def test_allocate_skips_empty_lots_and_stops_when_done():
    lots = [lot("empty", 0, 1), lot("a", 5, 2), lot("b", 5, 3), lot("c", 5, 4)]
    assert ledger.allocate(lots, 6) == [Allocation("a", "issuer-a", 5), Allocation("b", "issuer-b", 1)]
    assert ledger.allocate(lots, 5) == [Allocation("a", "issuer-a", 5)]


def test_a_lot_with_one_point_is_allocated():
    assert ledger.allocate([lot("one", 1, 1)], 1) == [Allocation("one", "issuer-one", 1)]


def test_not_enough_points_message():
    with pytest.raises(ledger.NotEnoughPoints, match=r"^5 requested, 4 available$"):
        ledger.allocate([lot("a", 4, 1)], 5)


# --- splitting -----------------------------------------------------------------------------------------------

def test_split_gives_the_short_point_to_the_largest_remainder_not_the_largest_share():
    # 7 x 3 / 9 = 2 remainder 3, 2 x 3 / 9 = 0 remainder 6: the second part's remainder is larger
    parts = [Allocation("a", "x", 7), Allocation("b", "y", 2)]
    assert ledger.split_proportionally(parts, 3) == [Allocation("a", "x", 2), Allocation("b", "y", 1)]


def test_split_refuses_a_total_outside_the_parts():
    with pytest.raises(ValueError, match=r"^cannot split 10 over 9$"):
        ledger.split_proportionally([Allocation("a", "x", 9)], 10)


def test_take_in_order_keeps_issuers():
    taken, rest = ledger.take_in_order([Allocation("a", "x", 3), Allocation("b", "y", 3)], 4)
    assert taken == [Allocation("a", "x", 3), Allocation("b", "y", 1)]
    assert rest == [Allocation("b", "y", 2)]


# --- postings ------------------------------------------------------------------------------------------------

ALLOCS = [Allocation("l1", "a", 30), Allocation("l2", "b", 20)]


def test_earn_and_its_reversal_and_expiry_postings():
    assert ledger.earn_postings("m", "a", "l1", 50) == [Posting(ISSUER, "a", "l1", -50), Posting(MEMBER, "m", "l1", 50)]
    assert ledger.reverse_earn_postings("m", "a", "l1", 5) == [Posting(MEMBER, "m", "l1", -5),
                                                                Posting(ISSUER, "a", "l1", 5)]
    assert ledger.expire_postings("m", "a", "l1", 9) == [Posting(MEMBER, "m", "l1", -9),
                                                          Posting(BREAKAGE, "a", "l1", 9)]


def test_spend_hold_release_and_reversal_postings_per_allocation():
    assert ledger.spend_postings("m", "r", ALLOCS) == [
        Posting(MEMBER, "m", "l1", -30), Posting(REDEEMER, "r", "l1", 30),
        Posting(MEMBER, "m", "l2", -20), Posting(REDEEMER, "r", "l2", 20)]
    assert ledger.hold_postings("m", ALLOCS) == [
        Posting(MEMBER, "m", "l1", -30), Posting(HOLD, "m", "l1", 30),
        Posting(MEMBER, "m", "l2", -20), Posting(HOLD, "m", "l2", 20)]
    assert ledger.release_postings("m", ALLOCS) == [
        Posting(HOLD, "m", "l1", -30), Posting(MEMBER, "m", "l1", 30),
        Posting(HOLD, "m", "l2", -20), Posting(MEMBER, "m", "l2", 20)]
    assert ledger.reverse_redemption_postings("m", "r", ALLOCS) == [
        Posting(REDEEMER, "r", "l1", -30), Posting(MEMBER, "m", "l1", 30),
        Posting(REDEEMER, "r", "l2", -20), Posting(MEMBER, "m", "l2", 20)]


def test_capture_postings_spend_the_captured_and_release_the_rest():
    captured = ALLOCS + [Allocation("l3", "c", 5)]
    released = [Allocation("l3", "c", 7), Allocation("l4", "d", 1)]
    assert ledger.capture_postings("m", "r", captured, released) == [
        Posting(HOLD, "m", "l1", -30), Posting(REDEEMER, "r", "l1", 30),
        Posting(HOLD, "m", "l2", -20), Posting(REDEEMER, "r", "l2", 20),
        Posting(HOLD, "m", "l3", -5), Posting(REDEEMER, "r", "l3", 5),
        Posting(HOLD, "m", "l3", -7), Posting(MEMBER, "m", "l3", 7),
        Posting(HOLD, "m", "l4", -1), Posting(MEMBER, "m", "l4", 1)]


def test_lot_deltas_sum_member_and_hold_postings_per_lot_and_ignore_partner_accounts():
    postings = [Posting(ISSUER, "a", "l0", -9),  # a partner account first: the lot gets no entry from it
                *ledger.hold_postings("m", [Allocation("l1", "a", 30)]),
                *ledger.capture_postings("m", "r", [Allocation("l1", "a", 10)], [Allocation("l1", "a", 20)]),
                *ledger.earn_postings("m", "a", "l2", 7), Posting(MEMBER, "m", "l2", 3),
                Posting(HOLD, "m", "l3", 4), Posting(HOLD, "m", "l3", 2), Posting(BREAKAGE, "a", "l3", 1)]
    assert ledger.lot_deltas(postings) == {"l1": (-10, 0), "l2": (10, 0), "l3": (0, 6)}
    assert ledger.lot_deltas([]) == {}


def test_money_rounds_half_even_whatever_the_callers_decimal_context():
    with decimal.localcontext() as context:
        context.rounding = decimal.ROUND_HALF_UP
        assert ledger.money_for_points(5, Decimal("0.5")) == 2  # 2.5 -> 2, not 3
        assert ledger.money_for_points(7, Decimal("0.5")) == 4  # 3.5 -> 4


# --- the hash chain ------------------------------------------------------------------------------------------

def test_entry_digest_is_sha256_of_the_documented_canonical_text():
    entry = JournalEntry("tx-1", 3, 42, "earn", "shop", "m-1", 10, None, None, None, "req-1", T0)
    postings = ledger.earn_postings("m-1", "shop", "lot-1", 10)
    text = ("tx-1|3|42|earn|shop|m-1|10||||req-1|2026-01-01T00:00:00+00:00\n"
            "issuer:shop:lot-1:-10\nmember:m-1:lot-1:10")
    assert ledger.entry_digest(entry, postings) == hashlib.sha256(text.encode()).digest()
    full = JournalEntry("tx-2", 0, 1, "redeem", "p", "m", 5, 500, "EUR", "tx-1", None, T0)
    assert ledger.entry_digest(full, []) == hashlib.sha256(b"tx-2|0|1|redeem|p|m|5|500|EUR|tx-1||"
                                                           b"2026-01-01T00:00:00+00:00").digest()


def test_chain_hash_is_sha256_of_the_previous_hash_and_the_digest():
    digest = bytes(range(32))
    assert ledger.GENESIS_HASH == bytes(32)
    assert ledger.chain_hash(ledger.GENESIS_HASH, digest) == hashlib.sha256(bytes(32) + digest).digest()


def test_entry_digest_version_2_is_sha256_of_the_documented_json():
    """Version 2: compact JSON (no spaces, UTF-8 as is) of [version, entry columns, postings by line, lot terms,
    hold terms], each list sorted, instants in UTC, None as null."""
    plus_two = timezone(timedelta(hours=2))
    entry = JournalEntry("tx-1", 3, 42, "hold", "shop", "m-\u00e9", 10, 1250, "EUR", None, "req-1",
                         T0.astimezone(plus_two), receipt_ref="rc", store_id=None, terminal_id="t", hash_version=2)
    postings = [ledger.NumberedPosting(1, Posting(MEMBER, "m-\u00e9", "lot-1", 10)),
                ledger.NumberedPosting(0, Posting(ISSUER, "shop", "lot-1", -10))]
    lots = [ledger.LotTerms("lot-2", "m", "shop", 3, T0, T0 + timedelta(days=1), T0),
            ledger.LotTerms("lot-1", "m", "shop", 10, T0.astimezone(plus_two), None, T0)]
    holds = [ledger.HoldTerms("h-1", "m", "shop", 5, T0 + timedelta(minutes=15), T0),
             ledger.HoldTerms("h-0", "m", "shop", 4, T0.astimezone(plus_two), T0)]
    at = "2026-01-01T00:00:00+00:00"
    text = ('[2,["tx-1",3,42,"hold","shop","m-\u00e9",10,1250,"EUR","rc",null,"t","req-1",null,"' + at + '"],'
            '[[0,"issuer","shop","lot-1",-10],[1,"member","m-\u00e9","lot-1",10]],'
            '[["lot-1","m","shop",10,"' + at + '",null,"' + at + '"],'
            '["lot-2","m","shop",3,"' + at + '","2026-01-02T00:00:00+00:00","' + at + '"]],'
            '[["h-0","m","shop",4,"' + at + '","' + at + '"],'
            '["h-1","m","shop",5,"2026-01-01T00:15:00+00:00","' + at + '"]]]')
    assert ledger.entry_digest(entry, postings, lots, holds) == hashlib.sha256(text.encode("utf-8")).digest()
    # plain postings are numbered in the order given
    plain = [Posting(ISSUER, "shop", "lot-1", -10), Posting(MEMBER, "m-\u00e9", "lot-1", 10)]
    assert ledger.entry_digest(entry, plain, lots, holds) == hashlib.sha256(text.encode("utf-8")).digest()


def test_entry_digest_version_1_takes_numbered_postings_without_their_lines():
    entry = JournalEntry("tx-1", 3, 42, "earn", "shop", "m-1", 10, None, None, None, "req-1", T0)
    plain = ledger.earn_postings("m-1", "shop", "lot-1", 10)
    numbered = [ledger.NumberedPosting(line + 5, p) for line, p in enumerate(plain)]
    assert ledger.entry_digest(entry, numbered) == ledger.entry_digest(entry, plain)


def test_entry_digest_refuses_an_unknown_hash_version():
    entry = JournalEntry("tx-1", 3, 42, "earn", "shop", "m-1", 10, None, None, None, "req-1", T0, hash_version=3)
    with pytest.raises(ValueError, match=r"^unknown hash version 3$"):
        ledger.entry_digest(entry, [])


@pytest.fixture
def new_york(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_version_2_instants_are_utc_whatever_the_local_zone(new_york):
    entry = JournalEntry("tx-1", 0, 1, "earn", "p", "m", 1, None, None, None, None,
                         T0.astimezone(timezone(timedelta(hours=2))), hash_version=2)
    text = '[2,["tx-1",0,1,"earn","p","m",1,null,null,null,null,null,null,null,"2026-01-01T00:00:00+00:00"],[],[],[]]'
    assert ledger.entry_digest(entry, []) == hashlib.sha256(text.encode()).digest()
