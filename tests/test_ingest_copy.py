"""A BatchEarn-sized group writes its lots, postings, idempotency keys and journal rows with COPY: the same rows,
hash chain and events as the set-based INSERTs of a small group, compared row by row on the same input.

Two databases made from one template (the same partners, members and chain heads) take the same calls, with the
same ids and clock, one through each path; every row of every table the earn path writes must be equal, except the
columns the database fills with its own now()."""

from __future__ import annotations

import base64
import hashlib
import itertools
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from network import admin
from network.core.results import EarnItem
from network.database import make_engine, migrate
from network.keys import Caller
from network.settings import Settings
from network.store import copyrows, earn, earn_plan
from network.store.earn import BatchClaim, EarnCall, EarnCommitter, autocommit_connection
from network.store.ledger import build_ledger
from network.store.verify import verify_ledger
from partners import signing

NOW = datetime(2026, 5, 4, 10, 11, 12, 345678, tzinfo=timezone.utc)
LATER = datetime.now(timezone.utc) + timedelta(minutes=5)  # both runs' ledger clock: after the contracts begin
# table -> (order by, columns the database fills with now())
TABLES = {"journal": ("shard, seq", ()), "postings": ("tx_id, line", ()), "lots": ("lot_id", ()),
          "idempotency_keys": ("partner_id, request_id", ("created_at",)),
          "partner_events": ("partner_id, seq", ("occurred_at",)), "partner_event_heads": ("partner_id", ()),
          "shard_heads": ("shard", ()), "enrollments": ("partner_id, member_id", ())}


@pytest.fixture(scope="module")
def twin_databases(database_url):
    """(url of the INSERT database, url of the COPY database, partner ids, members by partner)."""
    base = make_url(database_url)
    server = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    names = [f"ingest_{uuid.uuid4().hex[:8]}_{side}" for side in ("insert", "copy")]
    with server.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{names[0]}"'))
    template = base.set(database=names[0]).render_as_string(hide_password=False)
    migrate(template)
    engine = make_engine(template)
    ledger = build_ledger(engine, Settings(ledger_shards=4))
    ledger.ensure_shard_heads()
    members = {}
    with engine.begin() as conn:
        for partner_id in ("cpa", "cpb"):
            admin.create_partner(conn, "test", partner_id, partner_id)
            admin.set_contract(conn, "test", partner_id, admin.ContractDraft(earn_points_per_major=2))
            admin.register_key(conn, "test", partner_id, f"{partner_id}-k1",
                               base64.b64encode(signing.raw_public(signing.generate_private_key())).decode())
            members[partner_id] = [ledger.enroll_member(conn, partner_id, "", "")[0].member_id for _ in range(3)]
    engine.dispose()
    with server.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{names[1]}" TEMPLATE "{names[0]}"'))
    yield [base.set(database=name).render_as_string(hide_password=False) for name in names], members
    with server.connect() as conn:
        for name in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    server.dispose()


def _calls(members) -> list[EarnCall]:
    a, b = members["cpa"], members["cpb"]
    items = [("cpa", EarnItem("i-1", a[0], None, None, 7, "r:1", "s.1", "t-1")),
             ("cpa", EarnItem("i-2", a[1], 1250, "EUR", None)),  # 2 points per EUR: 25 points
             ("cpa", EarnItem("i-3", b[0], None, None, 3)),  # enrolled with cpb only: earning enrolls it at cpa
             ("cpa", EarnItem("i-4", str(uuid.UUID(int=7)), None, None, 3)),  # no such member: refused
             ("cpa", EarnItem("i-5", a[0], None, None, 11)),  # the same member twice: chained one after the other
             ("cpb", EarnItem("i-1", b[1], None, None, 5, "", "", "term\\inal"))]  # store-level text, escaped
    return [EarnCall(Caller(p, f"{p}-k1"), item, hashlib.sha256(f"{p}/{item}".encode()).digest())
            for p, item in items]


def _post(url, monkeypatch, copy_from: int):
    counter = itertools.count(1)
    monkeypatch.setattr(earn_plan.uuid_utils, "uuid7", lambda: uuid.UUID(int=next(counter) | (7 << 76)))
    engine = make_engine(url)
    ledger = build_ledger(engine, Settings(ledger_shards=4))
    ledger.clock = lambda: LATER
    committer = EarnCommitter(ledger, lambda result: f"{result.transaction_id}/{result.points}".encode(),
                              copy_from=copy_from)
    calls = _calls(_post.members)
    claim = BatchClaim("cpa", "batch-1", b"\x01" * 32, lambda outcomes: repr(
        [o.response if not o.refused else o.refusal.reason for o in outcomes]).encode())
    try:
        with autocommit_connection(engine) as connection:
            outcomes, response = committer.post(connection, calls, claim)
        tables = {}
        with engine.connect() as conn:
            for table, (order, skipped) in TABLES.items():
                result = conn.execute(text(f"SELECT * FROM {table} ORDER BY {order}"))
                keep = [i for i, name in enumerate(result.keys()) if name not in skipped]
                tables[table] = [tuple(row[i] for i in keep) for row in result]
        with engine.connect() as conn:
            checks = verify_ledger(conn)
        return outcomes, response, tables, checks
    finally:
        engine.dispose()


def test_copy_writes_exactly_the_rows_the_inserts_write(twin_databases, monkeypatch):
    (insert_url, copy_url), members = twin_databases
    _post.members = members
    copied: list[str] = []
    monkeypatch.setattr(earn, "copy_rows", lambda cursor, table, *rest: (copied.append(table),
                                                                         copyrows.copy_rows(cursor, table, *rest)))
    by_insert = _post(insert_url, monkeypatch, copy_from=10**9)
    assert copied == []
    by_copy = _post(copy_url, monkeypatch, copy_from=1)
    assert sorted(copied) == ["idempotency_keys", "journal", "lots", "postings"]
    outcomes, response, tables, checks = by_copy
    assert [o.refused for o in outcomes] == [False, False, False, True, False, False]
    assert outcomes == by_insert[0] and response == by_insert[1]
    assert sum(len(rows) for rows in tables.values()) > 0
    for table in TABLES:
        assert tables[table] == by_insert[2][table], table
    assert len(tables["journal"]) == 5 and len(tables["postings"]) == 10 and len(tables["lots"]) == 5
    assert len(tables["idempotency_keys"]) == 6  # five earns and the batch's own key
    earned = [event for event in tables["partner_events"] if event[2] == "points.earned"]
    assert sorted(event[3] for event in earned) == sorted(row[0] for row in tables["journal"])  # one per journal row
    assert [c.name for c in checks if not c.ok] == []
    assert [c.name for c in by_insert[3] if not c.ok] == []


def test_copy_text_escapes_what_copy_reads_as_syntax():
    rows = [("a\tb\\c\nd\re", 1, None, b"\x00\xff", NOW), ("plain", -5, "x", bytearray(b"\x01"), None)]
    assert copyrows.text(rows) == ("a\\tb\\\\c\\nd\\re\t1\t\\N\t\\\\x00ff\t2026-05-04T10:11:12.345678+00:00\n"
                                   "plain\t-5\tx\t\\\\x01\t\\N\n")
    assert copyrows.text(rows) == "".join("\t".join(copyrows.field(v) for v in row) + "\n" for row in rows)
    with pytest.raises(TypeError):
        copyrows.text([(True,)])  # a bool is not written as 1
    with pytest.raises(ValueError):
        copyrows.text([(datetime(2026, 1, 1),)])  # naive


def test_copied_timestamps_are_each_read_back_as_written(database_url):
    # a column of datetimes encodes each distinct instant once (pgarray.once_each): every row keeps its own
    other = NOW.astimezone(timezone(timedelta(hours=-5)))  # the same instant in another zone
    moments = [NOW, LATER, NOW, other, LATER]
    engine = create_engine(database_url)
    try:
        raw = engine.raw_connection()
        try:
            cursor = raw.driver_connection.cursor()
            cursor.execute("CREATE TEMP TABLE moments (n int, at timestamptz)")
            copyrows.copy_rows(cursor, "moments", ("n", "at"), list(enumerate(moments)))
            cursor.execute("SELECT at FROM moments ORDER BY n")
            assert [row[0] for row in cursor.fetchall()] == moments
        finally:
            raw.close()
    finally:
        engine.dispose()
    with pytest.raises(ValueError):
        copyrows.text([(NOW,), (datetime(2026, 1, 1),), (NOW,)])  # a naive one among aware ones: still refused


def test_a_copied_group_whose_items_are_all_refused_stores_only_its_batch_key(twin_databases):
    (_, copy_url), _ = twin_databases
    engine = make_engine(copy_url)
    try:
        committer = EarnCommitter(build_ledger(engine, Settings(ledger_shards=4)), lambda result: b"", copy_from=1)
        calls = [EarnCall(Caller("cpa", "cpa-k1"), EarnItem(f"gone-{i}", str(uuid.UUID(int=100 + i)), None, None, 1),
                          bytes(32)) for i in range(3)]
        claim = BatchClaim("cpa", "batch-refused", b"\x02" * 32, lambda outcomes: b"all refused")
        with engine.connect() as conn:
            journal_before = conn.execute(text("SELECT count(*) FROM journal")).scalar()
        with autocommit_connection(engine) as connection:
            outcomes, response = committer.post(connection, calls, claim)
            assert [o.refusal.reason for o in outcomes] == ["MEMBER_NOT_FOUND"] * 3 and response == b"all refused"
            replay, again = committer.post(connection, calls, claim)  # the batch key was committed: a replay
        assert replay == [] and again == b"all refused"
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM journal")).scalar() == journal_before
            keys = conn.execute(text("SELECT request_id, response FROM idempotency_keys WHERE partner_id = 'cpa' "
                                     "AND request_id LIKE '%refused%' OR request_id LIKE 'gone-%'")).all()
        assert [(k.request_id, bytes(k.response)) for k in keys] == [("batch-refused", b"all refused")]
    finally:
        engine.dispose()
