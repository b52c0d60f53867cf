"""The batched-ingest and hot-path shortcuts give exactly the bytes the plain code gives: the EarnResponse built from
a cached tail, the journal hash through one shared JSON encoder and cached instants, the compiled field walk."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from network import errors, grpc_service, validation
from network.error_status import status_for
from network.core import ledger
from network.core.campaigns import Component
from network.core.results import EarnResult
from network.store.earn import Outcome
from protos.coalition.v1 import network_pb2 as pb

T0 = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=timezone.utc)
CET = timezone(timedelta(hours=1))


_COMPONENTS = st.lists(st.builds(Component, kind=st.sampled_from(["base", "tier", "campaign"]),
                                  funder=st.sampled_from(["p1", "p-ü"]), points=st.integers(0, 10**6),
                                  campaign_id=st.sampled_from(["", "c1"])), max_size=3).map(tuple)


@given(points=st.integers(1, 10**9), state=st.sampled_from(sorted(grpc_service.LOT_STATES)),
       available=st.integers(0, 10**8), expires=st.one_of(st.none(), st.integers(0, 10**9)),
       tx=st.uuids().map(str), components=_COMPONENTS, tier=st.sampled_from(["", "Member", "Gold"]))
@settings(max_examples=200, deadline=None)
def test_earn_response_bytes_are_the_serialized_earn_response(points, state, available, expires, tx, components,
                                                               tier):
    result = EarnResult(tx, points, state, T0 + timedelta(microseconds=available),
                        None if expires is None else T0 + timedelta(seconds=expires), components, tier)
    built = grpc_service.earn_response_bytes(result)
    assert built == grpc_service.earn_response(result).SerializeToString()
    assert pb.EarnResponse.FromString(built).transaction_id == tx


def test_earn_responses_sharing_a_tail_keep_their_own_transaction_ids():
    first = grpc_service.earn_response_bytes(EarnResult("a" * 36, 5, "active", T0, None))
    second = grpc_service.earn_response_bytes(EarnResult("b" * 36, 5, "active", T0, None))
    assert pb.EarnResponse.FromString(first).transaction_id == "a" * 36
    assert pb.EarnResponse.FromString(second).transaction_id == "b" * 36
    # a tail is keyed by every field it holds: another expiry is another tail
    later = grpc_service.earn_response_bytes(EarnResult("b" * 36, 5, "active", T0, T0 + timedelta(days=1)))
    assert pb.EarnResponse.FromString(later).expires_at.seconds == int((T0 + timedelta(days=1)).timestamp())


@pytest.mark.parametrize("other", [
    {"components": (Component("base", "p1", 5), Component("campaign", "p2", 3, "c1"))},  # another line
    {"components": (Component("base", "p1", 5), Component("tier", "p1", 3))},  # another kind, same total
    {"components": (Component("base", "p2", 5), Component("tier", "p1", 2))},  # another funder
    {"tier": "Gold"}])
def test_an_earn_response_tail_is_keyed_by_its_lines_and_tier(other):
    base = dict(points=5, state="active", available_at=T0, expires_at=None,
                components=(Component("base", "p1", 5), Component("tier", "p1", 2)), tier="Silver")
    grpc_service.earn_response_bytes(EarnResult("a" * 36, **base))  # the first's tail cached
    changed = EarnResult("b" * 36, **{**base, **other})
    assert grpc_service.earn_response_bytes(changed) == grpc_service.earn_response(changed).SerializeToString()


def _batch_response_by_messages(request_ids, outcomes) -> bytes:
    """BatchEarn's response as it was built before: each stored EarnResponse parsed into the message."""
    response = pb.BatchEarnResponse()
    for request_id, outcome in zip(request_ids, outcomes):
        result = response.results.add(request_id=request_id)
        if outcome.refusal is not None:
            result.error.CopyFrom(status_for(outcome.refusal))
            response.refused_count += 1
        else:
            result.earned.ParseFromString(outcome.response)
            response.earned_count += 1
    return response.SerializeToString()


_OUTCOMES = st.one_of(
    st.builds(lambda tx, points, comps: Outcome(grpc_service.earn_response_bytes(
        EarnResult(tx, points, "active", T0, None, comps))), st.uuids().map(str), st.integers(1, 10**12), _COMPONENTS),
    st.builds(lambda field: Outcome(refusal=errors.invalid(field, "must be a UUID")), st.text(max_size=20)))


# request ids of every length up to two varint bytes and past, empty too (proto3 leaves it out)
@given(st.lists(st.tuples(st.text(max_size=300), _OUTCOMES), max_size=12))
@settings(max_examples=200, deadline=None)
def test_batch_earn_response_bytes_are_the_serialized_response(items):
    request_ids = [r for r, _ in items]
    outcomes = [o for _, o in items]
    built = grpc_service.batch_earn_response_bytes(request_ids, outcomes)
    assert built == _batch_response_by_messages(request_ids, outcomes)
    parsed = pb.BatchEarnResponse.FromString(built)
    assert [r.request_id for r in parsed.results] == request_ids
    assert parsed.earned_count == sum(1 for o in outcomes if o.refusal is None)


def test_a_batch_earn_response_with_a_long_earn_response_uses_multi_byte_lengths():
    comps = tuple(Component("campaign", "p1", 10**9, f"campaign-{i}") for i in range(40))  # over 127 bytes, and 16383
    outcome = Outcome(grpc_service.earn_response_bytes(EarnResult("a" * 36, 5, "active", T0, None, comps)))
    assert len(outcome.response) > 128
    ids = ["r" * 20000, "s"]
    assert grpc_service.batch_earn_response_bytes(ids, [outcome, outcome]) == _batch_response_by_messages(
        ids, [outcome, outcome])
    # every length around the varint's byte boundaries (128, 16384), for the id and for the entry holding it
    short = Outcome(grpc_service.earn_response_bytes(EarnResult("a" * 36, 5, "active", T0, None)))
    for length in (*range(60, 135), *range(16300, 16390)):
        ids = ["x" * length]
        assert grpc_service.batch_earn_response_bytes(ids, [short]) == _batch_response_by_messages(ids, [short])


def _reference_v2(entry, postings, lots):
    """_digest_v2 as written before the shared encoder: json.dumps per row, isoformat in UTC per instant."""
    instant = lambda v: None if v is None else v.astimezone(timezone.utc).isoformat()
    document = [entry.hash_version,
                [entry.tx_id, entry.shard, entry.seq, entry.kind, entry.partner_id, entry.member_id, entry.points,
                 entry.amount_minor, entry.currency, entry.receipt_ref, entry.store_id, entry.terminal_id,
                 entry.request_id, entry.related_id, instant(entry.created_at)],
                sorted([i, p.account, p.owner, p.lot_id, p.points] for i, p in enumerate(postings)),
                sorted([t.lot_id, t.member_id, t.issuer_id, t.points, instant(t.available_at),
                        instant(t.expires_at), instant(t.created_at)] for t in lots), []]
    return hashlib.sha256(json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()).digest()


@pytest.mark.parametrize("created", [T0, T0.astimezone(CET)])  # the same instant in another zone: the same hash
def test_journal_digest_is_unchanged(created):
    postings = ledger.earn_postings("m-1", "p-ü", "lot-1", 40)
    lot = ledger.LotTerms("lot-1", "m-1", "p-ü", 40, created + timedelta(days=1), None, created)
    entry = ledger.JournalEntry("tx-1", 3, 9, "earn", "p-ü", "m-1", 40, 1250, "EUR", None, "r-1", created,
                                "rcpt \"1\"", None, "", ledger.HASH_VERSION)
    assert ledger.entry_digest(entry, postings, [lot]) == _reference_v2(entry, postings, [lot])
    # an instant one microsecond later is another text, not a cached one
    moved = ledger.JournalEntry(**{**entry.__dict__, "created_at": created + timedelta(microseconds=1)})
    assert ledger.entry_digest(moved, postings, [lot]) != ledger.entry_digest(entry, postings, [lot])


def test_compiled_validation_checks_the_chosen_oneof_field_and_names_the_path():
    good = pb.EarnRequest(request_id="r-1", member_id="0" * 8 + "-0000-0000-0000-" + "0" * 12, points=5)
    validation.validate(good)
    with pytest.raises(errors.DomainError) as caught:  # the purchase chosen: its own fields are checked
        validation.validate(pb.EarnRequest(request_id="r-1", member_id=good.member_id,
                                           purchase=pb.Money(amount_minor=0, currency="EUR")), "earns[2].")
    assert "earns[2].purchase.amount_minor" in str(caught.value)
    with pytest.raises(errors.DomainError) as caught:
        validation.validate(pb.EarnRequest(request_id="r 1", member_id=good.member_id, points=5))
    assert "request_id" in str(caught.value)
    with pytest.raises(errors.DomainError) as caught:  # a repeated field: its number of items
        validation.validate(pb.BatchEarnRequest(request_id="b-1"))
    assert "earns" in str(caught.value)
