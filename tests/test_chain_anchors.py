"""The hash chain's shards anchored to member ids: PostgreSQL's uuid hash computed here as the server computes it,
Citus's equal hash ranges at their edges, and every chain head's anchor landing in its own shard's range."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings, strategies as st
from sqlalchemy import text

from network.core.members import chain_anchor, hash_range_index, shard_of, uuid_hash
from network.core.results import EarnItem
from network.database import make_engine, migrate
from network.keys import Caller
from network.settings import Settings
from network.store.earn import EarnCall, EarnCommitter, autocommit_connection
from network.store.journal import READ_ANCHORS, chain_anchors, ensure_shard_heads, missing_heads
from network.store.ledger import build_ledger
from partners.client import PartnerClient

EDGE_IDS = [uuid.UUID(int=0), uuid.UUID(int=(1 << 128) - 1), uuid.UUID(int=1), uuid.UUID(int=1 << 127),
            uuid.UUID("00000000-0000-0000-0000-0000ffffffff"), uuid.UUID("ffffffff-0000-0000-0000-000000000000")]


def test_the_uuid_hash_is_the_servers_own(engine):
    ids = EDGE_IDS + [uuid.uuid4() for _ in range(2000)]
    with engine.connect() as conn:
        server = conn.execute(text("SELECT uuid_hash(u) FROM unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS t(u, i) "
                                   "ORDER BY i"), {"ids": ids}).scalars().all()
    assert [uuid_hash(u) for u in ids] == server


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-(1 << 31), max_value=(1 << 31) - 1), st.integers(min_value=1, max_value=1024))
def test_every_hash_falls_in_one_range(hashed, shards):
    assert 0 <= hash_range_index(hashed, shards) < shards


@pytest.mark.parametrize("hashed, shards, expected", [
    (-(1 << 31), 4, 0),                    # the first value of the hash space
    (-(1 << 31) + (1 << 30) - 1, 4, 0),    # the last of range 0
    (-(1 << 31) + (1 << 30), 4, 1),        # the first of range 1
    ((1 << 31) - 1, 4, 3),                 # the last value of the hash space
    (-1, 2, 0), (0, 2, 1),                 # two ranges meet at zero
    ((1 << 31) - 1, 3, 2),                 # 2^32 // 3 leaves a remainder: the last range runs to the end
    (-(1 << 31) + 3 * (2 ** 32 // 3), 3, 2),
    (-(1 << 31) + 2 * (2 ** 32 // 3) - 1, 3, 1),
    (12345, 1, 0),
])
def test_the_ranges_split_the_hash_space_as_citus_does(hashed, shards, expected):
    assert hash_range_index(hashed, shards) == expected


@pytest.mark.parametrize("shards", [1, 3, 16])
def test_each_anchor_lands_in_its_own_shard(shards):
    for shard in range(shards):
        assert hash_range_index(uuid_hash(chain_anchor(shard, shards)), shards) == shard


@pytest.mark.parametrize("shard, shards", [(-1, 4), (4, 4), (0, 0)])
def test_an_anchor_outside_the_shards_is_refused(shard, shards):
    with pytest.raises(ValueError, match="is not one of"):
        chain_anchor(shard, shards)


@pytest.mark.usefixtures("verified_ledger")
def test_a_member_enrolled_under_another_shard_count_earns_on_its_own_chain(engine, target, make_partner):
    """The unary earn locks, in its first round trip, the heads of the shards its members are expected in (by
    anchor). A member enrolled when the ledger had 16 shards, earning where it has 4, may be in another shard:
    alone, its head is locked in round trip 2; grouped with a member whose head was locked, the group starts
    again with every head locked in round trip 2 (in shard order). Each earn lands on its member's own chain."""
    shop = make_partner("anc")
    found: dict[bool, uuid.UUID] = {}  # whether the member's shard is the same at 16 and 4 shards -> a member
    with PartnerClient(target, shop.key_id, shop.private_key) as enroller:  # the session's server: 16 shards
        for _ in range(500):  # ranges nest (shard at 4 = shard at 16 // 4): the same only in shard 0, 1 in 16
            member = uuid.UUID(enroller.enroll_member().member.member_id)
            found.setdefault(shard_of(member, 16) == shard_of(member, 4), member)
            if len(found) == 2:
                break
    moved, stayed = found[False], found[True]
    committer = EarnCommitter(build_ledger(engine, Settings(ledger_shards=4)), lambda result: b"")
    for group in ([moved], [stayed, moved], [stayed]):
        calls = [EarnCall(Caller(shop.partner_id, shop.key_id), EarnItem(uuid.uuid4().hex, str(m), None, None, 7),
                          uuid.uuid4().bytes) for m in group]
        with engine.connect() as conn:
            before = dict(conn.execute(text("SELECT shard, seq FROM shard_heads")).all())
        with autocommit_connection(engine) as connection:
            outcomes, _ = committer.post(connection, calls, lock_early=True)
        assert [o.refused for o in outcomes] == [False] * len(group)
        with engine.connect() as conn:
            landed = conn.execute(text("SELECT member_id, shard, seq FROM journal WHERE request_id = ANY(:r) "
                                       "AND partner_id = :p"), {"r": [c.item.request_id for c in calls],
                                                                "p": shop.partner_id}).all()
        assert sorted((m, shard, seq) for m, shard, seq in landed) == sorted(
            (m, shard_of(m, 16), before[shard_of(m, 16)] + 1) for m in group)


def test_a_head_another_process_added_is_read_on_first_use_and_a_lost_one_is_forgotten(scratch_database):
    """Each process holds the anchors it read (per engine): a shard whose head another process added since (one with
    more shards) is read on first use; a head this process holds but cannot lock is a ledger inconsistency, and what
    it held is read again next time."""
    url = scratch_database("anchors")
    migrate(url)
    here, there = make_engine(url, pool_size=1), make_engine(url, pool_size=1)
    reads = []

    def read(engine):
        def rows():
            reads.append(engine)
            with engine.connect() as conn:
                return conn.exec_driver_sql(READ_ANCHORS).all()
        return rows
    try:
        with here.begin() as conn:
            ensure_shard_heads(conn, 4)  # reads the four anchors for this engine
        assert len(chain_anchors(here, range(4), read(here))) == 4 and reads == []  # held: no read
        with there.begin() as conn:
            ensure_shard_heads(conn, 8)  # another process, with more shards
        with there.connect() as conn:
            anchor_6 = conn.execute(text("SELECT anchor_member_id::text FROM shard_heads WHERE shard = 6")).scalar_one()
        assert chain_anchors(here, [6], read(here)) == [anchor_6] and reads == [here]  # read once, on first use
        with pytest.raises(RuntimeError, match=r"chain shard\(s\) \[6\] have no head"):
            missing_heads(here, [5, 6], {5: None})
        assert chain_anchors(here, [6], read(here)) == [anchor_6] and reads == [here, here]  # forgotten, read again
    finally:
        here.dispose()
        there.dispose()
